/**
 * Cases: what a measure opens when it must act on one subscriber — an
 * infected device to alert, a vulnerable router, a misused credential. A case
 * has a kind, the measure it serves, the subscriber, an evidence summary, a
 * timeline, a status and an assignee. The same subscriber and kind within the
 * dedupe window is the same case (a new event on its timeline, not a second
 * letter). Escalation follows the WG's two-stage idea: a case that keeps
 * recurring moves to stage 2 (e.g. from a consent-based alert to a
 * legitimate-business one for a device that keeps burdening the network).
 */
import { randomBytes } from 'node:crypto';
import type { Expression, Migration, SqlBool } from 'kysely';
import type { AuditLog } from '../core/audit/log.js';
import type { Dataset, RowExpression } from '../core/datasets.js';
import type { MeasureDeclaration } from '../core/measure.js';
import { type StateDb, type StateStore, tablesOf } from '../store/state/store.js';
import type { UntypedDb } from '../store/state/untyped.js';

type CaseTables = {
  cases: {
    id: string;
    kind: string;
    measure: string;
    subscriber: string;
    summary: string;
    status: string;
    stage: number;
    assignee: string | null;
    repeats: number;
    opened_at: string;
    updated_at: string;
    dedupe_key: string | null;
  };
  case_events: { case_id: string; at: string; actor: string; event: string; detail: string | null };
};

export const caseMigrations: Record<string, Migration> = {
  '0060_cases': {
    async up(db: UntypedDb) {
      await db.schema
        .createTable('cases')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('measure', 'text', (c) => c.notNull())
        .addColumn('subscriber', 'text', (c) => c.notNull())
        .addColumn('summary', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('stage', 'integer', (c) => c.notNull())
        .addColumn('assignee', 'text')
        .addColumn('repeats', 'integer', (c) => c.notNull())
        .addColumn('opened_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('cases_dedupe').on('cases').columns(['subscriber', 'kind', 'updated_at']).execute();
      await db.schema
        .createTable('case_events')
        .addColumn('case_id', 'text', (c) => c.notNull().references('cases.id').onDelete('cascade'))
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('detail', 'text')
        .execute();
    },
  },
  // A measure that keeps one case per subscriber and something finer than the kind (M7: per infection family).
  '0063_cases_dedupe_key': {
    async up(db: UntypedDb) {
      await db.schema.alterTable('cases').addColumn('dedupe_key', 'text').execute();
    },
  },
};

export const cdb = (d: StateDb) => tablesOf<CaseTables>(d);

/** The measure a row of a table with `case_id` belongs to: that of its case. */
export const measureOfCase =
  (table: string): RowExpression<string | null> =>
  (eb) =>
    eb.selectFrom('cases').select('cases.measure').whereRef('cases.id', '=', `${table}.case_id`).$asScalar() as Expression<string | null>;

/** Rows of a table with `case_id` whose case is not closed. */
export const caseNotClosed =
  (table: string): RowExpression<SqlBool> =>
  (eb) =>
    eb.exists(
      eb.selectFrom('cases').select('cases.id').whereRef('cases.id', '=', `${table}.case_id`).where('cases.status', '!=', 'closed'),
    );

/**
 * Cases and their timelines, for the retention job: each row by the declaration of the measure that
 * opened the case, from its last activity; kept while the case is not closed where that declaration says so.
 * A case that goes takes the rest of its timeline with it.
 */
export const CASE_DATASETS: readonly Dataset[] = [
  {
    name: 'case-events',
    store: 'state',
    table: 'case_events',
    timeColumn: 'at',
    items: ['subscriber.id'],
    owner: 'service:cases',
    rowOwner: measureOfCase('case_events'),
    hold: { condition: 'case-open', rows: caseNotClosed('case_events') },
  },
  {
    name: 'cases',
    store: 'state',
    table: 'cases',
    timeColumn: 'updated_at',
    items: ['subscriber.id'],
    owner: 'service:cases',
    rowOwner: (eb) => eb.ref('cases.measure'),
    hold: { condition: 'case-open', rows: (eb) => eb('cases.status', '!=', 'closed') },
    dependents: [{ table: 'case_events', column: 'case_id', key: 'id' }],
  },
];

export type CaseStatus = 'open' | 'notified' | 'closed';

export interface Case {
  id: string;
  kind: string;
  measure: string;
  subscriber: string;
  summary: string;
  status: CaseStatus;
  stage: number;
  assignee: string | null;
  repeats: number;
  openedAt: string;
  updatedAt: string;
  timeline: Array<{ at: string; actor: string; event: string; detail: string | null }>;
}

export interface CaseRules {
  /** The same subscriber and kind within this many seconds is the same case. */
  dedupeSeconds: number;
  /** After this many repeats the case moves to stage 2 (0: never). */
  escalateAfterRepeats: number;
}

export async function getCase(store: StateStore, id: string): Promise<Case | undefined> {
  const s = cdb(store.db);
  const r = await s.selectFrom('cases').selectAll().where('id', '=', id).executeTakeFirst();
  if (!r) return undefined;
  const timeline = await s
    .selectFrom('case_events')
    .select(['at', 'actor', 'event', 'detail'])
    .where('case_id', '=', id)
    .orderBy('at')
    .execute();
  return {
    id: r.id,
    kind: r.kind,
    measure: r.measure,
    subscriber: r.subscriber,
    summary: r.summary,
    status: r.status as CaseStatus,
    stage: r.stage,
    assignee: r.assignee,
    repeats: r.repeats,
    openedAt: r.opened_at,
    updatedAt: r.updated_at,
    timeline,
  };
}

export interface CaseApi {
  /** Opens a case, or adds to the open one of the same subscriber and kind within the dedupe window. */
  open(req: {
    kind: string;
    subscriber: string;
    summary: string;
    at?: Date;
    /** Deduplicate on this too (M7: one case per subscriber and family): only a case with the same key is the same case. */
    key?: string;
    /** The stage a new case starts in (default 1; M7 opens a stage-2 case for a subscriber without consent). */
    stage?: 1 | 2;
  }): Promise<{ case: Case; created: boolean; escalated: boolean }>;
  note(caseId: string, event: string, detail?: string): Promise<void>;
  setStatus(caseId: string, status: CaseStatus, actor?: string): Promise<void>;
}

/** The case store as the broker hands it to one measure: cases are opened in its name, audited. */
export function casesFor(store: StateStore, audit: AuditLog, measure: MeasureDeclaration, rules: CaseRules): CaseApi {
  const actor = `measure:${measure.id}`;
  return {
    async open({ kind, subscriber, summary, at = new Date(), key, stage = 1 }) {
      if (!/^[a-z0-9-]{1,64}$/.test(kind)) throw new Error(`case kind "${kind}" is not a kind name`);
      const now = at.toISOString();
      const since = new Date(at.getTime() - rules.dedupeSeconds * 1000).toISOString();
      const result = await audit.withAudit(
        (r: { id: string; created: boolean; escalated: boolean }) => ({
          actor,
          measure: measure.id,
          action: r.created ? 'case.open' : 'case.repeat',
          object: `case:${r.id}`,
          caseId: r.id,
          counts: { escalated: r.escalated ? 1 : 0 },
        }),
        async (tx) => {
          const s = cdb(tx);
          const existing = await s
            .selectFrom('cases')
            .selectAll()
            .where('subscriber', '=', subscriber)
            .where('kind', '=', kind)
            .where('measure', '=', measure.id)
            .where('status', '!=', 'closed')
            .where('updated_at', '>=', since)
            .where((eb) => (key === undefined ? eb('dedupe_key', 'is', null) : eb('dedupe_key', '=', key)))
            .orderBy('updated_at', 'desc')
            .executeTakeFirst();
          if (existing) {
            const repeats = existing.repeats + 1;
            const escalated = existing.stage === 1 && rules.escalateAfterRepeats > 0 && repeats >= rules.escalateAfterRepeats;
            await s
              .updateTable('cases')
              .set({ repeats, updated_at: now, ...(escalated ? { stage: 2, status: 'open' } : {}) })
              .where('id', '=', existing.id)
              .execute();
            await s.insertInto('case_events').values({ case_id: existing.id, at: now, actor, event: 'repeat', detail: summary }).execute();
            if (escalated)
              await s
                .insertInto('case_events')
                .values({ case_id: existing.id, at: now, actor, event: 'escalated', detail: `stage 2 after ${repeats} repeats` })
                .execute();
            return { id: existing.id, created: false, escalated };
          }
          const id = `case-${randomBytes(8).toString('hex')}`;
          await s
            .insertInto('cases')
            .values({
              id,
              kind,
              measure: measure.id,
              subscriber,
              summary,
              status: 'open',
              stage,
              assignee: null,
              repeats: 0,
              opened_at: now,
              updated_at: now,
              dedupe_key: key ?? null,
            })
            .execute();
          await s.insertInto('case_events').values({ case_id: id, at: now, actor, event: 'opened', detail: summary }).execute();
          return { id, created: true, escalated: false };
        },
      );
      return { case: (await getCase(store, result.id))!, created: result.created, escalated: result.escalated };
    },
    async note(caseId, event, detail) {
      await store.writeTransaction((tx) =>
        cdb(tx)
          .insertInto('case_events')
          .values({ case_id: caseId, at: new Date().toISOString(), actor, event, detail: detail ?? null })
          .execute(),
      );
    },
    async setStatus(caseId, status, by = actor) {
      await audit.withAudit({ actor: by, measure: measure.id, action: `case.${status}`, object: `case:${caseId}`, caseId }, async (tx) => {
        await cdb(tx).updateTable('cases').set({ status, updated_at: new Date().toISOString() }).where('id', '=', caseId).execute();
        await cdb(tx)
          .insertInto('case_events')
          .values({ case_id: caseId, at: new Date().toISOString(), actor: by, event: `status:${status}`, detail: null })
          .execute();
      });
    },
  };
}
