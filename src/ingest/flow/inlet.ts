/**
 * The flow inlet, main-thread side: starts the receiving worker, inserts the
 * staging files it finishes into the analytics store one after another,
 * acknowledges each (which frees its records in the worker's bound), and
 * records the use of flow data in the audit log as counts per interval.
 */
import { Worker } from 'node:worker_threads';
import type { AuditLog } from '../../core/audit/log.js';
import type { Config } from '../../core/config.js';
import { parseDuration } from '../../core/duration.js';
import type { Logger } from '../../core/logger.js';
import type { AnalyticsStore } from '../../store/analytics/store.js';
import { FLOW_DATASET, ensureFlowTable } from './dataset.js';
import type { InletSettings, InletStatus, InletWorkerConfig, MainToWorker, WorkerToMain } from './inlet-protocol.js';

/** The inlet's settings from the server configuration (ingest.flows). */
export function inletSettings(config: Config): InletSettings {
  const f = config.ingest.flows;
  return {
    listeners: f.listeners, allowedExporters: f.allowedExporters, recvBufferSize: f.recvBufferSize, receiver: f.receiver, receiveRingBytes: f.receiveRingBytes,
    batchSize: f.batchSize, insertRows: f.insertRows, maxInflightBatches: f.maxInflightBatches, flushMs: parseDuration(f.flushInterval) * 1000, statusMs: 1000,
  };
}

export interface InletDeps {
  analytics: AnalyticsStore;
  audit: AuditLog;
  logger?: Logger;
  /** How often stored counts go to the audit log. */
  auditIntervalMs?: number;
}

const EMPTY: InletStatus = { exporters: [], unattributed: {}, droppedRecords: 0, storedRecords: 0, kernelDrops: 0, ringDrops: 0, inflight: 0 };

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
  receiver: 'native' | 'dgram' = 'dgram';

  private constructor(private readonly worker: Worker, private readonly deps: InletDeps) {}

  static async start(deps: InletDeps, settings: InletSettings): Promise<FlowInlet> {
    await ensureFlowTable(deps.analytics);
    const config: InletWorkerConfig = { ...settings, stagingDirectory: deps.analytics.stagingDirectory };
    const worker = new Worker(new URL('./inlet-worker.js', import.meta.url), { workerData: config });
    const inlet = new FlowInlet(worker, deps);
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (m: WorkerToMain) => {
        if (m.type === 'listening') {
          inlet.addresses = m.addresses; inlet.recvBufferSize = m.recvBufferSize; inlet.receiver = m.receiver;
          if (m.receiverNote) deps.logger?.warn({ event: 'flows.receiver', receiver: m.receiver, note: m.receiverNote }, 'flow inlet receives with node:dgram (slower)');
          resolve();
        }
        else if (m.type === 'error' && m.fatal) reject(new Error(`flow inlet: ${m.message}`));
        else inlet.handle(m);
      });
      worker.once('error', reject);
    }).catch(async (err) => {
      await worker.terminate();
      throw err;
    });
    inlet.auditTimer = setInterval(() => { void inlet.auditStored(); }, deps.auditIntervalMs ?? 60_000);
    return inlet;
  }

  private post(m: MainToWorker): void { this.worker.postMessage(m); }

  /** Inserts a staging file the worker finished, then frees its records in the worker's bound. */
  private insertStaged(file: string, records: number): void {
    this.chain = this.chain.then(async () => {
      let stored = false;
      try {
        await this.deps.analytics.insertStaged(FLOW_DATASET.table, file);
        this.sinceAudit.records += records;
        this.sinceAudit.batches += 1;
        stored = true;
      } catch (err) {
        this.insertFailures += records;
        this.deps.logger?.error({ event: 'flows.insert-failed', records, err: { message: (err as Error).message.split('\n')[0] } }, 'flow batch could not be stored');
      }
      this.post({ type: 'ack', records, stored });
    });
  }

  private handle(m: WorkerToMain): void {
    switch (m.type) {
      // Small batches keep the receiving thread responsive; large inserts (insertRows, gathered
      // in one staging file) keep ClickHouse's background merges cheap.
      case 'staged': this.insertStaged(m.file, m.records); break;
      case 'status': { const { type: _t, ...status } = m; this.logNewErrors(status); this.latest = status; break; }
      case 'flushed': { const waiters = this.flushWaiters; this.flushWaiters = []; void this.chain.then(() => waiters.forEach((w) => w())); break; }
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
      await new Promise<void>((resolve) => { this.onStopped = resolve; this.post({ type: 'stop' }); });
      await this.chain;
      await this.worker.terminate();
      await this.auditStored();
    })();
    return this.stopped;
  }
}
