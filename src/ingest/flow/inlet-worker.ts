/**
 * The flow inlet's worker thread: owns the receivers (the native receiving
 * thread's ring, or node:dgram), decodes every datagram, and appends the
 * serialised batches to segment files of the spool that the main thread loads
 * into the store at its own pace. It never waits for storage: at most
 * spoolMaxBytes wait, and a batch beyond that is dropped and counted against
 * its exporters (storage-backlog).
 */
import dgram from 'node:dgram';
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { FLOW_ROW_BYTES, FlowBatch, FlowOutput, FlowRowBinaryWriter } from './batch.js';
import { decodeDatagram } from './decode.js';
import { ExporterTable, type DropReason } from './exporters.js';
import { expireHeld } from './netflow9-ipfix.js';
import { MIN_READ_BYTES, RECORD_HEADER_BYTES, nativeReceiver, type NativeFlowReceiver } from './native-receiver.js';
import { formatIPv6 } from '../address.js';
import { DECODER_NICE, type InletWorkerConfig, type MainToWorker, type WorkerToMain } from './inlet-protocol.js';
import { unmapIPv4 } from '../../core/net-address.js';

const config = workerData as InletWorkerConfig;
const port = parentPort!;
const send = (m: WorkerToMain) => port.postMessage(m);

const exporters = new ExporterTable(config.allowedExporters.length > 0 ? new Set(config.allowedExporters) : undefined);
const writer = new FlowRowBinaryWriter(config.batchSize);
/** Bytes in the spool not yet stored, an earlier run's segments included: the bound is on this. */
let spooledBytes = config.spooledBytes;
/** Records in the spool not yet stored (an earlier run's segments hold whole rows only). */
let inflight = config.spooledBytes / FLOW_ROW_BYTES;
let droppedRecords = 0;
let storedRecords = 0;
// A segment is handed over at insertRows, or earlier when the spool is small, so that one
// segment can be loaded while the next one fills.
const segmentRows = Math.max(1, Math.min(config.insertRows, Math.floor(config.spoolMaxBytes / 2 / FLOW_ROW_BYTES)));

// Batches go straight into a segment file of the spool (RowBinary, on the store's disk): the
// main thread is told only the file name, so bulk bytes never cross threads, and it loads the
// segments at its own pace. A segment is written as .part and renamed when complete, so that
// a later start knows what a crash cut short.
let segment: { fd: number; file: string; records: number; bytes: number } | undefined;
let segments = 0;

function countDropped(batch: FlowBatch, reason: DropReason): void {
  const perExporter = new Map<number, number>();
  for (let i = 0; i < batch.length; i++) perExporter.set(batch.exporterIdx[i]!, (perExporter.get(batch.exporterIdx[i]!) ?? 0) + 1);
  for (const [idx, n] of perExporter) exporters.find(batch.exporters[idx]!)?.error(reason, n);
  droppedRecords += batch.length;
}

/** Gives up the segment being written (it cannot be completed): its records count as dropped. */
function abandonSegment(): void {
  if (!segment) return;
  try {
    closeSync(segment.fd);
  } catch {
    /* already unusable */
  }
  rmSync(segment.file, { force: true });
  droppedRecords += segment.records;
  inflight -= segment.records;
  spooledBytes -= segment.bytes;
  segment = undefined;
}

/** Completes the segment and hands it to the main thread for one insert. */
function handOver(): void {
  if (!segment) return;
  const { fd, file, records, bytes } = segment;
  const done = file.replace(/\.part$/, '.rowbinary');
  try {
    closeSync(fd);
    renameSync(file, done);
  } catch (err) {
    send({ type: 'error', message: `spool: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    abandonSegment();
    return;
  }
  segment = undefined;
  send({ type: 'staged', file: done, records, bytes });
}

const out = new FlowOutput(new FlowBatch(config.batchSize), (batch) => {
  if (spooledBytes + batch.length * FLOW_ROW_BYTES > config.spoolMaxBytes) {
    // Storage is that far behind: drop this batch rather than grow, and say whose records they were.
    countDropped(batch, 'storage-backlog');
    return;
  }
  const bytes = writer.write(batch);
  try {
    if (!segment) {
      const file = join(config.spoolDirectory, `flows-${config.runId}-${String(segments++).padStart(8, '0')}.part`);
      segment = { fd: openSync(file, 'wx', 0o600), file, records: 0, bytes: 0 };
    }
    for (let done = 0; done < bytes.length;) done += writeSync(segment.fd, bytes, done);
  } catch (err) {
    // Disk full or gone: the batch cannot be kept. A partly written segment would break the insert,
    // so it goes too, and the records it already held are counted as dropped and released here.
    countDropped(batch, 'staging-failed');
    send({ type: 'error', message: `spool: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    abandonSegment();
    return;
  }
  segment.records += batch.length;
  segment.bytes += bytes.length;
  inflight += batch.length;
  spooledBytes += bytes.length;
  if (segment.records >= segmentRows) handOver();
});

/** A listening socket, whichever way it receives. */
interface Receiving {
  host: string;
  port: number;
  recvBufferSize: number;
  ringDrops(): number;
  /** Decodes now whatever has been received and waits in the receiver. */
  decodeWaiting(): void;
  /** Stops receiving; what was already received is decoded first. */
  close(): void;
}

const receivers: Receiving[] = [];

function receiveWithDgram(l: { host: string; port: number }): Promise<Receiving> {
  const socket = dgram.createSocket({ type: l.host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: config.recvBufferSize });
  socket.on('message', (msg, rinfo) => {
    // Node reports IPv4 senders on a dual-stack socket as ::ffff:a.b.c.d.
    const from = unmapIPv4(rinfo.address);
    decodeDatagram(msg, from, exporters, out, Date.now());
  });
  socket.on('error', (err) => send({ type: 'error', message: `listener ${l.host}:${l.port}: ${err.message}` }));
  return new Promise<Receiving>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: l.host, port: l.port, exclusive: true }, () => {
      socket.off('error', reject);
      const a = socket.address();
      resolve({
        host: a.address,
        port: a.port,
        recvBufferSize: socket.getRecvBufferSize(),
        ringDrops: () => 0,
        decodeWaiting: () => {},
        close: () => socket.close(),
      });
    });
  });
}

// The native receiver hands over records of several datagrams at a time (layout in
// native-receiver.ts); one read buffer serves every socket, as drains run one at a time here.
const readBuffer = Buffer.allocUnsafe(Math.max(4 << 20, MIN_READ_BYTES));
let lastFamily = 0;
let lastV4 = -1;
const lastV6 = Buffer.alloc(16);
let lastName = '';

/** The sender's address as text, built only when it differs from the previous datagram's. */
function senderName(buf: Buffer, p: number, family: number): string {
  if (family === 4) {
    const v = buf.readUInt32BE(p);
    if (lastFamily !== 4 || v !== lastV4) {
      lastFamily = 4;
      lastV4 = v;
      lastName = `${buf[p]}.${buf[p + 1]}.${buf[p + 2]}.${buf[p + 3]}`;
    }
  } else if (lastFamily !== 6 || lastV6.compare(buf, p, p + 16) !== 0) {
    lastFamily = 6;
    buf.copy(lastV6, 0, p, p + 16);
    lastName = formatIPv6(buf, p);
  }
  return lastName;
}

/** Decodes the datagrams of one read (n bytes of records). */
function decodeRecords(n: number): void {
  for (let p = 0; p < n;) {
    const length = readBuffer.readUInt16LE(p);
    const body = p + RECORD_HEADER_BYTES;
    decodeDatagram(
      readBuffer.subarray(body, body + length),
      senderName(readBuffer, p + 12, readBuffer[p + 2]!),
      exporters,
      out,
      readBuffer.readDoubleLE(p + 4),
    );
    p = (body + length + 3) & ~3;
  }
}

/** Decodes what the ring holds, a few reads per turn so that messages and timers still run. */
function drain(r: NativeFlowReceiver): void {
  for (let turn = 0; turn < 8; turn++) {
    const n = r.read(readBuffer);
    if (n === 0) {
      if (r.arm()) setImmediate(drain, r);
      return;
    }
    decodeRecords(n);
  }
  setImmediate(drain, r);
}

function receiveNatively(Receiver: Exclude<ReturnType<typeof nativeReceiver>, Error>, l: { host: string; port: number }): Receiving {
  // The call-back comes only after arm(), when `receiver` is set.
  const receiver: NativeFlowReceiver = new Receiver(l.host, l.port, config.recvBufferSize, config.receiveRingBytes ?? 64 << 20, () =>
    drain(receiver),
  );
  if (receiver.arm()) setImmediate(drain, receiver);
  return {
    host: receiver.host,
    port: receiver.port,
    recvBufferSize: receiver.recvBufferSize,
    ringDrops: () => receiver.stats().ringDrops,
    decodeWaiting: () => {
      for (let n = receiver.read(readBuffer); n > 0; n = receiver.read(readBuffer)) decodeRecords(n);
    },
    close() {
      receiver.close();
      this.decodeWaiting();
    },
  };
}

/** Kernel receive-buffer overflows of our sockets, from /proc/net/udp{,6} (Linux). */
function kernelDrops(ports: Set<number>): number {
  let drops = 0;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
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
  const wanted = config.receiver ?? 'auto';
  const Native = wanted === 'dgram' ? new Error('configured: receiver "dgram"') : nativeReceiver();
  if (Native instanceof Error && wanted === 'native') throw Native;
  for (const l of config.listeners) {
    receivers.push(Native instanceof Error ? await receiveWithDgram(l) : receiveNatively(Native, l));
  }
  // Receiving threads (nice 0) come before decoding, decoding before loading (nice 10, see the
  // store): when CPU is short the ring waits, not the kernel's socket buffer. Only this thread
  // changes (Linux nice values are per thread), after it started the receiving threads, which
  // would inherit it. With node:dgram this thread receives, so it stays.
  if (!(Native instanceof Error)) {
    try {
      setPriority(DECODER_NICE);
    } catch {
      /* not permitted here: every thread stays equal */
    }
  }
  const addresses = receivers.map((r) => ({ host: r.host, port: r.port }));
  const ports = new Set(addresses.map((a) => a.port));
  const baseline = kernelDrops(ports);
  send({
    type: 'listening',
    addresses,
    recvBufferSize: receivers[0]?.recvBufferSize ?? 0,
    receiver: Native instanceof Error ? 'dgram' : 'native',
    ...(Native instanceof Error && wanted === 'auto' ? { receiverNote: Native.message } : {}),
  });

  const flushTimer = setInterval(() => {
    out.flush();
    handOver();
  }, config.flushMs);
  const sendStatus = () =>
    send({
      type: 'status',
      exporters: exporters.status(),
      unattributed: Object.fromEntries(exporters.unattributed),
      droppedRecords,
      storedRecords,
      kernelDrops: kernelDrops(ports) - baseline,
      inflight,
      spooledBytes,
      ringDrops: receivers.reduce((n, r) => n + r.ringDrops(), 0),
    });
  const statusTimer = setInterval(() => {
    const now = Date.now();
    exporters.expireIdle(now);
    for (const e of exporters.list()) for (const d of e.allDomains()) expireHeld(d, e, now);
    sendStatus();
  }, config.statusMs);

  port.on('message', (m: MainToWorker) => {
    // A failed insert is counted by the main thread (insertFailedRecords), not as a drop here.
    if (m.type === 'ack') {
      inflight -= m.records;
      spooledBytes -= m.bytes;
      if (m.stored) storedRecords += m.records;
    } else if (m.type === 'flush') {
      for (const r of receivers) r.decodeWaiting();
      out.flush();
      handOver();
      sendStatus();
      send({ type: 'flushed' });
    } else if (m.type === 'stop') {
      clearInterval(flushTimer);
      clearInterval(statusTimer);
      for (const r of receivers) r.close();
      out.flush();
      handOver();
      sendStatus();
      send({ type: 'stopped' });
    }
  });
}

listen().catch((err: Error) => send({ type: 'error', message: err.message, fatal: true }));
