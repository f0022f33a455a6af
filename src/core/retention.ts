/**
 * The retention job: deletes every dataset's rows older than the strictest
 * retention its owner declared for the items it holds, and audits every
 * dataset's pass with its count (zero included: evidence the job ran). Retention is enforced by the store, not by hope.
 */
import { countAndDelete, type AnalyticsStore } from '../store/analytics/store.js';
import type { StateStore } from '../store/state/store.js';
import type { AuditLog } from './audit/log.js';
import type { Dataset, DatasetRegistry } from './datasets.js';
import { sql } from 'kysely';

export interface RetentionResult { dataset: string; owner: string; retentionSeconds: number; cutoff: string; deleted: number }

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
  return countAndDelete(store, ds.table, `${ds.timeColumn} < parseDateTime64BestEffort({cutoff:String}, 3, 'UTC')`, { cutoff: clickhouseTime(cutoff) });
}

export async function runRetention(deps: RetentionDeps, actor: string, now = new Date()): Promise<RetentionResult[]> {
  const results: RetentionResult[] = [];
  for (const ds of deps.datasets.list()) {
    const retentionSeconds = deps.datasets.retentionSeconds(ds);
    const cutoff = new Date(now.getTime() - retentionSeconds * 1000);
    const base = { actor, measure: ds.owner, action: 'retention.delete', object: `dataset:${ds.name}` };
    let deleted: number;
    if (ds.store === 'analytics') {
      if (!deps.analytics) continue;
      deleted = await purgeAnalytics(deps.analytics, ds, cutoff);
      await deps.audit.append({ ...base, counts: { rows: deleted, retentionSeconds } });
    } else {
      deleted = await deps.audit.withAudit((n: number) => ({ ...base, counts: { rows: n, retentionSeconds } }), async (db) => {
        const r = await sql`delete from ${sql.table(ds.table)} where ${sql.ref(ds.timeColumn)} < ${cutoff.toISOString()}`.execute(db);
        return Number(r.numAffectedRows ?? 0);
      });
    }
    results.push({ dataset: ds.name, owner: ds.owner, retentionSeconds, cutoff: cutoff.toISOString(), deleted });
  }
  const expired = await deps.state.db.deleteFrom('sessions').where('expires_at', '<', now.toISOString()).executeTakeFirst();
  await deps.audit.append({
    actor, action: 'retention.run',
    counts: { datasets: results.length, rowsDeleted: results.reduce((a, r) => a + r.deleted, 0), sessionsExpired: Number(expired.numDeletedRows) },
  });
  return results;
}
