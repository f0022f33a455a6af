/** Decodes datagrams with Mamori's decoders into plain records comparable with nfdump's. */
import { FlowBatch, FlowOutput } from '../../src/ingest/flow/batch.js';
import { decodeDatagram } from '../../src/ingest/flow/decode.js';
import { ExporterTable } from '../../src/ingest/flow/exporters.js';
import { formatIPv6 } from '../../src/ingest/address.js';
import type { ReferenceRecord } from './flow-peers.js';

/** Canonical text of an address, whatever form it came in. */
export function canonical(address: string): string {
  return address.includes(':') ? new URL(`http://[${address}]`).hostname.slice(1, -1) : address;
}

export function rowsOf(batch: FlowBatch, withFlags = false): ReferenceRecord[] {
  const rows: ReferenceRecord[] = [];
  for (let i = 0; i < batch.length; i++) {
    const six = batch.family[i] === 6;
    const addr = (a: Uint8Array) => (six ? formatIPv6(a, i * 16) : Array.from(a.subarray(i * 16, i * 16 + 4)).join('.'));
    rows.push({
      start: batch.startMs[i]!,
      end: batch.endMs[i]!,
      src: addr(batch.src),
      dst: addr(batch.dst),
      sport: batch.srcPort[i]!,
      dport: batch.dstPort[i]!,
      proto: batch.proto[i]!,
      packets: batch.packets[i]!,
      bytes: batch.bytes[i]!,
      samplingRate: batch.samplingRate[i]!,
      ...(withFlags ? { tcpFlags: batch.tcpFlags[i]! } : {}),
    });
  }
  return rows;
}

export function decodeAll(
  datagrams: readonly Buffer[],
  options: { exporter?: string; receivedMs?: number; holdMs?: number } = {},
): { records: ReferenceRecord[]; exporters: ExporterTable } {
  const exporter = options.exporter ?? '127.0.0.1';
  const receivedMs = options.receivedMs ?? Date.now();
  const exporters = new ExporterTable(undefined, options.holdMs);
  const records: ReferenceRecord[] = [];
  const out = new FlowOutput(new FlowBatch(4096), (b) => records.push(...rowsOf(b, true)));
  for (const d of datagrams) decodeDatagram(d, exporter, exporters, out, receivedMs);
  out.flush();
  return { records, exporters };
}

/** Every field of a record; TCP flags when `flags` (both sides have them). */
export function key(r: ReferenceRecord, flags = false): string {
  return [r.start, r.end, canonical(r.src), canonical(r.dst), r.sport, r.dport, r.proto, r.packets, r.bytes, flags ? r.tcpFlags : '-'].join(
    '|',
  );
}

/** Differences between two multisets of records, for a readable assertion message. */
export function diff(ours: readonly ReferenceRecord[], theirs: readonly ReferenceRecord[]): { onlyOurs: string[]; onlyTheirs: string[] } {
  const flags = [...ours, ...theirs].every((r) => r.tcpFlags !== undefined);
  const count = new Map<string, number>();
  for (const r of ours) count.set(key(r, flags), (count.get(key(r, flags)) ?? 0) + 1);
  const onlyTheirs: string[] = [];
  for (const r of theirs) {
    const k = key(r, flags);
    const n = count.get(k) ?? 0;
    if (n > 0) count.set(k, n - 1);
    else onlyTheirs.push(k);
  }
  const onlyOurs = [...count].flatMap(([k, n]) => Array(n).fill(k) as string[]);
  return { onlyOurs, onlyTheirs };
}
