/**
 * The retention job: the one thing that deletes declared data. For every
 * registered dataset it deletes the rows older than the retention their
 * governing declaration states, except those under a hold that declaration
 * states (an opt-out in force, a suspension in force, an open case) — and
 * those only up to the hold's bound. Every pass is audited with its counts,
 * zero included (evidence the job ran), and with the rows a hold kept.
 */
import { type Expression, type SqlBool } from 'kysely';
import { countAndDelete, type AnalyticsStore } from '../store/analytics/store.js';
import type { StateDb, StateStore } from '../store/state/store.js';
import type { AuditLog } from './audit/log.js';
import type { Dataset, DatasetRegistry, RetentionPass } from './datasets.js';
import type { UntypedDb, UntypedExpressionBuilder } from '../store/state/untyped.js';

export interface RetentionResult {
  dataset: string;
  /** The dataset's owner: a measure, or `service:<name>`. */
  owner: string;
  /** The measure whose declaration governed the pass (shared services: one pass per measure). */
  measure?: string;
  retentionSeconds: number;
  cutoff: string;
  deleted: number;
  /** Rows past the retention that a declared hold kept. */
  held?: number;
}

export interface RetentionDeps {
  datasets: DatasetRegistry;
  analytics: AnalyticsStore | undefined;
  state: StateStore;
  audit: AuditLog;
}

function clickhouseTime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

async function purgeAnalytics(store: AnalyticsStore, ds: Dataset, cutoff: Date): Promise<number> {
  return countAndDelete(store, ds.table, `${ds.timeColumn} < parseDateTime64BestEffort({cutoff:String}, 3, 'UTC')`, {
    cutoff: clickhouseTime(cutoff),
  });
}

type Eb = UntypedExpressionBuilder;

function timeValue(ds: Dataset, t: Date): string | number {
  return ds.timeFormat === 'epoch-seconds' ? Math.floor(t.getTime() / 1000) : t.toISOString();
}

/** The rows a pass deletes: past the retention, of its measure, not held (or held past the hold's bound). */
function expired(p: RetentionPass, now: Date, cutoff: Date): (eb: Eb) => Expression<SqlBool> {
  const ds = p.dataset;
  const time = `${ds.table}.${ds.timeColumn}`;
  return (eb) => {
    const all: Array<Expression<SqlBool>> = [eb(time, '<', timeValue(ds, cutoff))];
    if (p.rows && 'owner' in p.rows) all.push(eb(ds.rowOwner!(eb, now), '=', p.rows.owner));
    if (p.rows && 'notOwners' in p.rows) {
      const owner = ds.rowOwner!(eb, now);
      all.push(p.rows.notOwners.length === 0 ? eb.lit(true) : eb.or([eb(owner, 'is', null), eb(owner, 'not in', [...p.rows.notOwners])]));
    }
    if (p.hold) {
      const bound = p.holdMaxSeconds === undefined ? undefined : new Date(now.getTime() - p.holdMaxSeconds * 1000);
      const beyond = bound === undefined ? undefined : eb(time, '<', timeValue(ds, bound));
      all.push(beyond ? eb.or([eb.not(p.hold.rows(eb, now)), beyond]) : eb.not(p.hold.rows(eb, now)));
    }
    return eb.and(all);
  };
}

interface Purged {
  rows: number;
  dependents: number;
  held: number;
}

async function purgeState(db: StateDb, p: RetentionPass, now: Date, cutoff: Date): Promise<Purged> {
  const k = db as unknown as UntypedDb;
  const ds = p.dataset;
  const where = expired(p, now, cutoff);
  let held = 0;
  if (p.hold) {
    // Past the retention but kept: counted, so the audit log shows what each hold keeps.
    const past = expired({ ...p, hold: undefined }, now, cutoff);
    const count = async (w: typeof where) =>
      Number(
        (
          await k
            .selectFrom(ds.table)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where(w)
            .executeTakeFirstOrThrow()
        ).n,
      );
    held = (await count(past)) - (await count(where));
  }
  let dependents = 0;
  for (const d of ds.dependents ?? []) {
    const going = (eb: Eb) => eb.selectFrom(ds.table).select(`${ds.table}.${d.key}`).where(where);
    const r = await k.deleteFrom(d.table).where(d.column, 'in', going).executeTakeFirst();
    dependents += Number(r.numDeletedRows);
  }
  const r = await k.deleteFrom(ds.table).where(where).executeTakeFirst();
  return { rows: Number(r.numDeletedRows), dependents, held };
}

export async function runRetention(deps: RetentionDeps, actor: string, now = new Date()): Promise<RetentionResult[]> {
  const results: RetentionResult[] = [];
  for (const ds of deps.datasets.list()) {
    if (ds.store === 'analytics' && !deps.analytics) continue;
    let oldest: Date | undefined;
    for (const p of deps.datasets.passes(ds)) {
      const cutoff = new Date(now.getTime() - p.retentionSeconds * 1000);
      oldest = oldest && oldest < cutoff ? oldest : cutoff;
      const base = { actor, ...(p.measure ? { measure: p.measure } : {}), action: 'retention.delete', object: `dataset:${ds.name}` };
      let deleted: number;
      let held: number | undefined;
      if (ds.store === 'analytics') {
        deleted = await purgeAnalytics(deps.analytics!, ds, cutoff);
        await deps.audit.append({ ...base, counts: { rows: deleted, retentionSeconds: p.retentionSeconds } });
      } else {
        const counts = (n: Purged) => ({
          rows: n.rows,
          retentionSeconds: p.retentionSeconds,
          ...(ds.dependents ? { dependentRows: n.dependents } : {}),
          ...(p.hold ? { held: n.held } : {}),
        });
        const r = await deps.audit.withAudit(
          (n: Purged) => ({ ...base, counts: counts(n) }),
          (db) => purgeState(db, p, now, cutoff),
        );
        deleted = r.rows + r.dependents;
        if (p.hold) held = r.held;
      }
      results.push({
        dataset: ds.name,
        owner: ds.owner,
        ...(p.measure ? { measure: p.measure } : {}),
        retentionSeconds: p.retentionSeconds,
        cutoff: cutoff.toISOString(),
        deleted,
        ...(held !== undefined ? { held } : {}),
      });
    }
    if (oldest) ds.afterPass?.(oldest);
  }
  const expiredSessions = await deps.state.db.deleteFrom('sessions').where('expires_at', '<', now.toISOString()).executeTakeFirst();
  await deps.audit.append({
    actor,
    action: 'retention.run',
    counts: {
      datasets: results.length,
      rowsDeleted: results.reduce((a, r) => a + r.deleted, 0),
      sessionsExpired: Number(expiredSessions.numDeletedRows),
    },
  });
  return results;
}
