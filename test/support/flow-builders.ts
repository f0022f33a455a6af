/**
 * Byte-exact export datagrams for tests: NetFlow v5, v9, IPFIX and sFlow v5,
 * built field by field from the RFCs so that each test states what is on the wire.
 */

export class Bytes {
  private parts: Buffer[] = [];
  u8(v: number): this {
    this.parts.push(Buffer.from([v & 0xff]));
    return this;
  }
  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v & 0xffff);
    this.parts.push(b);
    return this;
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    this.parts.push(b);
    return this;
  }
  u64(v: number): this {
    return this.u32(Math.floor(v / 4294967296)).u32(v % 4294967296);
  }
  ip4(a: string): this {
    this.parts.push(Buffer.from(a.split('.').map(Number)));
    return this;
  }
  ip6(a: string): this {
    const [head, tail] = a.split('::') as [string, string | undefined];
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    for (const g of groups) this.u16(parseInt(g, 16));
    return this;
  }
  raw(b: Buffer | number[]): this {
    this.parts.push(Buffer.from(b));
    return this;
  }
  get length(): number {
    return this.parts.reduce((n, p) => n + p.length, 0);
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export interface V5Record {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  packets: number;
  bytes: number;
  first: number;
  last: number;
  flags?: number;
}

export function netflow5(
  header: { uptime: number; unixSecs: number; unixNsecs?: number; sequence: number; sampling?: number },
  records: V5Record[],
): Buffer {
  const b = new Bytes()
    .u16(5)
    .u16(records.length)
    .u32(header.uptime)
    .u32(header.unixSecs)
    .u32(header.unixNsecs ?? 0)
    .u32(header.sequence)
    .u8(0)
    .u8(0)
    .u16(header.sampling ?? 0);
  for (const r of records) {
    b.ip4(r.src)
      .ip4(r.dst)
      .ip4('192.0.2.254') // next hop: in the record, never read
      .u16(3)
      .u16(7) // interfaces: never read
      .u32(r.packets)
      .u32(r.bytes)
      .u32(r.first)
      .u32(r.last)
      .u16(r.sport)
      .u16(r.dport)
      .u8(0)
      .u8(r.flags ?? 0)
      .u8(r.proto)
      .u8(0x10)
      .u16(64500)
      .u16(64501)
      .u8(24)
      .u8(16)
      .u16(0);
  }
  return b.build();
}

export type FieldSpec = [id: number, length: number, enterprise?: number];

/** A template set (v9 set id 0 / IPFIX set id 2) with one template. */
export function templateSet(ipfix: boolean, id: number, fields: FieldSpec[]): Buffer {
  const body = new Bytes().u16(id).u16(fields.length);
  for (const [fid, len, ent] of fields) {
    if (ent !== undefined)
      body
        .u16(fid | 0x8000)
        .u16(len)
        .u32(ent);
    else body.u16(fid).u16(len);
  }
  const inner = body.build();
  return new Bytes()
    .u16(ipfix ? 2 : 0)
    .u16(4 + inner.length)
    .raw(inner)
    .build();
}

/** An options template set: v9 counts scope/option bytes, IPFIX counts fields. */
export function optionsTemplateSet(ipfix: boolean, id: number, scope: FieldSpec[], options: FieldSpec[]): Buffer {
  const body = new Bytes().u16(id);
  if (ipfix) body.u16(scope.length + options.length).u16(scope.length);
  else body.u16(scope.length * 4).u16(options.length * 4);
  for (const [fid, len] of [...scope, ...options]) body.u16(fid).u16(len);
  const inner = body.build();
  const pad = ipfix ? 0 : (4 - ((4 + inner.length) % 4)) % 4;
  return new Bytes()
    .u16(ipfix ? 3 : 1)
    .u16(4 + inner.length + pad)
    .raw(inner)
    .raw(Array(pad).fill(0))
    .build();
}

export function dataSet(templateId: number, records: Buffer[]): Buffer {
  const inner = Buffer.concat(records);
  return new Bytes()
    .u16(templateId)
    .u16(4 + inner.length)
    .raw(inner)
    .build();
}

export function netflow9(header: { uptime: number; unixSecs: number; sequence: number; sourceId: number }, sets: Buffer[]): Buffer {
  return new Bytes()
    .u16(9)
    .u16(sets.length)
    .u32(header.uptime)
    .u32(header.unixSecs)
    .u32(header.sequence)
    .u32(header.sourceId)
    .raw(Buffer.concat(sets))
    .build();
}

export function ipfix(header: { exportTime: number; sequence: number; domain: number }, sets: Buffer[]): Buffer {
  const body = Buffer.concat(sets);
  return new Bytes()
    .u16(10)
    .u16(16 + body.length)
    .u32(header.exportTime)
    .u32(header.sequence)
    .u32(header.domain)
    .raw(body)
    .build();
}

/** The realistic IPFIX template of the issue: IPv4 5-tuple + times + counters. */
export const IPFIX_V4_TEMPLATE: FieldSpec[] = [
  [8, 4],
  [12, 4],
  [7, 2],
  [11, 2],
  [4, 1],
  [6, 1],
  [152, 8],
  [153, 8],
  [1, 8],
  [2, 8],
  [10, 4],
  [14, 4],
  [56, 6], // ingress/egress interface, source MAC: present on the wire, never kept
];
export const IPFIX_V6_TEMPLATE: FieldSpec[] = [
  [27, 16],
  [28, 16],
  [7, 2],
  [11, 2],
  [4, 1],
  [6, 1],
  [152, 8],
  [153, 8],
  [1, 8],
  [2, 8],
  [10, 4],
  [14, 4],
];

export function ipfixV4Record(r: {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  flags: number;
  startMs: number;
  endMs: number;
  bytes: number;
  packets: number;
}): Buffer {
  return new Bytes()
    .ip4(r.src)
    .ip4(r.dst)
    .u16(r.sport)
    .u16(r.dport)
    .u8(r.proto)
    .u8(r.flags)
    .u64(r.startMs)
    .u64(r.endMs)
    .u64(r.bytes)
    .u64(r.packets)
    .u32(11)
    .u32(12)
    .raw([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee])
    .build();
}

export function ipfixV6Record(r: {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  flags: number;
  startMs: number;
  endMs: number;
  bytes: number;
  packets: number;
}): Buffer {
  return new Bytes()
    .ip6(r.src)
    .ip6(r.dst)
    .u16(r.sport)
    .u16(r.dport)
    .u8(r.proto)
    .u8(r.flags)
    .u64(r.startMs)
    .u64(r.endMs)
    .u64(r.bytes)
    .u64(r.packets)
    .u32(11)
    .u32(12)
    .build();
}

// ---- sFlow v5 ----

export function sflowDatagram(agent: string, sequence: number, samples: Buffer[]): Buffer {
  return new Bytes().u32(5).u32(1).ip4(agent).u32(0).u32(sequence).u32(123456).u32(samples.length).raw(Buffer.concat(samples)).build();
}

export function flowSample(rate: number, records: Buffer[], expanded = false): Buffer {
  const b = new Bytes();
  if (expanded) b.u32(1).u32(0).u32(5).u32(rate).u32(1000).u32(0).u32(0).u32(3).u32(0).u32(4).u32(records.length);
  else b.u32(1).u32(5).u32(rate).u32(1000).u32(0).u32(3).u32(4).u32(records.length);
  const body = b.raw(Buffer.concat(records)).build();
  return new Bytes()
    .u32(expanded ? 3 : 1)
    .u32(body.length)
    .raw(body)
    .build();
}

export function counterSample(): Buffer {
  const body = new Bytes().u32(1).u32(5).u32(0).build();
  return new Bytes().u32(2).u32(body.length).raw(body).build();
}

/** A raw packet header record (format 1) around an Ethernet frame. */
export function rawHeaderRecord(frame: Buffer, frameLength = frame.length): Buffer {
  const pad = (4 - (frame.length % 4)) % 4;
  const body = new Bytes().u32(1).u32(frameLength).u32(4).u32(frame.length).raw(frame).raw(Array(pad).fill(0)).build();
  return new Bytes().u32(1).u32(body.length).raw(body).build();
}

export function sampledIpv4Record(r: {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  length: number;
  flags?: number;
}): Buffer {
  const body = new Bytes()
    .u32(r.length)
    .u32(r.proto)
    .ip4(r.src)
    .ip4(r.dst)
    .u32(r.sport)
    .u32(r.dport)
    .u32(r.flags ?? 0)
    .u32(0)
    .build();
  return new Bytes().u32(3).u32(body.length).raw(body).build();
}

/** Ethernet (+ optional 802.1Q tags and MPLS labels) / IPv4 or IPv6 / TCP or UDP frame with a payload. */
export function ethernetFrame(p: {
  src: string;
  dst: string;
  proto: number;
  sport?: number;
  dport?: number;
  flags?: number;
  vlans?: number[];
  mpls?: number[];
  payload?: Buffer;
}): Buffer {
  const six = p.src.includes(':');
  const l4 = new Bytes();
  if (p.proto === 6)
    l4.u16(p.sport ?? 0)
      .u16(p.dport ?? 0)
      .u32(1)
      .u32(0)
      .u8(0x50)
      .u8(p.flags ?? 0x02)
      .u16(1000)
      .u16(0)
      .u16(0);
  else if (p.proto === 17)
    l4.u16(p.sport ?? 0)
      .u16(p.dport ?? 0)
      .u16(8)
      .u16(0);
  else
    l4.u8(p.dport !== undefined ? p.dport >> 8 : 8)
      .u8(p.dport !== undefined ? p.dport & 255 : 0)
      .u16(0)
      .u32(0);
  const transport = Buffer.concat([l4.build(), p.payload ?? Buffer.alloc(0)]);
  const ip = new Bytes();
  if (six) ip.u32(0x60000000).u16(transport.length).u8(p.proto).u8(64).ip6(p.src).ip6(p.dst);
  else
    ip.u8(0x45)
      .u8(0)
      .u16(20 + transport.length)
      .u32(0)
      .u8(64)
      .u8(p.proto)
      .u16(0)
      .ip4(p.src)
      .ip4(p.dst);
  const eth = new Bytes().raw([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x02, 0x66, 0x77, 0x88, 0x99, 0xaa]);
  for (const v of p.vlans ?? []) eth.u16(0x8100).u16(v);
  if (p.mpls?.length) {
    eth.u16(0x8847);
    p.mpls.forEach((label, i) => eth.u32((label << 12) | (i === p.mpls!.length - 1 ? 0x100 : 0) | 64));
  } else eth.u16(six ? 0x86dd : 0x0800);
  return Buffer.concat([eth.build(), ip.build(), transport]);
}

// ---- Packets layer by layer: for raw headers (sFlow) and packet sections (IPFIX / v9, IE 315 / 313) ----

/** Locally administered MACs: these frames are only ever bytes in a buffer. */
const MAC_DST = [0x02, 0x00, 0x5e, 0x00, 0x00, 0x01];
const MAC_SRC = [0x02, 0x00, 0x5e, 0x00, 0x00, 0x02];

export const ETHERTYPE = { ipv4: 0x0800, ipv6: 0x86dd, arp: 0x0806, mpls: 0x8847, vlan: 0x8100, qinq: 0x88a8, lldp: 0x88cc } as const;

/** Ethernet II with optional tags: the first tag uses `outerTpid` (0x88a8 for QinQ), the others 0x8100. */
export function ether(etherType: number, payload: Buffer, vlans: number[] = [], outerTpid = 0x8100): Buffer {
  const b = new Bytes().raw(MAC_DST).raw(MAC_SRC);
  vlans.forEach((v, i) => b.u16(i === 0 ? outerTpid : 0x8100).u16(v));
  return b.u16(etherType).raw(payload).build();
}

/** An MPLS label stack (bottom-of-stack bit on the last label), then the payload. */
export function mpls(labels: number[], payload: Buffer): Buffer {
  const b = new Bytes();
  labels.forEach((label, i) => b.u32(((label << 12) | (i === labels.length - 1 ? 0x100 : 0) | 64) >>> 0));
  return b.raw(payload).build();
}

/** The generic pseudowire control word (RFC 4385): first nibble 0, then flags, length and sequence. */
export function controlWord(sequence = 1): Buffer {
  return new Bytes().u16(0).u16(sequence).build();
}

export function ipv4(p: {
  src: string;
  dst: string;
  proto: number;
  payload: Buffer;
  fragmentOffset?: number;
  more?: boolean;
  ihl?: number;
}): Buffer {
  const ihl = p.ihl ?? 5;
  const options = Buffer.alloc(Math.max(0, ihl - 5) * 4, 1); // NOP options
  const flags = ((p.more ? 0x2000 : 0) | ((p.fragmentOffset ?? 0) >> 3)) & 0xffff;
  const header = new Bytes()
    .u8(0x40 | ihl)
    .u8(0)
    .u16(ihl * 4 + p.payload.length)
    .u16(0x1234)
    .u16(flags)
    .u8(64)
    .u8(p.proto)
    .u16(0)
    .ip4(p.src)
    .ip4(p.dst)
    .raw(options)
    .build();
  header.writeUInt16BE(ipChecksum(header), 10);
  return Buffer.concat([header, p.payload]);
}

/** The IPv4 header checksum (RFC 791): one's complement of the one's complement sum of the header's 16-bit words. */
export function ipChecksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function ipv6(p: { src: string; dst: string; next: number; payload: Buffer }): Buffer {
  return new Bytes().u32(0x60012345).u16(p.payload.length).u8(p.next).u8(64).ip6(p.src).ip6(p.dst).raw(p.payload).build();
}

/** A hop-by-hop / destination options header (8 bytes of padding options). */
export function options6(next: number, payload: Buffer): Buffer {
  return new Bytes().u8(next).u8(0).raw([1, 4, 0, 0, 0, 0]).raw(payload).build();
}

/** An IPv6 fragment header. */
export function fragment6(next: number, offset: number, payload: Buffer, more = true): Buffer {
  return new Bytes()
    .u8(next)
    .u8(0)
    .u16((offset & 0xfff8) | (more ? 1 : 0))
    .u32(0xabcd)
    .raw(payload)
    .build();
}

/** The SRv6 segment routing header (routing header type 4, RFC 8754) with its segment list. */
export function srh(next: number, segments: string[], payload: Buffer): Buffer {
  const b = new Bytes()
    .u8(next)
    .u8(segments.length * 2)
    .u8(4)
    .u8(segments.length - 1)
    .u8(segments.length - 1)
    .u8(0)
    .u16(0);
  for (const s of segments) b.ip6(s);
  return b.raw(payload).build();
}

export function udp(sport: number, dport: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  return new Bytes()
    .u16(sport)
    .u16(dport)
    .u16(8 + payload.length)
    .u16(0)
    .raw(payload)
    .build();
}

export function tcp(sport: number, dport: number, flags: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  return new Bytes().u16(sport).u16(dport).u32(1).u32(0).u8(0x50).u8(flags).u16(1000).u16(0).u16(0).raw(payload).build();
}

export function icmp(type: number, code: number, payload: Buffer = Buffer.alloc(8)): Buffer {
  return new Bytes().u8(type).u8(code).u16(0).raw(payload).build();
}

/** VXLAN (RFC 7348): I flag, VNI, then an Ethernet frame. Goes in UDP to port 4789. */
export function vxlan(vni: number, inner: Buffer): Buffer {
  return new Bytes()
    .u8(0x08)
    .raw([0, 0, 0])
    .u32((vni << 8) >>> 0)
    .raw(inner)
    .build();
}

/** GRE (RFC 2784/2890) with an optional key. */
export function gre(protocol: number, inner: Buffer, key?: number): Buffer {
  const b = new Bytes()
    .u8(key === undefined ? 0 : 0x20)
    .u8(0)
    .u16(protocol);
  if (key !== undefined) b.u32(key);
  return b.raw(inner).build();
}

/** A raw packet header record with an explicit header protocol (1 Ethernet, 11 IPv4, 12 IPv6, 13 MPLS …) and stripped bytes. */
export function rawHeaderRecordOf(protocol: number, header: Buffer, frameLength: number, stripped = 4): Buffer {
  const pad = (4 - (header.length % 4)) % 4;
  const body = new Bytes().u32(protocol).u32(frameLength).u32(stripped).u32(header.length).raw(header).raw(Array(pad).fill(0)).build();
  return new Bytes().u32(1).u32(body.length).raw(body).build();
}

/** An extended switch record (format 1001): describes VLANs, carries no packet. */
export function extendedSwitchRecord(vlan: number): Buffer {
  const body = new Bytes().u32(vlan).u32(0).u32(vlan).u32(0).build();
  return new Bytes().u32(1001).u32(body.length).raw(body).build();
}
