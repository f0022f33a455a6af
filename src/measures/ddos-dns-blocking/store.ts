/**
 * M6's own state: its decisions (candidates, rules, what ended), so that the
 * review queue, the active rules and the history survive a restart. The
 * retention job deletes a row 7 days after its last evidence (the declared
 * retention of names); a rule in force always has recent evidence (it ends
 * when the attack has been quiet for `quietAfter`).
 */
import type { Migration } from 'kysely';
import type { Dataset } from '../../core/datasets.js';
import type { MeasureState } from '../../core/measure-state.js';
import { tablesOf, type StateDb } from '../../store/state/store.js';
import type { Decision } from './decisions.js';
import type { UntypedDb } from '../../store/state/untyped.js';

export const M6_TABLES = ['m6_decisions'] as const;

interface M6Tables {
  m6_decisions: { kind: string; domain: string; decision: string; last_seen: string };
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
