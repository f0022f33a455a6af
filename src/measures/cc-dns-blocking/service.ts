/**
 * M3's state and its two policy zones. The `cc` zone holds the C&C names
 * valid now, from imported lists and analysts' entries (each with its source
 * and validity); the opt-out zone holds the current addresses of subscribers
 * who opted out. The consent registry is a history: the latest choice of a
 * subscriber decides, and without one the contract's comprehensive consent
 * applies (blocked). Every change is audited by reference, never by content
 * of a subscriber's communications.
 */
import type { MeasureState } from '../../core/measure-state.js';
import { parseDuration } from '../../core/duration.js';
import { RpzZone, type BlockAction } from '../../dns/rpz.js';
import { tablesOf, type StateDb } from '../../store/state/tables.js';
import { BlocklistError, blockableName, parseDomainList, type ListFormat } from './blocklist.js';
import { OptOutZone } from './optout-zone.js';
import type { LogCursor } from '../../dns/resolver-log.js';
import type { CcDnsBlockingSettings } from './settings.js';
import { MamoriError } from '../../core/errors.js';
import { CHANNELS, type Channel, type Choice, type M3Tables } from './tables.js';

export { CHANNELS, type Channel, type Choice };
export { M3_DATASETS, M3_TABLES, m3Migrations } from './tables.js';

const MEASURE = 'cc-dns-blocking';

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
