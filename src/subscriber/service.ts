/**
 * Subscriber identification as a shared service: the IP-assignment index
 * (fed by RADIUS accounting), kept in the state store so that a restart loses
 * nothing, and the one door to it — `subscriber-lookup`, which the broker
 * hands only to measures whose declaration says they identify subscribers.
 * Every lookup names its case and is audited (measure, case, found or not;
 * never the address).
 */
import type { Kysely, Migration } from 'kysely';
import type { AuditLog } from '../core/audit/log.js';
import type { MeasureDeclaration } from '../core/measure.js';
import type { SessionEvent } from '../ingest/radius/server.js';
import type { StateDb, StateStore } from '../store/state/store.js';
import { SessionIndex, type LookupAnswer } from './sessions.js';

type SessionTables = {
  ip_sessions: { key: string; subscriber: string; address: string; start: number; end: number | null; seen: number };
};

export const subscriberMigrations: Record<string, Migration> = {
  '0050_subscriber_sessions': {
    async up(db: Kysely<any>) {
      await db.schema.createTable('ip_sessions')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('subscriber', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('start', 'integer', (c) => c.notNull())
        .addColumn('end', 'integer')
        .addColumn('seen', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('ip_sessions_end').on('ip_sessions').column('end').execute();
    },
  },
};

const sdb = (d: StateDb) => d.withTables<SessionTables>() as unknown as Kysely<SessionTables>;

export class LookupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LookupError';
  }
}

export interface SubscriberLookup {
  /** Who had `address` at `at` (and, behind CGNAT, `port`)? For case `caseId` of the calling measure. */
  lookup(req: { caseId: string; address: string; at: Date; port?: number }): Promise<LookupAnswer>;
}

/** The longest retention any declaration gives assigned addresses: what the index may keep. */
export function assignmentRetentionSeconds(declarations: readonly MeasureDeclaration[]): number {
  return Math.max(0, ...declarations.flatMap((d) => d.dataItems.filter((i) => i.item === 'aaa.assigned-address').map((i) => i.retentionSeconds)));
}

export class SubscriberService {
  readonly index: SessionIndex;
  private pending: SessionEvent[] = [];
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly state: StateStore, private readonly audit: AuditLog, private readonly opts: { interimTimeoutSeconds: number; retentionSeconds: number }) {
    this.index = new SessionIndex({ interimTimeoutSeconds: opts.interimTimeoutSeconds });
  }

  /** Rebuilds the index from the state store. */
  async load(): Promise<number> {
    let n = 0;
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

  /** Queues an accounting event for the store; `flush` writes the queue in one transaction. */
  record(e: SessionEvent): void {
    this.pending.push(e);
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const batch = this.pending.splice(0);
      if (batch.length === 0) return;
      await this.state.writeTransaction(async (tx) => {
        const s = sdb(tx);
        for (const e of batch) {
          if (e.kind === 'begin') await s.insertInto('ip_sessions').values({ key: e.key, subscriber: e.subscriber, address: e.address, start: e.at, end: null, seen: e.at }).onConflict((oc) => oc.column('key').doUpdateSet({ subscriber: e.subscriber, address: e.address, start: e.at, end: null, seen: e.at })).execute();
          else if (e.kind === 'touch') await s.updateTable('ip_sessions').set({ seen: e.at }).where('key', '=', e.key).where('seen', '<', e.at).execute();
          else if (e.kind === 'finish') await s.updateTable('ip_sessions').set({ end: e.at }).where('key', '=', e.key).execute();
          else if (e.kind === 'finish-all') await s.updateTable('ip_sessions').set({ end: e.at }).where('key', 'like', `${e.nas.replace(/[%_]/g, '')}|%`).where('end', 'is', null).execute();
        }
      });
    });
    return this.flushing;
  }

  /** Deletes sessions that ended beyond the declared retention, in the store and the index; audited. */
  async retain(now = new Date()): Promise<number> {
    const before = Math.floor(now.getTime() / 1000) - this.opts.retentionSeconds;
    await this.flush();
    const n = await this.audit.withAudit((count: number) => ({ actor: 'module:retention', action: 'retention.delete', object: 'dataset:ip-assignments', counts: { rows: count, retentionSeconds: this.opts.retentionSeconds } }), async (tx) => {
      const r = await sdb(tx).deleteFrom('ip_sessions').where('end', 'is not', null).where('end', '<', before).executeTakeFirst();
      return Number(r.numDeletedRows);
    });
    this.index.forget(before);
    return n;
  }

  /** The lookup handed to one measure (by the broker, after checking its declaration). */
  lookupFor(measure: MeasureDeclaration): SubscriberLookup {
    return {
      lookup: async ({ caseId, address, at, port }) => {
        if (!/^[A-Za-z0-9_-]{1,64}$/.test(caseId)) throw new LookupError('a lookup names the case it serves: letters, digits, "-" or "_"');
        const t = Math.floor(at.getTime() / 1000);
        if (Number.isNaN(t)) throw new LookupError('the time of the lookup is not a date');
        const oldest = Math.floor(Date.now() / 1000) - this.opts.retentionSeconds;
        const answer: LookupAnswer = t < oldest ? { found: false, reason: 'outside-retention' } : this.index.lookup(address, t);
        void port; // CGNAT port blocks are not indexed yet: the address alone answers.
        await this.audit.append({
          actor: `measure:${measure.id}`, measure: measure.id, action: 'subscriber.lookup', object: `case:${caseId}`, caseId,
          counts: { found: answer.found ? 1 : 0 },
        });
        return answer;
      },
    };
  }
}
