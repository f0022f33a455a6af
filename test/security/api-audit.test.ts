/**
 * Issue 16, the audit chain against someone who can write the data directory:
 * anchors only hourly (a crash leaves the tail unanchored), and a chain
 * rewritten from some entry on — hashes recomputed, anchors in the table and
 * the anchor file rewritten to match — that `audit verify` calls intact. With
 * signed anchors, a verifier holding only the public key finds the rewrite.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, statSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { serve } from '../../src/app/serve.js';
import { entryHash, type AuditEntry } from '../../src/core/audit/chain.js';
import { fromRow } from '../../src/core/audit/log.js';
import { parseConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import type { AuditLogTable } from '../../src/store/state/schema.js';
import { CLI, tempDir } from '../support/fixtures.js';

const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('security: the audit chain', () => {
  it('anchors after audit.anchorEvery entries, without waiting for the interval', async () => {
    const dataDir = join(tempDir(), 'data');
    const yaml = `dataDir: ${JSON.stringify(dataDir)}\nserver: { port: 0 }\naudit: { anchorInterval: 24h, anchorEvery: 20 }\n`;
    const server = await serve(parseConfig(yaml, 'test'), { analytics: false, out: new PassThrough(), logger: createLogger('silent') });
    try {
      const token = (await server.mamori.accounts.createToken('module:test', 'auditor', 'auditor')).token;
      const start = (await server.mamori.audit.anchors()).anchors.map((a) => a.seq);
      for (let i = 0; i < 50; i++)
        await server.app.inject({ method: 'GET', url: '/api/v1/audit/entries?limit=1', headers: { authorization: `Bearer ${token}` } });
      let seqs: number[] = [];
      for (let i = 0; i < 50; i++) {
        seqs = (await server.mamori.audit.anchors()).anchors.map((a) => a.seq);
        if (seqs.length >= start.length + 2) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(seqs.length >= start.length + 2, `anchors at ${seqs.join(', ')} after 50 reads (at start: ${start.join(', ')})`);
      const head = (await server.mamori.audit.head()).seq;
      assert.ok(
        head - seqs[seqs.length - 1]! <= 21,
        `the head ${head} is more than 20 entries past the last anchor ${seqs[seqs.length - 1]}`,
      );
    } finally {
      await server.close();
    }
  });

  it('refuses a signing key kept inside the data directory', async () => {
    const dir = tempDir();
    const r = cli('audit', 'keygen', '--private-key', join(dir, 'inside.pem'), '--public-key', join(dir, 'inside.pub'));
    assert.equal(r.status, 0, r.stderr);
    const key = JSON.stringify(join(dir, 'inside.pem'));
    const config = parseConfig(`dataDir: ${JSON.stringify(dir)}\nserver: { port: 0 }\naudit: { signingKeyFile: ${key} }\n`, 'test');
    await assert.rejects(
      serve(config, { analytics: false, out: new PassThrough(), logger: createLogger('silent') }),
      /lies inside the data directory/,
    );
  });

  it('finds a rewrite (hashes recomputed, anchors rewritten) with the public key of the signed anchors', async () => {
    const dir = tempDir();
    const keys = join(dir, 'keys');
    const dataDir = join(dir, 'data');
    mkdirSync(keys, { mode: 0o700 });
    const kg = cli('audit', 'keygen', '--private-key', join(keys, 'audit.pem'), '--public-key', join(keys, 'audit.pub'));
    assert.equal(kg.status, 0, kg.stderr);
    assert.equal((statSync(join(keys, 'audit.pem')).mode & 0o777).toString(8), '600');
    const configFile = join(dir, 'mamori.yaml');
    writeFileSync(
      configFile,
      `dataDir: ${JSON.stringify(dataDir)}\nserver: { port: 0 }\n` +
        `audit: { anchorEvery: 20, signingKeyFile: ${JSON.stringify(join(keys, 'audit.pem'))} }\n`,
    );
    const config = parseConfig(readFileSync(configFile, 'utf8'), configFile);
    const start = () => serve(config, { analytics: false, out: new PassThrough(), logger: createLogger('silent') });

    // A day of work: users created, the log read, anchors taken by count and at stop.
    let server = await start();
    const token = (await server.mamori.accounts.createToken('module:test', 'auditor', 'auditor')).token;
    await server.mamori.accounts.createUser('module:test', 'mallory', 'analyst', 'violet-Harbour-tram-1987');
    for (let i = 0; i < 120; i++)
      await server.app.inject({ method: 'GET', url: '/api/v1/audit/entries?limit=1', headers: { authorization: `Bearer ${token}` } });
    await server.close();

    // The attack: mallory's creation is rewritten as made by someone else, every later hash
    // recomputed, the anchors in the table and in the anchor file made to match (signatures dropped).
    const db = new Database(join(dataDir, 'state.sqlite'));
    const rows = db.prepare('select * from audit_log order by seq').all() as AuditLogTable[];
    const target = rows.find((r) => r.action === 'user.create' && r.object === 'user:mallory')!;
    assert.ok(target);
    let prev = '';
    const rewritten = new Map<number, string>();
    const update = db.prepare('update audit_log set actor = ?, prev_hash = ?, hash = ? where seq = ?');
    for (const row of rows.filter((r) => r.seq >= target.seq)) {
      const e: AuditEntry = fromRow(row);
      if (row.seq === target.seq) e.actor = 'user:admin';
      else e.prev = prev;
      const hash = entryHash({ ...e });
      update.run(e.actor, e.prev, hash, row.seq);
      rewritten.set(row.seq, hash);
      prev = hash;
    }
    const anchorUpdate = db.prepare('update audit_anchors set hash = ?, sig = null where seq = ?');
    for (const seq of rewritten.keys()) anchorUpdate.run(rewritten.get(seq), seq);
    db.close();
    const anchorFile = join(dataDir, 'audit-anchors.jsonl');
    const lines = readFileSync(anchorFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; hash: string; sig?: string });
    writeFileSync(
      anchorFile,
      lines.map((a) => JSON.stringify(rewritten.has(a.seq) ? { ...a, hash: rewritten.get(a.seq), sig: undefined } : a)).join('\n') + '\n',
    );
    chmodSync(anchorFile, 0o600);

    const plain = cli('-c', configFile, 'audit', 'verify');
    assert.equal(plain.status, 0, `without the key the rewrite passes (that is the attack): ${plain.stdout}${plain.stderr}`);
    const keyed = cli('-c', configFile, 'audit', 'verify', '--public-key', join(keys, 'audit.pub'));
    assert.equal(keyed.status, 1, keyed.stdout + keyed.stderr);
    assert.match(keyed.stdout, /past the last signed anchor/);

    // The server starts again and signs a new anchor over the rewritten head: the gap still shows.
    server = await start();
    await server.close();
    const again = cli('-c', configFile, 'audit', 'verify', '--public-key', join(keys, 'audit.pub'));
    assert.equal(again.status, 1, again.stdout + again.stderr);
    assert.match(again.stdout, /lie between signed anchors more than twice audit\.anchorEvery apart/);
  });
});
