/**
 * Issue 16, the state database of a running server: its files readable by
 * every local user, and a full disk reported as "cannot rollback - no
 * transaction is active" (the SQLITE_FULL that caused it lost).
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { tempDir, testConfig } from '../support/fixtures.js';

describe('security: the state database', () => {
  let server: Server;
  let dataDir: string;
  const log: string[] = [];

  before(async () => {
    dataDir = join(tempDir(), 'data');
    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => log.push(...c.toString().split('\n').filter(Boolean)));
    server = await serve(testConfig(dataDir, 'server:\n  port: 0\n'), {
      analytics: false,
      out: new PassThrough(),
      logger: createLogger('info', sink),
    });
  });
  after(() => server?.close());

  it('keeps state.sqlite and its -wal and -shm readable by their owner only (0600)', async () => {
    await server.mamori.audit.append({ actor: 'module:test', action: 'test.write' });
    const files = ['state.sqlite', 'state.sqlite-wal', 'state.sqlite-shm'].map((f) => join(dataDir, f));
    for (const f of files) {
      assert.ok(existsSync(f), `${f} missing: the test would prove nothing`);
      assert.equal((statSync(f).mode & 0o777).toString(8), '600', f);
    }
  });

  it('reports a full disk as SQLITE_FULL, not as the rollback that failed after it', async () => {
    const admin = (await server.mamori.accounts.createToken('module:test', 'admin', 'admin')).token;
    // The database may not grow: the next page it needs is "disk full" (SQLITE_FULL), as on a full file system.
    const pages = Number((await sql<{ page_count: number }>`pragma page_count`.execute(server.mamori.state.db)).rows[0]!.page_count);
    await sql.raw(`pragma max_page_count = ${pages}`).execute(server.mamori.state.db);
    let failed;
    for (let i = 0; i < 2000 && !failed; i++) {
      const r = await server.app.inject({ method: 'POST', url: '/api/v1/audit/anchor', headers: { authorization: `Bearer ${admin}` } });
      // A store that cannot write is unavailable (503, code state-store); its message stays in the server log.
      if (r.statusCode >= 500) failed = r;
      else assert.equal(r.statusCode, 200, r.body);
    }
    await sql.raw('pragma max_page_count = 1073741823').execute(server.mamori.state.db);
    assert.ok(failed, 'the database never filled up');
    assert.equal(failed.statusCode, 503, failed.body);
    const line = log.map((l) => JSON.parse(l) as { msg?: string; err?: { message?: string } }).find((l) => l.msg === 'request failed');
    assert.ok(line, 'the failure was not logged');
    assert.match(line.err!.message!, /disk is full \(SQLITE_FULL\)/);
    assert.doesNotMatch(line.err!.message!, /cannot rollback/);
  });
});
