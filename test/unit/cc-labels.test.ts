/** M1's teacher data: reputation lists as labels with provenance and validity. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { importLabels, labelSources, labelsValidAt } from '../../src/measures/cc-detection/label-store.js';
import { LabelImportError, parseFeodoCsv, parseIpList, parseStixBundle } from '../../src/share/labels.js';
import { CLI, openTest, REPO_ROOT, tempDir } from '../support/fixtures.js';
import { readInputFile } from '../../src/cli/context.js';

const opts = { validityDays: 30, now: new Date('2026-11-24T00:00:00Z') };

const FEODO = `################################################################
# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)          #
################################################################
#
# "first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"
"2026-10-01 07:44:46","198.51.100.7","4643","online","2026-11-20","Dridex"
"2026-10-02 10:00:00","2001:db8::beef","443","offline","2026-10-10","QakBot"
"2026-10-03 10:00:00","198.51.100.7","4643","online","2026-11-22","Dridex"
"2026-10-04 10:00:00","not-an-ip","443","online","2026-11-20","Emotet"
"2026-10-05 10:00:00","203.0.113.9","99999","online","2026-11-20","Emotet"
"2027-05-01 10:00:00","203.0.113.10","443","online","","Emotet"
"2026-10-06 10:00:00","203.0.113.11","443","online","2026-09-01","Emotet"
garbage,line
# end
`;

describe('Feodo-Tracker-style CSV', () => {
  it('reads labels with validity, merges duplicates, and explains every skipped line', () => {
    const r = parseFeodoCsv(FEODO, opts);
    assert.deepEqual(r.labels, [
      {
        address: '198.51.100.7',
        prefixLength: 32,
        port: 4643,
        protocol: 'tcp',
        validFrom: '2026-10-01T07:44:46.000Z',
        validUntil: '2026-12-22T00:00:00.000Z',
        malware: 'Dridex',
      },
      {
        address: '2001:db8::beef',
        prefixLength: 128,
        port: 443,
        protocol: 'tcp',
        validFrom: '2026-10-02T10:00:00.000Z',
        validUntil: '2026-11-09T00:00:00.000Z',
        malware: 'QakBot',
      },
    ]);
    assert.equal(r.duplicates, 1);
    assert.deepEqual(r.skipped, [
      { line: 9, reason: 'dst_ip "not-an-ip" is not an IP address' },
      { line: 10, reason: 'dst_port "99999" is not a port' },
      { line: 11, reason: 'first_seen_utc 2027-05-01 10:00:00 is in the future' },
      { line: 12, reason: 'last_online 2026-09-01 is before first_seen_utc' },
      { line: 13, reason: '2 fields, expected 6' },
    ]);
  });

  it('refuses a file whose columns are not the expected ones', () => {
    assert.throws(
      () => parseFeodoCsv('first_seen_utc,dst_ip,port,status\n', opts),
      (e: unknown) =>
        e instanceof LabelImportError &&
        /wrong columns: expected first_seen_utc,dst_ip,dst_port,c2_status,last_online,malware, got first_seen_utc,dst_ip,port,status/.test(
          e.message,
        ),
    );
    assert.throws(() => parseFeodoCsv('1.2.3.4\n5.6.7.8\n', opts), /not a Feodo-Tracker-style CSV/);
  });
});

describe('plain IP lists', () => {
  it('reads addresses and prefixes with comments, and skips what is not one', () => {
    const r = parseIpList(
      '# FireHOL-style list\n198.51.100.0/24\n203.0.113.5 # inline note\n2001:db8:abcd::/48\n10.0.0.1/8\nfoo\n198.51.100.0/24\n',
      opts,
    );
    assert.deepEqual(
      r.labels.map((l) => `${l.address}/${l.prefixLength}`),
      ['198.51.100.0/24', '203.0.113.5/32', '2001:db8:abcd::/48'],
    );
    assert.equal(r.duplicates, 1);
    assert.deepEqual(r.skipped, [
      { line: 5, reason: '"10.0.0.1/8" has host bits set (did you mean 10.0.0.0/8?)' },
      { line: 6, reason: '"foo" is not an IP address' },
    ]);
    assert.deepEqual(
      [r.labels[0]!.validFrom, r.labels[0]!.validUntil, r.labels[0]!.port],
      ['2026-11-24T00:00:00.000Z', '2026-12-24T00:00:00.000Z', null],
    );
  });

  it('refuses a file with no address at all (e.g. the wrong file)', () => {
    assert.throws(() => parseIpList('first_seen_utc,dst_ip\n"x","y"\n', opts), /no line holds an IP address or prefix/);
  });
});

describe('STIX 2.1 bundles', () => {
  const bundle = (objects: unknown[]) => JSON.stringify({ type: 'bundle', id: 'bundle--1', objects });
  const indicator = (id: string, pattern: string, extra: object = {}) => ({
    type: 'indicator',
    spec_version: '2.1',
    id: `indicator--${id}`,
    pattern,
    pattern_type: 'stix',
    valid_from: '2026-11-01T00:00:00Z',
    ...extra,
  });

  it('reads address and endpoint patterns, and skips revoked and unsupported indicators', () => {
    const r = parseStixBundle(
      bundle([
        indicator('a', "[ipv4-addr:value = '198.51.100.7']", { valid_until: '2026-12-01T00:00:00Z', name: 'Dridex C2' }),
        indicator(
          'b',
          "[network-traffic:dst_ref.type = 'ipv6-addr' AND network-traffic:dst_ref.value " +
            "= '2001:db8::1' " +
            'AND network-traffic:dst_port = 8080]',
        ),
        indicator('c', "[ipv4-addr:value = '203.0.113.1' OR ipv4-addr:value = '203.0.113.2']"),
        indicator('d', "[file:hashes.'SHA-256' = 'abc']"),
        indicator('e', "[ipv4-addr:value = '203.0.113.3']", { revoked: true }),
        { type: 'identity', id: 'identity--x', name: 'Someone' },
      ]),
      opts,
    );
    assert.deepEqual(
      r.labels.map((l) => [l.address, l.port, l.validUntil]),
      [
        ['198.51.100.7', null, '2026-12-01T00:00:00.000Z'],
        ['2001:db8::1', 8080, '2026-12-24T00:00:00.000Z'],
        ['203.0.113.1', null, '2026-12-24T00:00:00.000Z'],
        ['203.0.113.2', null, '2026-12-24T00:00:00.000Z'],
      ],
    );
    assert.deepEqual(
      r.skipped.map((s) => s.line),
      [4, 5],
    );
    assert.match(r.skipped[0]!.reason, /file:hashes/);
    assert.match(r.skipped[1]!.reason, /revoked/);
  });

  it(
    'reads the official example C2 indicator',
    { skip: !existsSync(join(REPO_ROOT, '../shared/data/stix2-json-schemas/examples')) && 'shared STIX examples absent' },
    () => {
      const text = readFileSync(join(REPO_ROOT, '../shared/data/stix2-json-schemas/examples/indicator-for-c2-ip-address.json'), 'utf8');
      const r = parseStixBundle(text, opts);
      assert.deepEqual(
        r.labels.map((l) => `${l.address}/${l.prefixLength}`),
        ['10.0.0.0/32'],
      );
    },
  );

  it('refuses what is not a bundle', () => {
    assert.throws(() => parseStixBundle('{', opts), /not JSON/);
    assert.throws(() => parseStixBundle('{"type":"indicator"}', opts), /not a STIX bundle/);
  });
});

describe('label store', () => {
  it('imports a list whole, replaces it on re-import, audits, and answers by validity', async () => {
    const m = await openTest();
    const file = join(tempDir(), 'feodo.csv');
    writeFileSync(file, FEODO);
    const r = await importLabels(m.state, m.audit, {
      file: readInputFile(file),
      format: 'feodo-csv',
      source: 'feodo',
      validityDays: 30,
      actor: 'cli:test',
      now: opts.now,
    });
    assert.equal(r.labels.length, 2);
    assert.deepEqual((await labelsValidAt(m.state, new Date('2026-10-05T00:00:00Z'))).map((l) => l.address).sort(), [
      '198.51.100.7',
      '2001:db8::beef',
    ]);
    assert.deepEqual(
      (await labelsValidAt(m.state, new Date('2026-11-15T00:00:00Z'))).map((l) => l.address),
      ['198.51.100.7'],
    );
    assert.deepEqual(await labelsValidAt(m.state, new Date('2026-09-01T00:00:00Z')), []);

    writeFileSync(
      file,
      FEODO.split('\n')
        .filter((l) => !l.includes('2001:db8'))
        .join('\n'),
    );
    await importLabels(m.state, m.audit, {
      file: readInputFile(file),
      format: 'feodo-csv',
      source: 'feodo',
      validityDays: 30,
      actor: 'cli:test',
      now: opts.now,
    });
    const sources = await labelSources(m.state);
    assert.deepEqual(
      sources.map((s) => [s.name, s.labels]),
      [['feodo', 1]],
    );
    const audited = [];
    for await (const e of m.audit.entries()) if (e.action === 'labels.import') audited.push(e);
    assert.deepEqual(
      audited.map((e) => [e.measure, e.object, e.counts]),
      [
        ['cc-detection', 'label-source:feodo', { labels: 2, skipped: 5, duplicates: 1 }],
        ['cc-detection', 'label-source:feodo', { labels: 1, skipped: 5, duplicates: 1 }],
      ],
    );
  });

  it('leaves the previous import untouched when a new file is refused', async () => {
    const m = await openTest();
    const file = join(tempDir(), 'list.txt');
    writeFileSync(file, '198.51.100.0/24\n');
    await importLabels(m.state, m.audit, {
      file: readInputFile(file),
      format: 'ip-list',
      source: 'firehol',
      validityDays: 30,
      actor: 'cli:test',
    });
    writeFileSync(file, 'this is not, a list\n');
    await assert.rejects(
      importLabels(m.state, m.audit, {
        file: readInputFile(file),
        format: 'ip-list',
        source: 'firehol',
        validityDays: 30,
        actor: 'cli:test',
      }),
      LabelImportError,
    );
    assert.deepEqual(
      (await labelSources(m.state)).map((s) => s.labels),
      [1],
    );
  });

  it('refuses a source name that would read as a host name', async () => {
    const m = await openTest();
    const file = join(tempDir(), 'list.txt');
    writeFileSync(file, '198.51.100.0/24\n');
    await assert.rejects(
      importLabels(m.state, m.audit, {
        file: readInputFile(file),
        format: 'ip-list',
        source: 'abuse.ch.feodo',
        validityDays: 30,
        actor: 'cli:test',
      }),
      /source name "abuse.ch.feodo" is not allowed/,
    );
  });

  it('is reachable from the CLI, with a clear error for a broken file', () => {
    const dir = tempDir();
    const config = join(dir, 'mamori.yaml');
    writeFileSync(config, `dataDir: ${JSON.stringify(join(dir, 'data'))}\n`);
    const file = join(dir, 'feodo.csv');
    writeFileSync(file, FEODO);
    const ok = spawnSync(
      process.execPath,
      [CLI, '-c', config, 'cc', 'labels', 'import', file, '--format', 'feodo-csv', '--source', 'feodo'],
      { encoding: 'utf8' },
    );
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /imported \d+ labels .* lines skipped/);
    assert.match(ok.stdout, /skipped line 9: dst_ip "not-an-ip" is not an IP address/);
    writeFileSync(file, 'first_seen_utc,dst_ip\n');
    const bad = spawnSync(
      process.execPath,
      [CLI, '-c', config, 'cc', 'labels', 'import', file, '--format', 'feodo-csv', '--source', 'feodo'],
      { encoding: 'utf8' },
    );
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /wrong columns/);
  });
});
