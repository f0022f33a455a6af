/**
 * The RADIUS accounting server (UDP, RFC 2866): it can be the NAS's own
 * accounting target or a copy target beside the ISP's real one. A receiving
 * thread (receiver-worker.ts) checks each packet against its NAS's shared
 * secret before anything in it is believed, answers a retransmission (same
 * NAS, port, identifier and authenticator) again without passing it on twice,
 * and drops and counts everything else by reason. This thread applies the
 * records it hands over to the session index and has them stored; only then
 * are they answered (RFC 2866 §4.2), so an answered Start survives a crash.
 * Batches that arrive while a commit runs share the next one (group commit).
 */
import { Worker } from 'node:worker_threads';
import type { ListenerStatus } from '../../core/listeners.js';
import type { SessionIndex } from '../../subscriber/sessions.js';
import { applyAccounting, type SessionEvent } from './apply.js';
import type { ControlMessage, ReceiverConfig, ReceiverCounters, ReceiverMessage } from './receiver-worker.js';

export type { SessionEvent } from './apply.js';

const COMMIT_EVERY_MS = 10;

export interface RadiusServerConfig {
  listeners: Array<{ host: string; port: number }>;
  clients: Array<{ address: string; secret: string; name?: string | undefined }>;
  recvBufferSize?: number;
}

export interface RadiusStatus {
  packets: number;
  /** Valid packets answered (retransmissions not included). */
  answered: number;
  applied: number;
  duplicates: number;
  /**
   * Dropped packets by reason: unknown-nas, short, length, code, attribute, authenticator, missing; no-address (answered, not
   * applied); backlog (left unanswered, so the NAS retransmits: storing fell behind); store-failed (not stored, so not answered).
   */
  dropped: Record<string, number>;
}

export class RadiusAccountingServer {
  private counters: ReceiverCounters = { packets: 0, answered: 0, duplicates: 0, dropped: {} };
  private applied = 0;
  private notApplied = 0;
  private readonly settling = new Map<number, () => void>();
  private nextSettle = 0;
  /** The latest store call: settled() waits for it. */
  private storing: Promise<unknown> = Promise.resolve();
  /** The commit batches join until it starts; at most one every COMMIT_EVERY_MS. */
  private nextCommit: Promise<void> | undefined;
  private lastCommitAt = 0;

  private constructor(
    private readonly worker: Worker,
    readonly addresses: Array<{ host: string; port: number }>,
    private readonly index: SessionIndex,
    private readonly onEvent: (e: SessionEvent) => void,
    private readonly store: () => Promise<void>,
  ) {
    worker.on('message', (m: ReceiverMessage) => {
      if (m.type === 'batch' || m.type === 'settled') this.counters = m.counters;
      if (m.type === 'batch') {
        if (m.records.length === 0) return;
        for (const r of m.records) {
          if (applyAccounting(this.index, r, r.nas, this.onEvent)) this.applied++;
          else this.notApplied++;
        }
        const post = (type: 'stored' | 'store-failed') => worker.postMessage({ type, id: m.id } satisfies ControlMessage);
        this.storing = this.commit().then(
          () => post('stored'),
          () => post('store-failed'),
        );
      } else if (m.type === 'settled') {
        this.settling.get(m.id)?.();
        this.settling.delete(m.id);
      }
    });
  }

  /**
   * `store` makes every event `onEvent` was given so far durable (SubscriberService.flush); answers wait for it.
   * Without one, records are answered once applied to the index (benchmarks of the index alone).
   */
  static async start(
    config: RadiusServerConfig,
    index: SessionIndex,
    onEvent: (e: SessionEvent) => void = () => {},
    store: () => Promise<void> = async () => {},
  ): Promise<RadiusAccountingServer> {
    const workerConfig: ReceiverConfig = {
      listeners: config.listeners,
      clients: config.clients,
      recvBufferSize: config.recvBufferSize ?? 32 << 20,
    };
    const worker = new Worker(new URL('./receiver-worker.js', import.meta.url), { workerData: workerConfig });
    const addresses = await new Promise<Array<{ host: string; port: number }>>((resolve, reject) => {
      worker.once('message', (m: ReceiverMessage) => {
        if (m.type === 'ready') resolve(m.addresses);
        else reject(new Error(m.type === 'error' ? `RADIUS listener: ${m.message}` : 'RADIUS listener did not start'));
      });
      worker.once('error', reject);
    });
    return new RadiusAccountingServer(worker, addresses, index, onEvent, store);
  }

  status(): RadiusStatus {
    const dropped = { ...this.counters.dropped };
    if (this.notApplied > 0) dropped['no-address'] = this.notApplied;
    return {
      packets: this.counters.packets,
      answered: this.counters.answered,
      applied: this.applied,
      duplicates: this.counters.duplicates,
      dropped,
    };
  }

  /**
   * Group commit: batches that arrive before the next commit starts share it. Commits start at most every
   * COMMIT_EVERY_MS, so that at moderate rates a commit carries a few hundred records rather than a few dozen
   * (each commit rewrites the same pages); an answer waits that much longer at most.
   */
  private commit(): Promise<void> {
    if (this.nextCommit) return this.nextCommit;
    const wait = Math.max(0, this.lastCommitAt + COMMIT_EVERY_MS - Date.now());
    // Always after a timer, never synchronously: until it fires, this promise is the one later batches join.
    const next: Promise<void> = new Promise((r) => setTimeout(r, wait)).then(() => {
      if (this.nextCommit === next) this.nextCommit = undefined;
      this.lastCommitAt = Date.now();
      return this.store();
    });
    this.nextCommit = next;
    return next;
  }

  /** The status as every listener reports it. */
  listener(): ListenerStatus {
    const s = this.status();
    return { counts: { packets: s.packets, answered: s.answered, applied: s.applied, duplicates: s.duplicates }, refused: s.dropped };
  }

  /** Resolves once every packet received so far has been applied, stored and answered (tests, orderly shutdown). */
  async settled(): Promise<void> {
    await this.roundTrip();
    await this.storing.catch(() => {});
    // Once more: the worker has now sent the answers of what was stored, and its counters say so.
    await this.roundTrip();
  }

  private roundTrip(): Promise<void> {
    const id = this.nextSettle++;
    return new Promise((resolve) => {
      this.settling.set(id, resolve);
      this.worker.postMessage({ type: 'settle', id } satisfies ControlMessage);
    });
  }

  async stop(): Promise<void> {
    await this.settled();
    this.worker.postMessage({ type: 'stop' });
    await this.worker.terminate();
  }
}
