/**
 * sFlow v5: flow samples and expanded flow samples, with raw packet header
 * records (Ethernet, 802.1Q/QinQ, MPLS, IPv4, IPv6, TCP, UDP, ICMP/ICMPv6)
 * and sampled IPv4/IPv6 records. Counter samples are skipped.
 *
 * A raw header carries MAC addresses, VLANs and payload bytes: they are walked
 * over, never copied. Only the declared header fields reach the batch. sFlow
 * carries no flow times: a sample's time is when its datagram arrived.
 */
import { FlowBatch, type FlowOutput } from './batch.js';
import type { Exporter } from './exporters.js';

const MAX_SAMPLES = 1024;
const MAX_RECORDS = 256;

export function decodeSflow(buf: Buffer, exporter: Exporter, out: FlowOutput, receivedMs: number): number {
  if (buf.length < 28) { exporter.error('truncated'); return 0; }
  const addressType = buf.readUInt32BE(4);
  const addressLength = addressType === 1 ? 4 : addressType === 2 ? 16 : -1;
  if (addressLength < 0) { exporter.error('bad-sample'); return 0; }
  let p = 8 + addressLength;
  if (p + 16 > buf.length) { exporter.error('truncated'); return 0; }
  const subAgent = buf.readUInt32BE(p);
  const sequence = buf.readUInt32BE(p + 4);
  const samples = buf.readUInt32BE(p + 12);
  p += 16;
  if (samples > MAX_SAMPLES) { exporter.error('bad-sample'); return 0; }

  let flows = 0;
  let valid = 0;
  for (let s = 0; s < samples; s++) {
    if (p + 8 > buf.length) { exporter.error('truncated'); break; }
    const format = buf.readUInt32BE(p);
    const length = buf.readUInt32BE(p + 4);
    const body = p + 8;
    const end = body + length;
    if (end > buf.length) { exporter.error('truncated'); break; }
    if (format === 1 || format === 3) {
      const r = decodeFlowSample(buf, body, end, format === 3, exporter, out, receivedMs);
      if (r < 0) break;
      flows += r;
    }
    // 2 and 4 (counter samples) and enterprise formats are skipped.
    p = end;
    valid += 1;
  }
  // Only a datagram with a sample read in full (the truncation is counted above) creates or advances its sub-agent's state.
  if (valid > 0 || samples === 0) exporter.domain('sflow5', subAgent).observeSequence(sequence, flows);
  exporter.records += flows;
  return flows;
}

function decodeFlowSample(buf: Buffer, p: number, end: number, expanded: boolean, exporter: Exporter, out: FlowOutput, receivedMs: number): number {
  const fixed = expanded ? 44 : 32;
  if (p + fixed > end) { exporter.error('truncated'); return -1; }
  const rate = Math.max(1, buf.readUInt32BE(p + (expanded ? 12 : 8)));
  const records = buf.readUInt32BE(p + fixed - 4);
  if (records > MAX_RECORDS) { exporter.error('bad-sample'); return -1; }
  p += fixed;
  let flows = 0;
  for (let r = 0; r < records; r++) {
    if (p + 8 > end) { exporter.error('truncated'); return -1; }
    const format = buf.readUInt32BE(p);
    const length = buf.readUInt32BE(p + 4);
    const body = p + 8;
    if (body + length > end) { exporter.error('truncated'); return -1; }
    let ok = false;
    if (format === 1) ok = rawHeader(buf, body, body + length, rate, out, receivedMs);
    else if (format === 3) ok = sampledIp(buf, body, body + length, 4, rate, out, receivedMs);
    else if (format === 4) ok = sampledIp(buf, body, body + length, 6, rate, out, receivedMs);
    if (ok) flows += 1;
    p = body + length;
  }
  return flows;
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

function fill(b: FlowOutput['batch'], i: number, frameLength: number, rate: number, receivedMs: number): void {
  b.bytes[i] = frameLength * rate;
  b.packets[i] = rate;
  b.samplingRate[i] = rate;
  b.startMs[i] = receivedMs;
  b.endMs[i] = receivedMs;
}

/** Raw packet header record (format 1): walks the headers down to the transport ports. */
function rawHeader(buf: Buffer, p: number, end: number, rate: number, out: FlowOutput, receivedMs: number): boolean {
  if (p + 16 > end) return false;
  const protocol = buf.readUInt32BE(p);
  const frameLength = buf.readUInt32BE(p + 4);
  const headerLength = buf.readUInt32BE(p + 12);
  const h = p + 16;
  const hEnd = Math.min(end, h + headerLength);
  let q = h;
  let etherType: number;
  if (protocol === 1) {
    // Ethernet: skip both MAC addresses, then VLAN tags and MPLS labels.
    if (q + 14 > hEnd) return false;
    etherType = buf.readUInt16BE(q + 12);
    q += 14;
    for (let tags = 0; (etherType === 0x8100 || etherType === 0x88a8 || etherType === 0x9100) && tags < 4; tags++) {
      if (q + 4 > hEnd) return false;
      etherType = buf.readUInt16BE(q + 2);
      q += 4;
    }
    if (etherType === 0x8847 || etherType === 0x8848) {
      let bottom = false;
      for (let labels = 0; !bottom && labels < 16; labels++) {
        if (q + 4 > hEnd) return false;
        bottom = (buf[q + 2]! & 1) === 1;
        q += 4;
      }
      if (!bottom || q >= hEnd) return false;
      const nibble = buf[q]! >> 4;
      etherType = nibble === 4 ? 0x0800 : nibble === 6 ? 0x86dd : 0;
    }
  } else if (protocol === 11) etherType = 0x0800;
  else if (protocol === 12) etherType = 0x86dd;
  else return false;

  let proto: number;
  let l4: number;
  let family: 4 | 6;
  let src: number;
  let dst: number;
  let fragmentNotFirst = false;
  if (etherType === 0x0800) {
    if (q + 20 > hEnd) return false;
    const ihl = (buf[q]! & 0x0f) * 4;
    if (buf[q]! >> 4 !== 4 || ihl < 20) return false;
    proto = buf[q + 9]!;
    fragmentNotFirst = (buf.readUInt16BE(q + 6) & 0x1fff) !== 0;
    family = 4; src = q + 12; dst = q + 16;
    l4 = q + ihl;
  } else if (etherType === 0x86dd) {
    if (q + 40 > hEnd) return false;
    if (buf[q]! >> 4 !== 6) return false;
    proto = buf[q + 6]!;
    family = 6; src = q + 8; dst = q + 24;
    l4 = q + 40;
    // Hop-by-hop, routing, destination options and fragment headers.
    for (let ext = 0; ext < 8 && (proto === 0 || proto === 43 || proto === 60 || proto === 44); ext++) {
      if (l4 + 8 > hEnd) { l4 = hEnd; break; }
      const nextProto = buf[l4]!;
      if (proto === 44) { fragmentNotFirst = (buf.readUInt16BE(l4 + 2) & 0xfff8) !== 0; l4 += 8; }
      else l4 += (buf[l4 + 1]! + 1) * 8;
      proto = nextProto;
    }
  } else return false;

  const i = out.start();
  const b = out.batch;
  b.family[i] = family;
  FlowBatch.copyAddress(buf, src, b.src, i, family === 4 ? 4 : 16);
  FlowBatch.copyAddress(buf, dst, b.dst, i, family === 4 ? 4 : 16);
  b.proto[i] = proto;
  if (!fragmentNotFirst) {
    if ((proto === 6 || proto === 17 || proto === 132) && l4 + 4 <= hEnd) {
      b.srcPort[i] = buf.readUInt16BE(l4);
      b.dstPort[i] = buf.readUInt16BE(l4 + 2);
      if (proto === 6 && l4 + 14 <= hEnd) b.tcpFlags[i] = buf[l4 + 13]!;
    } else if ((proto === 1 || proto === 58) && l4 + 2 <= hEnd) {
      b.dstPort[i] = (buf[l4]! << 8) | buf[l4 + 1]!;
    }
  }
  fill(b, i, frameLength, rate, receivedMs);
  return true;
}
