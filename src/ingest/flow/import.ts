/**
 * Back-fill: reads a pcap of export datagrams (as captured in front of a
 * collector) and stores its flows as if they had arrived live. Like the live
 * inlet, it runs only for M1's purpose, and its use is audited with counts.
 */
import type { Mamori } from '../../core/app.js';
import { CapabilityRefusedError } from '../../core/capabilities.js';
import { readPcapUdp, type PcapStats } from '../pcap.js';
import { addressBytes } from '../address.js';
import { FlowBatch, FlowOutput, FlowRowBinaryWriter } from './batch.js';
import { readNfdump } from './nfdump.js';
import type { AnalyticsStore } from '../../store/analytics/store.js';
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
function requireOwner(mamori: Mamori): AnalyticsStore {
  const owner = mamori.registry.status(FLOW_DATASET.owner)!;
  if (!owner.enabled) {
    throw new CapabilityRefusedError(FLOW_DATASET.owner, 'flow-import', `flow records may be stored only for ${owner.declaration.code}, which is ${owner.state}`);
  }
  if (!mamori.analytics) throw new Error('the analytics store is not open');
  return mamori.analytics;
}

/**
 * Back-fill from nfdump files (a file, or a directory of them) read through
 * `nfdump` itself. Counters are taken as nfdump stored them (sampling rate 1).
 */
export async function importNfdump(mamori: Mamori, path: string, directory: boolean, actor: string, onProgress?: (records: number) => void): Promise<{ records: number; exporters: string[] }> {
  const store = requireOwner(mamori);
  const writer = new FlowRowBinaryWriter();
  const batch = new FlowBatch(32768);
  const exporters = new Set<string>();
  let records = 0;
  const put = async () => {
    if (batch.length === 0) return;
    await store.insert(FLOW_DATASET.table, 'RowBinary', Buffer.from(writer.write(batch)));
    batch.clear();
  };
  for await (const r of readNfdump(path, directory)) {
    exporters.add(r.exporter);
    const i = batch.next(batch.exporterId(r.exporter));
    const six = r.src.includes(':');
    batch.family[i] = six ? 6 : 4;
    const src = addressBytes(r.src);
    const dst = addressBytes(r.dst);
    // addressBytes maps IPv4 to ::ffff:a.b.c.d; the batch keeps IPv4 as its 4 bytes.
    batch.src.set(six ? src : src.subarray(12), i * 16);
    batch.dst.set(six ? dst : dst.subarray(12), i * 16);
    batch.startMs[i] = r.start; batch.endMs[i] = r.end;
    batch.srcPort[i] = r.sport; batch.dstPort[i] = r.dport; batch.proto[i] = r.proto;
    batch.bytes[i] = r.bytes; batch.packets[i] = r.packets; batch.tcpFlags[i] = r.tcpFlags;
    records += 1;
    if (batch.full) { await put(); onProgress?.(records); }
  }
  await put();
  onProgress?.(records);
  await mamori.audit.append({ actor, measure: FLOW_DATASET.owner, action: 'flows.import', object: `dataset:${FLOW_DATASET.name}`, counts: { records, exporters: exporters.size } });
  return { records, exporters: [...exporters] };
}

export async function importFlowPcap(mamori: Mamori, file: string, actor: string, onProgress?: (bytesRead: number) => void): Promise<ImportResult> {
  const store = requireOwner(mamori);
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
