/**
 * Back-fill: reads a pcap of export datagrams (as captured in front of a
 * collector) and stores its flows as if they had arrived live. Like the live
 * inlet, it runs only for M1's purpose, and its use is audited with counts.
 */
import type { Mamori } from '../../core/app.js';
import { CapabilityRefusedError } from '../../core/capabilities.js';
import { readPcapUdp, type PcapStats } from '../pcap.js';
import { FlowBatch, FlowOutput, FlowRowBinaryWriter } from './batch.js';
import { FLOW_DATASET } from './dataset.js';
import { decodeDatagram } from './decode.js';
import { ExporterTable, type ExporterStatus } from './exporters.js';

export interface ImportResult {
  datagrams: number;
  records: number;
  pcap: PcapStats;
  exporters: ExporterStatus[];
}

/** `onProgress` gets the bytes of the file read so far. */
export async function importFlowPcap(mamori: Mamori, file: string, actor: string, onProgress?: (bytesRead: number) => void): Promise<ImportResult> {
  const owner = mamori.registry.status(FLOW_DATASET.owner)!;
  if (!owner.enabled) {
    throw new CapabilityRefusedError(FLOW_DATASET.owner, 'flow-import', `flow records may be stored only for ${owner.declaration.code}, which is ${owner.state}`);
  }
  const store = mamori.analytics;
  if (!store) throw new Error('the analytics store is not open');
  const exporters = new ExporterTable();
  const writer = new FlowRowBinaryWriter();
  const pending: Buffer[] = [];
  const out = new FlowOutput(new FlowBatch(32768), (b) => pending.push(Buffer.from(writer.write(b))));
  const pcap: PcapStats = { packets: 0, udp: 0, skipped: 0, fragments: 0, bytesRead: 0 };
  let datagrams = 0;
  let records = 0;
  const drain = async () => {
    while (pending.length > 0) await store.insert(FLOW_DATASET.table, 'RowBinary', pending.shift()!);
  };
  for (const p of readPcapUdp(file, pcap)) {
    // Each packet's own capture time stands in for "arrival" (sFlow times, template hold).
    records += decodeDatagram(p.payload, p.source, exporters, out, p.timestampMs);
    datagrams += 1;
    if (pending.length > 0) await drain();
    if (onProgress && datagrams % 1000 === 0) onProgress(pcap.bytesRead);
  }
  out.flush();
  await drain();
  onProgress?.(pcap.bytesRead);
  await mamori.audit.append({
    actor, measure: FLOW_DATASET.owner, action: 'flows.import', object: `dataset:${FLOW_DATASET.name}`,
    counts: { datagrams, records, skippedPackets: pcap.skipped },
  });
  return { datagrams, records, pcap, exporters: exporters.status() };
}
