/**
 * Back-fill: reads a pcap of export datagrams (as captured in front of a
 * collector), or what nfcapd wrote, and stores its flows as if they had
 * arrived live. Like the live inlet, it runs only for M1's purpose.
 *
 * What an operator can rely on:
 * - Nothing reaches the flows dataset until the whole file has been read: rows
 *   go to a private staging table first and are moved in by day partition at
 *   the end. A file that cannot be read, or an engine error before the move,
 *   stores nothing.
 * - A pcap cut short (the capture was stopped or copied while written) is
 *   stored up to its last whole record; the result and the audit name the
 *   byte offset where it stops and how many bytes were not read.
 * - Every import is audited with its counts before any row is moved in, and
 *   again if the move fails part-way (with the rows that were stored), so no
 *   stored row is ever unaudited.
 * - A file whose content was imported before is refused unless forced; a pcap
 *   that begins with an earlier import (a longer copy of a capture imported
 *   while it was cut short) is refused too, or continued after that part.
 */
import { createHash, randomBytes } from 'node:crypto';
import { MamoriError } from '../../core/errors.js';
import { closeSync, createReadStream, existsSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { CoreInstance as Mamori } from '../../core/instance.js';
import { CapabilityRefusedError } from '../../core/capabilities.js';
import { PcapError, readPcapUdp, scanPcap, type PcapScan, type PcapStats } from '../pcap.js';
import { addressBytes } from '../address.js';
import { FlowBatch, FlowOutput, FlowRowBinaryWriter } from './batch.js';
import { NfdumpError, readNfdump } from './nfdump.js';
import type { AnalyticsStore } from '../../store/analytics/store.js';
import { FLOW_DATASET } from './dataset.js';
import { decodeDatagram } from './decode.js';
import { ExporterTable, type ExporterStatus } from './exporters.js';
import { expireHeld } from './netflow9-ipfix.js';
import { ImportRegistry, type ImportEntry, type ImportFormat, type ImportOutcome } from './import-registry.js';

export type { ImportEntry } from './import-registry.js';

/** Where an import is: for progress bars and the API's status. */
export interface RunningImport {
  actor: string;
  format: ImportFormat;
  startedAt: string;
  phase: 'receiving' | 'checking' | 'storing' | 'moving';
  bytesRead: number;
  totalBytes: number;
  records: number;
}

export interface ImportOptions {
  actor: string;
  /** Import even content imported before (its flows are then stored twice). */
  force?: boolean;
  /** A pcap that begins with an earlier import: store only what follows that part. */
  continueAfterImported?: boolean;
  onProgress?: (p: Readonly<RunningImport>) => void;
  /** A slot taken earlier (the API takes it before receiving the upload). */
  claim?: RunningImport;
}

export interface PcapImportResult {
  importId: number;
  outcome: Exclude<ImportOutcome, 'failed'>;
  sha256: string;
  bytes: number;
  fileSha256: string;
  fileBytes: number;
  datagrams: number;
  /** Records decoded from the file, and records stored (fewer only when continuing after an earlier import). */
  records: number;
  stored: number;
  /** Data sets still waiting for their template at the end of the file (also in the exporters' errors). */
  noTemplateAtEnd: number;
  /** Records stored that are already older than the flows' retention: the next retention pass deletes them. */
  olderThanRetention: number;
  truncation?: { offset: number; reason: string; unreadBytes: number };
  continuedAfter?: { importId: number; bytes: number; skippedRecords: number };
  pcap: PcapStats;
  exporters: ExporterStatus[];
  /** Datagrams refused before an exporter could be named (e.g. too many exporters). */
  refused: Record<string, number>;
}

export interface NfdumpImportResult {
  importIds: number[];
  records: number;
  stored: number;
  files: number;
  olderThanRetention: number;
  /** Files (relative to a directory) skipped because their content was imported before. */
  skipped: Array<{ file: string; previous: ImportEntry }>;
  exporters: string[];
}

/** An import refused before anything was read into the store: already imported, or another import runs. */
export class FlowImportRefusedError extends MamoriError {
  static override readonly code = 'flow-import-refused';
  static override readonly status = 409;
  constructor(
    readonly reason: 'already-imported' | 'begins-with-imported' | 'import-running',
    message: string,
    readonly previous: readonly ImportEntry[] = [],
  ) {
    super(message);
  }
}

/** An import that failed after it started storing: `stored` rows are in the flows dataset (and audited). */
export class FlowImportError extends MamoriError {
  static override readonly code = 'flow-import-failed';
  static override readonly status = 500;
  constructor(
    message: string,
    readonly stored: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Records per insert into the staging table: few parts to merge, a bounded staging file (≈ 95 MiB at most). */
const MAX_INSERT_ROWS = 1 << 20;
/** A long import yields to the event loop this often, so that a server keeps receiving and answering. */
const SLICE_MS = 20;
const STAGING_PREFIX = 'flows_import_';
/** What every import's audit entry names: M1's flows dataset. */
const ON_FLOWS = { measure: FLOW_DATASET.owner, object: `dataset:${FLOW_DATASET.name}` };

function requireOwner(mamori: Mamori): AnalyticsStore {
  const owner = mamori.registry.status(FLOW_DATASET.owner)!;
  if (!owner.enabled) {
    throw new CapabilityRefusedError(
      FLOW_DATASET.owner,
      'flow-import',
      `flow records may be stored only for ${owner.declaration.code}, which is ${owner.state}`,
    );
  }
  if (!mamori.analytics) throw new Error('the analytics store is not open');
  return mamori.analytics;
}

// ---- one import at a time per store ----

const running = new WeakMap<AnalyticsStore, RunningImport>();

/** The import running on this instance's store, if any. */
export function runningImport(mamori: Mamori): Readonly<RunningImport> | undefined {
  const r = mamori.analytics && running.get(mamori.analytics);
  return r ? { ...r } : undefined;
}

/** Takes the store's one import slot, or refuses naming who holds it. */
export function claimImport(
  mamori: Mamori,
  actor: string,
  format: ImportFormat,
  phase: RunningImport['phase'] = 'checking',
): RunningImport {
  const store = requireOwner(mamori);
  const busy = running.get(store);
  if (busy) {
    throw new FlowImportRefusedError(
      'import-running',
      `another import is running (by ${busy.actor}, since ${busy.startedAt}, ${busy.phase}); wait until it ends`,
    );
  }
  const claim: RunningImport = { actor, format, startedAt: new Date().toISOString(), phase, bytesRead: 0, totalBytes: 0, records: 0 };
  running.set(store, claim);
  return claim;
}

export function releaseImport(mamori: Mamori, claim: RunningImport): void {
  if (mamori.analytics && running.get(mamori.analytics) === claim) running.delete(mamori.analytics);
}

async function withClaim<T>(
  mamori: Mamori,
  options: ImportOptions,
  format: ImportFormat,
  fn: (claim: RunningImport) => Promise<T>,
): Promise<T> {
  const claim = options.claim ?? claimImport(mamori, options.actor, format);
  try {
    return await fn(claim);
  } finally {
    releaseImport(mamori, claim);
  }
}

// ---- the staging table ----

/**
 * Rows of one import, kept apart until the whole file has been read. It has
 * the flows table's structure and partitioning, so whole day partitions move
 * into the flows table as one operation each (MOVE PARTITION).
 */
class ImportStaging {
  private readonly writer = new FlowRowBinaryWriter();
  private file: { fd: number; path: string; rows: number } | undefined;
  private files = 0;
  rows = 0;

  private constructor(
    private readonly store: AnalyticsStore,
    readonly table: string,
    private readonly insertRows: number,
  ) {}

  static async open(store: AnalyticsStore, insertRows: number): Promise<ImportStaging> {
    const [db] = FLOW_DATASET.table.split('.');
    const table = `${db}.${STAGING_PREFIX}${randomBytes(8).toString('hex')}`;
    await store.exec(`CREATE TABLE ${table} AS ${FLOW_DATASET.table}`);
    return new ImportStaging(store, table, Math.min(insertRows, MAX_INSERT_ROWS));
  }

  /** Serialises a batch into the current staging file (synchronous: decoders call it). */
  add(batch: FlowBatch): void {
    if (batch.length === 0) return;
    const bytes = this.writer.write(batch);
    if (!this.file) {
      const path = join(this.store.stagingDirectory, `import-${process.pid}-${this.files++}-${randomBytes(4).toString('hex')}.rowbinary`);
      this.file = { fd: openSync(path, 'wx', 0o600), path, rows: 0 };
    }
    for (let done = 0; done < bytes.length;) done += writeSync(this.file.fd, bytes, done);
    this.file.rows += batch.length;
  }

  get due(): boolean {
    return (this.file?.rows ?? 0) >= this.insertRows;
  }

  /** Inserts the staging file into the staging table. */
  async insert(): Promise<void> {
    const f = this.file;
    if (!f) return;
    this.file = undefined;
    closeSync(f.fd);
    await this.store.insertStaged(this.table, f.path);
    this.rows += f.rows;
  }

  /** Rows per day partition, as the engine holds them. */
  async partitions(): Promise<Array<{ id: string; rows: number }>> {
    const [db, name] = this.table.split('.') as [string, string];
    const parts = await this.store.query<{ id: string; rows: string }>(
      'SELECT partition_id AS id, sum(rows) AS rows FROM system.parts ' +
        'WHERE database = {db:String} AND table = {t:String} AND active GROUP BY partition_id ORDER BY partition_id',
      { db, t: name },
    );
    return parts.map((p) => ({ id: p.id, rows: Number(p.rows) }));
  }

  /** Rows older than `cutoffMs`: the retention job deletes them at its next pass. */
  async olderThan(cutoffMs: number): Promise<number> {
    const [row] = await this.store.query<{ n: string }>(
      `SELECT count() AS n FROM ${this.table} WHERE start < fromUnixTimestamp64Milli({c:Int64}, 'UTC')`,
      { c: Math.floor(cutoffMs) },
    );
    return Number(row?.n ?? 0);
  }

  /** Moves every partition into the flows table; `moved` counts what is stored, so a failure part-way is known exactly. */
  async moveAll(partitions: ReadonlyArray<{ id: string; rows: number }>, moved: { rows: number }): Promise<void> {
    for (const p of partitions) {
      if (!/^\w+$/.test(p.id)) throw new Error(`unexpected partition id ${JSON.stringify(p.id)}`);
      await this.store.exec(`ALTER TABLE ${this.table} MOVE PARTITION ID '${p.id}' TO TABLE ${FLOW_DATASET.table}`);
      moved.rows += p.rows;
    }
  }

  /** Drops the table at once (SYNC: the engine would otherwise keep its data on disk for minutes). */
  async drop(): Promise<void> {
    if (this.file) {
      closeSync(this.file.fd);
      rmSync(this.file.path, { force: true });
      this.file = undefined;
    }
    await this.store.exec(`DROP TABLE IF EXISTS ${this.table} SYNC`);
  }
}

/** Where the server writes an upload while it is read (one file per import, deleted afterwards). */
export function uploadDirectory(mamori: Mamori): string {
  return join(mamori.paths.dataDir, 'imports');
}

/**
 * What an import that died (a crash, a kill) left behind: staging tables whose
 * rows were never moved in and, with `uploads`, files received by the server
 * and not yet imported. Both hold flow data: deleted now, with the counts
 * audited. Call only while no import runs: at server start (with `uploads`),
 * and by each import before it starts (not `uploads`: its own may be one).
 */
export async function dropAbandonedImports(mamori: Mamori, actor: string, options: { uploads?: boolean } = {}): Promise<number> {
  const store = mamori.analytics;
  const [db] = FLOW_DATASET.table.split('.');
  const tables = store
    ? await store.query<{ name: string; rows: string | null }>(
        'SELECT name, total_rows AS rows FROM system.tables WHERE database = {db:String} AND startsWith(name, {p:String})',
        { db, p: STAGING_PREFIX },
      )
    : [];
  let rows = 0;
  for (const t of tables) {
    if (!/^\w+$/.test(t.name)) continue;
    await store!.exec(`DROP TABLE IF EXISTS ${db}.${t.name} SYNC`);
    rows += Number(t.rows ?? 0);
  }
  let uploads = 0;
  if (options.uploads && existsSync(uploadDirectory(mamori))) {
    for (const f of readdirSync(uploadDirectory(mamori))) {
      if (!f.startsWith('upload-')) continue;
      rmSync(join(uploadDirectory(mamori), f), { force: true });
      uploads += 1;
    }
  }
  if (tables.length > 0 || uploads > 0) {
    await mamori.audit.append({
      actor,
      ...ON_FLOWS,
      action: 'flows.import.abandoned',
      counts: { tables: tables.length, deletedRecords: rows, uploads },
    });
  }
  return rows;
}

const nextSlice = () => new Promise<void>((resolve) => setImmediate(resolve));

function describe(e: ImportEntry): string {
  const how = e.outcome === 'stored' ? '' : e.outcome === 'partial' ? ', cut short' : ', failed part-way';
  return `import #${e.id} on ${e.finishedAt} by ${e.actor}: ${e.records} records stored${how}`;
}

/**
 * Writes the import's audit entry and its registry row together, before any
 * row is moved in; returns the registry id.
 */
async function recordImport(mamori: Mamori, entry: Omit<ImportEntry, 'id'>): Promise<number> {
  return mamori.audit.withAudit(
    (id: number) => ({
      actor: entry.actor,
      ...ON_FLOWS,
      action: 'flows.import',
      counts: { importId: id, ...entry.counts },
    }),
    (db) => ImportRegistry.recordIn(db, entry),
  );
}

/** After a move failed part-way: what was stored is audited, and the registry says so (a retry is then refused unless forced). */
async function recordFailure(mamori: Mamori, actor: string, importIds: readonly number[], stored: number, staged: number): Promise<void> {
  await mamori.audit.withAudit(
    {
      actor,
      ...ON_FLOWS,
      action: 'flows.import',
      outcome: 'error',
      counts: { ...(importIds.length > 0 ? { importId: importIds[0]! } : {}), stored, notStored: staged - stored },
    },
    (db) => ImportRegistry.markFailedIn(db, importIds, stored),
  );
}

/** Audits an import refused as a repeat: the refusal itself is worth a line for the auditor. */
async function refuse(
  mamori: Mamori,
  actor: string,
  reason: FlowImportRefusedError['reason'],
  message: string,
  previous: readonly ImportEntry[],
): Promise<never> {
  await mamori.audit.append({
    actor,
    ...ON_FLOWS,
    action: 'flows.import',
    outcome: 'refused',
    counts: { previousImportId: previous[previous.length - 1]!.id },
  });
  throw new FlowImportRefusedError(reason, message, previous);
}

/**
 * Stages, then moves. `stage` fills the staging table; `record` writes the
 * audit entry and registry rows before the move. Any failure drops the staging
 * table; rows moved before a failure are audited as stored.
 */
async function stageAndMove(
  mamori: Mamori,
  store: AnalyticsStore,
  actor: string,
  claim: RunningImport,
  stage: (staging: ImportStaging) => Promise<void>,
  record: (staged: number, olderThanRetention: number) => Promise<number[]>,
): Promise<{ ids: number[]; stored: number; olderThanRetention: number }> {
  await dropAbandonedImports(mamori, actor);
  const staging = await ImportStaging.open(store, mamori.config.ingest.flows.insertRows);
  const moved = { rows: 0 };
  let ids: number[] = [];
  let staged = 0;
  try {
    await stage(staging);
    await staging.insert();
    const partitions = await staging.partitions();
    staged = partitions.reduce((n, p) => n + p.rows, 0);
    // Stored all the same (the retention job deletes them within its interval), but said: a capture
    // older than the retention leaves nothing to analyse an hour later.
    const olderThanRetention = await staging.olderThan(Date.now() - mamori.datasets.retentionSeconds(FLOW_DATASET) * 1000);
    ids = await record(staged, olderThanRetention);
    claim.phase = 'moving';
    await staging.moveAll(partitions, moved);
    return { ids, stored: moved.rows, olderThanRetention };
  } catch (err) {
    if (ids.length > 0) await recordFailure(mamori, actor, ids, moved.rows, staged).catch(() => undefined);
    else {
      await mamori.audit
        .append({
          actor,
          ...ON_FLOWS,
          action: 'flows.import',
          outcome: 'error',
          counts: { stored: 0 },
        })
        .catch(() => undefined);
    }
    // A file that is not what it claims to be is bad input, named by its reader, and nothing was stored.
    if (moved.rows === 0 && (err instanceof PcapError || err instanceof NfdumpError)) throw err;
    const cause = (err as Error).message.split('\n')[0];
    throw new FlowImportError(
      moved.rows > 0
        ? `the import failed after ${moved.rows} of ${staged} records were stored (audited; a retry is refused unless forced): ${cause}`
        : `the import failed and stored nothing: ${cause}`,
      moved.rows,
      { cause: err },
    );
  } finally {
    await staging.drop().catch(() => undefined);
  }
}

/**
 * Refuses content named by its SHA-256 before the file is even read (the API
 * checks the sender's hash before receiving an upload). Audited like any refusal.
 */
export async function refuseKnownContent(mamori: Mamori, format: ImportFormat, sha256: string, actor: string): Promise<void> {
  const previous = await new ImportRegistry(mamori.state).find(format, [sha256]);
  if (previous.length === 0) return;
  await refuse(
    mamori,
    actor,
    'already-imported',
    `this file was imported before: ${previous.map(describe).join('; ')}. Nothing was received or stored. ${AGAIN}`,
    previous,
  );
}

const AGAIN = 'Import it again with --force (API: force=true); its flows would then be stored twice.';

// ---- pcap ----

export async function importFlowPcap(mamori: Mamori, file: string, options: ImportOptions): Promise<PcapImportResult> {
  const store = requireOwner(mamori);
  return withClaim(mamori, options, 'pcap', async (claim) => {
    const { actor } = options;
    const registry = new ImportRegistry(mamori.state);
    claim.phase = 'checking';
    claim.bytesRead = 0;
    claim.records = 0;
    let total = 0;
    try {
      total = statSync(file).size;
    } catch {
      /* scanPcap names the problem */
    }
    claim.totalBytes = total;
    options.onProgress?.(claim);
    const scan = await scanPcap(file, await registry.lengths('pcap', total));
    const skipUntil = await checkRepeat(mamori, registry, scan, options);

    const exporters = new ExporterTable();
    const pcap: PcapStats = { packets: 0, udp: 0, skipped: 0, fragments: 0, bytesRead: 0 };
    let datagrams = 0;
    let records = 0;
    let skippedRecords = 0;
    let noTemplateAtEnd = 0;
    const startedAt = claim.startedAt;
    const { ids, stored, olderThanRetention } = await stageAndMove(
      mamori,
      store,
      actor,
      claim,
      async (staging) => {
        claim.phase = 'storing';
        let storing = skipUntil === undefined;
        const out = new FlowOutput(new FlowBatch(32768), (b) => {
          if (storing) staging.add(b);
          else skippedRecords += b.length;
        });
        let slice = performance.now();
        for (const p of readPcapUdp(file, pcap, scan.validBytes)) {
          // Records of the part imported earlier are decoded (templates, sampling rates) but not stored.
          if (!storing && pcap.bytesRead > skipUntil!.bytes) {
            out.flush();
            storing = true;
          }
          // Each packet's own capture time stands in for "arrival" (sFlow times, template hold).
          records += decodeDatagram(p.payload, p.source, exporters, out, p.timestampMs);
          datagrams += 1;
          if (staging.due) await staging.insert();
          if (performance.now() - slice > SLICE_MS) {
            claim.bytesRead = pcap.bytesRead;
            claim.records = records;
            options.onProgress?.(claim);
            await nextSlice();
            slice = performance.now();
          }
        }
        // End of file: nothing can follow, so data still waiting for its template never gets one.
        const before = noTemplateCount(exporters);
        for (const e of exporters.list()) for (const d of e.allDomains()) expireHeld(d, e, Number.POSITIVE_INFINITY);
        noTemplateAtEnd = noTemplateCount(exporters) - before;
        out.flush();
        claim.bytesRead = pcap.bytesRead;
        claim.records = records;
        options.onProgress?.(claim);
      },
      async (staged, old) => [
        await recordImport(mamori, {
          format: 'pcap',
          sha256: scan.validSha256,
          bytes: scan.validBytes,
          fileSha256: scan.fileSha256,
          fileBytes: scan.fileBytes,
          actor,
          startedAt,
          finishedAt: new Date().toISOString(),
          outcome: scan.truncation ? 'partial' : 'stored',
          records: staged,
          counts: {
            datagrams,
            records,
            stored: staged,
            noTemplateAtEnd,
            olderThanRetention: old,
            skippedPackets: pcap.skipped,
            fragments: pcap.fragments,
            ...(scan.truncation ? { truncatedAtByte: scan.truncation.offset, unreadBytes: scan.fileBytes - scan.truncation.offset } : {}),
            ...(skipUntil ? { continuedAfterImportId: skipUntil.importId, skippedRecords } : {}),
          },
        }),
      ],
    );
    return {
      importId: ids[0]!,
      outcome: scan.truncation ? 'partial' : 'stored',
      sha256: scan.validSha256,
      bytes: scan.validBytes,
      fileSha256: scan.fileSha256,
      fileBytes: scan.fileBytes,
      datagrams,
      records,
      stored,
      noTemplateAtEnd,
      olderThanRetention,
      ...(scan.truncation ? { truncation: { ...scan.truncation, unreadBytes: scan.fileBytes - scan.truncation.offset } } : {}),
      ...(skipUntil ? { continuedAfter: { ...skipUntil, skippedRecords } } : {}),
      pcap,
      exporters: exporters.status(),
      refused: Object.fromEntries(exporters.unattributed),
    };
  });
}

function noTemplateCount(exporters: ExporterTable): number {
  let n = 0;
  for (const e of exporters.list()) n += e.errors.get('no-template') ?? 0;
  return n;
}

/**
 * Refuses a repeat unless forced. Returns the earlier import this file begins
 * with when the caller asked to continue after it.
 */
async function checkRepeat(
  mamori: Mamori,
  registry: ImportRegistry,
  scan: PcapScan,
  options: ImportOptions,
): Promise<{ importId: number; bytes: number } | undefined> {
  if (options.force) return undefined;
  const same = await registry.find('pcap', [scan.validSha256, scan.fileSha256]);
  if (same.length > 0) {
    const cut = scan.truncation ? ` (its whole records: the first ${scan.validBytes} bytes)` : '';
    await refuse(
      mamori,
      options.actor,
      'already-imported',
      `this file${cut} was imported before: ${same.map(describe).join('; ')}. Nothing was stored. ${AGAIN}`,
      same,
    );
  }
  const begins: ImportEntry[] = [];
  for (const [bytes, sha] of scan.prefixes) {
    if (bytes >= scan.validBytes) continue;
    begins.push(...(await registry.find('pcap', [sha])).filter((e) => e.bytes === bytes && e.sha256 === sha));
  }
  if (begins.length === 0) return undefined;
  const last = begins.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  if (options.continueAfterImported) return { importId: last.id, bytes: last.bytes };
  return refuse(
    mamori,
    options.actor,
    'begins-with-imported',
    `the first ${last.bytes} bytes of this file were imported before (${describe(last)}). Nothing was stored. ` +
      'Use --continue (API: continue=true) to store only what follows them, or --force (API: force=true) to store all of it again.',
    begins,
  );
}

// ---- nfdump ----

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** nfcapd writes into nfcapd.current.<pid> and renames it when the interval ends: that file is not finished. */
function nfdumpFiles(path: string, directory: boolean): string[] {
  if (!directory) return [path];
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, d.name);
      if (d.isDirectory()) walk(p);
      else if (d.isFile() && !d.name.startsWith('nfcapd.current')) files.push(p);
    }
  };
  walk(path);
  return files;
}

/**
 * Back-fill from nfdump files (a file, or a directory of them) read through
 * `nfdump` itself. Counters are taken as nfdump stored them (sampling rate 1).
 * In a directory, files imported before are skipped (and listed), so the same
 * command can be run again as nfcapd adds files.
 */
export async function importNfdump(mamori: Mamori, path: string, directory: boolean, options: ImportOptions): Promise<NfdumpImportResult> {
  const store = requireOwner(mamori);
  return withClaim(mamori, options, 'nfdump', async (claim) => {
    const { actor } = options;
    const registry = new ImportRegistry(mamori.state);
    claim.phase = 'checking';
    claim.bytesRead = 0;
    claim.records = 0;
    const candidates = nfdumpFiles(path, directory);
    claim.totalBytes = candidates.reduce((n, f) => n + statSync(f).size, 0);
    const files: Array<{ file: string; sha256: string; bytes: number }> = [];
    const skipped: NfdumpImportResult['skipped'] = [];
    for (const file of candidates) {
      const sha256 = await sha256File(file);
      const previous = options.force ? [] : await registry.find('nfdump', [sha256]);
      if (previous.length > 0) skipped.push({ file: directory ? relative(path, file) : file, previous: previous[previous.length - 1]! });
      else if (!files.some((f) => f.sha256 === sha256)) files.push({ file, sha256, bytes: statSync(file).size });
    }
    if (files.length === 0 && skipped.length > 0) {
      const what = directory ? `all ${skipped.length} files under this directory were` : 'this file was';
      await refuse(
        mamori,
        actor,
        'already-imported',
        `${what} imported before (${describe(skipped[skipped.length - 1]!.previous)}). Nothing was stored. ${AGAIN}`,
        skipped.map((s) => s.previous),
      );
    }
    const exporters = new Set<string>();
    const perFile: number[] = [];
    let records = 0;
    const startedAt = claim.startedAt;
    const { ids, stored, olderThanRetention } = await stageAndMove(
      mamori,
      store,
      actor,
      claim,
      async (staging) => {
        claim.phase = 'storing';
        const batch = new FlowBatch(32768);
        for (const f of files) {
          let n = 0;
          for await (const r of readNfdump(f.file, false)) {
            exporters.add(r.exporter);
            const i = batch.next(batch.exporterId(r.exporter));
            const six = r.src.includes(':');
            batch.family[i] = six ? 6 : 4;
            const src = addressBytes(r.src);
            const dst = addressBytes(r.dst);
            // addressBytes maps IPv4 to ::ffff:a.b.c.d; the batch keeps IPv4 as its 4 bytes.
            batch.src.set(six ? src : src.subarray(12), i * 16);
            batch.dst.set(six ? dst : dst.subarray(12), i * 16);
            batch.startMs[i] = r.start;
            batch.endMs[i] = r.end;
            batch.srcPort[i] = r.sport;
            batch.dstPort[i] = r.dport;
            batch.proto[i] = r.proto;
            batch.bytes[i] = r.bytes;
            batch.packets[i] = r.packets;
            batch.tcpFlags[i] = r.tcpFlags;
            n += 1;
            if (batch.full) {
              staging.add(batch);
              batch.clear();
              if (staging.due) await staging.insert();
              claim.records = records + n;
              options.onProgress?.(claim);
            }
          }
          staging.add(batch);
          batch.clear();
          perFile.push(n);
          records += n;
          claim.bytesRead += f.bytes;
          claim.records = records;
          options.onProgress?.(claim);
        }
      },
      async () => {
        if (files.length === 0) return [];
        // One registry row and one audit entry per file: each can be looked up by its content hash.
        const ids: number[] = [];
        for (const [k, f] of files.entries()) {
          ids.push(
            await recordImport(mamori, {
              format: 'nfdump',
              sha256: f.sha256,
              bytes: f.bytes,
              fileSha256: f.sha256,
              fileBytes: f.bytes,
              actor,
              startedAt,
              finishedAt: new Date().toISOString(),
              outcome: 'stored',
              records: perFile[k]!,
              counts: { records: perFile[k]!, stored: perFile[k]! },
            }),
          );
        }
        return ids;
      },
    );
    return { importIds: ids, records, stored, files: files.length, olderThanRetention, skipped, exporters: [...exporters] };
  });
}
