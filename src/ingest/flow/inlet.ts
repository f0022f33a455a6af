/**
 * The flow inlet, main-thread side: starts the receiving worker, loads the
 * spool segments it finishes into the analytics store one after another at
 * the store's own pace, acknowledges each (which frees its bytes in the
 * worker's bound), and records the use of flow data in the audit log as
 * counts per interval.
 *
 * Receiving never waits for loading: the spool (on the store's disk, bounded
 * by spoolMaxBytes) absorbs the difference. What is left in it at stop, or
 * after a crash, is loaded first at the next start.
 */
import { readdirSync, renameSync, rmSync, statfsSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { AuditLog } from '../../core/audit/log.js';
import type { Config } from '../../core/config.js';
import { parseDuration } from '../../core/duration.js';
import type { Logger } from '../../core/logger.js';
import { hasCapSysNice } from '../../store/analytics/chdb.js';
import type { AnalyticsStore } from '../../store/analytics/store.js';
import { FLOW_ROW_BYTES } from './batch.js';
import { FLOW_DATASET, ensureFlowTable } from './dataset.js';
import type { InletSettings, InletStatus, InletWorkerConfig, MainToWorker, WorkerToMain } from './inlet-protocol.js';

/** The inlet's settings from the server configuration (ingest.flows). */
export function inletSettings(config: Config): InletSettings {
  const f = config.ingest.flows;
  return {
    listeners: f.listeners,
    allowedExporters: f.allowedExporters,
    recvBufferSize: f.recvBufferSize,
    receiver: f.receiver,
    receiveRingBytes: f.receiveRingBytes,
    batchSize: f.batchSize,
    insertRows: f.insertRows,
    spoolMaxBytes: f.spoolMaxBytes,
    flushMs: parseDuration(f.flushInterval) * 1000,
    statusMs: 1000,
  };
}

export interface InletDeps {
  analytics: AnalyticsStore;
  audit: AuditLog;
  logger?: Logger;
  /** How often stored counts go to the audit log. */
  auditIntervalMs?: number;
}

const EMPTY: InletStatus = {
  exporters: [],
  unattributed: {},
  droppedRecords: 0,
  storedRecords: 0,
  kernelDrops: 0,
  ringDrops: 0,
  inflight: 0,
  spooledBytes: 0,
};

/** A spool segment waiting to be loaded; seq counts them in the order they were queued. */
interface Segment {
  file: string;
  records: number;
  bytes: number;
  seq: number;
}

/** What an earlier run left in the spool, made loadable. */
export interface SpoolRecovery {
  segments: Array<{ file: string; records: number; bytes: number }>;
  /** Bytes of a last row that a crash cut short (discarded: a partial row cannot be loaded). */
  partialRowBytes: number;
}

const SEGMENT = /^flows-[\w-]+\.(part|rowbinary)$/;

/**
 * Segments an earlier run left, in the order they were written: complete ones as they are,
 * and a segment a crash left half-written (.part) cut to its whole rows.
 */
export function recoverSpool(dir: string): SpoolRecovery {
  const found: SpoolRecovery = { segments: [], partialRowBytes: 0 };
  for (const name of readdirSync(dir)
    .filter((n) => SEGMENT.test(n))
    .sort()) {
    let file = join(dir, name);
    const size = statSync(file).size;
    const whole = size - (size % FLOW_ROW_BYTES);
    if (whole === 0) {
      rmSync(file, { force: true });
      found.partialRowBytes += size;
      continue;
    }
    if (whole < size) {
      truncateSync(file, whole);
      found.partialRowBytes += size - whole;
    }
    if (file.endsWith('.part')) {
      const done = file.replace(/\.part$/, '.rowbinary');
      renameSync(file, done);
      file = done;
    }
    found.segments.push({ file, records: whole / FLOW_ROW_BYTES, bytes: whole });
  }
  return found;
}

/** Spool directories an inlet of this process uses: a second one would take the first one's segments. */
const spoolsInUse = new Set<string>();

export class FlowInlet {
  private latest: InletStatus = EMPTY;
  private readonly queue: Segment[] = [];
  private queued = 0;
  private loaded = 0;
  private loading: Promise<void> | undefined;
  private loadWaiters: Array<{ seq: number; resolve: () => void }> = [];
  private stopping = false;
  private insertFailures = 0;
  private sinceAudit = { records: 0, batches: 0 };
  private auditTimer: NodeJS.Timeout | undefined;
  private flushWaiters: Array<() => void> = [];
  private stopped: Promise<void> | undefined;
  private onStopped: (() => void) | undefined;
  addresses: Array<{ host: string; port: number }> = [];
  recvBufferSize = 0;
  receiver: 'native' | 'dgram' = 'dgram';
  /** What the start found in the spool from an earlier run (loaded first). */
  recovered = { segments: 0, records: 0, partialRowBytes: 0 };

  private constructor(
    private readonly worker: Worker,
    private readonly deps: InletDeps,
  ) {}

  static async start(deps: InletDeps, settings: InletSettings): Promise<FlowInlet> {
    await ensureFlowTable(deps.analytics);
    const spool = deps.analytics.spoolDirectory;
    if (spoolsInUse.has(spool)) throw new Error(`flow inlet: another flow inlet of this process already spools to ${spool}`);
    const leftover = recoverSpool(spool);
    const spooledBytes = leftover.segments.reduce((n, s) => n + s.bytes, 0);
    spoolsInUse.add(spool);
    const config: InletWorkerConfig = { ...settings, spoolDirectory: spool, spooledBytes, runId: String(Date.now()).padStart(14, '0') };
    const worker = new Worker(new URL('./inlet-worker.js', import.meta.url), { workerData: config });
    const inlet = new FlowInlet(worker, deps);
    inlet.recovered = {
      segments: leftover.segments.length,
      records: spooledBytes / FLOW_ROW_BYTES,
      partialRowBytes: leftover.partialRowBytes,
    };
    if (leftover.segments.length > 0 || leftover.partialRowBytes > 0) {
      deps.logger?.info(
        { event: 'flows.spool-recovered', ...inlet.recovered },
        'flow records an earlier run left in the spool are loaded first',
      );
    }
    for (const s of leftover.segments) inlet.enqueue(s.file, s.records, s.bytes);
    inlet.warnIfSpoolExceedsDisk(spool, settings.spoolMaxBytes - spooledBytes);
    if (deps.analytics.engine === 'chdb' && process.platform === 'linux' && !hasCapSysNice()) {
      deps.logger?.warn(
        { event: 'flows.loader-priority' },
        'without CAP_SYS_NICE, loading and merges run at the same CPU priority as receiving: on a busy ' +
          'machine, grant it (systemd AmbientCapabilities)',
      );
    }
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (m: WorkerToMain) => {
        if (m.type === 'listening') {
          inlet.addresses = m.addresses;
          inlet.recvBufferSize = m.recvBufferSize;
          inlet.receiver = m.receiver;
          if (m.receiverNote)
            deps.logger?.warn(
              { event: 'flows.receiver', receiver: m.receiver, note: m.receiverNote },
              'flow inlet receives with node:dgram (slower)',
            );
          resolve();
        } else if (m.type === 'error' && m.fatal) reject(new Error(`flow inlet: ${m.message}`));
        else inlet.handle(m);
      });
      worker.once('error', reject);
    }).catch(async (err) => {
      inlet.stopping = true;
      await worker.terminate();
      await inlet.loading;
      spoolsInUse.delete(spool);
      throw err;
    });
    inlet.auditTimer = setInterval(() => {
      void inlet.auditStored();
    }, deps.auditIntervalMs ?? 60_000);
    return inlet;
  }

  private post(m: MainToWorker): void {
    this.worker.postMessage(m);
  }

  /** Says so at start when the disk cannot hold the spool's bound: beyond the free space, batches fail (staging-failed). */
  private warnIfSpoolExceedsDisk(dir: string, room: number): void {
    try {
      const fs = statfsSync(dir);
      const free = fs.bavail * fs.bsize;
      if (free < room) {
        this.deps.logger?.warn(
          { event: 'flows.spool-space', freeBytes: free, spoolMaxBytes: room },
          'the flow spool may grow beyond the free disk space',
        );
      }
    } catch {
      /* statfs unavailable: the write errors will say it */
    }
  }

  private enqueue(file: string, records: number, bytes: number): void {
    this.queue.push({ file, records, bytes, seq: ++this.queued });
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
  }

  /**
   * Loads the queued segments one after another (one insert each: large parts keep
   * ClickHouse's merges cheap), then frees their bytes in the worker's bound. A
   * stopping inlet finishes the insert in progress and leaves the rest in the spool.
   */
  private async load(): Promise<void> {
    while (!this.stopping && this.queue.length > 0) {
      const s = this.queue.shift()!;
      let stored = false;
      try {
        await this.deps.analytics.insertStaged(FLOW_DATASET.table, s.file);
        this.sinceAudit.records += s.records;
        this.sinceAudit.batches += 1;
        stored = true;
      } catch (err) {
        this.insertFailures += s.records;
        this.deps.logger?.error(
          { event: 'flows.insert-failed', records: s.records, err: { message: (err as Error).message.split('\n')[0] } },
          'flow batch could not be stored',
        );
      }
      this.post({ type: 'ack', records: s.records, bytes: s.bytes, stored });
      this.loaded = s.seq;
      const ready = this.loadWaiters.filter((w) => w.seq <= s.seq);
      this.loadWaiters = this.loadWaiters.filter((w) => w.seq > s.seq);
      ready.forEach((w) => w.resolve());
    }
  }

  /** Resolves once every segment queued so far is loaded. */
  private loadedUpTo(seq: number): Promise<void> {
    if (this.loaded >= seq) return Promise.resolve();
    return new Promise((resolve) => this.loadWaiters.push({ seq, resolve }));
  }

  private handle(m: WorkerToMain): void {
    switch (m.type) {
      // Small batches keep the receiving thread responsive; large inserts (insertRows, gathered
      // in one staging file) keep ClickHouse's background merges cheap.
      case 'staged':
        this.enqueue(m.file, m.records, m.bytes);
        break;
      case 'status': {
        const { type: _t, ...status } = m;
        this.logNewErrors(status);
        this.latest = status;
        break;
      }
      case 'flushed': {
        const waiters = this.flushWaiters;
        this.flushWaiters = [];
        void this.loadedUpTo(this.queued).then(() => waiters.forEach((w) => w()));
        break;
      }
      case 'error':
        this.deps.logger?.warn({ event: 'flows.listener-error', message: m.message }, 'flow listener error');
        break;
      case 'stopped':
        this.onStopped?.();
        break;
      case 'listening':
        break;
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

  private async auditStored(spooledRecords = 0): Promise<void> {
    const { records, batches } = this.sinceAudit;
    if (records === 0 && this.insertFailures === 0 && spooledRecords === 0) return;
    this.sinceAudit = { records: 0, batches: 0 };
    const failed = this.insertFailures;
    this.insertFailures = 0;
    await this.deps.audit.append({
      actor: 'module:flow-inlet',
      measure: FLOW_DATASET.owner,
      action: 'flows.store',
      object: `dataset:${FLOW_DATASET.name}`,
      counts: {
        records,
        batches,
        insertFailedRecords: failed,
        droppedRecords: this.latest.droppedRecords,
        ...(spooledRecords > 0 ? { spooledRecords } : {}),
      },
    });
  }

  status(): InletStatus & { insertFailedRecords: number } {
    return { ...this.latest, insertFailedRecords: this.insertFailures };
  }

  /** Writes out whatever the worker holds and waits until it and everything spooled before it is stored. */
  flush(): Promise<void> {
    return new Promise((resolve) => {
      this.flushWaiters.push(resolve);
      this.post({ type: 'flush' });
    });
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      clearInterval(this.auditTimer);
      // The insert in progress is finished; what is still queued stays in the spool for the next start.
      this.stopping = true;
      await new Promise<void>((resolve) => {
        this.onStopped = resolve;
        this.post({ type: 'stop' });
      });
      await this.loading;
      await this.worker.terminate();
      for (const w of this.loadWaiters.splice(0)) w.resolve();
      spoolsInUse.delete(this.deps.analytics.spoolDirectory);
      const left = this.queue.reduce((n, s) => n + s.records, 0);
      if (left > 0)
        this.deps.logger?.info(
          { event: 'flows.spool-left', segments: this.queue.length, records: left },
          'flow records left in the spool are loaded at the next start',
        );
      await this.auditStored(left);
    })();
    return this.stopped;
  }
}
