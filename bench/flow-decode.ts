/**
 * Decode-only throughput on one core (this thread), per protocol: records per
 * second through decodeDatagram into the minimised batch, and with the RowBinary
 * serialisation that storage needs. No peer has a decode-only mode to put
 * beside it; the end-to-end benchmark (flow-e2e) runs nfcapd side by side.
 *
 *   node dist/bench/flow-decode.js [seconds-per-case]
 */
import { FlowBatch, FlowOutput, FlowRowBinaryWriter } from '../src/ingest/flow/batch.js';
import { decodeDatagram } from '../src/ingest/flow/decode.js';
import { ExporterTable } from '../src/ingest/flow/exporters.js';
import { ipfixV4Stream, ipfixV6Stream, netflow5Stream, netflow9Stream, sflowStream, type Stream } from './flow-datagrams.js';

const seconds = Number(process.argv[2] ?? 3);

function measure(stream: Stream, serialise: boolean): number {
  const exporters = new ExporterTable();
  const writer = new FlowRowBinaryWriter(32768);
  let sink = 0;
  const out = new FlowOutput(new FlowBatch(32768), (b) => {
    if (serialise) sink += writer.write(b).length;
  });
  for (const t of stream.templates) decodeDatagram(t, '192.0.2.1', exporters, out, 1);
  let records = 0;
  // Warm up, then time whole passes over the data.
  for (const d of stream.data) records += decodeDatagram(d, '192.0.2.1', exporters, out, 1);
  records = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(seconds * 1e9);
  let now = start;
  while (now < deadline) {
    for (const d of stream.data) records += decodeDatagram(d, '192.0.2.1', exporters, out, 1);
    now = process.hrtime.bigint();
  }
  out.flush();
  if (sink < 0) console.log(sink);
  return records / (Number(now - start) / 1e9);
}

const streams = [ipfixV4Stream(2000), ipfixV6Stream(2000), netflow5Stream(2000), netflow9Stream(2000), sflowStream(2000)];
console.log(`flow decode, one core, ${seconds}s per case (node ${process.version})`);
console.log('| stream | records/datagram | decode only (records/s) | decode + RowBinary (records/s) |');
console.log('|---|---|---|---|');
for (const s of streams) {
  const a = measure(s, false);
  const b = measure(s, true);
  console.log(`| ${s.name} | ${s.recordsPerDatagram} | ${Math.round(a).toLocaleString('en')} | ${Math.round(b).toLocaleString('en')} |`);
}
