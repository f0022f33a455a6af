/**
 * M6's own state: its decisions (candidates, rules, what ended), so that the
 * review queue, the active rules and the history survive a restart; and the
 * baselines (per zone: distinct names per interval in normal times, the shape
 * of a legitimate high-cardinality zone) and the popular names that resolved
 * in normal times (a rule's exceptions), so that a restart is no cold start.
 * The retention job deletes a row 7 days after its last evidence (the declared
 * retention of names); a rule in force always has recent evidence (it ends
 * when the attack has been quiet for `quietAfter`).
 */
import type { Migration } from 'kysely';
import type { Dataset } from '../../core/datasets.js';
import type { MeasureState } from '../../core/measure-state.js';
import { tablesOf, type StateDb } from '../../store/state/tables.js';
import type { UntypedDb } from '../../store/state/untyped.js';
import type { Decision } from './decisions.js';
import type { ZoneBaseline } from './random-subdomain.js';

export const M6_TABLES = ['m6_decisions', 'm6_baselines'] as const;

interface M6Tables {
  m6_decisions: { kind: string; domain: string; decision: string; last_seen: string };
  /** kind 'zone': value is a ZoneBaseline; kind 'name': value is the count of normal answers. */
  m6_baselines: { kind: string; key: string; value: string; last_seen: string };
}

export const m6Migrations: Record<string, Migration> = {
  '0600_ddos-dns-blocking': {
    async up(db: UntypedDb) {
      await db.schema
        .createTable('m6_decisions')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('domain', 'text', (c) => c.notNull())
        .addColumn('decision', 'text', (c) => c.notNull())
        .addColumn('last_seen', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('m6_decisions_pk', ['kind', 'domain'])
        .execute();
    },
  },
  '0601_ddos-dns-blocking-baselines': {
    async up(db: UntypedDb) {
      await db.schema
        .createTable('m6_baselines')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('last_seen', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('m6_baselines_pk', ['kind', 'key'])
        .execute();
    },
  },
};

/** A decision holds the name, its query types and answer sizes (the explanation) and when it was seen. */
export const M6_DATASETS: readonly Dataset[] = [
  {
    name: 'm6-decisions',
    store: 'state',
    table: 'm6_decisions',
    timeColumn: 'last_seen',
    items: ['dns.qname', 'dns.qtype', 'dns.response', 'dns.times'],
    owner: 'ddos-dns-blocking',
  },
  /** Zones and popular names with their counts in normal times; a row lives 7 days after it was last seen in use. */
  {
    name: 'm6-baselines',
    store: 'state',
    table: 'm6_baselines',
    timeColumn: 'last_seen',
    items: ['dns.qname', 'dns.response', 'dns.times'],
    owner: 'ddos-dns-blocking',
  },
];

const m6 = (d: StateDb) => tablesOf<M6Tables>(d);

export async function storeDecisions(own: MeasureState, decisions: readonly Decision[]): Promise<void> {
  if (decisions.length === 0) return;
  await own.store.writeTransaction(async (db) => {
    for (const d of decisions) {
      const row = { kind: d.kind, domain: d.domain, decision: JSON.stringify(d), last_seen: new Date(d.lastSeen).toISOString() };
      await m6(db)
        .insertInto('m6_decisions')
        .values(row)
        .onConflict((oc) => oc.columns(['kind', 'domain']).doUpdateSet({ decision: row.decision, last_seen: row.last_seen }))
        .execute();
    }
  });
}

/** The decisions within the retention (older rows, which the retention job deletes on its next pass, are not loaded). */
export async function loadDecisions(own: MeasureState, retentionSeconds: number, now = Date.now()): Promise<Decision[]> {
  const cutoff = new Date(now - retentionSeconds * 1000).toISOString();
  const rows = await m6(own.store.db).selectFrom('m6_decisions').select('decision').where('last_seen', '>=', cutoff).execute();
  return rows.map((r) => JSON.parse(r.decision) as Decision);
}

export interface Baselines {
  zones: ZoneBaseline[];
  /** `lastSeen`: when the name last resolved in a normal interval (ms), its row's retention clock. */
  names: Array<{ name: string; count: number; lastSeen?: number }>;
}

/** The detector's snapshot replaces the stored one (the detector's state is bounded; what it forgot is not kept). */
export async function storeBaselines(own: MeasureState, b: Baselines, now = Date.now()): Promise<void> {
  const seen = new Date(now).toISOString();
  const rows = [
    ...b.zones.map((z) => ({ kind: 'zone', key: z.zone, value: JSON.stringify(z), last_seen: seen })),
    ...b.names.map((n) => ({ kind: 'name', key: n.name, value: String(n.count), last_seen: new Date(n.lastSeen ?? now).toISOString() })),
  ];
  if (rows.length === 0) return;
  await own.store.writeTransaction(async (db) => {
    await m6(db).deleteFrom('m6_baselines').execute();
    for (let i = 0; i < rows.length; i += 200)
      await m6(db)
        .insertInto('m6_baselines')
        .values(rows.slice(i, i + 200))
        .execute();
  });
}

/** The baselines within the retention. */
export async function loadBaselines(own: MeasureState, retentionSeconds: number, now = Date.now()): Promise<Baselines> {
  const cutoff = new Date(now - retentionSeconds * 1000).toISOString();
  const rows = await m6(own.store.db)
    .selectFrom('m6_baselines')
    .select(['kind', 'key', 'value', 'last_seen'])
    .where('last_seen', '>=', cutoff)
    .execute();
  const b: Baselines = { zones: [], names: [] };
  for (const r of rows) {
    if (r.kind === 'zone') b.zones.push(JSON.parse(r.value) as ZoneBaseline);
    else b.names.push({ name: r.key, count: Number(r.value) || 0, lastSeen: Date.parse(r.last_seen) });
  }
  return b;
}
