import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { runRetention } from '../../src/core/retention.js';
import { ALL_MEASURES } from '../../src/measures/index.js';
import { openTest, runnableMeasure } from '../support/fixtures.js';

describe('retention job', () => {
  it('deletes rows past the strictest declared retention, per dataset, and audits each pass', async () => {
    // flow.addresses is kept 1d and flow.ports 2d in the fixture: a table holding both lives 1d.
    const m = await openTest('', { analytics: true, measures: [...ALL_MEASURES, runnableMeasure()] });
    const now = new Date('2026-11-24T12:00:00Z');
    await m.analytics!.exec('CREATE DATABASE IF NOT EXISTS r');
    await m.analytics!.exec("CREATE TABLE r.flows (ts DateTime64(3, 'UTC'), port UInt16) ENGINE = MergeTree ORDER BY ts");
    await m.analytics!.insert(
      'r.flows',
      'TSV',
      Buffer.from(
        [
          '2026-11-22 11:00:00.000\t1', // 2 days old: goes
          '2026-11-23 11:59:59.000\t2', // 1 day and 1 s old: goes
          '2026-11-23 12:00:01.000\t3', // just inside: stays
          '2026-11-24 11:00:00.000\t4', // stays
        ].join('\n') + '\n',
      ),
    );
    m.datasets.register({
      name: 'test-flows',
      store: 'analytics',
      table: 'r.flows',
      timeColumn: 'ts',
      items: ['flow.addresses', 'flow.ports'],
      owner: 'test-measure',
    });

    await sql`create table test_ports (seen_at text not null, port integer not null)`.execute(m.state.db);
    for (const [at, port] of [
      ['2026-11-20T00:00:00.000Z', 1],
      ['2026-11-23T00:00:00.000Z', 2],
      ['2026-11-24T00:00:00.000Z', 3],
    ] as const) {
      await sql`insert into test_ports values (${at}, ${port})`.execute(m.state.db);
    }
    m.datasets.register({
      name: 'ports',
      store: 'state',
      table: 'test_ports',
      timeColumn: 'seen_at',
      items: ['flow.ports'],
      owner: 'test-measure',
    });

    const results = await runRetention(m, 'module:test', now);
    // Every registered dataset gets a pass (M1's own ones too; shared services one per measure); this test's two are checked in detail.
    assert.deepEqual(
      [...new Set(results.map((r) => r.dataset))],
      m.datasets.list().map((d) => d.name),
    );
    const mine = results.filter((r) => r.dataset === 'test-flows' || r.dataset === 'ports');
    assert.deepEqual(
      mine.map((r) => [r.dataset, r.retentionSeconds, r.deleted]),
      [
        ['test-flows', 86400, 2],
        ['ports', 172800, 1],
      ],
    );
    assert.deepEqual(results.find((r) => r.dataset === 'flows')!.retentionSeconds, 7 * 86400);

    const left = await m.analytics!.query<{ port: number }>('SELECT port FROM r.flows ORDER BY port');
    assert.deepEqual(
      left.map((r) => r.port),
      [3, 4],
    );
    const leftState = await sql<{ port: number }>`select port from test_ports order by port`.execute(m.state.db);
    assert.deepEqual(
      leftState.rows.map((r) => r.port),
      [2, 3],
    );

    const entries = [];
    for await (const e of m.audit.entries()) if (e.action.startsWith('retention.')) entries.push(e);
    assert.equal(entries.filter((e) => e.action === 'retention.delete').length, results.length, 'one audited pass per dataset');
    assert.deepEqual(
      entries.filter((e) => e.measure === 'test-measure').map((e) => [e.action, e.object, e.counts]),
      [
        ['retention.delete', 'dataset:test-flows', { rows: 2, retentionSeconds: 86400 }],
        ['retention.delete', 'dataset:ports', { rows: 1, retentionSeconds: 172800 }],
      ],
    );
    assert.deepEqual(entries.at(-1)!.counts, { datasets: results.length, rowsDeleted: 3, sessionsExpired: 0 });

    // A second pass deletes nothing and says so.
    const again = await runRetention(m, 'module:test', now);
    assert.ok(again.every((r) => r.deleted === 0));
  });
});
