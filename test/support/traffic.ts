/**
 * Deterministic traffic captures for exporters that read pcaps (softflowd):
 * Ethernet frames with IPv4/IPv6 and TCP/UDP/ICMP, written by hand so the
 * tests need no packet-crafting tool. The MAC addresses are fixed fakes; these
 * files are only ever read, never sent.
 */
import { writeFileSync } from 'node:fs';

export interface Packet {
  timeMs: number;
  src: string;
  dst: string;
  proto: 6 | 17 | 1 | 58;
  sport?: number;
  dport?: number;
  tcpFlags?: number;
  payload?: number;
}

function v4(addr: string): Buffer {
  return Buffer.from(addr.split('.').map(Number));
}
function v6(addr: string): Buffer {
  const [head, tail] = addr.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return b;
}

function checksum(buf: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += buf[buf.length - 1]! << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return ~sum & 0xffff;
}

function frame(p: Packet): Buffer {
  const six = p.src.includes(':');
  const body = Buffer.alloc(p.payload ?? 0, 0x61);
  let l4: Buffer;
  if (p.proto === 6) {
    l4 = Buffer.alloc(20);
    l4.writeUInt16BE(p.sport ?? 0, 0);
    l4.writeUInt16BE(p.dport ?? 0, 2);
    l4.writeUInt32BE(1, 4);
    l4[12] = 5 << 4;
    l4[13] = p.tcpFlags ?? 0x18;
    l4.writeUInt16BE(65535, 14);
  } else if (p.proto === 17) {
    l4 = Buffer.alloc(8);
    l4.writeUInt16BE(p.sport ?? 0, 0);
    l4.writeUInt16BE(p.dport ?? 0, 2);
    l4.writeUInt16BE(8 + body.length, 4);
  } else {
    l4 = Buffer.alloc(8);
    l4[0] = p.dport !== undefined ? p.dport >> 8 : p.proto === 1 ? 8 : 128;
    l4[1] = p.dport !== undefined ? p.dport & 0xff : 0;
  }
  const transport = Buffer.concat([l4, body]);
  let ip: Buffer;
  if (!six) {
    ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + transport.length, 2);
    ip[8] = 64;
    ip[9] = p.proto;
    v4(p.src).copy(ip, 12);
    v4(p.dst).copy(ip, 16);
    ip.writeUInt16BE(checksum(ip), 10);
  } else {
    ip = Buffer.alloc(40);
    ip[0] = 0x60;
    ip.writeUInt16BE(transport.length, 4);
    ip[6] = p.proto;
    ip[7] = 64;
    v6(p.src).copy(ip, 8);
    v6(p.dst).copy(ip, 24);
  }
  const eth = Buffer.from([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, six ? 0x86 : 0x08, six ? 0xdd : 0x00]);
  return Buffer.concat([eth, ip, transport]);
}

export function writeTrafficPcap(file: string, packets: readonly Packet[]): void {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20);
  parts.push(header);
  for (const p of packets) {
    const f = frame(p);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(Math.floor(p.timeMs / 1000), 0);
    rec.writeUInt32LE((p.timeMs % 1000) * 1000, 4);
    rec.writeUInt32LE(f.length, 8);
    rec.writeUInt32LE(f.length, 12);
    parts.push(rec, f);
  }
  writeFileSync(file, Buffer.concat(parts));
}

/** A seeded mix of IPv4 and IPv6 conversations: TCP with handshakes, UDP, ICMP. */
export function syntheticTraffic(seed: number, flows: number, startMs = 1_764_000_000_000): Packet[] {
  let s = seed >>> 0;
  const rnd = () => (s = (s * 1664525 + 1013904223) >>> 0) / 4294967296;
  const packets: Packet[] = [];
  for (let f = 0; f < flows; f++) {
    const six = rnd() < 0.3;
    const src = six ? `2001:db8:1::${((f % 4000) + 1).toString(16)}` : `10.${(f >> 8) & 255}.${f & 255}.${1 + Math.floor(rnd() * 250)}`;
    const dst = six ? `2001:db8:ffff::${Math.floor(rnd() * 65535).toString(16)}` : `198.51.100.${1 + Math.floor(rnd() * 250)}`;
    const kind = rnd();
    const proto = kind < 0.6 ? 6 : kind < 0.9 ? 17 : six ? 58 : 1;
    const sport = 1024 + Math.floor(rnd() * 60000);
    const dport = [443, 80, 53, 8080, 123, 5555][Math.floor(rnd() * 6)]!;
    const n = 1 + Math.floor(rnd() * 6);
    const t0 = startMs + f * 37 + Math.floor(rnd() * 1000);
    for (let k = 0; k < n; k++) {
      packets.push({
        timeMs: t0 + k * 211,
        src,
        dst,
        proto: proto as Packet['proto'],
        ...(proto === 6 || proto === 17 ? { sport, dport } : {}),
        ...(proto === 6 ? { tcpFlags: k === 0 ? 0x02 : k === n - 1 ? 0x11 : 0x18 } : {}),
        payload: Math.floor(rnd() * 1200),
      });
    }
  }
  return packets.sort((a, b) => a.timeMs - b.timeMs);
}

/** A pcap of UDP datagrams (e.g. flow exports) as a capture in front of a collector would hold them. */
export function writeUdpPcap(
  file: string,
  datagrams: readonly Buffer[],
  from = '192.0.2.1',
  to = '192.0.2.2',
  dport = 2055,
  startMs = 1_764_000_000_000,
): void {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20);
  parts.push(header);
  datagrams.forEach((payload, i) => {
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(50000, 0);
    udp.writeUInt16BE(dport, 2);
    udp.writeUInt16BE(8 + payload.length, 4);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(28 + payload.length, 2);
    ip[8] = 64;
    ip[9] = 17;
    v4(from).copy(ip, 12);
    v4(to).copy(ip, 16);
    ip.writeUInt16BE(checksum(ip), 10);
    const eth = Buffer.from([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    const f = Buffer.concat([eth, ip, udp, payload]);
    const t = startMs + i;
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(Math.floor(t / 1000), 0);
    rec.writeUInt32LE((t % 1000) * 1000, 4);
    rec.writeUInt32LE(f.length, 8);
    rec.writeUInt32LE(f.length, 12);
    parts.push(rec, f);
  });
  writeFileSync(file, Buffer.concat(parts));
}
