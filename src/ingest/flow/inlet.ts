/**
 * The flow inlet, main-thread side: starts the receiving worker, writes the
 * batches it sends into the analytics store one after another, acknowledges
 * each (which frees a slot in the worker's bounded window), and records the
 * use of flow data in the audit log as counts per interval.
 */
import { Worker } from 'node:worker_threads';
import type { AuditLog } from '../../core/audit/log.js';
import type { Logger } from '../../core/logger.js';
import type { AnalyticsStore } from '../../store/analytics/store.js';
import { FLOW_DATASET, ensureFlowTable } from './dataset.js';
import type { InletStatus, InletWorkerConfig, MainToWorker, WorkerToMain } from './inlet-protocol.js';

export interface InletDeps {
  analytics: AnalyticsStore;
  audit: AuditLog;
  logger?: Logger;
  /** How often stored counts go to the audit log. */
  auditIntervalMs?: number;
}

const EMPTY: InletStatus = { exporters: [], unattributed: {}, droppedRecords: 0, storedRecords: 0, kernelDrops: 0, inflight: 0 };

export class FlowInlet {
  private latest: InletStatus = EMPTY;
  private chain: Promise<void> = Promise.resolve();
  private insertFailures = 0;
  private sinceAudit = { records: 0, batches: 0 };
  private auditTimer: NodeJS.Timeout | undefined;
  private flushWaiters: Array<() => void> = [];
  private stopped: Promise<void> | undefined;
  private onStopped: (() => void) | undefined;
  addresses: Array<{ host: string; port: number }> = [];
  recvBufferSize = 0;

  private constructor(private readonly worker: Worker, private readonly deps: InletDeps) {}

  static async start(deps: InletDeps, config: InletWorkerConfig): Promise<FlowInlet> {
    await ensureFlowTable(deps.analytics);
    const worker = new Worker(new URL('./inlet-worker.js', import.meta.url), { workerData: config });
    const inlet = new FlowInlet(worker, deps);
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (m: WorkerToMain) => {
        if (m.type === 'listening') { inlet.addresses = m.addresses; inlet.recvBufferSize = m.recvBufferSize; resolve(); }
        else if (m.type === 'error' && m.fatal) reject(new Error(`flow inlet: ${m.message}`));
        else inlet.handle(m);
      });
      worker.once('error', reject);
    });
    inlet.auditTimer = setInterval(() => { void inlet.auditStored(); }, deps.auditIntervalMs ?? 60_000);
    return inlet;
  }

  private post(m: MainToWorker): void { this.worker.postMessage(m); }

  private handle(m: WorkerToMain): void {
    switch (m.type) {
      case 'batch': {
        const bytes = Buffer.from(m.bytes);
        this.chain = this.chain.then(async () => {
          try {
            await this.deps.analytics.insert(FLOW_DATASET.table, 'RowBinary', bytes);
            this.sinceAudit.records += m.records;
            this.sinceAudit.batches += 1;
            this.post({ type: 'ack', records: m.records });
          } catch (err) {
            this.insertFailures += m.records;
            this.post({ type: 'ack', records: 0 });
            this.deps.logger?.error({ event: 'flows.insert-failed', records: m.records, err: { message: (err as Error).message.split('\n')[0] } }, 'flow batch could not be stored');
          }
        });
        break;
      }
      case 'status': { const { type: _t, ...status } = m; this.latest = status; break; }
      case 'flushed': { const waiters = this.flushWaiters; this.flushWaiters = []; void this.chain.then(() => waiters.forEach((w) => w())); break; }
      case 'error': this.deps.logger?.warn({ event: 'flows.listener-error', message: m.message }, 'flow listener error'); break;
      case 'stopped': this.onStopped?.(); break;
      case 'listening': break;
    }
  }

  private async auditStored(): Promise<void> {
    const { records, batches } = this.sinceAudit;
    if (records === 0 && this.insertFailures === 0) return;
    this.sinceAudit = { records: 0, batches: 0 };
    const failed = this.insertFailures;
    this.insertFailures = 0;
    await this.deps.audit.append({
      actor: 'module:flow-inlet', measure: FLOW_DATASET.owner, action: 'flows.store', object: `dataset:${FLOW_DATASET.name}`,
      counts: { records, batches, insertFailedRecords: failed, droppedRecords: this.latest.droppedRecords },
    });
  }

  status(): InletStatus & { insertFailedRecords: number } {
    return { ...this.latest, insertFailedRecords: this.insertFailures };
  }

  /** Writes out whatever the worker holds and waits until it is stored. */
  flush(): Promise<void> {
    return new Promise((resolve) => { this.flushWaiters.push(resolve); this.post({ type: 'flush' }); });
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      clearInterval(this.auditTimer);
      await new Promise<void>((resolve) => { this.onStopped = resolve; this.post({ type: 'stop' }); });
      await this.chain;
      await this.worker.terminate();
      await this.auditStored();
    })();
    return this.stopped;
  }
}
