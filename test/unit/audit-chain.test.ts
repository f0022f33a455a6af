import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { Mamori } from '../../src/app/mamori.js';
import { verifyChain } from '../../src/core/audit/chain.js';
import { exportFileItems } from '../../src/core/audit/log.js';
import { openTest, tempDir } from '../support/fixtures.js';

async function seed(m: Mamori, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await m.audit.append({
      actor: 'module:test',
      measure: i % 2 ? 'cc-detection' : null,
      action: `test.action-${i}`,
      object: `thing:${i}`,
      caseId: i === 3 ? 'case-7' : null,
      counts: { rows: i, bytes: i * 10 },
    });
  }
}

async function exportTo(m: Mamori, file: string): Promise<string> {
  const lines: string[] = [];
  for await (const e of m.audit.entries()) lines.push(JSON.stringify(e));
  writeFileSync(file, lines.join('\n') + '\n');
  return readFileSync(file, 'utf8');
}

describe('audit log in the state store', () => {
  let m: Mamori;
  beforeEach(async () => {
    m = await openTest();
    await seed(m, 8);
  });

  it('verifies an untouched log', async () => {
    const r = await m.audit.verify();
    assert.equal(r.ok, true, JSON.stringify(r.problems));
    assert.equal(r.checked, 8);
    assert.equal(r.lastSeq, 8);
  });

  for (const column of ['ts', 'actor', 'measure', 'action', 'object', 'case_id', 'counts', 'outcome', 'prev_hash', 'hash']) {
    it(`names the entry after a one-character edit of ${column}`, async () => {
      const row = await sql<Record<string, string | null>>`select * from audit_log where seq = 4`.execute(m.state.db);
      const before = row.rows[0]![column] ?? 'x';
      // Change exactly one character (or set a value where there was none).
      const after = before.length > 0 ? before.slice(0, -1) + (before.endsWith('a') ? 'b' : 'a') : 'a';
      await sql`update audit_log set ${sql.ref(column)} = ${after} where seq = 4`.execute(m.state.db);
      const r = await m.audit.verify();
      assert.equal(r.ok, false);
      assert.equal(r.problems[0]!.seq, 4, JSON.stringify(r.problems));
    });
  }

  it('names the gap after a deleted entry', async () => {
    await sql`delete from audit_log where seq = 5`.execute(m.state.db);
    const r = await m.audit.verify();
    assert.equal(r.ok, false);
    assert.match(r.problems[0]!.problem, /entries 5\.\.5 are missing/);
    assert.equal(r.problems[0]!.seq, 6);
  });

  it('names the place of a swapped pair', async () => {
    // Swap everything but the sequence numbers of entries 3 and 4.
    const rows = (await sql<Record<string, unknown>>`select * from audit_log where seq in (3, 4) order by seq`.execute(m.state.db)).rows;
    for (const [target, source] of [
      [3, rows[1]!],
      [4, rows[0]!],
    ] as const) {
      await sql`update audit_log set ts = ${source.ts}, actor = ${source.actor}, measure = ${source.measure}, action = ${source.action},
        object = ${source.object}, case_id = ${source.case_id}, counts = ${source.counts}, prev_hash = ${source.prev_hash},
        hash = ${source.hash} where seq = ${target}`.execute(m.state.db);
    }
    const r = await m.audit.verify();
    assert.equal(r.ok, false);
    assert.equal(r.problems[0]!.seq, 3, JSON.stringify(r.problems));
  });

  it('detects an entry inserted with renumbering', async () => {
    await sql`update audit_log set seq = seq + 1000 where seq >= 5`.execute(m.state.db);
    await sql`update audit_log set seq = seq - 999 where seq >= 1005`.execute(m.state.db);
    const fake = (await sql<Record<string, unknown>>`select * from audit_log where seq = 4`.execute(m.state.db)).rows[0]!;
    await sql`insert into audit_log (seq, ts, actor, measure, action, object, case_id, counts, outcome, prev_hash, hash)
      values (5, ${fake.ts}, 'user:mallory', null, 'test.forged', null, null, null, 'ok', ${fake.hash}, ${'0'.repeat(64)})`.execute(
      m.state.db,
    );
    const r = await m.audit.verify();
    assert.equal(r.ok, false);
    assert.equal(r.problems[0]!.seq, 5);
  });

  it('detects a cut-off tail through the anchor file', async () => {
    await m.audit.anchor('module:test');
    await sql`delete from audit_log where seq >= 7`.execute(m.state.db);
    await sql`delete from audit_anchors`.execute(m.state.db);
    const r = await m.audit.verify();
    assert.equal(r.ok, false);
    assert.match(r.problems[0]!.problem, /the log ends at entry 6 but was anchored at entry 8.*tail was cut off/);
  });

  it("detects a log replaced by another installation's", async () => {
    await sql`update meta set value = 'another-installation' where key = 'audit.chain-id'`.execute(m.state.db);
    const reopened = await (await import('../../src/core/audit/log.js')).AuditLog.open(m.state, join(tempDir(), 'anchors.jsonl'));
    const r = await reopened.verify();
    assert.equal(r.ok, false);
    assert.match(r.problems[0]!.problem, /genesis/);
  });

  it('keeps a state change and its audit entry together (both or neither)', async () => {
    const head = await m.audit.head();
    await assert.rejects(
      m.audit.withAudit({ actor: 'module:test', action: 'test.fails' }, async (db) => {
        await db.insertInto('meta').values({ key: 'k', value: 'v' }).execute();
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal((await m.audit.head()).seq, head.seq);
    assert.equal(await m.state.db.selectFrom('meta').select('value').where('key', '=', 'k').executeTakeFirst(), undefined);
  });

  it('refuses an audit reference that carries an address or a host name', async () => {
    await assert.rejects(m.audit.append({ actor: 'module:test', action: 'x', object: 'flow:192.0.2.10' }), /address or host name/);
    await assert.rejects(m.audit.append({ actor: 'module:test', action: 'x', object: 'ip:2001:db8::1' }), /address or host name/);
    await assert.rejects(
      m.audit.append({ actor: 'module:test', action: 'x', object: 'qname:c2.evil.example.com' }),
      /address or host name/,
    );
  });
});

describe('exported audit files', () => {
  it('verify, and fail naming the line after every single-byte edit', async () => {
    const m = await openTest();
    await seed(m, 4);
    const file = join(tempDir(), 'export.jsonl');
    const original = Buffer.from(await exportTo(m, file));
    assert.equal((await verifyChain(exportFileItems(file))).ok, true);
    let undetected = 0;
    for (let i = 0; i < original.length; i++) {
      const edited = Buffer.from(original);
      edited[i] = edited[i]! ^ 0x01;
      writeFileSync(file, edited);
      const r = await verifyChain(exportFileItems(file));
      if (r.ok) undetected += 1;
    }
    assert.equal(undetected, 0, `${undetected} of ${original.length} single-byte edits went unnoticed`);
  });

  it('reports a file truncated mid-line', async () => {
    const m = await openTest();
    await seed(m, 3);
    const file = join(tempDir(), 'export.jsonl');
    const text = await exportTo(m, file);
    writeFileSync(file, text.slice(0, text.length - 40));
    const r = await verifyChain(exportFileItems(file));
    assert.equal(r.ok, false);
    assert.match(r.problems[0]!.problem, /line 3 is incomplete: the file was truncated mid-line/);
  });

  it('reports swapped and deleted lines', async () => {
    const m = await openTest();
    await seed(m, 5);
    const file = join(tempDir(), 'export.jsonl');
    const lines = (await exportTo(m, file)).trimEnd().split('\n');
    writeFileSync(file, [lines[0], lines[2], lines[1], lines[3], lines[4]].join('\n') + '\n');
    let r = await verifyChain(exportFileItems(file));
    assert.equal(r.ok, false);
    assert.equal(r.problems[0]!.line, 2);
    writeFileSync(file, [lines[0], lines[1], lines[3], lines[4]].join('\n') + '\n');
    r = await verifyChain(exportFileItems(file));
    assert.match(r.problems[0]!.problem, /entries 3\.\.3 are missing/);
  });
});
