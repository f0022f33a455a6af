/**
 * The RADIUS accounting server (UDP, RFC 2866): it can be the NAS's own
 * accounting target or a copy target beside the ISP's real one. A receiving
 * thread (receiver-worker.ts) checks each packet against its NAS's shared
 * secret before anything in it is believed, answers it, answers a
 * retransmission (same NAS, port, identifier and authenticator) again without
 * passing it on twice, and drops and counts everything else by reason. This
 * thread applies the records it hands over to the session index.
 */
import { Worker } from 'node:worker_threads';
import type { SessionIndex } from '../../subscriber/sessions.js';
import { applyAccounting, type SessionEvent } from './apply.js';
import type { ReceiverConfig, ReceiverCounters, ReceiverMessage } from './receiver-worker.js';

export type { SessionEvent } from './apply.js';

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
  /** Dropped packets by reason: unknown-nas, short, length, code, attribute, authenticator, missing; no-address (answered, not applied); backlog (left unanswered, so the NAS retransmits: the main thread fell behind). */
  dropped: Record<string, number>;
}

export class RadiusAccountingServer {
  private counters: ReceiverCounters = { packets: 0, answered: 0, duplicates: 0, dropped: {} };
  private applied = 0;
  private notApplied = 0;
  private readonly settling = new Map<number, () => void>();
  private nextSettle = 0;

  private constructor(private readonly worker: Worker, readonly addresses: Array<{ host: string; port: number }>, private readonly index: SessionIndex, private readonly onEvent: (e: SessionEvent) => void) {
    worker.on('message', (m: ReceiverMessage) => {
      if (m.type === 'batch' || m.type === 'settled') this.counters = m.counters;
      if (m.type === 'batch') {
        for (const r of m.records) {
          if (applyAccounting(this.index, r, r.nas, this.onEvent)) this.applied++;
          else this.notApplied++;
        }
        if (m.records.length > 0) worker.postMessage({ type: 'applied' });
      } else if (m.type === 'settled') {
        this.settling.get(m.id)?.();
        this.settling.delete(m.id);
      }
    });
  }

  static async start(config: RadiusServerConfig, index: SessionIndex, onEvent: (e: SessionEvent) => void = () => {}): Promise<RadiusAccountingServer> {
    const workerConfig: ReceiverConfig = { listeners: config.listeners, clients: config.clients, recvBufferSize: config.recvBufferSize ?? 32 << 20 };
    const worker = new Worker(new URL('./receiver-worker.js', import.meta.url), { workerData: workerConfig });
    const addresses = await new Promise<Array<{ host: string; port: number }>>((resolve, reject) => {
      worker.once('message', (m: ReceiverMessage) => {
        if (m.type === 'ready') resolve(m.addresses);
        else reject(new Error(m.type === 'error' ? `RADIUS listener: ${m.message}` : 'RADIUS listener did not start'));
      });
      worker.once('error', reject);
    });
    return new RadiusAccountingServer(worker, addresses, index, onEvent);
  }

  status(): RadiusStatus {
    const dropped = { ...this.counters.dropped };
    if (this.notApplied > 0) dropped['no-address'] = this.notApplied;
    return { packets: this.counters.packets, answered: this.counters.answered, applied: this.applied, duplicates: this.counters.duplicates, dropped };
  }

  /** Resolves once every packet received so far has been applied (tests, orderly shutdown). */
  settled(): Promise<void> {
    const id = this.nextSettle++;
    return new Promise((resolve) => {
      this.settling.set(id, resolve);
      this.worker.postMessage({ type: 'settle', id });
    });
  }

  async stop(): Promise<void> {
    await this.settled();
    this.worker.postMessage({ type: 'stop' });
    await this.worker.terminate();
  }
}
