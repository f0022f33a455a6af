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
  private pending: Buffer[] = [];
  private pendingRows = 0;
  private pendingTimer: NodeJS.Timeout | undefined;
  private stopped: Promise<void> | undefined;
  private onStopped: (() => void) | undefined;
  addresses: Array<{ host: string; port: number }> = [];
  recvBufferSize = 0;

  private constructor(private readonly worker: Worker, private readonly deps: InletDeps, private readonly insertRows: number) {}

  static async start(deps: InletDeps, config: InletWorkerConfig): Promise<FlowInlet> {
    await ensureFlowTable(deps.analytics);
    const worker = new Worker(new URL('./inlet-worker.js', import.meta.url), { workerData: config });
    const inlet = new FlowInlet(worker, deps, config.insertRows);
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (m: WorkerToMain) => {
        if (m.type === 'listening') { inlet.addresses = m.addresses; inlet.recvBufferSize = m.recvBufferSize; resolve(); }
        else if (m.type === 'error' && m.fatal) reject(new Error(`flow inlet: ${m.message}`));
        else inlet.handle(m);
      });
      worker.once('error', reject);
    }).catch(async (err) => {
      await worker.terminate();
      throw err;
    });
    inlet.auditTimer = setInterval(() => { void inlet.auditStored(); }, deps.auditIntervalMs ?? 60_000);
    inlet.pendingTimer = setInterval(() => inlet.insertPending(), config.flushMs);
    return inlet;
  }

  private post(m: MainToWorker): void { this.worker.postMessage(m); }

  /** Writes the gathered batches as one insert, then frees their slots in the worker's window. */
  private insertPending(): void {
    if (this.pending.length === 0) return;
    const parts = this.pending;
    const rows = this.pendingRows;
    this.pending = [];
    this.pendingRows = 0;
    this.chain = this.chain.then(async () => {
      try {
        await this.deps.analytics.insert(FLOW_DATASET.table, 'RowBinary', parts.length === 1 ? parts[0]! : Buffer.concat(parts));
        this.sinceAudit.records += rows;
        this.sinceAudit.batches += 1;
      } catch (err) {
        this.insertFailures += rows;
        this.deps.logger?.error({ event: 'flows.insert-failed', records: rows, err: { message: (err as Error).message.split('\n')[0] } }, 'flow batch could not be stored');
      }
      this.post({ type: 'ack', batches: parts.length, records: rows });
    });
  }

  private handle(m: WorkerToMain): void {
    switch (m.type) {
      case 'batch': {
        // Small batches keep the receiving thread responsive; large inserts keep ClickHouse's
        // background merges cheap. So batches are gathered here into inserts of insertRows.
        this.pending.push(Buffer.from(m.bytes));
        this.pendingRows += m.records;
        if (this.pendingRows >= this.insertRows) this.insertPending();
        break;
      }
      case 'status': { const { type: _t, ...status } = m; this.logNewErrors(status); this.latest = status; break; }
      case 'flushed': { this.insertPending(); const waiters = this.flushWaiters; this.flushWaiters = []; void this.chain.then(() => waiters.forEach((w) => w())); break; }
      case 'error': this.deps.logger?.warn({ event: 'flows.listener-error', message: m.message }, 'flow listener error'); break;
      case 'stopped': this.onStopped?.(); break;
      case 'listening': break;
    }
  }

  /**
   * Bad input is counted by the worker; here each new count is also logged, at
   * most once per status tick per exporter and reason: the router's address,
   * the reason and how many — never the payload.
   */
  private logNewErrors(next: InletStatus): void {
    const log = this.deps.logger;
    if (!log) return;
    const before = new Map(this.latest.exporters.map((e) => [e.address, e.errors]));
    for (const e of next.exporters) {
      for (const [reason, n] of Object.entries(e.errors)) {
        const added = (n ?? 0) - (before.get(e.address)?.[reason as keyof typeof e.errors] ?? 0);
        if (added > 0) log.warn({ event: 'flows.refused', exporter: e.address, reason, count: added }, 'flow data refused');
      }
    }
    for (const [reason, n] of Object.entries(next.unattributed)) {
      const added = n - (this.latest.unattributed[reason] ?? 0);
      if (added > 0) log.warn({ event: 'flows.refused', reason, count: added }, 'datagrams refused before an exporter could be named');
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
      clearInterval(this.pendingTimer);
      await new Promise<void>((resolve) => { this.onStopped = resolve; this.post({ type: 'stop' }); });
      this.insertPending();
      await this.chain;
      await this.worker.terminate();
      await this.auditStored();
    })();
    return this.stopped;
  }
}
