/**
 * An IPFIX exporter (RFC 7011) for the simulators: the realistic template of
 * a router (5-tuple, TCP flags, start/end in ms, octets, packets) for IPv4
 * and one for IPv6, messages of up to 30 records (~1,400 bytes; one data set
 * per address family), templates resent every 256 messages, sequence numbers
 * counting data records, sent over UDP at a paced rate.
 */
import dgram from 'node:dgram';
import type { SimFlow } from './isp.js';

const TEMPLATE_V4 = 256;
const TEMPLATE_V6 = 257;
// source/destination address (IPv4: 8, 12; IPv6: 27, 28), sourceTransportPort, destinationTransportPort,
// protocolIdentifier, tcpControlBits, flowStartMilliseconds, flowEndMilliseconds, octetDeltaCount, packetDeltaCount
const REST: Array<[number, number]> = [
  [7, 2],
  [11, 2],
  [4, 1],
  [6, 1],
  [152, 8],
  [153, 8],
  [1, 8],
  [2, 8],
];
const FIELDS_V4: Array<[number, number]> = [[8, 4], [12, 4], ...REST];
const FIELDS_V6: Array<[number, number]> = [[27, 16], [28, 16], ...REST];
const size = (fields: Array<[number, number]>) => fields.reduce((n, [, l]) => n + l, 0);
const RECORD_V4 = size(FIELDS_V4);
const RECORD_V6 = size(FIELDS_V6);
const PER_MESSAGE = 30;

function u64(buf: Buffer, p: number, n: number): void {
  const hi = Math.floor(n / 4294967296);
  buf.writeUInt32BE(hi, p);
  buf.writeUInt32BE(n - hi * 4294967296, p + 4);
}

export class IpfixEncoder {
  private sequence = 0;
  private messages = 0;

  constructor(private readonly domain = 1) {}

  private header(buf: Buffer, length: number, exportSeconds: number): void {
    buf.writeUInt16BE(10, 0);
    buf.writeUInt16BE(length, 2);
    buf.writeUInt32BE(exportSeconds >>> 0, 4);
    buf.writeUInt32BE(this.sequence >>> 0, 8);
    buf.writeUInt32BE(this.domain, 12);
  }

  template(exportSeconds: number): Buffer {
    const sets = [
      [TEMPLATE_V4, FIELDS_V4],
      [TEMPLATE_V6, FIELDS_V6],
    ] as const;
    const setLength = 4 + sets.reduce((n, [, f]) => n + 4 + f.length * 4, 0);
    const buf = Buffer.alloc(16 + setLength);
    this.header(buf, buf.length, exportSeconds);
    buf.writeUInt16BE(2, 16);
    buf.writeUInt16BE(setLength, 18);
    let p = 20;
    for (const [id, fields] of sets) {
      buf.writeUInt16BE(id, p);
      buf.writeUInt16BE(fields.length, p + 2);
      p += 4;
      for (const [ie, len] of fields) {
        buf.writeUInt16BE(ie, p);
        buf.writeUInt16BE(len, p + 2);
        p += 4;
      }
    }
    return buf;
  }

  /** One message with up to 30 records (a set per address family); a template message comes first every 256 messages. */
  encode(flows: readonly SimFlow[]): Buffer[] {
    const out: Buffer[] = [];
    const exportSeconds = Math.floor((flows[flows.length - 1]?.endMs ?? Date.now()) / 1000);
    if (this.messages % 256 === 0) out.push(this.template(exportSeconds));
    const v4 = flows.filter((f) => !f.v6);
    const v6 = flows.filter((f) => f.v6);
    const length = 16 + (v4.length ? 4 + v4.length * RECORD_V4 : 0) + (v6.length ? 4 + v6.length * RECORD_V6 : 0);
    const buf = Buffer.alloc(length);
    this.header(buf, buf.length, exportSeconds);
    let p = 16;
    const rest = (f: SimFlow) => {
      buf.writeUInt16BE(f.sport, p);
      buf.writeUInt16BE(f.dport, p + 2);
      buf[p + 4] = f.proto;
      buf[p + 5] = f.tcpFlags;
      u64(buf, p + 6, f.startMs);
      u64(buf, p + 14, f.endMs);
      u64(buf, p + 22, f.bytes);
      u64(buf, p + 30, f.packets);
      p += 38;
    };
    if (v4.length) {
      buf.writeUInt16BE(TEMPLATE_V4, p);
      buf.writeUInt16BE(4 + v4.length * RECORD_V4, p + 2);
      p += 4;
      for (const f of v4) {
        buf.writeUInt32BE(f.src >>> 0, p);
        buf.writeUInt32BE(f.dst >>> 0, p + 4);
        p += 8;
        rest(f);
      }
    }
    if (v6.length) {
      buf.writeUInt16BE(TEMPLATE_V6, p);
      buf.writeUInt16BE(4 + v6.length * RECORD_V6, p + 2);
      p += 4;
      for (const f of v6) {
        buf.set(f.v6!.src, p);
        buf.set(f.v6!.dst, p + 16);
        p += 32;
        rest(f);
      }
    }
    this.sequence = (this.sequence + flows.length) >>> 0;
    this.messages += 1;
    out.push(buf);
    return out;
  }
}

export interface SendResult {
  records: number;
  datagrams: number;
  seconds: number;
}

/** Sends the flows to host:port at `rate` records/s (paced in 10 ms slices). */
export async function sendIpfix(
  flows: Iterable<SimFlow>,
  host: string,
  port: number,
  rate: number,
  onProgress?: (records: number) => void,
): Promise<SendResult> {
  const socket = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', sendBufferSize: 4 << 20 });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const encoder = new IpfixEncoder();
  const start = performance.now();
  let records = 0;
  let datagrams = 0;
  let chunk: SimFlow[] = [];
  const flush = async () => {
    for (const d of encoder.encode(chunk)) {
      await new Promise<void>((resolve, reject) => socket.send(d, (err) => (err ? reject(err) : resolve())));
      datagrams += 1;
    }
    records += chunk.length;
    chunk = [];
    // Stay on schedule: never ahead of `rate`.
    const ahead = records / rate - (performance.now() - start) / 1000;
    if (ahead > 0.01) await new Promise((r) => setTimeout(r, ahead * 1000));
    if (onProgress && records % 30_000 < PER_MESSAGE) onProgress(records);
  };
  for (const f of flows) {
    chunk.push(f);
    if (chunk.length === PER_MESSAGE) await flush();
  }
  if (chunk.length > 0) await flush();
  socket.close();
  onProgress?.(records);
  return { records, datagrams, seconds: (performance.now() - start) / 1000 };
}
