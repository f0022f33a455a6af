/**
 * One entry point for every flow-export datagram: picks the decoder by
 * version, keeps exporter statistics, and never throws on bad input — a
 * malformed datagram is counted against its exporter with a reason.
 */
import type { FlowOutput } from './batch.js';
import type { ExporterTable } from './exporters.js';
import { decodeNetflow5 } from './netflow5.js';
import { decodeTemplated } from './netflow9-ipfix.js';
import { decodeSflow } from './sflow.js';

export function decodeDatagram(
  buf: Buffer,
  exporterAddress: string,
  exporters: ExporterTable,
  out: FlowOutput,
  receivedMs: number,
): number {
  const exporter = exporters.get(exporterAddress, receivedMs);
  if (!exporter) return 0;
  exporter.lastSeen = receivedMs;
  exporter.datagrams += 1;
  if (buf.length < 4) {
    exporter.error('truncated');
    return 0;
  }
  out.setExporter(exporterAddress);
  const v16 = buf.readUInt16BE(0);
  try {
    if (v16 === 5) {
      exporter.versions.add('netflow5');
      return decodeNetflow5(buf, exporter, out);
    }
    if (v16 === 9 || v16 === 10) {
      exporter.versions.add(v16 === 9 ? 'netflow9' : 'ipfix');
      return decodeTemplated(buf, exporter, out, receivedMs);
    }
    if (v16 === 0 && buf.readUInt32BE(0) === 5) {
      exporter.versions.add('sflow5');
      return decodeSflow(buf, exporter, out, receivedMs);
    }
  } catch {
    // A decoder bug must not take the collector down: count it (the fuzz tests require zero) and go on.
    exporter.error('decoder-error');
    return 0;
  }
  exporter.error('bad-version');
  return 0;
}
