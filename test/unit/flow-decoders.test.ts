import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressBytes } from '../../src/ingest/address.js';
import { FLOW_ROW_BYTES, FlowBatch, FlowOutput, FlowRowBinaryWriter } from '../../src/ingest/flow/batch.js';
import { decodeDatagram } from '../../src/ingest/flow/decode.js';
import { ExporterTable, LIMITS } from '../../src/ingest/flow/exporters.js';
import {
  Bytes,
  counterSample,
  dataSet,
  ethernetFrame,
  flowSample,
  ipfix,
  IPFIX_V4_TEMPLATE,
  ipfixV4Record,
  IPFIX_V6_TEMPLATE,
  ipfixV6Record,
  netflow5,
  netflow9,
  optionsTemplateSet,
  rawHeaderRecord,
  sampledIpv4Record,
  sflowDatagram,
  templateSet,
} from '../support/flow-builders.js';
import { rowsOf } from '../support/flow-records.js';

function run(datagrams: Array<[Buffer, string?]>, receivedMs = 1_700_000_000_000, exporters = new ExporterTable()) {
  const batches: FlowBatch[] = [];
  const all: ReturnType<typeof rowsOf> = [];
  const out = new FlowOutput(new FlowBatch(64), (b) => {
    all.push(...rowsOf(b));
    batches.push(b);
  });
  for (const [d, from] of datagrams) decodeDatagram(d, from ?? '192.0.2.1', exporters, out, receivedMs);
  out.flush();
  return { rows: all, exporters, exporter: exporters.find('192.0.2.1')! };
}

const V4 = {
  src: '198.51.100.7',
  dst: '203.0.113.9',
  sport: 51515,
  dport: 443,
  proto: 6,
  flags: 0x1b,
  startMs: 1_700_000_001_234,
  endMs: 1_700_000_002_345,
  bytes: 1500,
  packets: 3,
};

describe('NetFlow v5', () => {
  it('decodes every declared field, converts uptimes to times, applies the header sampling', () => {
    const d = netflow5({ uptime: 100_000, unixSecs: 1_700_000_000, unixNsecs: 500_000_000, sequence: 0, sampling: 0x4000 | 10 }, [
      {
        src: '10.0.0.1',
        dst: '198.51.100.1',
        sport: 1234,
        dport: 80,
        proto: 6,
        packets: 2,
        bytes: 120,
        first: 90_000,
        last: 99_000,
        flags: 0x12,
      },
    ]);
    const { rows } = run([[d]]);
    assert.deepEqual(rows, [
      {
        start: 1_700_000_000_500 - 10_000,
        end: 1_700_000_000_500 - 1_000,
        src: '10.0.0.1',
        dst: '198.51.100.1',
        sport: 1234,
        dport: 80,
        proto: 6,
        packets: 20,
        bytes: 1200,
        samplingRate: 10,
      },
    ]);
  });

  it('keeps times right across the 32-bit uptime wrap', () => {
    const d = netflow5({ uptime: 5_000, unixSecs: 1_700_000_000, sequence: 0 }, [
      { src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, proto: 17, packets: 1, bytes: 1, first: 4294967296 - 5_000, last: 1_000 },
    ]);
    const [r] = run([[d]]).rows;
    assert.equal(r!.start, 1_700_000_000_000 - 10_000);
    assert.equal(r!.end, 1_700_000_000_000 - 4_000);
  });

  it('turns sequence gaps into an estimated loss', () => {
    const rec = { src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, proto: 17, packets: 1, bytes: 1, first: 1, last: 1 };
    const { exporter } = run([
      [netflow5({ uptime: 10, unixSecs: 1, sequence: 100 }, [rec, rec])],
      [netflow5({ uptime: 10, unixSecs: 1, sequence: 102 }, [rec])],
      [netflow5({ uptime: 10, unixSecs: 1, sequence: 110 }, [rec])], // 7 flows lost
    ]);
    assert.equal(exporter.lost(), 7);
  });

  it('counts a datagram shorter than its record count says', () => {
    const d = netflow5({ uptime: 1, unixSecs: 1, sequence: 0 }, [
      { src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, proto: 17, packets: 1, bytes: 1, first: 1, last: 1 },
    ]);
    const { rows, exporter } = run([[d.subarray(0, d.length - 1)]]);
    assert.equal(rows.length, 0);
    assert.equal(exporter.errors.get('truncated'), 1);
  });
});

describe('NetFlow v9 and IPFIX', () => {
  it('decodes IPFIX with the realistic template, IPv4 and IPv6', () => {
    const d = ipfix({ exportTime: 1_700_000_010, sequence: 0, domain: 1 }, [
      templateSet(true, 300, IPFIX_V4_TEMPLATE),
      templateSet(true, 301, IPFIX_V6_TEMPLATE),
      dataSet(300, [ipfixV4Record(V4)]),
      dataSet(301, [ipfixV6Record({ ...V4, src: '2001:db8::7', dst: '2001:db8:ffff::9' })]),
    ]);
    const { rows } = run([[d]]);
    assert.deepEqual(rows, [
      {
        start: V4.startMs,
        end: V4.endMs,
        src: V4.src,
        dst: V4.dst,
        sport: V4.sport,
        dport: V4.dport,
        proto: 6,
        packets: 3,
        bytes: 1500,
        samplingRate: 1,
      },
      {
        start: V4.startMs,
        end: V4.endMs,
        src: '2001:db8::7',
        dst: '2001:db8:ffff::9',
        sport: V4.sport,
        dport: V4.dport,
        proto: 6,
        packets: 3,
        bytes: 1500,
        samplingRate: 1,
      },
    ]);
  });

  it('holds data that arrives before its template, then decodes it', () => {
    const data = ipfix({ exportTime: 1, sequence: 0, domain: 1 }, [dataSet(300, [ipfixV4Record(V4)])]);
    const tmpl = ipfix({ exportTime: 1, sequence: 1, domain: 1 }, [templateSet(true, 300, IPFIX_V4_TEMPLATE)]);
    const { rows, exporter } = run([[data], [tmpl]]);
    assert.equal(rows.length, 1);
    assert.equal(exporter.errors.size, 0);
  });

  it('drops and counts held data whose template comes too late', () => {
    const exporters = new ExporterTable();
    run([[ipfix({ exportTime: 1, sequence: 0, domain: 1 }, [dataSet(300, [ipfixV4Record(V4)])])]], 1_000_000, exporters);
    const late = run(
      [[ipfix({ exportTime: 1, sequence: 1, domain: 1 }, [templateSet(true, 300, IPFIX_V4_TEMPLATE)])]],
      1_000_000 + LIMITS.holdMs + 1,
      exporters,
    );
    assert.equal(late.rows.length, 0);
    assert.equal(late.exporter.errors.get('no-template'), 1);
  });

  it('bounds what it holds per exporter', () => {
    const datagrams: Array<[Buffer]> = [];
    for (let i = 0; i < LIMITS.heldSetsPerExporter + 10; i++)
      datagrams.push([ipfix({ exportTime: 1, sequence: i, domain: 1 }, [dataSet(300, [ipfixV4Record(V4)])])]);
    const { exporter } = run(datagrams);
    const domain = exporter.existing('ipfix', 1)!;
    assert.equal(domain.held.length, LIMITS.heldSetsPerExporter);
    assert.equal(exporter.errors.get('no-template'), 10);
  });

  it('scopes templates per exporter and observation domain (same id, different layouts)', () => {
    const a = ipfix({ exportTime: 1, sequence: 0, domain: 1 }, [templateSet(true, 300, IPFIX_V4_TEMPLATE)]);
    const b = ipfix({ exportTime: 1, sequence: 0, domain: 1 }, [templateSet(true, 300, IPFIX_V6_TEMPLATE)]);
    const c = ipfix({ exportTime: 1, sequence: 0, domain: 2 }, [templateSet(true, 300, IPFIX_V6_TEMPLATE)]);
    const dataA = ipfix({ exportTime: 1, sequence: 0, domain: 1 }, [dataSet(300, [ipfixV4Record(V4)])]);
    const dataB = ipfix({ exportTime: 1, sequence: 0, domain: 1 }, [
      dataSet(300, [ipfixV6Record({ ...V4, src: '2001:db8::1', dst: '2001:db8::2' })]),
    ]);
    const dataC = ipfix({ exportTime: 1, sequence: 1, domain: 2 }, [
      dataSet(300, [ipfixV6Record({ ...V4, src: '2001:db8::3', dst: '2001:db8::4' })]),
    ]);
    const { rows } = run([
      [a, '192.0.2.1'],
      [b, '192.0.2.2'],
      [c, '192.0.2.1'],
      [dataA, '192.0.2.1'],
      [dataB, '192.0.2.2'],
      [dataC, '192.0.2.1'],
    ]);
    assert.deepEqual(
      rows.map((r) => r.src),
      [V4.src, '2001:db8::1', '2001:db8::3'],
    );
  });

  it('applies template refresh and IPFIX withdrawal', () => {
    const withdraw = ipfix({ exportTime: 1, sequence: 0, domain: 1 }, [new Bytes().u16(2).u16(8).u16(300).u16(0).build()]);
    const { rows, exporter } = run(
      [
        [ipfix({ exportTime: 1, sequence: 0, domain: 1 }, [templateSet(true, 300, IPFIX_V4_TEMPLATE)])],
        [withdraw],
        [ipfix({ exportTime: 1, sequence: 0, domain: 1 }, [dataSet(300, [ipfixV4Record(V4)])])],
      ],
      5_000_000,
    );
    assert.equal(rows.length, 0);
    assert.equal(exporter.existing('ipfix', 1)!.templates.size, 0);
    assert.equal(exporter.existing('ipfix', 1)!.held.length, 1, 'data for a withdrawn template waits like any data without one');
  });

  it('reads variable-length fields (short and long form) and skips enterprise fields', () => {
    const fields: Array<[number, number, number?]> = [
      [8, 4],
      [12, 4],
      [82, 65535],
      [7, 2],
      [11, 2],
      [4, 1],
      [100, 4, 9],
      [96, 65535],
      [1, 4],
      [2, 4],
    ];
    const longName = Buffer.alloc(300, 0x41);
    const record = new Bytes()
      .ip4('10.1.1.1')
      .ip4('10.2.2.2')
      .u8(8)
      .raw(Buffer.from('ge-0/0/1')) // interfaceName, short form
      .u16(1000)
      .u16(53)
      .u8(17)
      .u32(0xdeadbeef) // enterprise 9 field
      .u8(255)
      .u16(300)
      .raw(longName) // applicationName, long form
      .u32(99)
      .u32(2)
      .build();
    const d = ipfix({ exportTime: 1_700_000_000, sequence: 0, domain: 1 }, [
      templateSet(true, 400, fields),
      dataSet(400, [record, record]),
    ]);
    const { rows } = run([[d]]);
    assert.equal(rows.length, 2);
    assert.deepEqual(rows[1], {
      start: 1_700_000_000_000,
      end: 1_700_000_000_000,
      src: '10.1.1.1',
      dst: '10.2.2.2',
      sport: 1000,
      dport: 53,
      proto: 17,
      packets: 2,
      bytes: 99,
      samplingRate: 1,
    });
  });

  it('learns sampler rates from v9 options data and applies them per sampler id', () => {
    const fields: Array<[number, number]> = [
      [8, 4],
      [12, 4],
      [7, 2],
      [11, 2],
      [4, 1],
      [1, 4],
      [2, 4],
      [22, 4],
      [21, 4],
      [48, 1],
    ];
    const rec = (sampler: number) =>
      new Bytes().ip4('10.0.0.1').ip4('10.0.0.2').u16(1).u16(2).u8(6).u32(100).u32(1).u32(9_000).u32(9_500).u8(sampler).build();
    const options = optionsTemplateSet(
      false,
      257,
      [[1, 4]],
      [
        [48, 1],
        [34, 4],
      ],
    );
    const optData = dataSet(257, [new Bytes().u32(0).u8(1).u32(512).build(), new Bytes().u32(0).u8(2).u32(64).build()]);
    const d = netflow9({ uptime: 10_000, unixSecs: 1_700_000_000, sequence: 0, sourceId: 7 }, [
      options,
      optData,
      templateSet(false, 256, fields),
      dataSet(256, [rec(1), rec(2), rec(3)]),
    ]);
    const { rows } = run([[d]]);
    assert.deepEqual(
      rows.map((r) => [r.samplingRate, r.bytes, r.packets]),
      [
        [512, 51_200, 512],
        [64, 6_400, 64],
        [1, 100, 1],
      ],
    );
    assert.deepEqual([rows[0]!.start, rows[0]!.end], [1_700_000_000_000 - 1_000, 1_700_000_000_000 - 500]);
  });

  it('counts v9 datagram sequence gaps and IPFIX record sequence gaps', () => {
    const t = templateSet(true, 300, IPFIX_V4_TEMPLATE);
    const rec = ipfixV4Record(V4);
    const { exporter } = run([
      [ipfix({ exportTime: 1, sequence: 0, domain: 1 }, [t, dataSet(300, [rec, rec])])],
      [ipfix({ exportTime: 1, sequence: 2, domain: 1 }, [dataSet(300, [rec])])],
      [ipfix({ exportTime: 1, sequence: 8, domain: 1 }, [dataSet(300, [rec])])],
    ]);
    assert.equal(exporter.lost(), 5);
    const v9t = templateSet(false, 300, [
      [8, 4],
      [12, 4],
    ]);
    const v9 = run([
      [netflow9({ uptime: 1, unixSecs: 1, sequence: 10, sourceId: 0 }, [v9t])],
      [netflow9({ uptime: 1, unixSecs: 1, sequence: 13, sourceId: 0 }, [v9t])],
    ]);
    assert.equal(v9.exporter.lost(), 2);
  });

  it('refuses templates with no fields, too many fields, or a reserved id, and counts them', () => {
    const many: Array<[number, number]> = Array.from({ length: LIMITS.fieldsPerTemplate + 1 }, () => [1, 4]);
    const { exporter } = run([
      [netflow9({ uptime: 1, unixSecs: 1, sequence: 0, sourceId: 0 }, [new Bytes().u16(0).u16(8).u16(300).u16(0).build()])],
      [netflow9({ uptime: 1, unixSecs: 1, sequence: 1, sourceId: 0 }, [templateSet(false, 301, many)])],
      [netflow9({ uptime: 1, unixSecs: 1, sequence: 2, sourceId: 0 }, [templateSet(false, 12, [[8, 4]])])],
    ]);
    assert.equal(exporter.errors.get('bad-template'), 3);
    assert.equal(exporter.templateCount(), 0);
  });

  it('counts lying set lengths without reading past the datagram', () => {
    const good = ipfix({ exportTime: 1, sequence: 0, domain: 1 }, [templateSet(true, 300, IPFIX_V4_TEMPLATE)]);
    const zeroSet = Buffer.from(good);
    zeroSet.writeUInt16BE(0, 18);
    const longSet = Buffer.from(good);
    longSet.writeUInt16BE(65535, 18);
    const longMessage = Buffer.from(good);
    longMessage.writeUInt16BE(65535, 2);
    const { exporter } = run([[good], [zeroSet], [longSet], [longMessage]]);
    assert.deepEqual(Object.fromEntries(exporter.errors), { 'bad-length': 2, truncated: 1 });
    // The same datagrams for a domain never seen create no state at all.
    const fresh = run([[zeroSet], [longSet], [longMessage]]);
    assert.deepEqual(Object.fromEntries(fresh.exporter.errors), { 'no-valid-set': 2, 'bad-length': 1 });
    assert.equal(fresh.exporter.allDomains().length, 0);
  });
});

describe('RowBinary rows', () => {
  it('encodes addresses as ClickHouse stores IPv6 (IPv4 mapped) in network order', () => {
    assert.deepEqual([...addressBytes('192.0.2.1')], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 192, 0, 2, 1]);
    assert.deepEqual([...addressBytes('2001:db8::1')], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual([...addressBytes('::1')], [...Array(15).fill(0), 1]);
    assert.deepEqual([...addressBytes('::ffff:198.51.100.7')], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 198, 51, 100, 7]);
    assert.deepEqual([...addressBytes('fe80::1:2')], [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2]);
  });
});

describe('exporters', () => {
  it('accepts only allowed exporters when an allow-list is set, and counts the rest', () => {
    const exporters = new ExporterTable(new Set(['192.0.2.1']));
    const d = netflow5({ uptime: 1, unixSecs: 1, sequence: 0 }, [
      { src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, proto: 17, packets: 1, bytes: 1, first: 1, last: 1 },
    ]);
    const { rows } = run(
      [
        [d, '192.0.2.1'],
        [d, '203.0.113.66'],
        [d, '203.0.113.66'],
      ],
      1,
      exporters,
    );
    assert.equal(rows.length, 1);
    assert.equal(exporters.unattributed.get('unknown-exporter'), 2);
    assert.deepEqual(
      exporters.list().map((e) => e.address),
      ['192.0.2.1'],
    );
  });
});

describe('bounded exporter state', () => {
  it('lets the least recently used domain give way beyond the limit, and counts it', () => {
    const datagrams: Array<[Buffer]> = [];
    for (let d = 0; d < LIMITS.domainsPerExporter + 5; d++)
      datagrams.push([ipfix({ exportTime: 1, sequence: 0, domain: d }, [templateSet(true, 300, IPFIX_V4_TEMPLATE)])]);
    const { exporter } = run(datagrams);
    assert.equal(exporter.domains.size, LIMITS.domainsPerExporter);
    assert.equal(exporter.errors.get('domain-evicted'), 5);
    assert.equal(exporter.existing('ipfix', 0), undefined, 'the oldest domain gave way');
    assert.ok(exporter.existing('ipfix', LIMITS.domainsPerExporter + 4), 'the newest domain is kept');
  });
});

describe('sFlow v5', () => {
  it('walks Ethernet, QinQ and MPLS down to IPv4/IPv6 and the ports, and applies the sampling rate', () => {
    const frames = [
      ethernetFrame({ src: '192.0.2.10', dst: '198.51.100.20', proto: 6, sport: 40000, dport: 443, flags: 0x18, vlans: [100, 200] }),
      ethernetFrame({ src: '2001:db8::10', dst: '2001:db8::20', proto: 17, sport: 5353, dport: 53, mpls: [16, 17] }),
      ethernetFrame({ src: '192.0.2.11', dst: '198.51.100.21', proto: 1, dport: 0x0800 }),
    ];
    // One flow sample per packet. Bytes are the IP length as sflowtool reports it: the 1514-byte frame less the
    // 4 bytes stripped (FCS) and the link headers before IP (14 for Ethernet, plus 8 for two tags or two labels).
    const d = sflowDatagram('192.0.2.1', 1, [...frames.map((f) => flowSample(1000, [rawHeaderRecord(f, 1514)])), counterSample()]);
    const { rows } = run([[d]], 1_700_000_123_000);
    assert.deepEqual(rows, [
      {
        start: 1_700_000_123_000,
        end: 1_700_000_123_000,
        src: '192.0.2.10',
        dst: '198.51.100.20',
        sport: 40000,
        dport: 443,
        proto: 6,
        packets: 1000,
        bytes: 1_488_000,
        samplingRate: 1000,
      },
      {
        start: 1_700_000_123_000,
        end: 1_700_000_123_000,
        src: '2001:db8::10',
        dst: '2001:db8::20',
        sport: 5353,
        dport: 53,
        proto: 17,
        packets: 1000,
        bytes: 1_488_000,
        samplingRate: 1000,
      },
      {
        start: 1_700_000_123_000,
        end: 1_700_000_123_000,
        src: '192.0.2.11',
        dst: '198.51.100.21',
        sport: 0,
        dport: 0x0800,
        proto: 1,
        packets: 1000,
        bytes: 1_496_000,
        samplingRate: 1000,
      },
    ]);
  });

  it('decodes sampled IPv4 records in expanded flow samples', () => {
    const d = sflowDatagram('192.0.2.1', 1, [
      flowSample(256, [sampledIpv4Record({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, proto: 17, length: 100 })], true),
    ]);
    const { rows } = run([[d]]);
    assert.deepEqual(
      rows.map((r) => [r.src, r.dst, r.bytes, r.packets, r.samplingRate]),
      [['10.0.0.1', '10.0.0.2', 25_600, 256, 256]],
    );
  });

  it('counts a sample count that exceeds the datagram', () => {
    const d = sflowDatagram('192.0.2.1', 1, [
      flowSample(1, [sampledIpv4Record({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, proto: 17, length: 100 })]),
    ]);
    const lying = Buffer.from(d);
    lying.writeUInt32BE(50, 24);
    const { rows, exporter } = run([[lying]]);
    assert.equal(rows.length, 1);
    assert.equal(exporter.errors.get('truncated'), 1);
  });
});

describe('minimisation at the edge', () => {
  it('keeps no interface names, MAC addresses or payload bytes, only the declared fields', () => {
    const secretName = 'xe-0/0/0.SECRET-IFNAME';
    const payload = Buffer.from('GET /?user=SECRET-PAYLOAD HTTP/1.1');
    const ipfixWithExtras = ipfix({ exportTime: 1_700_000_000, sequence: 0, domain: 1 }, [
      templateSet(true, 500, [...IPFIX_V4_TEMPLATE, [82, 65535]]),
      dataSet(500, [Buffer.concat([ipfixV4Record(V4), new Bytes().u8(secretName.length).raw(Buffer.from(secretName)).build()])]),
    ]);
    const sflow = sflowDatagram('192.0.2.1', 1, [
      flowSample(1, [rawHeaderRecord(ethernetFrame({ src: '192.0.2.10', dst: '198.51.100.20', proto: 6, sport: 1, dport: 80, payload }))]),
    ]);
    const rows: Buffer[] = [];
    const writer = new FlowRowBinaryWriter();
    const out = new FlowOutput(new FlowBatch(8), (b) => rows.push(Buffer.from(writer.write(b))));
    const exporters = new ExporterTable();
    decodeDatagram(ipfixWithExtras, '192.0.2.1', exporters, out, 1);
    decodeDatagram(sflow, '192.0.2.1', exporters, out, 1);
    out.flush();
    const stored = Buffer.concat(rows);
    assert.equal(stored.length, 2 * FLOW_ROW_BYTES, 'two rows of the declared columns, nothing more');
    for (const secret of [secretName, 'SECRET', 'GET /', payload.subarray(4, 16).toString()]) {
      assert.equal(stored.includes(secret), false, `stored data contains ${secret}`);
    }
    for (const mac of [
      [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee],
      [0x02, 0x11, 0x22, 0x33, 0x44, 0x55],
      [0x02, 0x66, 0x77, 0x88, 0x99, 0xaa],
    ]) {
      assert.equal(stored.includes(Buffer.from(mac)), false, 'stored data contains a MAC address');
    }
  });
});
