/**
 * The accounting events' store: a batch is written folded per key (one
 * statement per 500 sessions) and must leave the table exactly as writing
 * each event on its own would — checked on random histories against that
 * plain one-statement-per-event reference, on two SQLite stores.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AuditLog } from '../../src/core/audit/log.js';
import type { SessionEvent } from '../../src/ingest/radius/apply.js';
import { openSqliteStateStore, type StateStore } from '../../src/store/state/store.js';
import { SubscriberService, subscriberMigrations } from '../../src/subscriber/service.js';
import { tempDir } from '../support/fixtures.js';

type Row = { key: string; subscriber: string; address: string; start: number; end: number | null; seen: number };

/** One statement per event, as the store wrote them before batching. */
async function reference(state: StateStore, events: readonly SessionEvent[]): Promise<void> {
  const db = state.db as unknown as import('kysely').Kysely<{ ip_sessions: Row }>;
  for (const e of events) {
    if (e.kind === 'begin')
      await db
        .insertInto('ip_sessions')
        .values({ key: e.key, subscriber: e.subscriber, address: e.address, start: e.at, end: null, seen: e.at })
        .onConflict((oc) =>
          oc.column('key').doUpdateSet({ subscriber: e.subscriber, address: e.address, start: e.at, end: null, seen: e.at }),
        )
        .execute();
    else if (e.kind === 'touch')
      await db.updateTable('ip_sessions').set({ seen: e.at }).where('key', '=', e.key).where('seen', '<', e.at).execute();
    else if (e.kind === 'finish') await db.updateTable('ip_sessions').set({ end: e.at }).where('key', '=', e.key).execute();
    else if (e.kind === 'finish-all')
      await db.updateTable('ip_sessions').set({ end: e.at }).where('key', 'like', `${e.nas}|%`).where('end', 'is', null).execute();
  }
}

const rows = async (state: StateStore) =>
  await (state.db as unknown as import('kysely').Kysely<{ ip_sessions: Row }>)
    .selectFrom('ip_sessions')
    .selectAll()
    .orderBy('key')
    .execute();

const event = fc.oneof(
  fc.record({
    kind: fc.constant('begin' as const),
    key: fc.constantFrom('a|1', 'a|2', 'b|1', 'b|2', 'b|3'),
    subscriber: fc.constantFrom('u1', 'u2'),
    address: fc.constantFrom('100.64.0.1', '100.64.0.2'),
    at: fc.integer({ min: 1, max: 100 }),
  }),
  fc.record({
    kind: fc.constantFrom('touch' as const, 'finish' as const),
    key: fc.constantFrom('a|1', 'a|2', 'b|1', 'b|2', 'b|3'),
    at: fc.integer({ min: 1, max: 100 }),
  }),
  fc.record({ kind: fc.constant('finish-all' as const), nas: fc.constantFrom('a', 'b'), at: fc.integer({ min: 1, max: 100 }) }),
);

describe('accounting events in the state store', () => {
  it('folds a batch per key and leaves the same rows as one statement per event, batch after batch', async () => {
    const dir = tempDir();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(event, { maxLength: 30 }), { minLength: 1, maxLength: 4 }), async (batches) => {
        run++;
        const a = await openSqliteStateStore(join(dir, `ref-${run}.sqlite`), { migrations: subscriberMigrations });
        const b = await openSqliteStateStore(join(dir, `new-${run}.sqlite`), { migrations: subscriberMigrations });
        try {
          const service = new SubscriberService(b, await AuditLog.open(b, join(dir, `anchor-${run}`)), {
            interimTimeoutSeconds: 3600,
            retentionSeconds: 86_400,
          });
          for (const batch of batches) {
            await reference(a, batch);
            for (const e of batch) service.record(e);
            await service.flush();
          }
          assert.deepEqual(await rows(b), await rows(a));
        } finally {
          await a.close();
          await b.close();
        }
      }),
      { numRuns: 40, seed: 16 },
    );
  });

  it('writes 1,200 sessions of one batch in chunks and keeps them all', async () => {
    const dir = tempDir();
    const state = await openSqliteStateStore(join(dir, 's.sqlite'), { migrations: subscriberMigrations });
    const service = new SubscriberService(state, await AuditLog.open(state, join(dir, 'anchor')), {
      interimTimeoutSeconds: 3600,
      retentionSeconds: 86_400,
    });
    for (let i = 0; i < 1200; i++)
      service.record({ kind: 'begin', key: `n|${i}`, subscriber: `u${i}`, address: `100.64.${i >> 8}.${i & 255}`, at: 1000 + i });
    for (let i = 0; i < 1200; i += 2) service.record({ kind: 'finish', key: `n|${i}`, at: 5000 });
    await service.flush();
    const all = await rows(state);
    assert.equal(all.length, 1200);
    assert.equal(all.filter((r) => r.end === 5000).length, 600);
    await state.close();
  });
});
