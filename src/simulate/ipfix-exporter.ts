/**
 * An IPFIX exporter (RFC 7011) for the simulator: the realistic IPv4 template
 * (5-tuple, TCP flags, start/end in ms, octets, packets), messages of up to
 * 30 records (~1,400 bytes), template resent every 256 messages, sequence
 * numbers counting data records, sent over UDP at a paced rate.
 */
import dgram from 'node:dgram';
import type { SimFlow } from './isp.js';

const TEMPLATE_ID = 256;
// sourceIPv4Address, destinationIPv4Address, sourceTransportPort, destinationTransportPort,
// protocolIdentifier, tcpControlBits, flowStartMilliseconds, flowEndMilliseconds, octetDeltaCount, packetDeltaCount
const FIELDS: Array<[number, number]> = [
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
];
const RECORD = FIELDS.reduce((n, [, l]) => n + l, 0);
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
    const setLength = 4 + 4 + FIELDS.length * 4;
    const buf = Buffer.alloc(16 + setLength);
    this.header(buf, buf.length, exportSeconds);
    buf.writeUInt16BE(2, 16);
    buf.writeUInt16BE(setLength, 18);
    buf.writeUInt16BE(TEMPLATE_ID, 20);
    buf.writeUInt16BE(FIELDS.length, 22);
    FIELDS.forEach(([id, len], i) => {
      buf.writeUInt16BE(id, 24 + i * 4);
      buf.writeUInt16BE(len, 26 + i * 4);
    });
    return buf;
  }

  /** One message with up to 30 records; a template message comes first every 256 messages. */
  encode(flows: readonly SimFlow[]): Buffer[] {
    const out: Buffer[] = [];
    const exportSeconds = Math.floor((flows[flows.length - 1]?.endMs ?? Date.now()) / 1000);
    if (this.messages % 256 === 0) out.push(this.template(exportSeconds));
    const buf = Buffer.alloc(16 + 4 + flows.length * RECORD);
    this.header(buf, buf.length, exportSeconds);
    buf.writeUInt16BE(TEMPLATE_ID, 16);
    buf.writeUInt16BE(4 + flows.length * RECORD, 18);
    let p = 20;
    for (const f of flows) {
      buf.writeUInt32BE(f.src >>> 0, p);
      buf.writeUInt32BE(f.dst >>> 0, p + 4);
      buf.writeUInt16BE(f.sport, p + 8);
      buf.writeUInt16BE(f.dport, p + 10);
      buf[p + 12] = f.proto;
      buf[p + 13] = f.tcpFlags;
      u64(buf, p + 14, f.startMs);
      u64(buf, p + 22, f.endMs);
      u64(buf, p + 30, f.bytes);
      u64(buf, p + 38, f.packets);
      p += RECORD;
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
