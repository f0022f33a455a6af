/**
 * Issue 14's decoding cases, each as the datagrams a real router sends,
 * built byte by byte: the values are those Akvorado's decoder tests state for
 * its captures of the same routers (physical-interface fields, Cisco
 * datalink, Juniper commonPropertiesId, IPFIX SRv6, Ethernet over MPLS with
 * a control word, NAT events, sFlow samples with two descriptions of one
 * packet), so that a decoder right on these is right on the captures.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlowBatch, FlowOutput } from '../../src/ingest/flow/batch.js';
import { decodeDatagram } from '../../src/ingest/flow/decode.js';
import { DROP_REASON_TEXT, DROP_REASONS, ExporterTable } from '../../src/ingest/flow/exporters.js';
import {
  Bytes,
  controlWord,
  counterSample,
  dataSet,
  ETHERTYPE,
  ether,
  extendedSwitchRecord,
  flowSample,
  icmp,
  ipfix,
  IPFIX_V4_TEMPLATE,
  ipfixV4Record,
  ipv4,
  ipv6,
  mpls,
  netflow9,
  optionsTemplateSet,
  rawHeaderRecordOf,
  sampledIpv4Record,
  sflowDatagram,
  srh,
  tcp,
  templateSet,
  udp,
  vxlan,
  type FieldSpec,
} from '../support/flow-builders.js';
import { rowsOf } from '../support/flow-records.js';

const EXPORTER = '192.0.2.1';
const RECEIVED = 1_700_000_500_000;

function run(datagrams: Buffer[], exporters = new ExporterTable(), from = EXPORTER) {
  const rows: ReturnType<typeof rowsOf> = [];
  const out = new FlowOutput(new FlowBatch(64), (b) => rows.push(...rowsOf(b)));
  for (const d of datagrams) decodeDatagram(d, from, exporters, out, RECEIVED);
  out.flush();
  const exporter = exporters.find(from)!;
  return { rows, exporters, exporter, errors: Object.fromEntries(exporter.errors) as Record<string, number> };
}

const EXPORT_S = 1_700_000_400;
const ipfixMessage = (sets: Buffer[], sequence = 0) => ipfix({ exportTime: EXPORT_S, sequence, domain: 0 }, sets);
const v9Message = (sets: Buffer[], sequence = 0) => netflow9({ uptime: 3_600_000, unixSecs: EXPORT_S, sequence, sourceId: 0 }, sets);

/** v9's header count is of records (templates included), not sets: the builder writes the set count. */
function v9WithCount(d: Buffer, count: number): Buffer {
  const c = Buffer.from(d);
  c.writeUInt16BE(count, 2);
  return c;
}

describe('IPv4 and IPv6 address fields in one template (Cisco with physical-interface fields)', () => {
  // ingress/egressPhysicalInterface, MACs, VLAN, then IPv4 fields … and the IPv6 pair after them.
  const fields = (withVersion: boolean): FieldSpec[] => [
    [252, 4],
    [253, 4],
    [56, 6],
    [80, 6],
    [243, 2],
    [8, 4],
    [12, 4],
    [7, 2],
    [11, 2],
    [4, 1],
    [6, 1],
    [1, 8],
    [2, 8],
    [152, 8],
    [153, 8],
    ...(withVersion ? [[60, 1] as FieldSpec] : []),
    [27, 16],
    [28, 16],
  ];
  interface Flow {
    v4?: [string, string];
    v6?: [string, string];
    version?: number;
    sport: number;
    dport: number;
    packets: number;
    bytes: number;
  }
  const record = (r: Flow) => {
    const b = new Bytes()
      .u32(1342177291)
      .u32(0)
      .raw([0xc0, 0x14, 0xfe, 0xf6, 0xc3, 0x65])
      .raw([0xe8, 0xb6, 0xc2, 0x4a, 0xe3, 0x4c])
      .u16(4)
      .ip4(r.v4?.[0] ?? '0.0.0.0')
      .ip4(r.v4?.[1] ?? '0.0.0.0')
      .u16(r.sport)
      .u16(r.dport)
      .u8(6)
      .u8(0x10)
      .u64(r.bytes)
      .u64(r.packets)
      .u64(1_700_000_399_000)
      .u64(1_700_000_399_500);
    if (r.version !== undefined) b.u8(r.version);
    return b
      .ip6(r.v6?.[0] ?? '::')
      .ip6(r.v6?.[1] ?? '::')
      .build();
  };
  const flows = { sport: 55629, dport: 993, packets: 3, bytes: 4506 };
  const expected = [
    { src: '147.53.240.75', dst: '212.82.101.24', sport: 55629, dport: 993, proto: 6, packets: 3, bytes: 4506 },
    { src: '2001:db8:a::75', dst: '2001:db8:b::24', sport: 55629, dport: 993, proto: 6, packets: 3, bytes: 4506 },
  ];
  const pick = (rows: ReturnType<typeof rowsOf>) =>
    rows.map(({ src, dst, sport, dport, proto, packets, bytes }) => ({ src, dst, sport, dport, proto, packets, bytes }));

  for (const [label, withVersion] of [
    ['without ipVersion: the non-zero pair decides', false],
    ['with ipVersion (IE 60)', true],
  ] as const) {
    for (const protocol of ['IPFIX', 'NetFlow v9'] as const) {
      it(`${protocol}, ${label}; an all-zero record is refused and counted`, () => {
        const message = protocol === 'IPFIX' ? ipfixMessage : v9Message;
        const records = [
          record({ ...flows, v4: ['147.53.240.75', '212.82.101.24'], version: withVersion ? 4 : undefined }),
          record({ ...flows, v6: ['2001:db8:a::75', '2001:db8:b::24'], version: withVersion ? 6 : undefined }),
          record({ ...flows, version: withVersion ? 4 : undefined }),
        ];
        const { rows, errors } = run([message([templateSet(protocol === 'IPFIX', 260, fields(withVersion)), dataSet(260, records)])]);
        assert.deepEqual(pick(rows), expected);
        assert.deepEqual(errors, { 'zero-addresses': 1 });
      });
    }
  }

  it('the general path (a variable-length field in the template) decides the same way', () => {
    const variable: FieldSpec[] = [...fields(false), [82, 65535]];
    const name = new Bytes().u8(9).raw(Buffer.from('Gi0/0/0.4')).build();
    const records = [
      Buffer.concat([record({ ...flows, v4: ['147.53.240.75', '212.82.101.24'] }), name]),
      Buffer.concat([record({ ...flows, v6: ['2001:db8:a::75', '2001:db8:b::24'] }), name]),
      Buffer.concat([record(flows), name]),
    ];
    const { rows, errors } = run([ipfixMessage([templateSet(true, 261, variable), dataSet(261, records)])]);
    assert.deepEqual(pick(rows), expected);
    assert.deepEqual(errors, { 'zero-addresses': 1 });
  });

  it("ipVersion is believed over stray bytes in the other family's fields", () => {
    const r = record({ ...flows, v4: ['147.53.240.75', '212.82.101.24'], v6: ['fe80::1', 'fe80::2'], version: 4 });
    const { rows } = run([ipfixMessage([templateSet(true, 262, fields(true)), dataSet(262, [r])])]);
    assert.deepEqual(pick(rows), expected.slice(0, 1));
  });

  it('one address of the pair may be zero (DHCP discover from 0.0.0.0): the record is kept', () => {
    const d = ipfixMessage([
      templateSet(true, 300, IPFIX_V4_TEMPLATE),
      dataSet(300, [
        ipfixV4Record({
          src: '0.0.0.0',
          dst: '255.255.255.255',
          sport: 68,
          dport: 67,
          proto: 17,
          flags: 0,
          startMs: 1,
          endMs: 2,
          bytes: 328,
          packets: 1,
        }),
      ]),
    ]);
    const { rows, errors } = run([d]);
    assert.deepEqual([rows.length, rows[0]?.src, rows[0]?.dst, errors], [1, '0.0.0.0', '255.255.255.255', {}]);
  });
});

describe('sFlow: one flow sample is one record', () => {
  const frame = ether(
    ETHERTYPE.ipv4,
    ipv4({ src: '50.50.50.50', dst: '51.51.51.51', proto: 17, payload: udp(46622, 58631, Buffer.alloc(1316)) }),
  );
  const header = frame.subarray(0, 128);
  const sampled = sampledIpv4Record({ src: '50.50.50.50', dst: '51.51.51.51', sport: 46622, dport: 58631, proto: 17, length: 1344 });

  it('a raw header and a sampled IPv4 record of the same packet give one row, counted once', () => {
    const d = sflowDatagram('49.49.49.49', 1, [
      flowSample(256, [rawHeaderRecordOf(1, header, frame.length + 4), sampled, extendedSwitchRecord(3001)]),
    ]);
    const { rows, errors } = run([d]);
    assert.deepEqual(
      rows.map((r) => [r.src, r.dst, r.sport, r.dport, r.proto, r.packets, r.bytes, r.samplingRate]),
      [['50.50.50.50', '51.51.51.51', 46622, 58631, 17, 256, 1344 * 256, 256]],
    );
    assert.deepEqual(errors, {});
  });

  it('the sampled IP record stands in when the raw header reaches no IP header', () => {
    const cut = rawHeaderRecordOf(1, header.subarray(0, 20), frame.length + 4);
    const { rows, errors } = run([sflowDatagram('49.49.49.49', 1, [flowSample(256, [sampled, cut])])]);
    assert.deepEqual(
      rows.map((r) => [r.src, r.dport, r.bytes]),
      [['50.50.50.50', 58631, 1344 * 256]],
    );
    assert.deepEqual(errors, {});
  });

  it('bytes are the IP length (frame less stripped FCS and link headers), as in sampled IP records and NetFlow', () => {
    const d = sflowDatagram('49.49.49.49', 1, [flowSample(1, [rawHeaderRecordOf(1, header, frame.length + 4)]), flowSample(1, [sampled])]);
    assert.deepEqual(
      run([d]).rows.map((r) => r.bytes),
      [1344, 1344],
    );
  });

  it('a sample with no packet in it, and raw headers that are not IP, are counted with their reasons', () => {
    const arp = ether(ETHERTYPE.arp, Buffer.alloc(28, 1));
    const pppPayload = ipv4({ src: '1.1.1.1', dst: '2.2.2.2', proto: 17, payload: udp(1, 2) });
    const d = sflowDatagram('49.49.49.49', 1, [
      flowSample(1, [extendedSwitchRecord(5)]),
      flowSample(1, [rawHeaderRecordOf(1, arp, 64)]),
      flowSample(1, [rawHeaderRecordOf(1, header.subarray(0, 30), 1400)]),
      // PPP (header protocol 7): a link type the decoder does not read.
      flowSample(1, [rawHeaderRecordOf(7, Buffer.concat([Buffer.from([0xff, 0x03, 0x00, 0x21]), pppPayload]), 40)]),
      counterSample(),
    ]);
    const { rows, errors } = run([d]);
    assert.equal(rows.length, 0);
    assert.deepEqual(errors, { 'sample-without-packet': 1, 'frame-not-ip': 1, 'frame-truncated': 1, 'frame-link-type': 1 });
  });

  it('Ethernet over MPLS with a control word in a raw header (once stopped at the control word, uncounted)', () => {
    const customer = ether(
      ETHERTYPE.ipv4,
      ipv4({ src: '10.20.30.40', dst: '10.50.60.70', proto: 6, payload: tcp(33000, 80, 0x18, Buffer.alloc(60)) }),
    );
    const f = ether(ETHERTYPE.mpls, mpls([16, 299776], Buffer.concat([controlWord(), customer])));
    const { rows, errors } = run([sflowDatagram('49.49.49.49', 1, [flowSample(1000, [rawHeaderRecordOf(1, f, f.length + 4)])])]);
    assert.deepEqual(
      rows.map((r) => [r.src, r.dst, r.sport, r.dport, r.proto, r.bytes]),
      [['10.20.30.40', '10.50.60.70', 33000, 80, 6, 100 * 1000]],
    );
    assert.deepEqual(errors, {});
  });

  it('VXLAN in a raw header: the customer packet inside', () => {
    const inner = ether(
      ETHERTYPE.ipv6,
      ipv6({ src: '2001:db8:4::1', dst: '2001:db8:4::3', next: 58, payload: icmp(128, 0, Buffer.alloc(56)) }),
    );
    const f = ether(
      ETHERTYPE.ipv4,
      ipv4({ src: '192.168.108.40', dst: '192.168.15.14', proto: 17, payload: udp(49152, 4789, Buffer.from(vxlanOf(inner))) }),
    );
    const { rows } = run([sflowDatagram('127.0.0.1', 1, [flowSample(1, [rawHeaderRecordOf(1, f, f.length + 4)])])]);
    assert.deepEqual(
      rows.map((r) => [r.src, r.dst, r.proto, r.dport]),
      [['2001:db8:4::1', '2001:db8:4::3', 58, 128 << 8]],
    );
  });
});

function vxlanOf(inner: Buffer): Buffer {
  return vxlan(1, inner);
}

describe('templates that carry the packet only as a frame (dataLinkFrameSection, IE 315)', () => {
  it('Cisco datalink (NetFlow v9, fixed-length section padded with zeros): the frame is the record, sampling applies', () => {
    // ingressInterface, flowDirection, dot1qVlanId, postDot1qVlanId, sourceMac, destinationMac, samplerId, dataLinkFrameSection.
    const fields: FieldSpec[] = [
      [10, 4],
      [61, 1],
      [243, 2],
      [254, 2],
      [56, 6],
      [80, 6],
      [48, 1],
      [315, 128],
    ];
    const packet = ipv4({ src: '51.51.51.51', dst: '52.52.52.52', proto: 17, payload: udp(55501, 11777, Buffer.alloc(68)) });
    const f = ether(ETHERTYPE.ipv4, packet, [231]);
    const section = Buffer.concat([f, Buffer.alloc(128 - f.length)]);
    const record = new Bytes()
      .u32(582)
      .u8(0)
      .u16(231)
      .u16(231)
      .raw([0xb4, 2, 0x16, 0x55, 0x92, 0xf4])
      .raw([0x18, 0x2a, 0xd3, 0x6e, 0x50, 0x3f])
      .u8(1)
      .raw(section)
      .build();
    const options = optionsTemplateSet(
      false,
      257,
      [[1, 4]],
      [
        [48, 1],
        [34, 4],
      ],
    );
    const d = v9WithCount(
      v9Message([
        options,
        dataSet(257, [new Bytes().u32(0).u8(1).u32(1000).build()]),
        templateSet(false, 256, fields),
        dataSet(256, [record]),
      ]),
      4,
    );
    const { rows, errors } = run([d]);
    assert.deepEqual(
      rows.map((r) => [r.src, r.dst, r.sport, r.dport, r.proto, r.packets, r.bytes, r.samplingRate]),
      [['51.51.51.51', '52.52.52.52', 55501, 11777, 17, 1000, 96_000, 1000]],
    );
    assert.deepEqual(errors, {});
  });

  it('Juniper IPFIX with commonPropertiesId (enterprise 2636) and a variable-length frame: IPv4 in IPv6 to its customer packet', () => {
    const fields: FieldSpec[] = [
      [10, 4],
      [61, 1],
      [137, 2, 2636],
      [312, 2],
      [315, 65535],
    ];
    const customer = ipv4({ src: '192.0.0.2', dst: '203.0.113.80', proto: 6, payload: tcp(50000, 443, 0x02, Buffer.alloc(24)) });
    const f = ether(ETHERTYPE.ipv6, ipv6({ src: 'fc30:2200:1b::f', dst: 'fc30:2200:23:e009::', next: 4, payload: customer }));
    const record = new Bytes().u32(737).u8(0).u16(0x0801).u16(f.length).u8(f.length).raw(f).build();
    const { rows, errors } = run([ipfixMessage([templateSet(true, 512, fields), dataSet(512, [record])])]);
    assert.deepEqual(
      rows.map((r) => [r.src, r.dst, r.sport, r.dport, r.proto, r.packets, r.bytes]),
      [['192.0.0.2', '203.0.113.80', 50000, 443, 6, 1, 104]],
    );
    assert.deepEqual(rows[0]!.start, EXPORT_S * 1000, 'no time in the record: the export time');
    assert.deepEqual(errors, {});
  });

  it('IPFIX with SRv6: the segment routing header walked to the customer packet', () => {
    const customer = ipv4({ src: '8.8.8.8', dst: '213.36.140.100', proto: 1, payload: icmp(0, 0, Buffer.alloc(36)) });
    const f = ether(
      ETHERTYPE.ipv6,
      ipv6({ src: 'fc00:0:1::1', dst: 'fc00:0:2:e004::', next: 43, payload: srh(4, ['fc00:0:2:e004::', 'fc00:0:3::'], customer) }),
    );
    const record = new Bytes().u8(255).u16(f.length).raw(f).build(); // the long form of a variable length
    const { rows, errors } = run([ipfixMessage([templateSet(true, 513, [[315, 65535]]), dataSet(513, [record])])]);
    assert.deepEqual(
      rows.map((r) => [r.src, r.dst, r.proto, r.packets, r.bytes]),
      [['8.8.8.8', '213.36.140.100', 1, 1, f.length - 14]],
    );
    assert.deepEqual(errors, {});
  });

  it("Ethernet over MPLS with a control word (IPFIX): the customer frame's packet", () => {
    const customer = ether(ETHERTYPE.ipv4, ipv4({ src: '10.20.30.40', dst: '10.50.60.70', proto: 6, payload: tcp(33000, 80, 0x18) }), [42]);
    const f = ether(ETHERTYPE.mpls, mpls([16, 299776], Buffer.concat([controlWord(), customer])));
    const template = templateSet(true, 514, [
      [10, 4],
      [315, 65535],
    ]);
    const { rows, errors } = run([ipfixMessage([template, dataSet(514, [new Bytes().u32(3).u8(f.length).raw(f).build()])])]);
    assert.deepEqual(
      rows.map((r) => [r.src, r.dst, r.sport, r.dport, r.proto, r.bytes]),
      [['10.20.30.40', '10.50.60.70', 33000, 80, 6, 40]],
    );
    assert.deepEqual(errors, {});
  });

  it('fields the template states win over the frame; the frame fills the rest (counters included)', () => {
    // The router states the ports and protocol (here: its own view after translation) and the counters; the frame has others.
    const fields: FieldSpec[] = [
      [7, 2],
      [11, 2],
      [4, 1],
      [2, 4],
      [315, 65535],
    ];
    const f = ether(ETHERTYPE.ipv4, ipv4({ src: '198.51.100.7', dst: '203.0.113.9', proto: 6, payload: tcp(1111, 2222, 0x12) }));
    const record = new Bytes().u16(3333).u16(4444).u8(17).u32(5).u8(f.length).raw(f).build();
    const { rows } = run([ipfixMessage([templateSet(true, 515, fields), dataSet(515, [record])])]);
    assert.deepEqual(
      rows.map((r) => [r.src, r.dst, r.sport, r.dport, r.proto, r.packets, r.bytes]),
      [['198.51.100.7', '203.0.113.9', 3333, 4444, 17, 5, 40]],
    );
  });

  it('template addresses that are not zero win; zero ones give way to the frame', () => {
    const fields: FieldSpec[] = [
      [8, 4],
      [12, 4],
      [315, 65535],
    ];
    const f = ether(ETHERTYPE.ipv4, ipv4({ src: '198.51.100.7', dst: '203.0.113.9', proto: 6, payload: tcp(1111, 2222, 0x12) }));
    const stated = new Bytes().ip4('10.0.0.1').ip4('10.0.0.2').u8(f.length).raw(f).build();
    const zero = new Bytes().ip4('0.0.0.0').ip4('0.0.0.0').u8(f.length).raw(f).build();
    const { rows } = run([ipfixMessage([templateSet(true, 516, fields), dataSet(516, [stated, zero])])]);
    assert.deepEqual(
      rows.map((r) => [r.src, r.dst, r.sport, r.dport]),
      [
        ['10.0.0.1', '10.0.0.2', 1111, 2222],
        ['198.51.100.7', '203.0.113.9', 1111, 2222],
      ],
    );
  });

  it('ipHeaderPacketSection (IE 313) starts at the IP header', () => {
    const packet = ipv6({ src: '2001:db8::68', dst: '2001:db8::1a', next: 17, payload: udp(2121, 2121, Buffer.alloc(100)) });
    const { rows } = run([
      ipfixMessage([templateSet(true, 517, [[313, 65535]]), dataSet(517, [new Bytes().u8(packet.length).raw(packet).build()])]),
    ]);
    assert.deepEqual(
      rows.map((r) => [r.src, r.dst, r.sport, r.bytes]),
      [['2001:db8::68', '2001:db8::1a', 2121, 148]],
    );
  });

  it('a frame that reaches no IP header is counted with its reason, not stored', () => {
    const arp = ether(ETHERTYPE.arp, Buffer.alloc(28, 1));
    const cut = ether(ETHERTYPE.ipv4, ipv4({ src: '1.1.1.1', dst: '2.2.2.2', proto: 17, payload: udp(1, 2) })).subarray(0, 20);
    const records = [new Bytes().u8(arp.length).raw(arp).build(), new Bytes().u8(cut.length).raw(cut).build()];
    const { rows, errors } = run([ipfixMessage([templateSet(true, 518, [[315, 65535]]), dataSet(518, records)])]);
    assert.equal(rows.length, 0);
    assert.deepEqual(errors, { 'frame-not-ip': 1, 'frame-truncated': 1 });
  });
});

describe('framing errors, each with its own reason, per exporter', () => {
  const rec = ipfixV4Record({
    src: '198.51.100.7',
    dst: '203.0.113.9',
    sport: 1,
    dport: 2,
    proto: 6,
    flags: 0,
    startMs: 1,
    endMs: 2,
    bytes: 3,
    packets: 4,
  });
  const template = templateSet(true, 300, IPFIX_V4_TEMPLATE);

  it('a data set shorter than one record of its template', () => {
    const { rows, errors } = run([ipfixMessage([template, dataSet(300, [rec.subarray(0, 30)])])]);
    assert.deepEqual([rows.length, errors], [0, { 'template-mismatch': 1 }]);
  });

  it('records followed by bytes that are not padding, and zero padding that is legal (RFC 7011 §3.3.1)', () => {
    const junk = run([ipfixMessage([template, dataSet(300, [rec, rec, Buffer.from([1, 2, 3])])])]);
    assert.deepEqual([junk.rows.length, junk.errors], [2, { 'template-mismatch': 1 }]);
    const padded = run([ipfixMessage([template, dataSet(300, [rec, rec, Buffer.alloc(3)])])]);
    assert.deepEqual([padded.rows.length, padded.errors], [2, {}]);
  });

  it('a NetFlow v9 datagram cut at a set boundary: its header counts records that never came', () => {
    const fields: FieldSpec[] = [
      [8, 4],
      [12, 4],
      [7, 2],
      [11, 2],
      [4, 1],
      [1, 4],
      [2, 4],
    ];
    const r = new Bytes().ip4('10.0.0.1').ip4('10.0.0.2').u16(1).u16(2).u8(6).u32(100).u32(1).build();
    const whole = v9WithCount(v9Message([templateSet(false, 256, fields), dataSet(256, [r, r]), dataSet(256, [r, r, r])]), 6);
    const complete = run([whole]);
    assert.deepEqual([complete.rows.length, complete.errors], [5, {}]);
    const lastSet = 4 + 3 * r.length;
    const cut = run([whole.subarray(0, whole.length - lastSet)]);
    assert.deepEqual([cut.rows.length, cut.errors], [2, { 'count-mismatch': 1 }]);
    const midSet = run([whole.subarray(0, whole.length - 5)]);
    assert.deepEqual([midSet.rows.length, midSet.errors], [2, { truncated: 1 }], 'cut inside a set: counted once, as truncated');
  });

  it('trailing bytes after the last set (v9), after the IPFIX message, after the last sFlow sample', () => {
    const v9 = v9WithCount(
      v9Message([
        templateSet(false, 256, [
          [8, 4],
          [12, 4],
        ]),
        dataSet(256, [new Bytes().ip4('10.0.0.1').ip4('10.0.0.2').build()]),
      ]),
      2,
    );
    const ipfixD = ipfixMessage([template, dataSet(300, [rec])]);
    const sflow = sflowDatagram('192.0.2.9', 1, [
      flowSample(1, [sampledIpv4Record({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, proto: 17, length: 100 })]),
    ]);
    for (const [label, d] of [
      ['v9', v9],
      ['IPFIX', ipfixD],
      ['sFlow', sflow],
    ] as const) {
      const { rows, errors } = run([Buffer.concat([d, Buffer.from([0, 0, 7])])]);
      assert.deepEqual([rows.length, errors], [1, { 'trailing-bytes': 1 }], label);
      assert.deepEqual(run([d]).errors, {}, `${label} without the extra bytes`);
    }
  });

  it('each count stays with the exporter that sent it', () => {
    const exporters = new ExporterTable();
    run([ipfixMessage([template, dataSet(300, [rec.subarray(0, 30)])])], exporters, '192.0.2.10');
    run([ipfixMessage([template, dataSet(300, [rec])])], exporters, '192.0.2.11');
    const status = Object.fromEntries(exporters.status().map((s) => [s.address, s.errors]));
    assert.deepEqual(status, { '192.0.2.10': { 'template-mismatch': 1 }, '192.0.2.11': {} });
  });
});

describe('times', () => {
  const nat: FieldSpec[] = [
    [8, 4],
    [12, 4],
    [7, 2],
    [11, 2],
    [4, 1],
    [225, 4],
    [226, 4],
    [227, 2],
    [228, 2],
    [230, 1],
    [323, 8],
  ];
  const natRecord = (observedMs: number) =>
    new Bytes()
      .ip4('172.16.100.198')
      .ip4('10.89.87.1')
      .u16(35303)
      .u16(53)
      .u8(17)
      .ip4('10.143.52.29')
      .ip4('10.89.87.1')
      .u16(35303)
      .u16(53)
      .u8(1)
      .u64(observedMs)
      .build();

  it('a NAT event with only observationTimeMilliseconds (IE 323) is at that time, not at export', () => {
    for (const message of [ipfixMessage, v9Message]) {
      const { rows } = run([message([templateSet(message === ipfixMessage, 400, nat), dataSet(400, [natRecord(1_700_000_123_456)])])]);
      assert.deepEqual(
        rows.map((r) => [r.src, r.dst, r.sport, r.dport, r.proto, r.start, r.end]),
        [['172.16.100.198', '10.89.87.1', 35303, 53, 17, 1_700_000_123_456, 1_700_000_123_456]],
      );
    }
  });

  it('observationTimeSeconds, -Microseconds and -Nanoseconds (IE 322, 324, 325)', () => {
    const ntp = (ms: number) =>
      new Bytes()
        .u32(Math.floor(ms / 1000) + 2208988800)
        .u32(Math.round(((ms % 1000) / 1000) * 4294967296))
        .build();
    const base: FieldSpec[] = [
      [8, 4],
      [12, 4],
    ];
    const addrs = new Bytes().ip4('10.0.0.1').ip4('10.0.0.2').build();
    const cases: Array<[FieldSpec, Buffer, number]> = [
      [[322, 4], new Bytes().u32(1_700_000_111).build(), 1_700_000_111_000],
      [[324, 8], ntp(1_700_000_222_250), 1_700_000_222_250],
      [[325, 8], ntp(1_700_000_333_750), 1_700_000_333_750],
    ];
    for (const [field, value, expected] of cases) {
      const { rows } = run([ipfixMessage([templateSet(true, 401, [...base, field]), dataSet(401, [Buffer.concat([addrs, value])])])]);
      assert.deepEqual([rows[0]!.start, rows[0]!.end], [expected, expected], `IE ${field[0]}`);
    }
  });

  it('flowStart/EndDeltaMicroseconds (IE 158/159) count back from the export time', () => {
    const fields: FieldSpec[] = [
      [8, 4],
      [12, 4],
      [158, 4],
      [159, 4],
    ];
    const r = new Bytes().ip4('10.0.0.1').ip4('10.0.0.2').u32(5_500_000).u32(1_000_000).build();
    const [row] = run([ipfixMessage([templateSet(true, 402, fields), dataSet(402, [r])])]).rows;
    assert.deepEqual([row!.start, row!.end], [EXPORT_S * 1000 - 5_500, EXPORT_S * 1000 - 1_000]);
  });

  it('a duration (IE 161/162) gives the missing end; systemInitTimeMilliseconds (IE 160) anchors uptimes in either order', () => {
    const d1 = run([
      ipfixMessage([
        templateSet(true, 403, [
          [8, 4],
          [12, 4],
          [152, 8],
          [161, 4],
        ]),
        dataSet(403, [new Bytes().ip4('10.0.0.1').ip4('10.0.0.2').u64(1_700_000_000_000).u32(2_500).build()]),
      ]),
    ]).rows[0]!;
    assert.deepEqual([d1.start, d1.end], [1_700_000_000_000, 1_700_000_002_500]);
    const d2 = run([
      ipfixMessage([
        templateSet(true, 404, [
          [8, 4],
          [12, 4],
          [153, 8],
          [162, 4],
        ]),
        dataSet(404, [new Bytes().ip4('10.0.0.1').ip4('10.0.0.2').u64(1_700_000_010_000).u32(1_500_000).build()]),
      ]),
    ]).rows[0]!;
    assert.deepEqual([d2.start, d2.end], [1_700_000_008_500, 1_700_000_010_000]);
    const d3 = run([
      ipfixMessage([
        templateSet(true, 405, [
          [8, 4],
          [12, 4],
          [22, 4],
          [21, 4],
          [160, 8],
        ]),
        dataSet(405, [new Bytes().ip4('10.0.0.1').ip4('10.0.0.2').u32(5_000).u32(6_000).u64(1_700_000_000_000).build()]),
      ]),
    ]).rows[0]!;
    assert.deepEqual([d3.start, d3.end], [1_700_000_005_000, 1_700_000_006_000]);
  });
});

describe('drop reasons', () => {
  it('every reason is explained in English and Japanese, in one sentence each', () => {
    assert.deepEqual(Object.keys(DROP_REASON_TEXT).sort(), [...DROP_REASONS].sort());
    for (const reason of DROP_REASONS) {
      const { en, ja } = DROP_REASON_TEXT[reason];
      assert.match(en, /^[A-Z].*\.$/, `${reason}: en`);
      assert.match(ja, /[\u3040-\u30ff\u4e00-\u9fff].*。$/, `${reason}: ja`);
    }
  });
});
