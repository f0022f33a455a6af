/**
 * The audit log: every access to secret data, every block, share, disconnect,
 * lookup, notice and refusal is appended here, hash-chained, in the same
 * transaction as the change it records when there is one.
 */
import { createPublicKey, randomUUID, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { assertNoSecretData } from '../secret-guard.js';
import { appendJsonLine, readJsonLines } from '../jsonl.js';
import type { StateDb, StateStore } from '../../store/state/store.js';
import type { AuditLogTable } from '../../store/state/schema.js';
import {
  auditEntrySchema,
  entryHash,
  genesisHash,
  verifyChain,
  type Anchor,
  type AuditEntry,
  type ChainItem,
  type ChainProblem,
  type VerifyResult,
} from './chain.js';
import { anchorSignatureValid, keyId, signAnchor } from './signing.js';

export interface AuditRecord {
  /** Who: `user:NAME`, `token:ID`, `module:NAME`, `measure:ID`, `cli:NAME`. */
  actor: string;
  measure?: string | null;
  /** What happened, dotted: `capability.refused`, `retention.delete`, `user.create` … */
  action: string;
  /** A reference to the object, never its secret content: `dataset:flows`, `user:alice`. */
  object?: string | null;
  caseId?: string | null;
  counts?: Record<string, number> | null;
  outcome?: 'ok' | 'refused' | 'error';
}

export interface EntryRange {
  from?: string;
  to?: string;
  afterSeq?: number;
}

export type AuditListener = (entry: AuditEntry) => void;

function toRow(e: AuditEntry): AuditLogTable {
  return {
    seq: e.seq,
    ts: e.ts,
    actor: e.actor,
    measure: e.measure,
    action: e.action,
    object: e.object,
    case_id: e.caseId,
    counts: e.counts ? JSON.stringify(e.counts) : null,
    outcome: e.outcome,
    prev_hash: e.prev,
    hash: e.hash,
  };
}

export function fromRow(r: AuditLogTable): AuditEntry {
  return {
    seq: Number(r.seq),
    ts: r.ts,
    actor: r.actor,
    measure: r.measure,
    action: r.action,
    object: r.object,
    caseId: r.case_id,
    counts: r.counts ? (JSON.parse(r.counts) as Record<string, number>) : null,
    outcome: r.outcome as AuditEntry['outcome'],
    prev: r.prev_hash,
    hash: r.hash,
  };
}

export interface AnchorPolicy {
  /** Signs every anchor (Ed25519, kept outside the data directory). */
  signer?: KeyObject;
  /** Anchor by itself once this many entries were appended since the last anchor. */
  every?: number;
  /** Told when an anchor taken by count fails (the next append tries again). */
  onError?: (err: Error) => void;
}

export class AuditLog {
  private listeners: AuditListener[] = [];
  private anchorListeners: Array<(a: Anchor) => void> = [];
  private lastAnchorSeq = 0;
  private anchoring: Promise<unknown> | undefined;

  private constructor(
    private readonly store: StateStore,
    readonly chainId: string,
    readonly anchorFile: string,
    private readonly policy: AnchorPolicy,
  ) {}

  /** Opens the log; a new installation gets a chain id that seeds its genesis hash. */
  static async open(store: StateStore, anchorFile: string, policy: AnchorPolicy = {}): Promise<AuditLog> {
    const chainId = await store.writeTransaction(async (db) => {
      const row = await db.selectFrom('meta').select('value').where('key', '=', 'audit.chain-id').executeTakeFirst();
      if (row) return row.value;
      const id = randomUUID();
      await db.insertInto('meta').values({ key: 'audit.chain-id', value: id }).execute();
      return id;
    });
    const log = new AuditLog(store, chainId, anchorFile, policy);
    const last = await store.db.selectFrom('audit_anchors').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirst();
    log.lastAnchorSeq = last ? Number(last.seq) : 0;
    return log;
  }

  /** The public half of the signing key, when anchors are signed (for verifying in this process). */
  get publicKey(): KeyObject | undefined {
    return this.policy.signer ? createPublicKey(this.policy.signer) : undefined;
  }

  onAnchor(listener: (a: Anchor) => void): void {
    this.anchorListeners.push(listener);
  }

  /** Waits for an anchor taken by count that is still being written (before closing the store). */
  async settled(): Promise<void> {
    await this.anchoring;
  }

  get genesis(): string {
    return genesisHash(this.chainId);
  }

  onAppend(listener: AuditListener): void {
    this.listeners.push(listener);
  }

  /** Appends inside an existing write transaction (use the `db` that writeTransaction gave you). */
  async appendIn(db: StateDb, record: AuditRecord): Promise<AuditEntry> {
    assertNoSecretData('audit actor', record.actor);
    assertNoSecretData('audit object', record.object);
    assertNoSecretData('audit case id', record.caseId);
    const last = await db.selectFrom('audit_log').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    const partial = {
      seq: last ? Number(last.seq) + 1 : 1,
      ts: new Date().toISOString(),
      actor: record.actor,
      measure: record.measure ?? null,
      action: record.action,
      object: record.object ?? null,
      caseId: record.caseId ?? null,
      counts: record.counts ?? null,
      outcome: record.outcome ?? 'ok',
      prev: last ? last.hash : this.genesis,
    } satisfies Omit<AuditEntry, 'hash'>;
    const entry: AuditEntry = { ...partial, hash: entryHash(partial) };
    await db.insertInto('audit_log').values(toRow(entry)).execute();
    return entry;
  }

  /** Appends in a transaction of its own. */
  async append(record: AuditRecord): Promise<AuditEntry> {
    const entry = await this.store.writeTransaction((db) => this.appendIn(db, record));
    this.notify(entry);
    return entry;
  }

  /** Runs a state change and its audit record atomically: both land or neither. */
  async withAudit<T>(record: AuditRecord | ((result: T) => AuditRecord), change: (db: StateDb) => Promise<T>): Promise<T> {
    const [result, entry] = await this.store.writeTransaction(async (db) => {
      const r = await change(db);
      const e = await this.appendIn(db, typeof record === 'function' ? record(r) : record);
      return [r, e] as const;
    });
    this.notify(entry);
    return result;
  }

  private notify(entry: AuditEntry): void {
    for (const l of this.listeners) l(entry);
    // A crash loses no more than `every` entries' worth of protection: past that, anchor now.
    const every = this.policy.every;
    if (every && !this.anchoring && entry.seq - this.lastAnchorSeq >= every) {
      this.anchoring = this.anchor('module:audit')
        .catch((err: Error) => this.policy.onError?.(err))
        .finally(() => {
          this.anchoring = undefined;
        });
    }
  }

  async head(): Promise<{ seq: number; hash: string }> {
    const last = await this.store.db.selectFrom('audit_log').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    return last ? { seq: Number(last.seq), hash: last.hash } : { seq: 0, hash: this.genesis };
  }

  /** Pages through entries in seq order, optionally bounded by time and starting after a seq. */
  async *entries(range: EntryRange = {}, pageSize = 5000): AsyncGenerator<AuditEntry> {
    for await (const row of this.rows(range, pageSize)) yield fromRow(row);
  }

  private async *rows(range: EntryRange, pageSize: number): AsyncGenerator<AuditLogTable> {
    let after = range.afterSeq ?? 0;
    for (;;) {
      let q = this.store.db.selectFrom('audit_log').selectAll().where('seq', '>', after);
      if (range.from) q = q.where('ts', '>=', range.from);
      if (range.to) q = q.where('ts', '<', range.to);
      const rows = await q.orderBy('seq').limit(pageSize).execute();
      yield* rows;
      if (rows.length < pageSize) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  /**
   * Writes the chain head to the anchor table and the anchor file (put that on
   * other media, or ship it off the machine): a later cut-off of the tail
   * shows as an anchor beyond the end of the log.
   */
  async anchor(actor = 'module:audit'): Promise<Anchor> {
    const head = await this.head();
    const anchor: Anchor = { seq: head.seq, hash: head.hash, ts: new Date().toISOString() };
    if (this.policy.signer) anchor.sig = signAnchor(this.policy.signer, this.chainId, anchor);
    this.lastAnchorSeq = Math.max(this.lastAnchorSeq, anchor.seq);
    await this.store.writeTransaction(async (db) => {
      await db
        .insertInto('audit_anchors')
        .values({ ...anchor, sig: anchor.sig ?? null })
        .onConflict((oc) => oc.column('seq').doNothing())
        .execute();
    });
    const torn = appendJsonLine(this.anchorFile, { chainId: this.chainId, ...anchor });
    const counts = { ...(torn ? { tornLinesMovedAside: 1 } : {}), signed: anchor.sig ? 1 : 0 };
    await this.append({ actor, action: 'audit.anchor', object: `audit-seq:${anchor.seq}`, counts });
    for (const l of this.anchorListeners) l(anchor);
    return anchor;
  }

  /** Anchors from the table and from the anchor file (the file survives a rewrite of the database). */
  async anchors(): Promise<{ anchors: Anchor[]; warnings: string[] }> {
    const warnings: string[] = [];
    const bySeq = new Map<number, Anchor>();
    const rows = await this.store.db.selectFrom('audit_anchors').selectAll().orderBy('seq').execute();
    for (const r of rows) bySeq.set(Number(r.seq), { seq: Number(r.seq), hash: r.hash, ts: r.ts, ...(r.sig ? { sig: r.sig } : {}) });
    if (existsSync(this.anchorFile)) {
      for (const l of readJsonLines<Anchor & { chainId?: string }>(this.anchorFile)) {
        if (l.error || !l.value) {
          warnings.push(`anchor file ${this.anchorFile}: ${l.error}`);
          continue;
        }
        if (l.value.chainId && l.value.chainId !== this.chainId) {
          warnings.push(`anchor file line ${l.line} belongs to another installation; ignored`);
          continue;
        }
        const known = bySeq.get(l.value.seq);
        if (known && known.hash !== l.value.hash)
          warnings.push(`anchor for entry ${l.value.seq} differs between the database and the anchor file`);
        // The file is the independent copy: it wins.
        const sig = typeof l.value.sig === 'string' ? { sig: l.value.sig } : {};
        bySeq.set(l.value.seq, { seq: l.value.seq, hash: l.value.hash, ts: l.value.ts, ...sig });
      }
    }
    return { anchors: [...bySeq.values()].sort((a, b) => a.seq - b.seq), warnings };
  }

  /**
   * Checks the chain against the anchors. With `publicKey`, each signature is checked too, and the
   * signed anchors must keep up with the log: entries beyond twice `anchorEvery` past the last signed
   * anchor mean signed anchors were removed (or the log rewritten past them).
   */
  async verify(
    onProgress?: (checked: number) => void,
    opts: { publicKey?: KeyObject; anchorEvery?: number } = {},
  ): Promise<VerifyResult & { warnings: string[] }> {
    const { anchors, warnings } = await this.anchors();
    const self = this; // eslint-disable-line @typescript-eslint/no-this-alias
    async function* items(): AsyncGenerator<ChainItem> {
      for await (const row of self.rows({}, 5000)) {
        try {
          yield { entry: fromRow(row) };
        } catch {
          // A damaged column must be reported at its entry, not crash the check.
          yield { seq: Number(row.seq), error: `entry ${row.seq} cannot be read: a column holds damaged data` };
        }
      }
    }
    const result = await verifyChain(items(), { genesis: this.genesis, anchors, ...(onProgress ? { onProgress } : {}) });
    if (!opts.publicKey) return { ...result, warnings };
    const problems: ChainProblem[] = [];
    const signed: number[] = [];
    let unsigned = 0;
    for (const a of anchors) {
      if (!a.sig) {
        unsigned += 1;
        continue;
      }
      if (anchorSignatureValid(opts.publicKey, this.chainId, a)) signed.push(a.seq);
      else problems.push({ seq: a.seq, problem: `the anchor for entry ${a.seq} (${a.ts}) is not signed by key ${keyId(opts.publicKey)}` });
    }
    if (unsigned > 0) warnings.push(`${unsigned} anchor(s) carry no signature (taken before audit.signingKeyFile was set, or forged)`);
    // A rewrite changes every later hash, so it hides only where no signed anchor follows it: signed
    // anchors that were removed leave a gap wider than the anchoring bound (allowing for entries
    // appended while an anchor is taken).
    const bound = 2 * (opts.anchorEvery ?? 1000);
    const head = result.lastSeq ?? 0;
    if (signed.length === 0 && head > bound) {
      problems.push({ seq: null, problem: `no anchor signed by key ${keyId(opts.publicKey)} covers the log's ${head} entries` });
    }
    for (let i = 1; i < signed.length; i++) {
      if (signed[i]! - signed[i - 1]! > bound) {
        const [from, to] = [signed[i - 1]! + 1, signed[i]!];
        problems.push({
          seq: from,
          problem:
            `entries ${from}..${to} lie between signed anchors more than twice audit.anchorEvery apart: ` +
            'signed anchors were removed (the log may have been rewritten there), or anchoring was off',
        });
      }
    }
    const last = signed[signed.length - 1];
    if (last !== undefined && head - last > bound) {
      problems.push({
        seq: last + 1,
        problem:
          `entries ${last + 1}..${head} lie past the last signed anchor (entry ${last}), more than twice audit.anchorEvery: ` +
          'signed anchors were removed or the log was rewritten after them',
      });
    }
    return { ...result, ok: result.ok && problems.length === 0, problems: [...result.problems, ...problems], warnings };
  }

  /** Counts of entries per measure and action, for the compliance report. */
  async countsByMeasure(): Promise<Array<{ measure: string; action: string; outcome: string; n: number }>> {
    const rows = await this.store.db
      .selectFrom('audit_log')
      .select(['measure', 'action', 'outcome', (eb) => eb.fn.countAll<number>().as('n')])
      .where('measure', 'is not', null)
      .groupBy(['measure', 'action', 'outcome'])
      .execute();
    return rows.map((r) => ({ measure: r.measure!, action: r.action, outcome: r.outcome, n: Number(r.n) }));
  }
}

/** Reads an exported JSON-lines file as chain items, for `mamori audit verify --file`. */
export function exportFileItems(path: string): ChainItem[] {
  return readJsonLines<unknown>(path).map((l): ChainItem => {
    if (l.error) return { error: l.error, line: l.line };
    const parsed = auditEntrySchema.safeParse(l.value);
    if (!parsed.success) {
      const first = parsed.error.issues[0]!;
      return {
        error: `line ${l.line} is not a well-formed audit entry (${first.path.join('.') || 'entry'}: ${first.message})`,
        line: l.line,
      };
    }
    return { entry: parsed.data, line: l.line };
  });
}
