/**
 * One of each packet and datagram shape issue 14 is about, for the fuzz
 * corpus: the frames the frame decoder walks (and those it must refuse), and
 * whole export datagrams that carry them (sFlow raw headers, IPFIX and v9
 * packet sections, mixed-family templates, NAT events, framing errors).
 */
import { FrameStart } from '../../src/ingest/flow/frame.js';
import {
  Bytes,
  controlWord,
  dataSet,
  ETHERTYPE,
  ether,
  extendedSwitchRecord,
  flowSample,
  fragment6,
  gre,
  icmp,
  ipfix,
  IPFIX_V4_TEMPLATE,
  ipfixV4Record,
  ipv4,
  ipv6,
  mpls,
  netflow9,
  options6,
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
} from './flow-builders.js';

const v4 = (proto: number, payload: Buffer) => ipv4({ src: '192.0.2.10', dst: '198.51.100.20', proto, payload });
const v6 = (next: number, payload: Buffer) => ipv6({ src: '2001:db8:1::10', dst: '2001:db8:2::20', next, payload });

/** Frames and where they start: every encapsulation the decoder follows, and frames it must refuse. */
export function frameCases(): Array<{ name: string; frame: Buffer; start: FrameStart }> {
  const customer = ether(ETHERTYPE.ipv4, v4(6, tcp(33000, 80, 0x18, Buffer.alloc(20))), [42]);
  const l = (name: string, frame: Buffer, start = FrameStart.Ethernet) => ({ name, frame, start });
  return [
    l('ipv4 tcp', ether(ETHERTYPE.ipv4, v4(6, tcp(40000, 443, 0x18, Buffer.alloc(40))))),
    l('qinq udp', ether(ETHERTYPE.ipv4, v4(17, udp(5353, 53)), [1493, 100], 0x88a8)),
    l('ipv6 options', ether(ETHERTYPE.ipv6, v6(0, options6(60, options6(6, tcp(1, 22, 2)))))),
    l('ipv6 fragment', ether(ETHERTYPE.ipv6, v6(44, fragment6(17, 1448, Buffer.alloc(24, 9))))),
    l('mpls ipv4', ether(ETHERTYPE.mpls, mpls([18, 16], v4(6, tcp(11001, 23, 0x10))))),
    l('mpls explicit null ipv6', ether(ETHERTYPE.mpls, mpls([2], v6(17, udp(49153, 862))))),
    l('eompls control word', ether(ETHERTYPE.mpls, mpls([16, 299776], Buffer.concat([controlWord(), customer])))),
    l('eompls no control word', ether(ETHERTYPE.mpls, mpls([16, 17], customer))),
    l('pw associated channel', ether(ETHERTYPE.mpls, mpls([16, 17], new Bytes().u32(0x10000007).raw(Buffer.alloc(24)).build()))),
    l('vxlan', ether(ETHERTYPE.ipv4, v4(17, udp(49152, 4789, vxlan(100, ether(ETHERTYPE.ipv6, v6(58, icmp(128, 0)))))))),
    l('srv6', ether(ETHERTYPE.ipv6, v6(43, srh(4, ['fc00:0:2:e004::', 'fc00:0:3::'], v4(1, icmp(0, 0)))))),
    l('4in6', ether(ETHERTYPE.ipv6, v6(4, v4(6, tcp(50000, 443, 2))))),
    l('6in4', ether(ETHERTYPE.ipv4, v4(41, v6(6, tcp(80, 35673, 0x10))))),
    l('gre key', ether(ETHERTYPE.ipv4, v4(47, gre(0x0800, v4(17, udp(123, 123)), 7)))),
    l('gre ethernet', ether(ETHERTYPE.ipv4, v4(47, gre(0x6558, ether(ETHERTYPE.ipv4, v4(17, udp(1, 2))))))),
    l('ethernet in ipv6', ether(ETHERTYPE.ipv6, v6(143, ether(ETHERTYPE.ipv4, v4(17, udp(1, 2)))))),
    l('arp', ether(ETHERTYPE.arp, Buffer.alloc(28, 1))),
    l('lldp', ether(ETHERTYPE.lldp, Buffer.alloc(40, 1), [10])),
    l('ip start', v4(17, udp(3, 4)), FrameStart.Ip),
    l('ipv6 start', v6(17, udp(3, 4)), FrameStart.Ipv6),
    l('mpls start', mpls([16], v4(17, udp(3, 4))), FrameStart.Mpls),
  ];
}

const EXPORT_S = 1_700_000_400;

/** Export datagrams carrying the cases above, and the template and framing cases. */
export function datagramCases(): Buffer[] {
  const frames = frameCases()
    .filter((c) => c.start === FrameStart.Ethernet)
    .map((c) => c.frame);
  const sflow = sflowDatagram('192.0.2.9', 1, [
    ...frames.map((f) => flowSample(1000, [rawHeaderRecordOf(1, f, f.length + 4), extendedSwitchRecord(3)])),
    flowSample(256, [
      rawHeaderRecordOf(1, frames[0]!, 1518),
      sampledIpv4Record({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, proto: 17, length: 100 }),
    ]),
    flowSample(1, [rawHeaderRecordOf(13, mpls([16], v4(17, udp(3, 4))), 64)]),
    flowSample(1, [extendedSwitchRecord(5)]),
  ]);
  const withFrames = ipfix({ exportTime: EXPORT_S, sequence: 0, domain: 3 }, [
    templateSet(true, 512, [
      [10, 4],
      [61, 1],
      [137, 2, 2636],
      [312, 2],
      [315, 65535],
    ]),
    dataSet(
      512,
      frames.slice(0, 8).map((f) => new Bytes().u32(737).u8(0).u16(0x0801).u16(f.length).u8(f.length).raw(f).build()),
    ),
    templateSet(true, 513, [
      [7, 2],
      [11, 2],
      [4, 1],
      [2, 4],
      [313, 65535],
    ]),
    dataSet(513, [
      new Bytes()
        .u16(1)
        .u16(2)
        .u8(6)
        .u32(5)
        .u8(48)
        .raw(v6(17, udp(1, 2)))
        .build(),
    ]),
  ]);
  const datalink = Buffer.concat([frames[1]!, Buffer.alloc(128 - frames[1]!.length)]);
  const ciscoDatalink = netflow9({ uptime: 3_600_000, unixSecs: EXPORT_S, sequence: 0, sourceId: 0 }, [
    optionsTemplateSet(
      false,
      257,
      [[1, 4]],
      [
        [48, 1],
        [34, 4],
      ],
    ),
    dataSet(257, [new Bytes().u32(0).u8(1).u32(1000).build()]),
    templateSet(false, 256, [
      [10, 4],
      [243, 2],
      [48, 1],
      [315, 128],
    ]),
    dataSet(256, [new Bytes().u32(582).u16(231).u8(1).raw(datalink).build()]),
  ]);
  const mixed: FieldSpec[] = [
    [252, 4],
    [8, 4],
    [12, 4],
    [7, 2],
    [11, 2],
    [4, 1],
    [1, 8],
    [2, 8],
    [60, 1],
    [27, 16],
    [28, 16],
  ];
  const mixedRecord = (four: boolean) =>
    new Bytes()
      .u32(11)
      .ip4(four ? '147.53.240.75' : '0.0.0.0')
      .ip4(four ? '212.82.101.24' : '0.0.0.0')
      .u16(1)
      .u16(2)
      .u8(6)
      .u64(100)
      .u64(1)
      .u8(four ? 4 : 6)
      .ip6(four ? '::' : '2001:db8::1')
      .ip6(four ? '::' : '2001:db8::2')
      .build();
  const mixedFamilies = ipfix({ exportTime: EXPORT_S, sequence: 0, domain: 4 }, [
    templateSet(true, 260, mixed),
    dataSet(260, [mixedRecord(true), mixedRecord(false), Buffer.alloc(mixedRecord(true).length)]),
  ]);
  const nat = ipfix({ exportTime: EXPORT_S, sequence: 0, domain: 5 }, [
    templateSet(true, 400, [
      [8, 4],
      [12, 4],
      [7, 2],
      [11, 2],
      [4, 1],
      [225, 4],
      [230, 1],
      [323, 8],
      [158, 4],
      [159, 4],
      [161, 4],
      [322, 4],
      [325, 8],
    ]),
    dataSet(400, [
      new Bytes()
        .ip4('172.16.100.198')
        .ip4('10.89.87.1')
        .u16(35303)
        .u16(53)
        .u8(17)
        .ip4('10.143.52.29')
        .u8(1)
        .u64(1_700_000_123_456)
        .u32(5_000)
        .u32(1_000)
        .u32(250)
        .u32(EXPORT_S)
        .u32(0xe0000000)
        .u32(0)
        .build(),
    ]),
  ]);
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
  const shortSet = ipfix({ exportTime: EXPORT_S, sequence: 0, domain: 6 }, [
    templateSet(true, 300, IPFIX_V4_TEMPLATE),
    dataSet(300, [rec, rec.subarray(0, 30)]),
  ]);
  const v9 = netflow9({ uptime: 1, unixSecs: EXPORT_S, sequence: 0, sourceId: 7 }, [
    templateSet(false, 256, [
      [8, 4],
      [12, 4],
    ]),
    dataSet(256, [new Bytes().ip4('10.0.0.1').ip4('10.0.0.2').build()]),
  ]);
  v9.writeUInt16BE(9, 2); // counts more records than it holds
  return [sflow, withFrames, ciscoDatalink, mixedFamilies, nat, shortSet, v9, Buffer.concat([v9, Buffer.from([0, 1, 2])])];
}
