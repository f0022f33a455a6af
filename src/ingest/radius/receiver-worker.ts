/**
 * The RADIUS receiving thread: urgent work only. It owns the UDP sockets,
 * checks each packet against its NAS's secret, answers it (or answers a
 * retransmission again), and hands the minimised records to the main thread
 * in batches; the index is updated there. Nothing here waits for storage.
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { accountingResponse, decodeAccounting, header, RadiusError, type Accounting } from './packet.js';

export interface ReceiverConfig {
  listeners: Array<{ host: string; port: number }>;
  clients: Array<{ address: string; secret: string; name?: string | undefined }>;
  recvBufferSize: number;
}

export type ReceivedRecord = Omit<Accounting, 'identifier' | 'authenticator'> & { nas: string };

export type ReceiverMessage =
  | { type: 'ready'; addresses: Array<{ host: string; port: number }> }
  | { type: 'batch'; records: ReceivedRecord[]; counters: ReceiverCounters }
  | { type: 'settled'; id: number; counters: ReceiverCounters }
  | { type: 'error'; message: string };

export interface ReceiverCounters { packets: number; answered: number; duplicates: number; dropped: Record<string, number> }

const DUPLICATE_WINDOW_MS = 30_000;
const DUPLICATE_CACHE = 65_536;
const BATCH = 1024;
const FLUSH_MS = 5;
/** Batches handed over and not yet applied by the main thread: beyond this, records are dropped and counted. */
const MAX_INFLIGHT = 256;

const unmap = (a: string) => (a.startsWith('::ffff:') ? a.slice(7) : a);

async function main(config: ReceiverConfig): Promise<void> {
  const port = parentPort!;
  const clients = new Map(config.clients.map((c) => [unmap(c.address), { secret: Buffer.from(c.secret), name: c.name ?? unmap(c.address) }]));
  const counters: ReceiverCounters = { packets: 0, answered: 0, duplicates: 0, dropped: {} };
  const recent = new Map<string, { at: number; authenticator: Buffer; response: Buffer }>();
  let batch: ReceivedRecord[] = [];
  let timer: NodeJS.Timeout | undefined;
  let inflight = 0;
  const flush = () => {
    if (timer) { clearTimeout(timer); timer = undefined; }
    if (batch.length > 0) inflight++;
    port.postMessage({ type: 'batch', records: batch, counters } satisfies ReceiverMessage);
    batch = [];
  };
  const drop = (reason: string) => {
    counters.dropped[reason] = (counters.dropped[reason] ?? 0) + 1;
    timer ??= setTimeout(flush, FLUSH_MS);
  };

  const receive = (socket: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo) => {
    counters.packets++;
    const client = clients.get(unmap(rinfo.address));
    if (!client) { drop('unknown-nas'); return; }
    try {
      const h = header(msg);
      // A retransmission repeats NAS, source port, identifier and authenticator.
      const dupKey = `${rinfo.address}|${rinfo.port}|${h.identifier}`;
      const seen = recent.get(dupKey);
      if (seen && Date.now() - seen.at < DUPLICATE_WINDOW_MS && seen.authenticator.equals(msg.subarray(4, 20))) {
        counters.duplicates++;
        socket.send(seen.response, rinfo.port, rinfo.address);
        return;
      }
      // The main thread is not keeping up: leave the packet unanswered, so the NAS sends it again later,
      // rather than queue without end.
      if (inflight >= MAX_INFLIGHT) { drop('backlog'); return; }
      const a = decodeAccounting(msg, client.secret);
      const response = accountingResponse(a.identifier, a.authenticator, client.secret);
      recent.delete(dupKey); // re-inserted last: the map stays in arrival order for eviction
      recent.set(dupKey, { at: Date.now(), authenticator: a.authenticator, response });
      if (recent.size > DUPLICATE_CACHE) recent.delete(recent.keys().next().value!);
      socket.send(response, rinfo.port, rinfo.address);
      counters.answered++;
      const record = a as Partial<Accounting> & ReceivedRecord;
      delete record.identifier;
      delete record.authenticator;
      record.nas = client.name;
      batch.push(record);
      if (batch.length >= BATCH) flush();
      else timer ??= setTimeout(flush, FLUSH_MS);
    } catch (err) {
      if (err instanceof RadiusError) { drop(err.reason); return; }
      throw err;
    }
  };

  const sockets: dgram.Socket[] = [];
  for (const l of config.listeners) {
    const s = dgram.createSocket({ type: l.host.includes(':') ? 'udp6' : 'udp4', ipv6Only: false, recvBufferSize: config.recvBufferSize });
    s.on('message', (msg, rinfo) => receive(s, msg, rinfo));
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(l.port, l.host, () => { s.off('error', reject); resolve(); }); });
    s.on('error', () => { /* a send to a vanished NAS: nothing to do */ });
    sockets.push(s);
  }
  port.on('message', (m: { type: 'settle'; id: number } | { type: 'stop' } | { type: 'applied' }) => {
    if (m.type === 'applied') { inflight = Math.max(0, inflight - 1); return; }
    if (m.type === 'settle') { flush(); port.postMessage({ type: 'settled', id: m.id, counters } satisfies ReceiverMessage); }
    else { flush(); for (const s of sockets) s.close(); port.close(); }
  });
  port.postMessage({ type: 'ready', addresses: sockets.map((s) => { const a = s.address() as AddressInfo; return { host: a.address, port: a.port }; }) } satisfies ReceiverMessage);
}

if (parentPort) {
  main(workerData as ReceiverConfig).catch((err: Error) => parentPort!.postMessage({ type: 'error', message: err.message } satisfies ReceiverMessage));
}
