/**
 * M3's state and its two policy zones. The `cc` zone holds the C&C names
 * valid now, from imported lists and analysts' entries (each with its source
 * and validity); the opt-out zone holds the current addresses of subscribers
 * who opted out. The consent registry is a history: the latest choice of a
 * subscriber decides, and without one the contract's comprehensive consent
 * applies (blocked). Every change is audited by reference, never by content
 * of a subscriber's communications.
 */
import type { Generated, Kysely, Migration } from 'kysely';
import type { Dataset } from '../../core/datasets.js';
import type { MeasureState } from '../../core/measure-state.js';
import { parseDuration } from '../../core/duration.js';
import { RpzZone, type BlockAction } from '../../dns/rpz.js';
import { tablesOf, type StateDb } from '../../store/state/store.js';
import { BlocklistError, blockableName, parseDomainList, type ListFormat } from './blocklist.js';
import { OptOutZone } from './optout-zone.js';
import type { LogCursor } from './resolver-log.js';
import type { CcDnsBlockingSettings } from './settings.js';
import { MamoriError } from '../../core/errors.js';

export const M3_TABLES = ['m3_entries', 'm3_consent', 'm3_blocked', 'm3_log_cursors'] as const;
const MEASURE = 'cc-dns-blocking';

interface M3Tables {
  m3_entries: {
    id: Generated<number>;
    name: string;
    source: string;
    added_by: string;
    reason: string | null;
    valid_from: string;
    valid_until: string;
    withdrawn_at: string | null;
    withdrawn_by: string | null;
    created_at: string;
  };
  m3_consent: { id: Generated<number>; subscriber_id: string; choice: Choice; channel: Channel; actor: string; at: string };
  /** Blocked queries per day, zone, listed name and resolver: no client, no subscriber. */
  m3_blocked: { day: string; zone: string; rule: string; resolver: string; count: number };
  m3_log_cursors: { resolver: string; inode: string; offset: number };
}

export const m3Migrations: Record<string, Migration> = {
  '0300_cc-dns-blocking': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('m3_entries')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('added_by', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('valid_from', 'text', (c) => c.notNull())
        .addColumn('valid_until', 'text', (c) => c.notNull())
        .addColumn('withdrawn_at', 'text')
        .addColumn('withdrawn_by', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('m3_entries_name').on('m3_entries').columns(['name']).execute();
      await db.schema
        .createTable('m3_consent')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('subscriber_id', 'text', (c) => c.notNull())
        .addColumn('choice', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('m3_consent_subscriber').on('m3_consent').columns(['subscriber_id', 'id']).execute();
    },
  },
  '0301_cc-dns-blocking-counts': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('m3_blocked')
        .addColumn('day', 'text', (c) => c.notNull())
        .addColumn('zone', 'text', (c) => c.notNull())
        .addColumn('rule', 'text', (c) => c.notNull())
        .addColumn('resolver', 'text', (c) => c.notNull())
        .addColumn('count', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('m3_blocked_pk', ['day', 'zone', 'rule', 'resolver'])
        .execute();
      await db.schema
        .createTable('m3_log_cursors')
        .addColumn('resolver', 'text', (c) => c.primaryKey())
        .addColumn('inode', 'text', (c) => c.notNull())
        .addColumn('offset', 'integer', (c) => c.notNull())
        .execute();
    },
  },
};

/**
 * Retention by the declaration. The consent registry is a history: a choice goes 30 days after it was
 * made, except the one in force of a subscriber who opted out — kept until they opt back in (then both
 * age out, and the contract's default applies, as it would anyway). The daily counts go 30 days after their day.
 */
export const M3_DATASETS: readonly Dataset[] = [
  {
    name: 'm3-consent',
    store: 'state',
    table: 'm3_consent',
    timeColumn: 'at',
    items: ['aaa.account-id', 'subscriber.id'],
    owner: MEASURE,
    hold: {
      condition: 'choice-in-force',
      rows: (eb) =>
        eb.and([
          eb('m3_consent.choice', '=', 'opt-out'),
          eb(
            'm3_consent.id',
            '=',
            eb
              .selectFrom('m3_consent as later')
              .select((e) => e.fn.max('later.id').as('id'))
              .whereRef('later.subscriber_id', '=', 'm3_consent.subscriber_id'),
          ),
        ]),
    },
  },
  { name: 'm3-blocked-counts', store: 'state', table: 'm3_blocked', timeColumn: 'day', items: ['dns.qname', 'dns.times'], owner: MEASURE },
];

/** opt-out: the subscriber's queries are never filtered; opt-in: back to the contract's default. */
export type Choice = 'opt-out' | 'opt-in';
/** Where the choice was made: the member site, the support desk, a written form, or the AAA's unfiltered-resolver profile. */
export const CHANNELS = ['member-site', 'support-desk', 'written-form', 'api'] as const;
export type Channel = (typeof CHANNELS)[number];

export interface ConsentState {
  subscriber: string;
  blocked: boolean;
  choice: Choice | 'contract-default';
  channel: Channel | null;
  at: string | null;
}
export interface Entry {
  id: number;
  name: string;
  source: string;
  addedBy: string;
  reason: string | null;
  validFrom: string;
  validUntil: string;
  withdrawnAt: string | null;
  active: boolean;
}
export interface ImportResult {
  source: string;
  added: number;
  alreadyListed: number;
  skipped: Array<{ line: number; reason: string }>;
  duplicates: number;
  validUntil: string;
}

export class M3InputError extends MamoriError {
  static override readonly code = 'm3-input';
  static override readonly status = 400;
}

const m3 = (d: StateDb) => tablesOf<M3Tables>(d);

export class CcDnsBlocking {
  readonly cc: RpzZone;
  readonly optOutZone: RpzZone;
  readonly optOut: OptOutZone;
  /** Names in the cc zone now (the zone's own view is by owner name, with wildcards). */
  private readonly blocked = new Set<string>();
  private readonly action: BlockAction;

  constructor(
    private readonly own: MeasureState & { settings: CcDnsBlockingSettings },
    serialBase = Math.floor(Date.now() / 1000),
  ) {
    const s = own.settings;
    // Serials from the clock: a restart never goes back below what the secondaries hold.
    this.cc = new RpzZone(s.zones.cc, serialBase);
    this.optOutZone = new RpzZone(s.zones.optOut, serialBase);
    this.optOut = new OptOutZone(this.optOutZone);
    this.action = s.action.kind === 'walled-garden' ? { kind: 'walled-garden', target: s.action.target } : { kind: 'nxdomain' };
  }

  /** Loads the entries and the choices stored; the zones then hold what is valid now. */
  async load(now = new Date()): Promise<void> {
    const latest = await m3(this.own.store.db)
      .selectFrom('m3_consent as c')
      .select(['c.subscriber_id', 'c.choice'])
      .where('c.id', 'in', (q) =>
        q
          .selectFrom('m3_consent')
          .select((e) => e.fn.max('id').as('id'))
          .groupBy('subscriber_id'),
      )
      .execute();
    for (const r of latest) this.optOut.setOptedOut(r.subscriber_id, r.choice === 'opt-out');
    await this.refreshCc(now);
  }

  /** Brings the cc zone to the entries valid at `now`; true when it changed. */
  async refreshCc(now = new Date()): Promise<boolean> {
    const t = now.toISOString();
    const rows = await m3(this.own.store.db)
      .selectFrom('m3_entries')
      .select('name')
      .where('withdrawn_at', 'is', null)
      .where('valid_from', '<=', t)
      .where('valid_until', '>', t)
      .execute();
    const want = new Set(rows.map((r) => r.name));
    let changed = false;
    for (const name of [...this.blocked])
      if (!want.has(name)) {
        this.cc.unblock(name);
        this.blocked.delete(name);
        changed = true;
      }
    for (const name of want)
      if (!this.blocked.has(name)) {
        this.cc.block(name, this.action);
        this.blocked.add(name);
        changed = true;
      }
    return changed;
  }

  /** Names in the cc zone now. */
  get blockedNames(): number {
    return this.blocked.size;
  }

  /** The listed name a blocked name falls under (itself or a parent), as the counts are kept. */
  listedName(name: string): string | undefined {
    const labels = name.split('.');
    for (let i = 0; i < labels.length - 1; i++) {
      const candidate = labels.slice(i).join('.');
      if (this.blocked.has(candidate)) return candidate;
    }
    return undefined;
  }

  private validity(validFor: string | undefined, now: Date): { from: string; until: string } {
    const seconds = parseDuration(validFor ?? this.own.settings.defaultValidity);
    return { from: now.toISOString(), until: new Date(now.getTime() + seconds * 1000).toISOString() };
  }

  /** A list of C&C names, whole or not at all: bad lines are skipped with their reason, never half a list. */
  async importList(
    text: string,
    o: { format: ListFormat; source: string; validFor?: string; actor: string },
    now = new Date(),
  ): Promise<ImportResult> {
    let parsed;
    try {
      parsed = parseDomainList(text, o.format);
    } catch (err) {
      if (err instanceof BlocklistError) throw new M3InputError(err.message);
      throw err;
    }
    const v = this.validity(o.validFor, now);
    const result = await this.own.audit.withAudit(
      (r: { added: number; alreadyListed: number }) => ({
        actor: o.actor,
        measure: MEASURE,
        action: 'm3.list.import',
        object: `source:${o.source}`,
        counts: { added: r.added, alreadyListed: r.alreadyListed, skipped: parsed.skipped.length, duplicates: parsed.duplicates },
      }),
      async (db) => {
        const listed = new Set(
          (
            await m3(db)
              .selectFrom('m3_entries')
              .select('name')
              .where('source', '=', o.source)
              .where('withdrawn_at', 'is', null)
              .where('valid_until', '>', v.from)
              .execute()
          ).map((r) => r.name),
        );
        const fresh = parsed.names.filter((n) => !listed.has(n));
        for (let i = 0; i < fresh.length; i += 500) {
          await m3(db)
            .insertInto('m3_entries')
            .values(
              fresh.slice(i, i + 500).map((name) => ({
                name,
                source: o.source,
                added_by: o.actor,
                reason: null,
                valid_from: v.from,
                valid_until: v.until,
                withdrawn_at: null,
                withdrawn_by: null,
                created_at: v.from,
              })),
            )
            .execute();
        }
        // Entries of this source already listed are renewed: the list still names them.
        if (listed.size > 0)
          await m3(db)
            .updateTable('m3_entries')
            .set({ valid_until: v.until })
            .where('source', '=', o.source)
            .where('withdrawn_at', 'is', null)
            .where(
              'name',
              'in',
              parsed.names.filter((n) => listed.has(n)),
            )
            .execute();
        return { added: fresh.length, alreadyListed: parsed.names.length - fresh.length };
      },
    );
    return { source: o.source, ...result, skipped: parsed.skipped, duplicates: parsed.duplicates, validUntil: v.until };
  }

  /** An analyst's entry: one name (wildcard subdomains included), a reason, a validity. */
  async addEntry(o: { name: string; reason: string; validFor?: string; actor: string }, now = new Date()): Promise<Entry> {
    const checked = blockableName(o.name);
    if ('reason' in checked) throw new M3InputError(checked.reason);
    const v = this.validity(o.validFor, now);
    const id = await this.own.audit.withAudit(
      (id: number) => ({ actor: o.actor, measure: MEASURE, action: 'm3.entry.add', object: `m3-entry:${id}` }),
      async (db) => {
        const r = await m3(db)
          .insertInto('m3_entries')
          .values({
            name: checked.name,
            source: 'analyst',
            added_by: o.actor,
            reason: o.reason,
            valid_from: v.from,
            valid_until: v.until,
            withdrawn_at: null,
            withdrawn_by: null,
            created_at: v.from,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        return r.id;
      },
    );
    return (await this.entries({ id }))[0]!;
  }

  async withdraw(id: number, actor: string, reason: string, now = new Date()): Promise<boolean> {
    return this.own.audit
      .withAudit(
        (n: number) => ({
          actor,
          measure: MEASURE,
          action: 'm3.entry.withdraw',
          object: `m3-entry:${id}`,
          outcome: n > 0 ? 'ok' : 'refused',
        }),
        async (db) => {
          const r = await m3(db)
            .updateTable('m3_entries')
            .set({ withdrawn_at: now.toISOString(), withdrawn_by: actor, reason })
            .where('id', '=', id)
            .where('withdrawn_at', 'is', null)
            .executeTakeFirst();
          return Number(r.numUpdatedRows);
        },
      )
      .then((n) => n > 0);
  }

  async entries(filter: { id?: number; source?: string; active?: boolean; limit?: number } = {}, now = new Date()): Promise<Entry[]> {
    const t = now.toISOString();
    let q = m3(this.own.store.db)
      .selectFrom('m3_entries')
      .selectAll()
      .orderBy('id', 'desc')
      .limit(Math.min(filter.limit ?? 1000, 10_000));
    if (filter.id !== undefined) q = q.where('id', '=', filter.id);
    if (filter.source) q = q.where('source', '=', filter.source);
    if (filter.active) q = q.where('withdrawn_at', 'is', null).where('valid_from', '<=', t).where('valid_until', '>', t);
    return (await q.execute()).map((r) => ({
      id: r.id,
      name: r.name,
      source: r.source,
      addedBy: r.added_by,
      reason: r.reason,
      validFrom: r.valid_from,
      validUntil: r.valid_until,
      withdrawnAt: r.withdrawn_at,
      active: r.withdrawn_at === null && r.valid_from <= t && t < r.valid_until,
    }));
  }

  /** The consent registry: a subscriber opts out (never filtered) or back in, with time and channel. */
  async setChoice(subscriber: string, choice: Choice, channel: Channel, actor: string, now = new Date()): Promise<ConsentState> {
    if (!subscriber || subscriber.length > 253) throw new M3InputError('subscriber: an ID of 1 to 253 characters');
    const at = now.toISOString();
    await this.own.audit.withAudit(
      (id: number) => ({ actor, measure: MEASURE, action: `m3.consent.${choice}`, object: `m3-consent:${id}` }),
      async (db) => {
        const r = await m3(db)
          .insertInto('m3_consent')
          .values({ subscriber_id: subscriber, choice, channel, actor, at })
          .returning('id')
          .executeTakeFirstOrThrow();
        return r.id;
      },
    );
    this.optOut.setOptedOut(subscriber, choice === 'opt-out');
    return { subscriber, blocked: choice !== 'opt-out', choice, channel, at };
  }

  async choiceOf(subscriber: string): Promise<ConsentState> {
    const r = await m3(this.own.store.db)
      .selectFrom('m3_consent')
      .selectAll()
      .where('subscriber_id', '=', subscriber)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!r) return { subscriber, blocked: true, choice: 'contract-default', channel: null, at: null };
    return { subscriber, blocked: r.choice !== 'opt-out', choice: r.choice, channel: r.channel, at: r.at };
  }

  /**
   * A person's choice read by someone: audited, naming the consent record read (never the subscriber),
   * so each look at one subscriber's choice is accounted for.
   */
  async auditConsentRead(subscriber: string, actor: string): Promise<void> {
    const r = await m3(this.own.store.db)
      .selectFrom('m3_consent')
      .select('id')
      .where('subscriber_id', '=', subscriber)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    const object = r ? `m3-consent:${r.id}` : 'm3-consent:none';
    await this.own.audit.append({ actor, measure: MEASURE, action: 'm3.consent.read', object });
  }

  async history(subscriber: string): Promise<Array<{ choice: Choice; channel: Channel; actor: string; at: string }>> {
    return await m3(this.own.store.db)
      .selectFrom('m3_consent')
      .select(['choice', 'channel', 'actor', 'at'])
      .where('subscriber_id', '=', subscriber)
      .orderBy('id', 'asc')
      .execute();
  }

  /** Adds blocked queries to the daily counts (one transaction, one audit entry with the total). */
  async countBlocked(resolver: string, queries: ReadonlyArray<{ at: Date; zone: string; rule: string }>, cursor: LogCursor): Promise<void> {
    const counts = new Map<string, { day: string; zone: string; rule: string; count: number }>();
    for (const q of queries) {
      const day = q.at.toISOString().slice(0, 10);
      const key = `${day}|${q.zone}|${q.rule}`;
      const c = counts.get(key);
      if (c) c.count++;
      else counts.set(key, { day, zone: q.zone, rule: q.rule, count: 1 });
    }
    const write = async (db: StateDb) => {
      for (const c of counts.values()) {
        await m3(db)
          .insertInto('m3_blocked')
          .values({ ...c, resolver })
          .onConflict((oc) =>
            oc.columns(['day', 'zone', 'rule', 'resolver']).doUpdateSet((eb) => ({ count: eb('m3_blocked.count', '+', c.count) })),
          )
          .execute();
      }
      await m3(db)
        .insertInto('m3_log_cursors')
        .values({ resolver, ...cursor })
        .onConflict((oc) => oc.column('resolver').doUpdateSet({ inode: cursor.inode, offset: cursor.offset }))
        .execute();
      return queries.length;
    };
    if (queries.length === 0) {
      await this.own.store.writeTransaction(write);
      return;
    }
    await this.own.audit.withAudit(
      {
        actor: 'measure:cc-dns-blocking',
        measure: MEASURE,
        action: 'm3.blocked.count',
        object: `resolver:${resolver}`,
        counts: { queries: queries.length },
      },
      write,
    );
  }

  async logCursor(resolver: string): Promise<LogCursor | undefined> {
    const r = await m3(this.own.store.db)
      .selectFrom('m3_log_cursors')
      .select(['inode', 'offset'])
      .where('resolver', '=', resolver)
      .executeTakeFirst();
    return r ? { inode: r.inode, offset: Number(r.offset) } : undefined;
  }

  /** Blocked queries per day and listed name, for the compliance report. */
  async blockedCounts(
    from: string,
    to: string,
  ): Promise<Array<{ day: string; zone: string; rule: string; resolver: string; count: number }>> {
    return m3(this.own.store.db)
      .selectFrom('m3_blocked')
      .selectAll()
      .where('day', '>=', from)
      .where('day', '<=', to)
      .orderBy('day')
      .orderBy('count', 'desc')
      .execute();
  }

  async optedOutCount(): Promise<number> {
    const latest = await m3(this.own.store.db)
      .selectFrom('m3_consent')
      .select(['choice'])
      .where('id', 'in', (q) =>
        q
          .selectFrom('m3_consent')
          .select((e) => e.fn.max('id').as('id'))
          .groupBy('subscriber_id'),
      )
      .execute();
    return latest.filter((r) => r.choice === 'opt-out').length;
  }
}
