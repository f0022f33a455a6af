/**
 * The flow inlet's worker thread: owns the UDP sockets, decodes every
 * datagram as it arrives and hands serialised batches to the main thread.
 * It never waits for storage: it has a bounded number of batches in flight,
 * and a batch beyond that is dropped and counted against its exporters.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { FlowBatch, FlowOutput, FlowRowBinaryWriter } from './batch.js';
import { decodeDatagram } from './decode.js';
import { ExporterTable } from './exporters.js';
import { expireHeld } from './netflow9-ipfix.js';
import type { InletWorkerConfig, MainToWorker, WorkerToMain } from './inlet-protocol.js';

const config = workerData as InletWorkerConfig;
const port = parentPort!;
const send = (m: WorkerToMain, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

const exporters = new ExporterTable(config.allowedExporters.length > 0 ? new Set(config.allowedExporters) : undefined);
const writer = new FlowRowBinaryWriter(config.batchSize);
let inflight = 0;
let droppedRecords = 0;
let storedRecords = 0;

const out = new FlowOutput(new FlowBatch(config.batchSize), (batch) => {
  if (inflight >= config.maxInflightBatches) {
    // Storage is behind: drop this batch rather than grow, and say whose records they were.
    const perExporter = new Map<number, number>();
    for (let i = 0; i < batch.length; i++) perExporter.set(batch.exporterIdx[i]!, (perExporter.get(batch.exporterIdx[i]!) ?? 0) + 1);
    for (const [idx, n] of perExporter) exporters.get(batch.exporters[idx]!)?.error('storage-backlog', n);
    droppedRecords += batch.length;
    return;
  }
  const bytes = writer.write(batch);
  const copy = new ArrayBuffer(bytes.length);
  new Uint8Array(copy).set(bytes);
  inflight += 1;
  send({ type: 'batch', bytes: copy, records: batch.length }, [copy]);
});

const sockets: dgram.Socket[] = [];

/** Kernel receive-buffer overflows of our sockets, from /proc/net/udp{,6} (Linux). */
function kernelDrops(ports: Set<number>): number {
  let drops = 0;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      if (!local) continue;
      const p = parseInt(local.split(':')[1] ?? '', 16);
      if (ports.has(p)) drops += Number(cols[cols.length - 1]) || 0;
    }
  }
  return drops;
}

async function listen(): Promise<void> {
  for (const l of config.listeners) {
    const socket = dgram.createSocket({ type: l.host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: config.recvBufferSize });
    socket.on('message', (msg, rinfo) => {
      // Node reports IPv4 senders on a dual-stack socket as ::ffff:a.b.c.d.
      const from = rinfo.address.startsWith('::ffff:') ? rinfo.address.slice(7) : rinfo.address;
      decodeDatagram(msg, from, exporters, out, Date.now());
    });
    socket.on('error', (err) => send({ type: 'error', message: `listener ${l.host}:${l.port}: ${err.message}` }));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: l.host, port: l.port, exclusive: true }, () => { socket.off('error', reject); resolve(); });
    });
    sockets.push(socket);
  }
  const addresses = sockets.map((s) => { const a = s.address(); return { host: a.address, port: a.port }; });
  const ports = new Set(addresses.map((a) => a.port));
  const baseline = kernelDrops(ports);
  send({ type: 'listening', addresses, recvBufferSize: sockets[0]?.getRecvBufferSize() ?? 0 });

  const flushTimer = setInterval(() => out.flush(), config.flushMs);
  const sendStatus = () => send({
    type: 'status', exporters: exporters.status(), unattributed: Object.fromEntries(exporters.unattributed),
    droppedRecords, storedRecords, kernelDrops: kernelDrops(ports) - baseline, inflight,
  });
  const statusTimer = setInterval(() => {
    const now = Date.now();
    for (const e of exporters.list()) for (const d of e.domains.values()) expireHeld(d, e, now);
    sendStatus();
  }, config.statusMs);

  port.on('message', (m: MainToWorker) => {
    if (m.type === 'ack') { inflight -= m.batches; storedRecords += m.records; }
    else if (m.type === 'flush') { out.flush(); sendStatus(); send({ type: 'flushed' }); }
    else if (m.type === 'stop') {
      clearInterval(flushTimer);
      clearInterval(statusTimer);
      for (const s of sockets) s.close();
      out.flush();
      sendStatus();
      send({ type: 'stopped' });
    }
  });
}

listen().catch((err: Error) => send({ type: 'error', message: err.message, fatal: true }));
