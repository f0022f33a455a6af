/**
 * The frame decoder on its own: every encapsulation it walks, each way a
 * frame can fail to reach an IP header (with its reason), and that it never
 * reads outside the section it is given. Frames are built byte by byte
 * (test/support/flow-builders.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeFrame, frame, frameDropReason, FrameStart, FrameStatus } from '../../src/ingest/flow/frame.js';
import { formatIPv6 } from '../../src/ingest/address.js';
import {
  Bytes,
  controlWord,
  ETHERTYPE,
  ether,
  fragment6,
  gre,
  icmp,
  ipv4,
  ipv6,
  mpls,
  options6,
  srh,
  tcp,
  udp,
  vxlan,
} from '../support/flow-builders.js';

interface Seen {
  status: string;
  family?: number;
  src?: string;
  dst?: string;
  proto?: number;
  sport?: number;
  dport?: number;
  flags?: number;
  bytes?: number;
  at?: number;
}

function look(buf: Buffer, kind: FrameStart = FrameStart.Ethernet, start = 0, end = buf.length): Seen {
  const status = decodeFrame(buf, start, end, kind);
  if (status !== FrameStatus.Ok) return { status: frameDropReason(status) };
  const text = (at: number) => (frame.family === 4 ? [...buf.subarray(at, at + 4)].join('.') : formatIPv6(buf, at));
  return {
    status: 'ok',
    family: frame.family,
    src: text(frame.src),
    dst: text(frame.dst),
    proto: frame.proto,
    sport: frame.srcPort,
    dport: frame.dstPort,
    flags: frame.tcpFlags,
    bytes: frame.ipLength,
    at: frame.ipOffset - start,
  };
}

const V4 = { src: '192.0.2.10', dst: '198.51.100.20' };
const V6 = { src: '2001:db8:1::10', dst: '2001:db8:2::20' };

describe('frame decoder: what it walks', () => {
  it('Ethernet, IPv4, TCP: addresses, ports, flags, and the IP length as bytes', () => {
    const f = ether(ETHERTYPE.ipv4, ipv4({ ...V4, proto: 6, payload: tcp(40000, 443, 0x18, Buffer.alloc(100)) }));
    assert.deepEqual(look(f), { status: 'ok', family: 4, ...V4, proto: 6, sport: 40000, dport: 443, flags: 0x18, bytes: 140, at: 14 });
  });

  it('802.1Q and QinQ (802.1ad outer tag) before IPv4 / UDP', () => {
    const inner = ipv4({ ...V4, proto: 17, payload: udp(5353, 53, Buffer.alloc(20)) });
    assert.deepEqual(look(ether(ETHERTYPE.ipv4, inner, [100])), {
      status: 'ok',
      family: 4,
      ...V4,
      proto: 17,
      sport: 5353,
      dport: 53,
      flags: 0,
      bytes: 48,
      at: 18,
    });
    assert.deepEqual(look(ether(ETHERTYPE.ipv4, inner, [1493, 100], 0x88a8)).at, 22);
  });

  it('IPv6 with hop-by-hop and destination options, then TCP', () => {
    const f = ether(ETHERTYPE.ipv6, ipv6({ ...V6, next: 0, payload: options6(60, options6(6, tcp(1, 22, 0x02))) }));
    assert.deepEqual(look(f), { status: 'ok', family: 6, ...V6, proto: 6, sport: 1, dport: 22, flags: 0x02, bytes: 40 + 16 + 20, at: 14 });
  });

  it('MPLS label stacks: IPv4 and IPv6 by their first nibble, and explicit null', () => {
    const four = ipv4({ ...V4, proto: 6, payload: tcp(11001, 23, 0x10) });
    assert.deepEqual(look(ether(ETHERTYPE.mpls, mpls([18, 16], four))), {
      status: 'ok',
      family: 4,
      ...V4,
      proto: 6,
      sport: 11001,
      dport: 23,
      flags: 0x10,
      bytes: 40,
      at: 22,
    });
    const six = ipv6({ ...V6, next: 17, payload: udp(49153, 862) });
    assert.equal(look(ether(ETHERTYPE.mpls, mpls([20005, 524250], six))).dport, 862);
    assert.equal(look(ether(ETHERTYPE.mpls, mpls([2], six))).src, V6.src, 'IPv6 explicit null');
    assert.equal(look(ether(ETHERTYPE.mpls, mpls([0], four))).src, V4.src, 'IPv4 explicit null');
    assert.equal(look(mpls([16], four), FrameStart.Mpls).dport, 23, 'a section that starts at the label stack (sFlow header protocol 13)');
  });

  it('Ethernet over MPLS with a pseudowire control word: the customer frame inside', () => {
    const customer = ether(ETHERTYPE.ipv4, ipv4({ src: '10.20.30.40', dst: '10.50.60.70', proto: 6, payload: tcp(33000, 80, 0x18) }), [42]);
    const f = ether(ETHERTYPE.mpls, mpls([16, 299776], Buffer.concat([controlWord(), customer])));
    assert.deepEqual(look(f), {
      status: 'ok',
      family: 4,
      src: '10.20.30.40',
      dst: '10.50.60.70',
      proto: 6,
      sport: 33000,
      dport: 80,
      flags: 0x18,
      bytes: 40,
      at: 14 + 8 + 4 + 18,
    });
  });

  it('Ethernet over MPLS without a control word, whatever the first nibble of the customer MAC', () => {
    const customerIp = ipv4({ src: '10.20.30.40', dst: '10.50.60.70', proto: 17, payload: udp(1, 2) });
    for (const firstMacByte of [0x00, 0x02, 0x45, 0x60, 0xa4]) {
      const customer = ether(ETHERTYPE.ipv4, customerIp);
      customer[0] = firstMacByte;
      const seen = look(ether(ETHERTYPE.mpls, mpls([16, 17], customer)));
      assert.equal(seen.src, '10.20.30.40', `MAC starting 0x${firstMacByte.toString(16)}`);
    }
  });

  it('a pseudowire associated channel (first nibble 1) is OAM, not traffic', () => {
    const ach = new Bytes().u32(0x10000007).raw(Buffer.alloc(40, 7)).build();
    assert.deepEqual(look(ether(ETHERTYPE.mpls, mpls([16, 17], ach))), { status: 'frame-not-ip' });
  });

  it('VXLAN: the inner Ethernet frame and its packet', () => {
    const inner = ether(
      ETHERTYPE.ipv6,
      ipv6({ src: '2001:db8:4::1', dst: '2001:db8:4::3', next: 58, payload: icmp(128, 0, Buffer.alloc(56)) }),
    );
    const f = ether(
      ETHERTYPE.ipv4,
      ipv4({ src: '192.168.108.40', dst: '192.168.15.14', proto: 17, payload: udp(49152, 4789, vxlan(100, inner)) }),
    );
    const seen = look(f);
    assert.deepEqual(seen, {
      status: 'ok',
      family: 6,
      src: '2001:db8:4::1',
      dst: '2001:db8:4::3',
      proto: 58,
      sport: 0,
      dport: 128 << 8,
      flags: 0,
      bytes: f.length - 14,
      at: 14,
    });
  });

  it('SRv6: outer IPv6, the segment routing header, then the customer IPv4 packet', () => {
    const customer = ipv4({ src: '8.8.8.8', dst: '213.36.140.100', proto: 1, payload: icmp(0, 0, Buffer.alloc(36)) });
    const f = ether(
      ETHERTYPE.ipv6,
      ipv6({ src: 'fc00:0:1::1', dst: 'fc00:0:2:e004::', next: 43, payload: srh(4, ['fc00:0:2:e004::', 'fc00:0:3::'], customer) }),
    );
    assert.deepEqual(look(f), {
      status: 'ok',
      family: 4,
      src: '8.8.8.8',
      dst: '213.36.140.100',
      proto: 1,
      sport: 0,
      dport: 0,
      flags: 0,
      bytes: 40 + 40 + 60,
      at: 14,
    });
  });

  it('SRv6 cut before the customer packet: the outer packet is still a flow', () => {
    const customer = ipv4({ src: '8.8.8.8', dst: '213.36.140.100', proto: 1, payload: icmp(0, 0, Buffer.alloc(36)) });
    const f = ether(
      ETHERTYPE.ipv6,
      ipv6({ src: 'fc00:0:1::1', dst: 'fc00:0:2:e004::', next: 43, payload: srh(4, ['fc00:0:2:e004::'], customer) }),
    );
    const cut = f.subarray(0, 14 + 40 + 24 + 10);
    assert.deepEqual(look(cut), {
      status: 'ok',
      family: 6,
      src: 'fc00:0:1::1',
      dst: 'fc00:0:2:e004::',
      proto: 4,
      sport: 0,
      dport: 0,
      flags: 0,
      bytes: 40 + 24 + 60,
      at: 14,
    });
  });

  it("IPv4 in IPv6 (DS-Lite, MAP-E: a subscriber's IPv4 over the access IPv6) and IPv6 in IPv4", () => {
    const v4 = ipv4({ src: '192.0.0.2', dst: '203.0.113.80', proto: 6, payload: tcp(50000, 443, 0x02) });
    assert.deepEqual(look(ether(ETHERTYPE.ipv6, ipv6({ src: 'fc30:2200:1b::f', dst: 'fc30:2200:23:e009::', next: 4, payload: v4 }))), {
      status: 'ok',
      family: 4,
      src: '192.0.0.2',
      dst: '203.0.113.80',
      proto: 6,
      sport: 50000,
      dport: 443,
      flags: 0x02,
      bytes: 40 + 40,
      at: 14,
    });
    const v6 = ipv6({ ...V6, next: 6, payload: tcp(80, 35673, 0x10) });
    assert.equal(look(ether(ETHERTYPE.ipv4, ipv4({ ...V4, proto: 41, payload: v6 }))).sport, 80);
  });

  it('GRE with a key, to IPv4; transparent Ethernet bridging; Ethernet in IPv6 (SRv6 L2)', () => {
    const inner = ipv4({ src: '192.168.1.101', dst: '192.168.2.102', proto: 17, payload: udp(123, 123) });
    assert.equal(look(ether(ETHERTYPE.ipv4, ipv4({ ...V4, proto: 47, payload: gre(0x0800, inner, 7) }))).src, '192.168.1.101');
    assert.equal(look(ether(ETHERTYPE.ipv4, ipv4({ ...V4, proto: 47, payload: gre(0x6558, ether(ETHERTYPE.ipv4, inner)) }))).dport, 123);
    assert.equal(look(ether(ETHERTYPE.ipv6, ipv6({ ...V6, next: 143, payload: ether(ETHERTYPE.ipv4, inner) }))).dst, '192.168.2.102');
  });

  it('fragments other than the first carry no ports (IPv4 offset, IPv6 fragment header)', () => {
    const v4 = look(ether(ETHERTYPE.ipv4, ipv4({ ...V4, proto: 17, fragmentOffset: 1480, payload: Buffer.alloc(40, 9) })));
    assert.deepEqual([v4.proto, v4.sport, v4.dport], [17, 0, 0]);
    const first = look(ether(ETHERTYPE.ipv6, ipv6({ ...V6, next: 44, payload: fragment6(17, 0, udp(500, 4500)) })));
    assert.deepEqual([first.proto, first.sport, first.dport], [17, 500, 4500]);
    const later = look(ether(ETHERTYPE.ipv6, ipv6({ ...V6, next: 44, payload: fragment6(17, 1448, Buffer.alloc(40, 9)) })));
    assert.deepEqual([later.proto, later.sport, later.dport], [17, 0, 0]);
  });

  it('IPv4 options, and sections that start at the IP header (IE 313, sFlow IPv4/IPv6 headers)', () => {
    const withOptions = ipv4({ ...V4, proto: 6, ihl: 7, payload: tcp(1, 2, 0x01) });
    assert.equal(look(withOptions, FrameStart.Ip).dport, 2);
    assert.equal(look(withOptions, FrameStart.Ipv4).sport, 1);
    assert.equal(look(ipv6({ ...V6, next: 17, payload: udp(3, 4) }), FrameStart.Ip).family, 6);
  });
});

describe('frame decoder: frames that reach no IP header, each with its reason', () => {
  it('ARP, LLDP and unknown EtherTypes are not IP', () => {
    assert.deepEqual(look(ether(ETHERTYPE.arp, Buffer.alloc(28, 1))), { status: 'frame-not-ip' });
    assert.deepEqual(look(ether(ETHERTYPE.lldp, Buffer.alloc(40, 1), [10])), { status: 'frame-not-ip' });
  });

  it('a section cut before the addresses is truncated', () => {
    const f = ether(ETHERTYPE.ipv4, ipv4({ ...V4, proto: 6, payload: tcp(1, 2, 0) }), [5]);
    for (const cut of [0, 10, 14, 17, 18 + 19]) assert.deepEqual(look(f.subarray(0, cut)), { status: 'frame-truncated' }, `cut at ${cut}`);
    assert.equal(look(f.subarray(0, 18 + 20)).status, 'ok', 'addresses reached: a flow without ports');
    const six = ether(ETHERTYPE.ipv6, ipv6({ ...V6, next: 6, payload: tcp(1, 2, 0) }));
    assert.deepEqual(look(six.subarray(0, 14 + 39)), { status: 'frame-truncated' });
    assert.deepEqual(look(ether(ETHERTYPE.mpls, mpls([16, 17], Buffer.alloc(0)))), { status: 'frame-truncated' });
  });

  it('headers that contradict themselves are malformed', () => {
    assert.deepEqual(
      look(ether(ETHERTYPE.ipv4, ipv6({ ...V6, next: 6, payload: tcp(1, 2, 0) }))),
      { status: 'frame-malformed' },
      'IPv6 under the IPv4 type',
    );
    assert.deepEqual(
      look(ether(ETHERTYPE.ipv4, ipv4({ ...V4, proto: 6, ihl: 4, payload: tcp(1, 2, 0) }))),
      { status: 'frame-malformed' },
      'IHL of 4 words',
    );
    assert.deepEqual(
      look(ether(ETHERTYPE.ipv4, ipv4({ ...V4, proto: 6, payload: tcp(1, 2, 0) }), [1, 2, 3, 4, 5])),
      { status: 'frame-malformed' },
      'five VLAN tags',
    );
    const noBottom = new Bytes();
    for (let i = 0; i < 20; i++) noBottom.u32(16 << 12);
    assert.deepEqual(look(ether(ETHERTYPE.mpls, noBottom.build())), { status: 'frame-malformed' }, 'an MPLS stack with no bottom');
    assert.deepEqual(look(Buffer.from([0x50, 0, 0, 0]), FrameStart.Ip), { status: 'frame-malformed' }, 'IP version 5');
  });

  it('never reads outside the section it is given', () => {
    const f = ether(ETHERTYPE.ipv4, ipv4({ ...V4, proto: 6, payload: tcp(40000, 443, 0x18) }));
    // The section sits inside a larger buffer: the bytes around it would make a valid packet if read.
    const around = Buffer.concat([Buffer.alloc(7, 0x45), f, f]);
    assert.deepEqual(look(around, FrameStart.Ethernet, 7, 7 + 30), { status: 'frame-truncated' });
    const seen = look(around, FrameStart.Ethernet, 7, 7 + 14 + 20 + 2);
    assert.deepEqual([seen.status, seen.sport, seen.dport], ['ok', 0, 0], 'ports cut off: not read from the next copy');
  });

  it('follows at most a bounded number of encapsulations', () => {
    let packet = ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, payload: udp(1, 2) });
    for (let i = 0; i < 40; i++) packet = ipv4({ src: `10.1.0.${i}`, dst: '10.2.0.1', proto: 4, payload: packet });
    const seen = look(ether(ETHERTYPE.ipv4, packet));
    assert.equal(seen.status, 'ok');
    assert.equal(seen.dst, '10.2.0.1', 'a tunnel of tunnels reports the deepest packet it may reach, not the innermost');
    assert.equal(seen.at, 14);
  });
});
