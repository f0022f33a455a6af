/**
 * NetFlow v5: a 24-byte header and fixed 48-byte records. The header's
 * sampling interval (low 14 bits) is applied to bytes and packets. Interfaces,
 * next hop, AS numbers, masks and ToS are in the record but never read.
 */
import { FlowBatch, type FlowOutput } from './batch.js';
import type { Exporter } from './exporters.js';

const HEADER = 24;
const RECORD = 48;

export function decodeNetflow5(buf: Buffer, exporter: Exporter, out: FlowOutput): number {
  if (buf.length < HEADER) {
    exporter.error('truncated');
    return 0;
  }
  const count = buf.readUInt16BE(2);
  if (count === 0 || count > 30) {
    exporter.error('bad-length');
    return 0;
  }
  if (buf.length < HEADER + count * RECORD) {
    exporter.error('truncated');
    return 0;
  }
  const uptime = buf.readUInt32BE(4);
  const exportMs = buf.readUInt32BE(8) * 1000 + Math.floor(buf.readUInt32BE(12) / 1e6);
  const sequence = buf.readUInt32BE(16);
  const engine = buf.readUInt16BE(20);
  const interval = buf.readUInt16BE(22) & 0x3fff;
  const rate = interval > 1 ? interval : 1;
  // Count and length were checked: the datagram is valid, and may create its engine's state.
  exporter.domain('netflow5', engine).observeSequence(sequence, count);

  const b = out.batch;
  for (let k = 0, p = HEADER; k < count; k++, p += RECORD) {
    const i = out.start();
    b.family[i] = 4;
    FlowBatch.copyAddress(buf, p, b.src, i, 4);
    FlowBatch.copyAddress(buf, p + 4, b.dst, i, 4);
    b.packets[i] = buf.readUInt32BE(p + 16) * rate;
    b.bytes[i] = buf.readUInt32BE(p + 20) * rate;
    // First/last are sysUptime values; `| 0` keeps the difference right across the 32-bit wrap.
    b.startMs[i] = exportMs - ((uptime - buf.readUInt32BE(p + 24)) | 0);
    b.endMs[i] = exportMs - ((uptime - buf.readUInt32BE(p + 28)) | 0);
    b.srcPort[i] = buf.readUInt16BE(p + 32);
    b.dstPort[i] = buf.readUInt16BE(p + 34);
    b.tcpFlags[i] = buf[p + 37]!;
    b.proto[i] = buf[p + 38]!;
    b.samplingRate[i] = rate;
  }
  exporter.records += count;
  return count;
}
