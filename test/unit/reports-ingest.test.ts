/**
 * Reports in (M7, issue 20 item 1): Shadowserver CSV read by header against
 * the published schema, IntelMQ events with their harmonised keys, plain
 * lists — each entry minimised to what M7 may use, every other row counted
 * with its reason. Fixtures are built from the published column names; the
 * schema file in ../shared/data is checked too when present.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { DROP_REASONS, DROP_REASON_TEXT, ReportFormatError, type ReportEntry } from '../../src/ingest/reports/entry.js';
import { readReport, type ReadReportOptions } from '../../src/ingest/reports/read.js';
import { openReportFile } from '../../src/ingest/reports/drop.js';
import {
  refusalOf,
  reportTypeFromFileName,
  shadowserverReport,
  SHADOWSERVER_REFUSED,
  SHADOWSERVER_REPORTS,
} from '../../src/ingest/reports/shadowserver.js';
import { checkSources, REPORT_SOURCES } from '../../src/ingest/reports/sources.js';
import { BoundedDedupe, parseAddress, parseTime, PrefixSet, BAD_TIME, NO_ZONE } from '../../src/ingest/reports/values.js';
import { REPO_ROOT, tempDir } from '../support/fixtures.js';
import {
  chunked,
  csvRecord,
  intelmqEvent,
  ISP_PREFIXES,
  SECRET_URL,
  shadowserverCells,
  shadowserverCsv,
  SINKHOLE_IP,
} from '../support/reports.js';

const SCHEMA = join(REPO_ROOT, '../shared/data/shadowserver-report-schema/reports.json');
const NOW = Date.UTC(2026, 10, 29, 3, 0, 0);
const prefixes = new PrefixSet(ISP_PREFIXES);

async function read(
  input: string | Buffer | AsyncIterable<Buffer>,
  options: Partial<ReadReportOptions> & { source: string },
  chunk = 4096,
) {
  const reader = readReport(typeof input === 'string' || Buffer.isBuffer(input) ? chunked(input, chunk) : input, {
    prefixes,
    nowMs: NOW,
    ...options,
  });
  const entries: ReportEntry[] = [];
  for await (const b of reader) entries.push(...b);
  const s = reader.summary;
  const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
  assert.equal(s.rows, s.entries + dropped, 'rows = entries + dropped');
  assert.equal(entries.length, s.entries);
  return { entries, summary: s };
}

const ENTRY_KEYS = new Set(['address', 'version', 'port', 'timeMs', 'family', 'classification', 'purpose', 'source', 'reportType']);

function assertMinimised(entries: readonly ReportEntry[]): void {
  for (const e of entries) for (const k of Object.keys(e)) assert.ok(ENTRY_KEYS.has(k), `entry key ${k} is not one M7 may keep`);
  const text = JSON.stringify(entries);
  for (const secret of [SINKHOLE_IP, 'SECRETVALUE', 'hunter2', 'Mozilla', 'TOKYO', 'Communications', 'host.example']) {
    assert.ok(!text.includes(secret), `an entry carries "${secret}" from the row`);
  }
}

const sinkholeRows = [
  shadowserverCells('event4_sinkhole', {
    timestamp: '2026-11-28 00:00:07',
    src_ip: '198.51.100.7',
    src_port: '49152',
    infection: 'andromeda',
  }),
  shadowserverCells('event4_sinkhole', {
    timestamp: '2026-11-28 00:05:00',
    src_ip: '100.64.1.2',
    src_port: '1025',
    infection: '',
    family: 'Mirai',
  }),
  shadowserverCells('event4_sinkhole', { timestamp: '2026-11-28 00:06:00', src_ip: '100.64.1.3', src_port: '', infection: '' }),
];

describe('Shadowserver reports, by header', () => {
  const columns = shadowserverReport('event4_sinkhole')!.columns;

  it('reads event4_sinkhole in the published column order into minimised entries', async () => {
    const { entries, summary } = await read(shadowserverCsv(columns, sinkholeRows), {
      source: 'shadowserver',
      fileName: '2026-11-28-event4_sinkhole-asn-as64496.csv',
    });
    assert.equal(summary.reportType, 'event4_sinkhole');
    assert.deepEqual(summary.unknownColumns, []);
    assert.deepEqual(entries, [
      {
        address: '198.51.100.7',
        version: 4,
        port: 49152,
        timeMs: Date.UTC(2026, 10, 28, 0, 0, 7),
        family: 'andromeda',
        classification: 'infected-system',
        purpose: 'infection',
        source: 'shadowserver',
        reportType: 'event4_sinkhole',
      },
      {
        address: '100.64.1.2',
        version: 4,
        port: 1025,
        timeMs: Date.UTC(2026, 10, 28, 0, 5),
        family: 'mirai',
        classification: 'infected-system',
        purpose: 'infection',
        source: 'shadowserver',
        reportType: 'event4_sinkhole',
      },
      {
        address: '100.64.1.3',
        version: 4,
        timeMs: Date.UTC(2026, 10, 28, 0, 6),
        family: 'unknown',
        classification: 'infected-system',
        purpose: 'infection',
        source: 'shadowserver',
        reportType: 'event4_sinkhole',
      },
    ]);
    assertMinimised(entries);
  });

  it('gives the same entries when the column order changes and extra columns appear (counted, not read)', async () => {
    const first = await read(shadowserverCsv(columns, sinkholeRows), { source: 'shadowserver', reportType: 'event4_sinkhole' });
    const shuffled = [...columns, 'new_field_2027', 'another'].reverse();
    const rows = sinkholeRows.map((r) => ({ ...r, new_field_2027: 'v', another: SECRET_URL }));
    const second = await read(shadowserverCsv(shuffled, rows), { source: 'shadowserver', reportType: 'event4_sinkhole' });
    assert.deepEqual(second.entries, first.entries);
    assert.deepEqual(second.summary.unknownColumns.sort(), ['another', 'new_field_2027']);
    assertMinimised(second.entries);
  });

  it('refuses a header without the required columns, naming them; optional columns may be absent', async () => {
    const without = columns.filter((c) => c !== 'src_ip' && c !== 'timestamp');
    await assert.rejects(
      read(shadowserverCsv(without, sinkholeRows), { source: 'shadowserver', reportType: 'event4_sinkhole' }),
      (e: unknown) => e instanceof ReportFormatError && /"timestamp", "src_ip"/.test(e.message) && /event4_sinkhole/.test(e.message),
    );
    const minimal = await read(shadowserverCsv(['src_ip', 'timestamp'], sinkholeRows), {
      source: 'shadowserver',
      reportType: 'event4_sinkhole',
    });
    assert.equal(minimal.entries.length, 3);
    assert.equal(minimal.entries[0]!.port, undefined);
    assert.equal(minimal.entries[0]!.family, 'unknown');
    await assert.rejects(read('', { source: 'shadowserver', reportType: 'event4_sinkhole' }), /empty/);
    await assert.rejects(read('a,a\n1,2\n', { source: 'shadowserver', reportType: 'event4_sinkhole' }), /"a" twice/);
  });

  it('reads the other infection reports: sinkhole HTTP, IPv6 sinkhole, compromised IoT, honeypots', async () => {
    const http = await read(
      shadowserverCsv(shadowserverReport('event4_sinkhole_http')!.columns, [
        shadowserverCells('event4_sinkhole_http', {
          timestamp: '2026-11-28 01:00:00',
          src_ip: '198.51.100.9',
          src_port: '5000',
          infection: 'Qakbot',
        }),
      ]),
      { source: 'shadowserver', fileName: '2026-11-28-event4_sinkhole_http-asn.csv' },
    );
    assert.deepEqual(
      http.entries.map((e) => [e.address, e.port, e.family, e.reportType]),
      [['198.51.100.9', 5000, 'qakbot', 'event4_sinkhole_http']],
    );
    assertMinimised(http.entries);

    const v6 = await read(
      shadowserverCsv(shadowserverReport('event6_sinkhole')!.columns, [
        shadowserverCells('event6_sinkhole', {
          timestamp: '2026-11-28 01:00:00',
          src_ip: '2001:DB8:100:0:0:0:0:1',
          src_port: '6000',
          infection: 'x',
          dst_ip: '2001:db8:ffff::1',
        }),
        shadowserverCells('event6_sinkhole', { timestamp: '2026-11-28 01:00:00', src_ip: '2001:db8:200::1', infection: 'x' }),
        shadowserverCells('event6_sinkhole', { timestamp: '2026-11-28 01:00:00', src_ip: '::ffff:198.51.100.4', infection: 'x' }),
      ]),
      { source: 'shadowserver', fileName: '2026-11-28-event6_sinkhole-asn.csv' },
    );
    assert.deepEqual(
      v6.entries.map((e) => [e.address, e.version]),
      [
        ['2001:db8:100::1', 6],
        ['198.51.100.4', 4],
      ],
    );
    assert.equal(v6.summary.dropped['outside-prefixes'], 1);

    const iot = await read(
      shadowserverCsv(shadowserverReport('compromised_iot')!.columns, [
        shadowserverCells('compromised_iot', {
          timestamp: '2026-11-28 02:00:00',
          ip: '100.64.9.9',
          port: '8080',
          family: '',
          category: 'Mirai-like',
          device_vendor: 'Hikvision',
        }),
      ]),
      { source: 'shadowserver', fileName: '2026-11-28-compromised_iot-asn.csv' },
    );
    assert.deepEqual(
      iot.entries.map((e) => [e.address, e.port, e.family, e.classification]),
      [['100.64.9.9', 8080, 'mirai-like', 'system-compromise']],
    );
    assertMinimised(iot.entries);

    for (const type of ['event4_honeypot_brute_force', 'event4_honeypot_darknet', 'event4_honeypot_http_scan']) {
      const t = shadowserverReport(type)!;
      const { entries } = await read(
        shadowserverCsv(t.columns, [
          shadowserverCells(type, { timestamp: '2026-11-28 03:00:00', src_ip: '198.51.100.30', src_port: '40000' }),
        ]),
        { source: 'shadowserver', fileName: `2026-11-28-${type}-asn.csv` },
      );
      assert.equal(entries.length, 1, type);
      assert.equal(entries[0]!.family, t.fallback);
      assert.equal(entries[0]!.classification, t.classification);
      assertMinimised(entries);
    }
  });

  it('reads the blocklist report under its own source and purpose, the list as family, never the free-text reason', async () => {
    const csv = shadowserverCsv(shadowserverReport('blocklist')!.columns, [
      shadowserverCells('blocklist', {
        timestamp: '2026-11-28 04:00:00',
        ip: '198.51.100.44',
        source: 'Example DNSBL',
        reason: 'spam trap hit',
      }),
    ]);
    await assert.rejects(
      read(csv, { source: 'shadowserver', fileName: '2026-11-28-blocklist-asn.csv' }),
      /belongs to the source "shadowserver-blocklist"/,
    );
    const { entries } = await read(csv, { source: 'shadowserver-blocklist', fileName: '2026-11-28-blocklist-asn.csv' });
    assert.deepEqual(
      entries.map((e) => [e.address, e.family, e.purpose, e.classification, e.port]),
      [['198.51.100.44', 'example-dnsbl', 'blocklist', 'blocklist', undefined]],
    );
    assert.ok(!JSON.stringify(entries).includes('trap'));
  });

  it('refuses reports whose address is not an infected device, saying why', async () => {
    const csv = 'timestamp,src_ip\n2026-11-28 00:00:00,198.51.100.1\n';
    await assert.rejects(read(csv, { source: 'shadowserver', fileName: '2026-11-28-event4_honeypot_ddos_amp-asn.csv' }), /victim/);
    await assert.rejects(
      read(csv, { source: 'shadowserver', fileName: '2026-11-28-scan_http_vulnerable-asn.csv' }),
      /exposed or vulnerable/,
    );
    await assert.rejects(
      read(csv, { source: 'shadowserver', fileName: 'report.csv' }),
      /"report" \(from the file name\) is not a Shadowserver/,
    );
    await assert.rejects(read(csv, { source: 'shadowserver', fileName: '-.csv' }), /could not be told from the file name/);
    await assert.rejects(read(csv, { source: 'shadowserver', reportType: 'population_bgp' }), /not a Shadowserver report type M7 reads/);
    await assert.rejects(read(csv, { source: 'nobody' }), /not a registered report source/);
    assert.equal(reportTypeFromFileName('2026-11-28-event4_sinkhole_http_referer-asn.csv'), 'event4_sinkhole_http_referer');
    assert.equal(reportTypeFromFileName('/x/2026-11-28-event4_sinkhole.csv.gz'), 'event4_sinkhole');
    assert.equal(reportTypeFromFileName('2026-11-28-event4_sinkhole_http-geo.csv'), 'event4_sinkhole_http');
    assert.ok(refusalOf('event4_sinkhole_dns'));
  });

  it('follows RFC 4180: commas, doubled quotes and line breaks inside quoted fields, CRLF, a BOM, any chunk boundary', async () => {
    const row = shadowserverCells('event4_sinkhole_http', {
      timestamp: '2026-11-28 05:00:00',
      src_ip: '198.51.100.50',
      src_port: '1234',
      infection: 'sality',
      http_agent: 'a "quoted", comma\r\nand a line break',
      http_url: 'http://x/?a=1,2,"3"\n',
    });
    const text = '\uFEFF' + shadowserverCsv(shadowserverReport('event4_sinkhole_http')!.columns, [row, { ...row, src_port: '1235' }]);
    for (const size of [1, 2, 3, 7, 64, 1 << 16]) {
      const { entries, summary } = await read(text, { source: 'shadowserver', reportType: 'event4_sinkhole_http' }, size);
      assert.deepEqual(
        entries.map((e) => [e.address, e.port, e.family]),
        [
          ['198.51.100.50', 1234, 'sality'],
          ['198.51.100.50', 1235, 'sality'],
        ],
        `chunks of ${size}`,
      );
      assert.deepEqual(summary.unknownColumns, [], 'the BOM is not part of the first column name');
      assert.equal(summary.bytes, Buffer.byteLength(text));
    }
  });

  it('counts malformed rows and reads on; a quote never closed or an over-long record is reported as a truncation', async () => {
    const cols = ['timestamp', 'src_ip', 'src_port', 'infection'];
    const good = (ip: string) => csvRecord(['2026-11-28 00:00:00', ip, '1', 'x']);
    const text =
      csvRecord(cols) +
      good('198.51.100.1') +
      '2026-11-28 00:00:00,198.51.100.2\r\n' + // too few fields
      '2026-11-28 00:00:00,198.51.100.3,1,x,extra\r\n' + // too many
      '2026-11-28 00:00:00,198.51.100.4",1,x\r\n' + // a stray quote: kept as text, then not an address
      good('198.51.100.5');
    const { entries, summary } = await read(text, { source: 'shadowserver', reportType: 'event4_sinkhole' });
    assert.deepEqual(
      entries.map((e) => e.address),
      ['198.51.100.1', '198.51.100.5'],
    );
    assert.equal(summary.dropped['malformed-row'], 2);
    assert.deepEqual(summary.examples['malformed-row'], [2, 3]);
    assert.equal(summary.dropped['bad-address'], 1);
    assert.equal(summary.truncated, undefined);

    const unclosed = csvRecord(cols) + good('198.51.100.1') + '2026-11-28 00:00:00,"198.51.100.2,1,x\r\n' + good('198.51.100.3');
    const u = await read(unclosed, { source: 'shadowserver', reportType: 'event4_sinkhole' });
    assert.equal(u.entries.length, 1);
    assert.equal(u.summary.dropped['malformed-row'], 1);
    assert.match(u.summary.truncated?.reason ?? '', /quote was never closed/);

    const long =
      csvRecord(cols) +
      good('198.51.100.1') +
      csvRecord(['2026-11-28 00:00:00', '198.51.100.2', '1', 'y'.repeat(5000)]) +
      good('198.51.100.3');
    const l = await read(long, { source: 'shadowserver', reportType: 'event4_sinkhole', maxRecordBytes: 1000 });
    assert.equal(l.entries.length, 1);
    assert.match(l.summary.truncated?.reason ?? '', /longer than 1000 bytes/);
    assert.ok(l.summary.truncated!.unreadBytes > 0);
  });

  it('counts every reason with example rows: outside, future, zone, bad cells, duplicates', async () => {
    const cols = ['timestamp', 'src_ip', 'src_port', 'infection'];
    const rows: string[][] = [
      ['2026-11-28 00:00:00', '198.51.100.1', '1', 'a'], // 1 entry
      ['2026-11-28 00:00:00', '198.51.100.1', '1', 'a'], // 2 duplicate
      ['2026-11-28 00:00:00', '192.0.2.1', '1', 'a'], // 3 outside
      ['2026-11-30 00:00:00', '198.51.100.1', '1', 'a'], // 4 future (now is 11-29 03:00)
      ['2026-11-29 03:05:00', '198.51.100.1', '1', 'a'], // 5 within the tolerance: entry
      ['2026-02-30 00:00:00', '198.51.100.1', '1', 'a'], // 6 no such day
      ['2026-11-28', '198.51.100.1', '1', 'a'], // 7 a date alone
      ['2026-11-28 09:00:00+09:00', '198.51.100.1', '1', 'a'], // 8 same moment as row 1: duplicate
      ['2026-11-28 00:00:00', '198.51.100.01', '1', 'a'], // 9 leading zero
      ['2026-11-28 00:00:00', 'fe80::1%eth0', '1', 'a'], // 10 zone id
      ['2026-11-28 00:00:00', '198.51.100.1', '65536', 'a'], // 11 port
      ['2026-11-28 00:00:00', '', '1', 'a'], // 12 missing
      ['', '198.51.100.1', '1', 'a'], // 13 missing
      ['2026-11-28 00:00:00', '198.51.100.1', '0', 'a'], // 14 port 0 = unknown: entry without port
    ];
    const { entries, summary } = await read(csvRecord(cols) + rows.map((r) => csvRecord(r)).join(''), {
      source: 'shadowserver',
      reportType: 'event4_sinkhole',
    });
    assert.equal(summary.rows, 14);
    assert.equal(entries.length, 3);
    assert.deepEqual(summary.examples, {
      duplicate: [2, 8],
      'outside-prefixes': [3],
      'future-time': [4],
      'bad-time': [6, 7],
      'bad-address': [9, 10],
      'bad-port': [11],
      'missing-field': [12, 13],
    });
    assert.equal(entries[2]!.port, undefined);
  });
});

describe('IntelMQ events (JSON lines, harmonised keys)', () => {
  it('reads flat and nested events, minimised; counts what is not an infected device, naive times, bad cells', async () => {
    const lines = [
      intelmqEvent({}),
      {
        source: { ip: '2001:db8:100::5', port: '443' },
        time: { source: '2026-11-28T19:00:00.250+09:00' },
        classification: { type: 'infected-system', identifier: 'zeus' },
        feed: { name: 'CERT feed' },
      },
      intelmqEvent({ 'classification.type': 'c2-server', 'source.ip': '198.51.100.21' }),
      intelmqEvent({ 'classification.type': undefined, 'source.ip': '198.51.100.22' }),
      intelmqEvent({ 'time.source': '2026-11-28T10:00:00', 'source.ip': '198.51.100.23' }),
      intelmqEvent({ 'source.ip': undefined, 'source.fqdn': 'infected.example' }),
      intelmqEvent({ 'source.port': 70000, 'source.ip': '198.51.100.24' }),
      intelmqEvent({ 'source.ip': 3325256812 }),
      intelmqEvent({ 'malware.name': undefined, 'classification.identifier': undefined, 'source.ip': '198.51.100.25' }),
      intelmqEvent({ 'extra.http_referer_ip': '192.0.2.80', 'source.ip': '198.51.100.26' }), // a referer report: a web visitor
    ];
    const text = lines.map((l) => JSON.stringify(l)).join('\n') + '\n\n[1,2]\n{"source.ip": \n';
    const { entries, summary } = await read(text, { source: 'intelmq' }, 17);
    assert.deepEqual(
      entries.map((e) => [e.address, e.port, e.timeMs, e.family, e.classification, e.reportType]),
      [
        ['198.51.100.20', 49152, Date.UTC(2026, 10, 28, 10), 'andromeda', 'infected-system', 'shadowserver-sinkhole-events'],
        ['2001:db8:100::5', 443, Date.UTC(2026, 10, 28, 10, 0, 0, 250), 'zeus', 'infected-system', 'cert-feed'],
        ['198.51.100.25', 49152, Date.UTC(2026, 10, 28, 10), 'unknown', 'infected-system', 'shadowserver-sinkhole-events'],
      ],
    );
    assertMinimised(entries);
    assert.equal(summary.rows, 12, 'the blank line is not a row');
    assert.deepEqual(summary.examples, {
      'unknown-report-type': [3, 4, 10],
      'time-without-zone': [5],
      'missing-field': [6],
      'bad-port': [7],
      'bad-address': [8],
      'malformed-row': [11, 12],
    });
  });

  it('takes blocklist events only under the blocklist source', async () => {
    const text =
      JSON.stringify(
        intelmqEvent({ 'classification.type': 'blacklist', 'malware.name': undefined, 'classification.identifier': undefined }),
      ) + '\n';
    const inf = await read(text, { source: 'intelmq' });
    assert.equal(inf.summary.dropped['unknown-report-type'], 1);
    const bl = await read(text, { source: 'intelmq-blocklist' });
    assert.deepEqual(
      bl.entries.map((e) => [e.purpose, e.family]),
      [['blocklist', 'shadowserver-sinkhole-events']],
    );
  });

  it('drops an over-long line without holding it and reads the next', async () => {
    const long = JSON.stringify(intelmqEvent({ 'extra.payload': 'z'.repeat(10_000) }));
    const ok = JSON.stringify(intelmqEvent({ 'source.ip': '198.51.100.77' }));
    const { entries, summary } = await read(`${long}\n${ok}`, { source: 'intelmq', maxRecordBytes: 2000 }, 100);
    assert.deepEqual(
      entries.map((e) => e.address),
      ['198.51.100.77'],
    );
    assert.deepEqual(summary.examples['malformed-row'], [1]);
  });
});

describe('plain lists (address, port, time, family, source)', () => {
  it('reads CSV by header in any order, epoch seconds or ISO times, and counts unknown sources', async () => {
    const text =
      'family,time,source,address,port,comment\n' +
      'Emotet,2026-11-28T10:00:00Z,operator-list,198.51.100.60,5353,ignored\n' +
      'Emotet,1795860000,,198.51.100.61,,x\n' +
      'list-a,2026-11-28T10:00:00Z,dnsbl-export,198.51.100.62,,x\n' +
      'x,2026-11-28T10:00:00Z,someone-else,198.51.100.63,,x\n' +
      'x,2026-11-28 10:00:00,,198.51.100.64,,x\n';
    const { entries, summary } = await read(text, { source: 'operator-list', fileName: 'list.csv' });
    assert.deepEqual(
      entries.map((e) => [e.address, e.port, e.timeMs, e.family, e.source, e.purpose]),
      [
        ['198.51.100.60', 5353, Date.UTC(2026, 10, 28, 10), 'emotet', 'operator-list', 'infection'],
        ['198.51.100.61', undefined, 1795860000000, 'emotet', 'operator-list', 'infection'],
        ['198.51.100.62', undefined, Date.UTC(2026, 10, 28, 10), 'list-a', 'dnsbl-export', 'blocklist'],
      ],
    );
    assert.deepEqual(summary.unknownColumns, ['comment']);
    assert.deepEqual(summary.examples, { 'unknown-source': [4], 'time-without-zone': [5] });
    await assert.rejects(read('address,port\n1.2.3.4,5\n', { source: 'operator-list', format: 'csv' }), /"time"/);
  });

  it('reads JSON lines and a JSON array whose strings hold brackets, commas and braces', async () => {
    const items = [
      { address: '198.51.100.70', port: 1, time: '2026-11-28T10:00:00Z', family: 'a],{"b', note: '[{,}]' },
      { address: '198.51.100.71', time: 1795860000.5, family: 'Ü' },
      'not an object',
      { address: '198.51.100.72', time: '2026-11-28T10:00:00Z', nested: { deep: [1, { x: ']' }] } },
    ];
    const array = await read(' \n' + JSON.stringify(items, null, 1), { source: 'operator-list' }, 3);
    assert.equal(array.summary.format, 'plain-json');
    assert.deepEqual(
      array.entries.map((e) => [e.address, e.family, e.timeMs]),
      [
        ['198.51.100.70', 'a-b', Date.UTC(2026, 10, 28, 10)],
        ['198.51.100.71', 'unknown', 1795860000500],
        ['198.51.100.72', 'unknown', Date.UTC(2026, 10, 28, 10)],
      ],
    );
    assert.deepEqual(array.summary.examples, { 'malformed-row': [3] });
    const lines = await read(items.map((i) => JSON.stringify(i)).join('\n'), { source: 'operator-list', fileName: 'x.jsonl' });
    assert.deepEqual(
      lines.entries.map((e) => e.address),
      array.entries.map((e) => e.address),
    );
  });
});

describe('cells, prefixes, duplicates', () => {
  it('parses times strictly', () => {
    assert.equal(parseTime('2026-11-28 10:00:00', true), Date.UTC(2026, 10, 28, 10));
    assert.equal(parseTime('2026-11-28 10:00:00', false), NO_ZONE);
    assert.equal(parseTime('2026-11-28T10:00:00Z', false), Date.UTC(2026, 10, 28, 10));
    assert.equal(parseTime('2026-11-28 10:00:00 UTC', false), Date.UTC(2026, 10, 28, 10));
    assert.equal(parseTime('2026-11-28T10:00:00.123456-0130', false), Date.UTC(2026, 10, 28, 11, 30, 0, 123));
    assert.equal(parseTime('2026-11-28T10:00+09', false), Date.UTC(2026, 10, 28, 1));
    assert.equal(parseTime('2024-02-29 00:00:00', true), Date.UTC(2024, 1, 29));
    for (const bad of [
      '2025-02-29 00:00:00',
      '2026-13-01 00:00:00',
      '2026-11-28 24:00:00',
      '2026-11-28T10:00:00+2400',
      '2026-11-28 10:00:00 JST',
      'yesterday',
    ])
      assert.equal(parseTime(bad, true), BAD_TIME, bad);
    assert.equal(parseTime(1795860000, true), BAD_TIME, 'epoch seconds only where allowed');
  });

  it('parses addresses canonically and matches prefixes', () => {
    assert.equal(parseAddress('2001:0DB8:0100:0000:0000:0000:0000:0001')?.text, '2001:db8:100::1');
    assert.equal(parseAddress(' 198.51.100.1 ')?.text, '198.51.100.1');
    for (const bad of ['256.1.1.1', '1.2.3', '1.2.3.4.5', '::ffff:1.2.3.256', 'abc', '1.2.3.4/32', ''])
      assert.equal(parseAddress(bad), undefined, bad);
    const set = new PrefixSet(['10.0.0.0/8', '10.1.0.0/16', '192.0.2.128/25', '2001:db8::/32', '2001:db8:1::/48']);
    const has = (a: string) => set.has(parseAddress(a)!);
    assert.ok(has('10.255.255.255') && has('192.0.2.128') && has('192.0.2.255') && has('2001:db8:ffff::1'));
    assert.ok(!has('11.0.0.0') && !has('192.0.2.127') && !has('2001:db9::') && !has('::1'));
    assert.throws(() => new PrefixSet(['10.0.0.1/8']), /host bits/);
    assert.throws(() => new PrefixSet(['10.0.0.0/33']), /not an IPv4 or IPv6 prefix/);
    assert.throws(() => readReport(chunked(''), { source: 'shadowserver', prefixes: new PrefixSet([]) }), /no ISP prefixes/);
  });

  it('remembers at least half its slots of recent entries and counts what it forgets', () => {
    const d = new BoundedDedupe(64);
    for (let i = 0; i < 32; i++) assert.equal(d.seen(`k${i}`), false);
    for (let i = 0; i < 32; i++) assert.equal(d.seen(`k${i}`), true, `k${i} within the window`);
    for (let i = 32; i < 200; i++) d.seen(`k${i}`);
    assert.ok(d.forgotten >= 100);
    assert.equal(d.seen('k199'), true);
    assert.equal(d.seen('k0'), false, 'forgotten long ago');
  });
});

describe('sources and schema', () => {
  it('has a consistent registry: every accepted report type under exactly one source, every reason explained in ja and en', () => {
    assert.deepEqual(checkSources(REPORT_SOURCES), []);
    for (const t of SHADOWSERVER_REPORTS) {
      assert.equal(REPORT_SOURCES.filter((s) => s.parser === 'shadowserver-csv' && s.accepts.includes(t.type)).length, 1, t.type);
    }
    for (const r of DROP_REASONS) assert.ok(DROP_REASON_TEXT[r].en && DROP_REASON_TEXT[r].ja, r);
    assert.match(checkSources([...REPORT_SOURCES, REPORT_SOURCES[0]!]).join(), /registered twice/);
    const wrong = { ...REPORT_SOURCES[0]!, id: 'mixed', accepts: ['blocklist', 'event4_honeypot_ddos_amp'] };
    assert.deepEqual(checkSources([wrong]), [
      'source "mixed" (infection) cannot take "blocklist", a blocklist report',
      'source "mixed": "event4_honeypot_ddos_amp" is not a Shadowserver report type M7 reads',
    ]);
  });

  it(
    'matches the published Shadowserver schema (../shared/data)',
    { skip: !existsSync(SCHEMA) && '../shared/data/shadowserver-report-schema is absent: schema conformance not checked' },
    async () => {
      const schema = JSON.parse(readFileSync(SCHEMA, 'utf8')) as Record<string, { fields: string[]; 'classification.type'?: string }>;
      for (const t of SHADOWSERVER_REPORTS) {
        const published = schema[t.type];
        assert.ok(published, `${t.type} is published`);
        assert.deepEqual([...t.columns].sort(), [...published.fields].sort(), `${t.type} columns`);
        assert.ok(published.fields.includes(t.address) && published.fields.includes('timestamp'));
        if (t.port) assert.ok(published.fields.includes(t.port));
        for (const f of t.family) assert.ok(published.fields.includes(f), `${t.type}.${f}`);
        if (published['classification.type']) assert.equal(t.classification, published['classification.type'], t.type);
      }
      for (const name of Object.keys(SHADOWSERVER_REFUSED)) assert.ok(schema[name], `${name} is published`);
      // All 170 published report types, each with its published header and one row from the ISP: read into one
      // entry, or refused before any row with a clear reason; never a crash.
      let read = 0;
      let refused = 0;
      for (const [name, def] of Object.entries(schema)) {
        const cells: Record<string, string> = Object.fromEntries(def.fields.map((f) => [f, 'x, "y"']));
        Object.assign(cells, { timestamp: '2026-11-28 00:00:00', src_ip: '198.51.100.9', ip: '198.51.100.9', src_port: '1', port: '1' });
        const text = shadowserverCsv(def.fields, [cells]);
        const accepted = shadowserverReport(name);
        const source = accepted?.purpose === 'blocklist' ? 'shadowserver-blocklist' : 'shadowserver';
        try {
          const reader = readReport(chunked(text), { source, fileName: `2026-11-28-${name}-asn.csv`, prefixes, nowMs: NOW });
          let n = 0;
          for await (const b of reader) n += b.length;
          assert.ok(accepted, `${name} was read`);
          assert.equal(n, 1, name);
          read += 1;
        } catch (err) {
          assert.ok(err instanceof ReportFormatError, `${name}: ${String(err)}`);
          assert.ok(!accepted, `${name} is accepted but was refused: ${err.message}`);
          assert.match(err.message, /not read by M7|not a Shadowserver report type M7 reads/, name);
          refused += 1;
        }
      }
      assert.equal(read, SHADOWSERVER_REPORTS.length);
      assert.equal(read + refused, Object.keys(schema).length);
      // Every event4_honeypot_* report is either read or refused with a reason.
      for (const name of Object.keys(schema).filter((n) => n.startsWith('event4_honeypot_'))) {
        assert.ok(shadowserverReport(name) || refusalOf(name), name);
      }
    },
  );
});

describe('docs', () => {
  it('explain in docs/{en,ja}/infection-reports.md every reason as the code does', () => {
    for (const lang of ['en', 'ja'] as const) {
      const text = readFileSync(join(REPO_ROOT, `docs/${lang}/infection-reports.md`), 'utf8');
      for (const r of DROP_REASONS) assert.ok(text.includes(`| \`${r}\` | ${DROP_REASON_TEXT[r][lang]} |`), `docs/${lang}: ${r}`);
    }
  });
});

describe('files', () => {
  it('opens plain and gzip files alike', async () => {
    const dir = tempDir();
    const text = shadowserverCsv(shadowserverReport('event4_sinkhole')!.columns, sinkholeRows);
    const plain = join(dir, '2026-11-28-event4_sinkhole-asn.csv');
    const gz = join(dir, '2026-11-28-event4_sinkhole-asn.csv.gz');
    writeFileSync(plain, text);
    writeFileSync(gz, gzipSync(text));
    const a = await read(openReportFile(plain), { source: 'shadowserver', fileName: plain });
    const b = await read(openReportFile(gz), { source: 'shadowserver', fileName: gz });
    assert.equal(a.entries.length, 3);
    assert.deepEqual(b.entries, a.entries);
  });
});
