/**
 * sFlow v5: flow samples and expanded flow samples, with raw packet header
 * records (read by the shared frame decoder, frame.ts) and sampled IPv4/IPv6
 * records. Counter samples are skipped.
 *
 * A raw header carries MAC addresses, VLANs and payload bytes: they are walked
 * over, never copied. Only the declared header fields reach the batch. sFlow
 * carries no flow times: a sample's time is when its datagram arrived.
 */
import { FlowBatch, type FlowOutput } from './batch.js';
import type { Exporter } from './exporters.js';
import { decodeFrame, frame, frameDropReason, FrameStart, FrameStatus } from './frame.js';

const MAX_SAMPLES = 1024;
const MAX_RECORDS = 256;

export function decodeSflow(buf: Buffer, exporter: Exporter, out: FlowOutput, receivedMs: number): number {
  if (buf.length < 28) {
    exporter.error('truncated');
    return 0;
  }
  const addressType = buf.readUInt32BE(4);
  const addressLength = addressType === 1 ? 4 : addressType === 2 ? 16 : -1;
  if (addressLength < 0) {
    exporter.error('bad-sample');
    return 0;
  }
  let p = 8 + addressLength;
  if (p + 16 > buf.length) {
    exporter.error('truncated');
    return 0;
  }
  const subAgent = buf.readUInt32BE(p);
  const sequence = buf.readUInt32BE(p + 4);
  const samples = buf.readUInt32BE(p + 12);
  p += 16;
  if (samples > MAX_SAMPLES) {
    exporter.error('bad-sample');
    return 0;
  }

  let flows = 0;
  let valid = 0;
  let s = 0;
  for (; s < samples; s++) {
    if (p + 8 > buf.length) {
      exporter.error('truncated');
      break;
    }
    const format = buf.readUInt32BE(p);
    const length = buf.readUInt32BE(p + 4);
    const body = p + 8;
    const end = body + length;
    if (end > buf.length) {
      exporter.error('truncated');
      break;
    }
    if (format === 1 || format === 3) {
      const r = decodeFlowSample(buf, body, end, format === 3, exporter, out, receivedMs);
      if (r < 0) break;
      flows += r;
    }
    // 2 and 4 (counter samples) and enterprise formats are skipped.
    p = end;
    valid += 1;
  }
  // Every sample read and bytes left over: what they were is unknown (a cut datagram, a wrong count).
  if (s === samples && p < buf.length) exporter.error('trailing-bytes');
  // Only a datagram with a sample read in full (the truncation is counted above) creates or advances its sub-agent's state.
  if (valid > 0 || samples === 0) exporter.domain('sflow5', subAgent).observeSequence(sequence, flows);
  exporter.records += flows;
  return flows;
}

/**
 * One flow sample is one sampled packet, whatever records describe it: an
 * agent may send the raw header and a sampled IPv4/IPv6 record of the same
 * packet. The raw header is read first (it has the ports of tunnelled and
 * MPLS traffic too); the sampled IP record is the fallback.
 */
function decodeFlowSample(
  buf: Buffer,
  p: number,
  end: number,
  expanded: boolean,
  exporter: Exporter,
  out: FlowOutput,
  receivedMs: number,
): number {
  const fixed = expanded ? 44 : 32;
  if (p + fixed > end) {
    exporter.error('truncated');
    return -1;
  }
  const rate = Math.max(1, buf.readUInt32BE(p + (expanded ? 12 : 8)));
  const records = buf.readUInt32BE(p + fixed - 4);
  if (records > MAX_RECORDS) {
    exporter.error('bad-sample');
    return -1;
  }
  p += fixed;
  let raw = -1,
    rawEnd = 0,
    ip = -1,
    ipEnd = 0,
    ipFormat = 0;
  for (let r = 0; r < records; r++) {
    if (p + 8 > end) {
      exporter.error('truncated');
      return -1;
    }
    const format = buf.readUInt32BE(p);
    const length = buf.readUInt32BE(p + 4);
    const body = p + 8;
    if (body + length > end) {
      exporter.error('truncated');
      return -1;
    }
    if (format === 1 && raw < 0) {
      raw = body;
      rawEnd = body + length;
    } else if ((format === 3 || format === 4) && ip < 0) {
      ip = body;
      ipEnd = body + length;
      ipFormat = format;
    }
    // Extended records (switch, router, gateway, user …) and enterprise formats are skipped.
    p = body + length;
  }
  let status = FrameStatus.Ok;
  if (raw >= 0) {
    status = rawHeader(buf, raw, rawEnd, rate, out, receivedMs);
    if (status === FrameStatus.Ok) return 1;
  }
  if (ip >= 0) {
    if (sampledIp(buf, ip, ipEnd, ipFormat === 3 ? 4 : 6, rate, out, receivedMs)) return 1;
    if (raw < 0) {
      exporter.error('truncated');
      return 0;
    }
  }
  exporter.error(raw >= 0 ? frameDropReason(status) : 'sample-without-packet');
  return 0;
}

/** Sampled IPv4 (format 3) / IPv6 (format 4) record. */
function sampledIp(buf: Buffer, p: number, end: number, family: 4 | 6, rate: number, out: FlowOutput, receivedMs: number): boolean {
  const alen: 4 | 16 = family === 4 ? 4 : 16;
  if (p + 8 + 2 * alen + 16 > end) return false;
  const length = buf.readUInt32BE(p);
  const proto = buf.readUInt32BE(p + 4);
  const i = out.start();
  const b = out.batch;
  b.family[i] = family;
  FlowBatch.copyAddress(buf, p + 8, b.src, i, alen);
  FlowBatch.copyAddress(buf, p + 8 + alen, b.dst, i, alen);
  const q = p + 8 + 2 * alen;
  b.srcPort[i] = buf.readUInt32BE(q) & 0xffff;
  b.dstPort[i] = buf.readUInt32BE(q + 4) & 0xffff;
  b.tcpFlags[i] = buf.readUInt32BE(q + 8) & 0xff;
  b.proto[i] = proto & 0xff;
  fill(b, i, length, rate, receivedMs);
  return true;
}

function fill(b: FlowOutput['batch'], i: number, ipLength: number, rate: number, receivedMs: number): void {
  b.bytes[i] = ipLength * rate;
  b.packets[i] = rate;
  b.samplingRate[i] = rate;
  b.startMs[i] = receivedMs;
  b.endMs[i] = receivedMs;
}

/** sFlow header_protocol values the frame decoder reads. */
function startOf(protocol: number): FrameStart | -1 {
  switch (protocol) {
    case 1:
      return FrameStart.Ethernet;
    case 11:
      return FrameStart.Ipv4;
    case 12:
      return FrameStart.Ipv6;
    case 13:
      return FrameStart.Mpls;
    default:
      return -1;
  }
}

/**
 * Raw packet header record (format 1), through the shared frame decoder.
 * Bytes are the sampled packet's IP length as sflowtool reports it: the
 * frame length less the bytes the agent stripped (FCS) and those before the
 * outermost IP header, the same measure as a sampled IPv4/IPv6 record's
 * length and NetFlow's octet counts.
 */
function rawHeader(buf: Buffer, p: number, end: number, rate: number, out: FlowOutput, receivedMs: number): FrameStatus {
  if (p + 16 > end) return FrameStatus.Truncated;
  const start = startOf(buf.readUInt32BE(p));
  if (start === -1) return FrameStatus.LinkType;
  const frameLength = buf.readUInt32BE(p + 4);
  const stripped = buf.readUInt32BE(p + 8);
  const headerLength = buf.readUInt32BE(p + 12);
  const h = p + 16;
  const status = decodeFrame(buf, h, Math.min(end, h + headerLength), start);
  if (status !== FrameStatus.Ok) return status;
  const f = frame;
  const i = out.start();
  const b = out.batch;
  const width = f.family === 4 ? 4 : 16;
  b.family[i] = f.family;
  FlowBatch.copyAddress(buf, f.src, b.src, i, width);
  FlowBatch.copyAddress(buf, f.dst, b.dst, i, width);
  b.proto[i] = f.proto;
  b.srcPort[i] = f.srcPort;
  b.dstPort[i] = f.dstPort;
  b.tcpFlags[i] = f.tcpFlags;
  const ipLength = frameLength - stripped - (f.ipOffset - h);
  fill(b, i, ipLength > 0 ? ipLength : f.ipLength, rate, receivedMs);
  return FrameStatus.Ok;
}
