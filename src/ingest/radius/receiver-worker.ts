/**
 * The RADIUS receiving thread: urgent work only. It owns the UDP sockets,
 * checks each packet against its NAS's secret and hands the minimised
 * records to the main thread in batches; the index and the store are updated
 * there. The answers of a batch are held here and sent when the main thread
 * says the batch is stored (RFC 2866 §4.2: a response only once the record
 * is kept) — a NAS whose packet was lost with the process sends it again.
 * A retransmission of a packet already answered is answered again; one of a
 * packet still waiting for its store is answered with it, once stored.
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { accountingResponse, decodeAccounting, header, RadiusError, type Accounting } from './packet.js';
import { unmapIPv4 } from '../../core/net-address.js';

export interface ReceiverConfig {
  listeners: Array<{ host: string; port: number }>;
  clients: Array<{ address: string; secret: string; name?: string | undefined }>;
  recvBufferSize: number;
}

export type ReceivedRecord = Omit<Accounting, 'identifier' | 'authenticator'> & { nas: string };

export type ReceiverMessage =
  | { type: 'ready'; addresses: Array<{ host: string; port: number }> }
  | { type: 'batch'; id: number; records: ReceivedRecord[]; counters: ReceiverCounters }
  | { type: 'settled'; id: number; counters: ReceiverCounters }
  | { type: 'error'; message: string };

export interface ReceiverCounters {
  packets: number;
  answered: number;
  duplicates: number;
  dropped: Record<string, number>;
}

/** From the main thread: a batch is stored (answer it), could not be stored (answer nothing), or a settle/stop request. */
export type ControlMessage = { type: 'stored' | 'store-failed'; id: number } | { type: 'settle'; id: number } | { type: 'stop' };

const DUPLICATE_WINDOW_MS = 30_000;
const DUPLICATE_CACHE = 65_536;
const BATCH = 1024;
const FLUSH_MS = 5;
/**
 * Records handed over and not yet stored by the main thread: beyond this, packets are left unanswered and counted.
 * Counted in records, not batches: at low rates batches are small, and a pause of the main thread must not fill the bound.
 */
const MAX_WAITING_RECORDS = 256 * BATCH;
/** Answers sent in one go before the sockets are read again. */
const SEND_SLICE = 256;

interface Held {
  socket: dgram.Socket;
  response: Buffer;
  port: number;
  address: string;
  dupKey: string;
  retransmission: boolean;
}

async function main(config: ReceiverConfig): Promise<void> {
  const port = parentPort!;
  const clients = new Map(
    config.clients.map((c) => [unmapIPv4(c.address), { secret: Buffer.from(c.secret), name: c.name ?? unmapIPv4(c.address) }]),
  );
  const counters: ReceiverCounters = { packets: 0, answered: 0, duplicates: 0, dropped: {} };
  /** Recent packets by NAS, port and identifier; `stored` once their answer has gone out, else the answers it waits with. */
  const recent = new Map<string, { at: number; authenticator: Buffer; response: Buffer; stored: boolean; with: Held[] }>();
  let batch: ReceivedRecord[] = [];
  let held: Held[] = [];
  /** Answers waiting for their batch to be stored, by batch id. */
  const waiting = new Map<number, Held[]>();
  let waitingRecords = 0;
  let nextBatch = 0;
  let timer: NodeJS.Timeout | undefined;
  /** Answers of stored batches, sent in slices so that reading the sockets goes on between them. */
  let outbox: Held[] = [];
  let sending = false;
  const pump = () => {
    const slice = outbox.length <= SEND_SLICE ? outbox : outbox.slice(0, SEND_SLICE);
    outbox = slice === outbox ? [] : outbox.slice(SEND_SLICE);
    for (const h of slice) h.socket.send(h.response, h.port, h.address);
    if (outbox.length > 0) setImmediate(pump);
    else sending = false;
  };
  const flush = () => {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    const id = nextBatch++;
    if (batch.length > 0) {
      waiting.set(id, held);
      waitingRecords += batch.length;
    }
    port.postMessage({ type: 'batch', id, records: batch, counters } satisfies ReceiverMessage);
    batch = [];
    held = [];
  };
  const drop = (reason: string) => {
    counters.dropped[reason] = (counters.dropped[reason] ?? 0) + 1;
    timer ??= setTimeout(flush, FLUSH_MS);
  };

  const receive = (socket: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo) => {
    counters.packets++;
    const client = clients.get(unmapIPv4(rinfo.address));
    if (!client) {
      drop('unknown-nas');
      return;
    }
    try {
      const h = header(msg);
      // A retransmission repeats NAS, source port, identifier and authenticator.
      const dupKey = `${rinfo.address}|${rinfo.port}|${h.identifier}`;
      const seen = recent.get(dupKey);
      if (seen && Date.now() - seen.at < DUPLICATE_WINDOW_MS && seen.authenticator.equals(msg.subarray(4, 20))) {
        counters.duplicates++;
        // Not stored yet: answered with the original, once stored.
        if (seen.stored) socket.send(seen.response, rinfo.port, rinfo.address);
        else seen.with.push({ socket, response: seen.response, port: rinfo.port, address: rinfo.address, dupKey, retransmission: true });
        return;
      }
      // The main thread is not keeping up: leave the packet unanswered, so the NAS sends it again later,
      // rather than queue without end.
      if (waitingRecords + batch.length >= MAX_WAITING_RECORDS) {
        drop('backlog');
        return;
      }
      const a = decodeAccounting(msg, client.secret);
      const response = accountingResponse(a.identifier, a.authenticator, client.secret);
      recent.delete(dupKey); // re-inserted last: the map stays in arrival order for eviction
      recent.set(dupKey, { at: Date.now(), authenticator: a.authenticator, response, stored: false, with: held });
      if (recent.size > DUPLICATE_CACHE) recent.delete(recent.keys().next().value!);
      held.push({ socket, response, port: rinfo.port, address: rinfo.address, dupKey, retransmission: false });
      const record = a as Partial<Accounting> & ReceivedRecord;
      delete record.identifier;
      delete record.authenticator;
      record.nas = client.name;
      batch.push(record);
      if (batch.length >= BATCH) flush();
      else timer ??= setTimeout(flush, FLUSH_MS);
    } catch (err) {
      if (err instanceof RadiusError) {
        drop(err.reason);
        return;
      }
      throw err;
    }
  };

  const sockets: dgram.Socket[] = [];
  for (const l of config.listeners) {
    const s = dgram.createSocket({ type: l.host.includes(':') ? 'udp6' : 'udp4', ipv6Only: false, recvBufferSize: config.recvBufferSize });
    s.on('message', (msg, rinfo) => receive(s, msg, rinfo));
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(l.port, l.host, () => {
        s.off('error', reject);
        resolve();
      });
    });
    s.on('error', () => {
      /* a send to a vanished NAS: nothing to do */
    });
    sockets.push(s);
  }
  port.on('message', (m: ControlMessage) => {
    if (m.type === 'stored' || m.type === 'store-failed') {
      const answers = waiting.get(m.id) ?? [];
      waiting.delete(m.id);
      waitingRecords -= answers.filter((h) => !h.retransmission).length;
      for (const h of answers) {
        const r = recent.get(h.dupKey);
        if (m.type === 'stored') {
          outbox.push(h);
          if (!h.retransmission) counters.answered++;
          if (r && r.response === h.response) {
            r.stored = true;
            r.with = [];
          }
        } else {
          // Not kept, so not answered: the NAS's retransmission is taken as new.
          if (!h.retransmission) counters.dropped['store-failed'] = (counters.dropped['store-failed'] ?? 0) + 1;
          if (r && r.response === h.response) recent.delete(h.dupKey);
        }
      }
      if (outbox.length > 0 && !sending) {
        sending = true;
        pump();
      }
      return;
    }
    // Settling and stopping send what is waiting at once: "settled" means answered.
    for (const h of outbox.splice(0)) h.socket.send(h.response, h.port, h.address);
    if (m.type === 'settle') {
      flush();
      port.postMessage({ type: 'settled', id: m.id, counters } satisfies ReceiverMessage);
    } else {
      flush();
      for (const s of sockets) s.close();
      port.close();
    }
  });
  port.postMessage({
    type: 'ready',
    addresses: sockets.map((s) => {
      const a = s.address() as AddressInfo;
      return { host: a.address, port: a.port };
    }),
  } satisfies ReceiverMessage);
}

if (parentPort) {
  main(workerData as ReceiverConfig).catch((err: Error) =>
    parentPort!.postMessage({ type: 'error', message: err.message } satisfies ReceiverMessage),
  );
}
