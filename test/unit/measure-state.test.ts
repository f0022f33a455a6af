/**
 * A measure's state handle reaches its own tables and nothing else: not the
 * accounts, not consent, not another measure's tables, not the audit log —
 * whether through a query, a transaction or raw SQL — and every refusal is
 * in the audit log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql, type Kysely } from 'kysely';
import type { Mamori } from '../../src/app/mamori.js';
import { CapabilityRefusedError } from '../../src/core/capabilities.js';
import { StateScopeError, type MeasureState } from '../../src/core/measure-state.js';
import { ALL_MEASURES } from '../../src/measures/index.js';
import { openTest } from '../support/fixtures.js';

const M1 = ALL_MEASURES[0]!;

describe('measure state handle', () => {
  let m: Mamori;
  let own: MeasureState;

  before(async () => {
    m = await openTest('measures:\n  cc-detection: { enabled: true, scope: { subscriberPrefixes: ["10.0.0.0/8"] } }\n');
    own = await m.broker.forMeasure('cc-detection').ownState();
  });
  after(() => m?.close());

  async function refusedAndAudited(run: Promise<unknown>, pattern: RegExp, object: string): Promise<void> {
    await assert.rejects(run, (err: unknown) => {
      assert.ok(err instanceof StateScopeError, String(err));
      assert.match(err.message, pattern);
      return true;
    });
    await own.refusalsAudited();
    const entries = [];
    for await (const e of m.audit.entries()) entries.push(e);
    const last = entries.filter((e) => e.action === 'capability.refused').at(-1);
    assert.ok(last, 'no refusal in the audit log');
    assert.equal(last.object, object);
    assert.equal(last.measure, 'cc-detection');
    assert.equal(last.outcome, 'refused');
  }

  it("reads and writes the measure's own tables", async () => {
    const db = own.store.db as unknown as Kysely<{ cc_models: { version: number } }>;
    const rows = await db.selectFrom('cc_models').select('version').orderBy('version', 'desc').execute();
    assert.deepEqual(rows, []);
    assert.deepEqual(M1.stateTables, ['cc_label_sources', 'cc_labels', 'cc_candidates', 'cc_models', 'cc_runs']);
  });

  it('refuses a table of the core (accounts), audited', async () => {
    const db = own.store.db as unknown as Kysely<{ users: { username: string } }>;
    await refusedAndAudited(db.selectFrom('users').select('username').execute(), /may not use table users/, 'state-table:users');
  });

  it('refuses a join that reaches a foreign table from an own one', async () => {
    const db = own.store.db as unknown as Kysely<{ cc_candidates: { id: string }; audit_log: { seq: number; object: string } }>;
    await refusedAndAudited(
      db.selectFrom('cc_candidates').innerJoin('audit_log', 'audit_log.object', 'cc_candidates.id').select('seq').execute(),
      /audit_log/,
      'state-table:audit_log',
    );
  });

  it('refuses inside a transaction and inside the audited change, and the transaction rolls back', async () => {
    const db = (d: unknown) => d as Kysely<{ cc_label_sources: Record<string, string | number>; users: { username: string } }>;
    const source = {
      name: 'rolled-back',
      format: 'ip-list',
      file_sha256: '0'.repeat(64),
      imported_at: 'now',
      imported_by: 'test',
      labels: 0,
      skipped: 0,
      duplicates: 0,
    };
    await refusedAndAudited(
      own.store.writeTransaction(async (tx) => {
        await db(tx).insertInto('cc_label_sources').values(source).execute();
        await db(tx).deleteFrom('users').execute();
      }),
      /may not use table users/,
      'state-table:users',
    );
    assert.deepEqual(
      await db(own.store.db).selectFrom('cc_label_sources').selectAll().execute(),
      [],
      'the own-table write was rolled back with the refused one',
    );
    const before = (await m.audit.head()).seq;
    await refusedAndAudited(
      own.audit.withAudit({ actor: 'measure:cc-detection', measure: 'cc-detection', action: 'test.change' }, (tx) =>
        db(tx).updateTable('users').set({ username: 'x' }).execute(),
      ),
      /users/,
      'state-table:users',
    );
    // The refused change left no "test.change" entry: only the refusal was appended.
    const after: string[] = [];
    for await (const e of m.audit.entries({ afterSeq: before })) after.push(e.action);
    assert.deepEqual(after, ['capability.refused']);
    assert.equal((await m.state.db.selectFrom('users').select('username').where('username', '=', 'x').execute()).length, 0);
  });

  it('refuses raw SQL, whose tables it cannot check', async () => {
    await refusedAndAudited(sql`select * from users`.execute(own.store.db), /raw SQL/, 'state:raw-sql');
  });

  it('is refused to a measure that is not enabled', async () => {
    await assert.rejects(m.broker.forMeasure('cc-sharing').ownState(), CapabilityRefusedError);
  });
});
