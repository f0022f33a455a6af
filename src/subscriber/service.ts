/**
 * Subscriber identification as a shared service: the IP-assignment index
 * (fed by RADIUS accounting), kept in the state store so that a restart loses
 * nothing, and the one door to it — `subscriber-lookup`, which the broker
 * hands only to measures whose declaration says they identify subscribers.
 * Every lookup names its case and is audited (measure, case, found or not;
 * never the address).
 */
import { sql, type Migration } from 'kysely';
import type { AuditLog } from '../core/audit/log.js';
import type { Dataset } from '../core/datasets.js';
import { retentionOf, type MeasureDeclaration } from '../core/measure.js';
import type { SessionEvent } from '../ingest/radius/server.js';
import { type StateDb, type StateStore, tablesOf } from '../store/state/store.js';
import { DeterministicMap, parsePortBlockLine, PortBlocks, type DeterministicNat } from './cgnat.js';
import { SessionIndex, UNTIL_FURTHER_NOTICE, type LookupAnswer } from './sessions.js';
import { MamoriError } from '../core/errors.js';
import type { UntypedDb } from '../store/state/untyped.js';

type SessionTables = {
  ip_sessions: { key: string; subscriber: string; address: string; start: number; end: number | null; seen: number };
  cgnat_blocks: { outside: string; first_port: number; last_port: number; inside: string; start: number; end: number | null };
};

export const subscriberMigrations: Record<string, Migration> = {
  '0050_subscriber_sessions': {
    async up(db: UntypedDb) {
      await db.schema
        .createTable('ip_sessions')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('subscriber', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('start', 'integer', (c) => c.notNull())
        .addColumn('end', 'integer')
        .addColumn('seen', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('ip_sessions_end').on('ip_sessions').column('end').execute();
      await db.schema
        .createTable('cgnat_blocks')
        .addColumn('outside', 'text', (c) => c.notNull())
        .addColumn('first_port', 'integer', (c) => c.notNull())
        .addColumn('last_port', 'integer', (c) => c.notNull())
        .addColumn('inside', 'text', (c) => c.notNull())
        .addColumn('start', 'integer', (c) => c.notNull())
        .addColumn('end', 'integer')
        .addPrimaryKeyConstraint('cgnat_blocks_pk', ['outside', 'first_port', 'start'])
        .execute();
    },
  },
};

const sdb = (d: StateDb) => tablesOf<SessionTables>(d);
/** "Until further notice" for a coverage span (seconds): a port block or session with no end yet. */
const OPEN_END = 0xffffffff;

type SessionRow = SessionTables['ip_sessions'];
const CHUNK = 500;

/** Accounting events to the store, in order, folded per key; Accounting-On/Off (finish-all) is a barrier. */
async function writeEvents(tx: StateDb, events: readonly SessionEvent[]): Promise<void> {
  const s = sdb(tx);
  let ops = new Map<string, { row?: SessionRow; seen?: number; end?: number }>();
  const write = async () => {
    const rows: SessionRow[] = [];
    const seen: Array<[string, number]> = [];
    const ends: Array<[string, number]> = [];
    for (const [key, op] of ops) {
      if (op.row) rows.push(op.row);
      else {
        if (op.seen !== undefined) seen.push([key, op.seen]);
        if (op.end !== undefined) ends.push([key, op.end]);
      }
    }
    ops = new Map();
    for (let i = 0; i < rows.length; i += CHUNK) {
      await s
        .insertInto('ip_sessions')
        .values(rows.slice(i, i + CHUNK))
        .onConflict((oc) =>
          oc.column('key').doUpdateSet((eb) => ({
            subscriber: eb.ref('excluded.subscriber'),
            address: eb.ref('excluded.address'),
            start: eb.ref('excluded.start'),
            end: eb.ref('excluded.end'),
            seen: eb.ref('excluded.seen'),
          })),
        )
        .execute();
    }
    const values = (chunk: Array<[string, number]>) => sql.join(chunk.map(([k, v]) => sql`(${k}, ${v})`));
    for (let i = 0; i < seen.length; i += CHUNK) {
      await sql`update ip_sessions set seen = v.column2
        from (values ${values(seen.slice(i, i + CHUNK))}) as v
        where ip_sessions.key = v.column1 and ip_sessions.seen < v.column2`.execute(tx);
    }
    for (let i = 0; i < ends.length; i += CHUNK) {
      await sql`update ip_sessions set "end" = v.column2
        from (values ${values(ends.slice(i, i + CHUNK))}) as v where ip_sessions.key = v.column1`.execute(tx);
    }
  };
  for (const e of events) {
    if (e.kind === 'finish-all') {
      await write();
      await s
        .updateTable('ip_sessions')
        .set({ end: e.at })
        .where('key', 'like', `${e.nas.replace(/[%_]/g, '')}|%`)
        .where('end', 'is', null)
        .execute();
      continue;
    }
    const op = ops.get(e.key) ?? {};
    ops.set(e.key, op);
    if (e.kind === 'begin') {
      // A Start replaces the whole row (as the upsert does): what came before it for this key no longer matters.
      op.row = { key: e.key, subscriber: e.subscriber, address: e.address, start: e.at, end: null, seen: e.at };
      delete op.seen;
      delete op.end;
    } else if (e.kind === 'touch') {
      if (op.row) op.row.seen = Math.max(op.row.seen, e.at);
      else op.seen = Math.max(op.seen ?? e.at, e.at);
    } else if (op.row) op.row.end = e.at;
    else op.end = e.at;
  }
  await write();
}

export class LookupError extends MamoriError {
  static override readonly code = 'lookup';
  static override readonly status = 400;
  constructor(message: string) {
    super(message);
  }
}

export interface ImportReport {
  applied: number;
  skipped: Array<{ line: number; reason: string }>;
}

export interface AccountingFeed {
  subscribe(listener: (e: SessionEvent) => void): () => void;
  current(): SessionEvent[];
}

export interface SubscriberLookup {
  /** Who had `address` at `at` (and, behind CGNAT, `port`)? For case `caseId` of the calling measure. */
  lookup(req: { caseId: string; address: string; at: Date; port?: number }): Promise<LookupAnswer>;
  /**
   * Many lookups for one case (an imported report), answered in order and audited as one entry that names the
   * case and counts them (lookups, found, behind CGNAT), written before any answer is returned.
   */
  lookupMany(caseId: string, reqs: ReadonlyArray<{ address: string; at: Date; port?: number }>): Promise<LookupAnswer[]>;
  /**
   * Calls `listener` with each span of time (seconds, inclusive) in which assignments were added or lengthened — late
   * accounting, static lines, port blocks —, naming no address and no subscriber: where a lookup that found no session
   * may now find one. Returns the unsubscribe.
   */
  onCoverage(listener: (from: number, to: number) => void): () => void;
  /** Whether `address` is shared behind CGNAT (its subscriber depends on the port): no subscriber data, not audited. */
  shared(address: string): boolean;
}

/** The longest retention any declaration gives assigned addresses: how far back a lookup may answer. */
export function assignmentRetentionSeconds(declarations: readonly MeasureDeclaration[]): number {
  return Math.max(
    0,
    ...declarations.flatMap((d) => d.dataItems.filter((i) => i.item === 'aaa.assigned-address').map((i) => i.retentionSeconds)),
  );
}

/**
 * The index in the store, for the retention job: kept for every measure that identifies subscribers, as
 * long as the longest of their declarations (one index serves them all); a session still open has no end
 * yet, so its clock has not started. `forget` is the in-memory index's side of each pass.
 */
export function assignmentDatasets(forget: (cutoff: Date) => void): Dataset[] {
  const common = {
    store: 'state',
    timeColumn: 'end',
    timeFormat: 'epoch-seconds',
    owner: 'service:subscribers',
    afterPass: forget,
  } as const;
  return [
    { ...common, name: 'ip-assignments', table: 'ip_sessions', items: ['aaa.account-id', 'aaa.assigned-address', 'aaa.times', 'aaa.nas'] },
    { ...common, name: 'cgnat-port-blocks', table: 'cgnat_blocks', items: ['aaa.assigned-address', 'aaa.times'] },
  ];
}

export class SubscriberService {
  readonly index: SessionIndex;
  readonly portBlocks = new PortBlocks();
  private readonly deterministic: DeterministicMap[];
  private pending: SessionEvent[] = [];
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly state: StateStore,
    private readonly audit: AuditLog,
    private readonly opts: { interimTimeoutSeconds: number; retentionSeconds: number; deterministicNat?: readonly DeterministicNat[] },
  ) {
    this.index = new SessionIndex({ interimTimeoutSeconds: opts.interimTimeoutSeconds, onCover: (from, to) => this.covered(from, to) });
    this.deterministic = (opts.deterministicNat ?? []).map((c) => new DeterministicMap(c));
  }

  /** Rebuilds the index and the port blocks from the state store. */
  async load(): Promise<number> {
    let n = 0;
    for (const b of await sdb(this.state.db).selectFrom('cgnat_blocks').selectAll().orderBy('start').execute()) {
      this.portBlocks.add({
        outside: b.outside,
        firstPort: b.first_port,
        lastPort: b.last_port,
        inside: b.inside,
        start: b.start,
        end: b.end,
      });
    }
    const rows = await sdb(this.state.db).selectFrom('ip_sessions').selectAll().orderBy('start').execute();
    for (const r of rows) {
      this.index.begin({ key: r.key, subscriber: r.subscriber, address: r.address, start: r.start });
      this.index.touch(r.key, r.seen);
      if (r.end !== null) this.index.finish(r.key, r.end);
      n++;
    }
    this.index.merge();
    return n;
  }

  private readonly listeners = new Set<(e: SessionEvent) => void>();
  private readonly coverage = new Set<(from: number, to: number) => void>();

  private covered(from: number, to: number): void {
    for (const l of this.coverage) l(from, to);
  }

  /** Feed listeners that threw, by reason: ingest goes on (a throwing listener must not stop the tailer's cursor). */
  readonly feedFailures = { 'listener-threw': 0 };

  /** Queues an accounting event for the store (`flush` writes the queue in one transaction) and tells subscribers. */
  record(e: SessionEvent): void {
    this.pending.push(e);
    for (const l of this.listeners)
      try {
        l(e);
      } catch {
        // Counted, not logged: the error may quote the session's address.
        this.feedFailures['listener-threw']++;
      }
  }

  /** The accounting feed the broker hands to a measure that declares account IDs (M4) or assigned addresses (M3). */
  accountingFeed(): AccountingFeed {
    return {
      subscribe: (listener) => {
        this.listeners.add(listener);
        return () => {
          this.listeners.delete(listener);
        };
      },
      // The sessions open now (IPv4 and IPv6), as "begin" events: to start from the present, then follow the feed.
      current: () =>
        this.index.openSessions().map((s) => ({ kind: 'begin' as const, key: s.key, subscriber: s.subscriber, address: s.address, at: 0 })),
    };
  }

  /**
   * Writes every event recorded so far in one transaction and resolves when it is committed (what
   * the RADIUS server waits for before it answers). Calls made while a commit runs share the next
   * one (group commit). A batch becomes one statement per 500 sessions: the events of a key are
   * folded into its final state first (a Start and its Stop in the same batch are one row). If the
   * commit fails, the events stay queued for the next one and the promise rejects.
   */
  flush(): Promise<void> {
    const run = this.flushing
      .catch(() => {})
      .then(async () => {
        const batch = this.pending.splice(0);
        if (batch.length === 0) return;
        try {
          await this.state.writeTransaction((tx) => writeEvents(tx, batch));
        } catch (err) {
          this.pending.unshift(...batch);
          throw err;
        }
      });
    this.flushing = run;
    return run;
  }

  /**
   * Static assignments from CSV: `subscriber,address_or_prefix,valid_from[,valid_until]`
   * (times RFC 3339 or epoch seconds). Lines that are not assignments are skipped and listed.
   */
  async importStatic(csv: string, actor: string): Promise<ImportReport> {
    const skipped: ImportReport['skipped'] = [];
    let applied = 0;
    const time = (v: string | undefined) =>
      v === undefined || v === '' ? null : /^\d{9,11}$/.test(v) ? Number(v) : Math.floor(Date.parse(v) / 1000);
    csv.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#') || (i === 0 && /^subscriber,/i.test(line))) return;
      const [subscriber, address, from, until] = line.split(',').map((x) => x.trim());
      const start = time(from);
      const end = time(until);
      if (!subscriber || !address || start === null || Number.isNaN(start) || (end !== null && (Number.isNaN(end) || end <= start))) {
        skipped.push({ line: i + 1, reason: 'expected subscriber,address,valid_from[,valid_until] with valid_until after valid_from' });
        return;
      }
      const key = `static|${subscriber}|${address}|${start}`;
      if (!this.index.begin({ key, subscriber, address, start })) {
        skipped.push({ line: i + 1, reason: 'not an IPv4 address or IPv6 prefix' });
        return;
      }
      this.record({ kind: 'begin', key, subscriber, address, at: start });
      // Without a valid_until the line holds until further notice: no interim timeout applies.
      const validUntil = end ?? UNTIL_FURTHER_NOTICE;
      this.index.finish(key, validUntil);
      this.record({ kind: 'finish', key, at: validUntil });
      applied++;
    });
    await this.flush();
    await this.audit.append({
      actor,
      action: 'subscribers.import-static',
      object: 'dataset:ip-assignments',
      counts: { applied, skipped: skipped.length },
    });
    return { applied, skipped };
  }

  /** Port-block allocation log lines (see cgnat.ts for the format); idempotent per (outside, first port, start). */
  async importPortBlocks(csv: string, actor: string): Promise<ImportReport> {
    const skipped: ImportReport['skipped'] = [];
    let applied = 0;
    await this.state.writeTransaction(async (tx) => {
      const s = sdb(tx);
      const lines = csv.split(/\r?\n/);
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!.trim();
        if (!line || line.startsWith('#') || (i === 0 && /^time,/i.test(line))) continue;
        const r = parsePortBlockLine(line);
        if (typeof r === 'string') {
          skipped.push({ line: i + 1, reason: r });
          continue;
        }
        if (r.event === 'allocate') {
          const ins = await s
            .insertInto('cgnat_blocks')
            .values({ outside: r.outside, first_port: r.firstPort, last_port: r.lastPort, inside: r.inside, start: r.at, end: null })
            .onConflict((oc) => oc.doNothing())
            .executeTakeFirst();
          if (Number(ins.numInsertedOrUpdatedRows ?? 0n) > 0) {
            this.portBlocks.add({
              outside: r.outside,
              firstPort: r.firstPort,
              lastPort: r.lastPort,
              inside: r.inside,
              start: r.at,
              end: null,
            });
            // A block logged late makes the public address and its ports resolvable from its start on.
            this.covered(r.at, OPEN_END);
          }
        } else {
          this.portBlocks.release(r.outside, r.inside, r.firstPort, r.at);
          await s
            .updateTable('cgnat_blocks')
            .set({ end: r.at })
            .where('outside', '=', r.outside)
            .where('first_port', '=', r.firstPort)
            .where('inside', '=', r.inside)
            .where('end', 'is', null)
            .execute();
        }
        applied++;
      }
    });
    await this.audit.append({
      actor,
      action: 'subscribers.import-port-blocks',
      object: 'dataset:ip-assignments',
      counts: { applied, skipped: skipped.length },
    });
    return { applied, skipped };
  }

  /** The index forgets what the retention job deleted from the store (sessions and port blocks that ended before `cutoff`). */
  forget(cutoff: Date): void {
    const before = Math.floor(cutoff.getTime() / 1000);
    this.index.forget(before);
    this.portBlocks.forget(before);
  }

  /** The lookup handed to one measure (by the broker, after checking its declaration). */
  lookupFor(measure: MeasureDeclaration): SubscriberLookup {
    const checkCase = (caseId: string) => {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(caseId)) throw new LookupError('a lookup names the case it serves: letters, digits, "-" or "_"');
    };
    const audit = (caseId: string, counts: Record<string, number>) =>
      this.audit.append({
        actor: `measure:${measure.id}`,
        measure: measure.id,
        action: 'subscriber.lookup',
        object: `case:${caseId}`,
        caseId,
        counts,
      });
    // The index is kept for the measure that declares assigned addresses longest; each measure sees only its own retention.
    const own = Math.min(this.opts.retentionSeconds, retentionOf(measure, 'aaa.assigned-address') ?? 0);
    const answer = (address: string, at: Date, port: number | undefined, oldest: number) => {
      const t = Math.floor(at.getTime() / 1000);
      if (Number.isNaN(t)) throw new LookupError('the time of the lookup is not a date');
      // Behind CGNAT the public address and port lead to the inside address first.
      const det = this.deterministic.find((d) => d.covers(address));
      const shared = det !== undefined || this.portBlocks.covers(address);
      let a: LookupAnswer;
      if (t < oldest) a = { found: false, reason: 'outside-retention' };
      else if (shared && port === undefined) a = { found: false, reason: 'port-needed' };
      else {
        const inside = !shared ? address : det ? det.toInside(address, port!) : this.portBlocks.toInside(address, port!, t);
        a = inside === undefined ? { found: false, reason: 'no-session' } : this.index.lookup(inside, t);
      }
      return { a, shared };
    };
    return {
      shared: (address) => this.deterministic.some((d) => d.covers(address)) || this.portBlocks.covers(address),
      lookup: async ({ caseId, address, at, port }) => {
        checkCase(caseId);
        const { a, shared } = answer(address, at, port, Math.floor(Date.now() / 1000) - own);
        await audit(caseId, { found: a.found ? 1 : 0, cgnat: shared ? 1 : 0 });
        return a;
      },
      lookupMany: async (caseId, reqs) => {
        checkCase(caseId);
        if (reqs.length === 0) return [];
        const oldest = Math.floor(Date.now() / 1000) - own;
        const answers: LookupAnswer[] = [];
        let found = 0;
        let cgnat = 0;
        for (const r of reqs) {
          const { a, shared } = answer(r.address, r.at, r.port, oldest);
          answers.push(a);
          if (a.found) found++;
          if (shared) cgnat++;
        }
        // One audit write for the batch (each was its own write, 1–3 ms): the case and how many, never an address.
        await audit(caseId, { lookups: reqs.length, found, cgnat });
        return answers;
      },
      onCoverage: (listener) => {
        this.coverage.add(listener);
        return () => {
          this.coverage.delete(listener);
        };
      },
    };
  }
}
