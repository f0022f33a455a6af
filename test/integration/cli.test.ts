/**
 * The `mamori` command as an operator runs it: a real process, real files.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { CLI, tempDir } from '../support/fixtures.js';

function mamori(args: string[], opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    cwd: opts.cwd,
    input: opts.input,
    env: { ...process.env, ...opts.env },
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function workspace(extra = ''): { dir: string; config: string } {
  const dir = tempDir();
  const config = join(dir, 'mamori.yaml');
  writeFileSync(config, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nserver:\n  port: 0\n${extra}`);
  return { dir, config };
}

describe('mamori CLI', () => {
  it('has help for every command', () => {
    const r = mamori(['--help']);
    assert.equal(r.code, 0);
    for (const c of ['serve', 'config', 'policy', 'audit', 'users', 'tokens', 'measures', 'retention'])
      assert.match(r.out, new RegExp(`\\b${c}\\b`));
    assert.match(mamori(['audit', 'verify', '--help']).out, /--file/);
  });

  it('config check accepts a good file and names the key in a bad one', () => {
    const { config } = workspace();
    assert.deepEqual([mamori(['config', 'check', config]).code], [0]);
    const bad = join(tempDir(), 'bad.yaml');
    writeFileSync(bad, 'server:\n  port: 99999\n  hots: x\n');
    const r = mamori(['config', 'check', bad]);
    assert.equal(r.code, 2);
    assert.match(r.err, /"server\.port": value 99999 is not allowed/);
    assert.match(r.err, /"server\.hots": unknown key; allowed here: host, port, trustProxy/);
    assert.doesNotMatch(r.err, /at .*\.js:\d+/, 'no stack trace for bad input');
    writeFileSync(bad, 'measures:\n  router-survey:\n    enabled: true\n');
    assert.match(mamori(['config', 'check', bad]).err, /M5 is not available in this build/);
    writeFileSync(bad, 'server: [\n');
    assert.match(mamori(['config', 'check', bad]).err, /YAML:/);
  });

  it('renders the five items of M3 in Japanese', () => {
    const r = mamori(['policy', 'render', '--format', 'terms', '--lang', 'ja']);
    assert.equal(r.code, 0, r.err);
    const m3 = r.out.slice(r.out.indexOf('[M3]'), r.out.indexOf('[M7]'));
    for (const heading of ['検知を行うこと', '検知の目的', '検知の時期', '検知の対象となる情報の範囲', '同意内容の変更（設定変更）']) {
      assert.match(m3, new RegExp(`\\*\\*${heading.replace(/[()（）]/g, '.')}\\*\\*`), heading);
    }
    assert.match(m3, /DNS問合せのFQDN/);
    assert.match(m3, /いつでも/);
    assert.match(m3, /停止中/);
    assert.match(mamori(['policy', 'render', '--format', 'notice', '--lang', 'en']).out, /M8 Emergency blocking/);
  });

  it('audit verify passes untouched, fails naming the entry after an edit, and exports files that verify', () => {
    const { dir, config } = workspace();
    assert.equal(mamori(['-c', config, 'users', 'add', 'carol', '--role', 'auditor']).code, 0);
    assert.equal(mamori(['-c', config, 'tokens', 'create', 'prometheus', '--role', 'operator']).code, 0);
    const ok = mamori(['-c', config, 'audit', 'verify']);
    assert.equal(ok.code, 0, ok.out + ok.err);
    assert.match(ok.out, /^OK: audit log: 2 entries/);

    const exportFile = join(dir, 'audit.jsonl');
    assert.equal(mamori(['-c', config, 'audit', 'export', '-o', exportFile]).code, 0);
    assert.match(mamori(['audit', 'verify', '--file', exportFile]).out, /^OK: /);

    const db = new Database(join(dir, 'data', 'state.sqlite'));
    db.prepare("update audit_log set actor = 'cli:mallory' where seq = 2").run();
    db.close();
    const bad = mamori(['-c', config, 'audit', 'verify']);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /FAILED: audit log/);
    assert.match(bad.out, /\[entry 2\] entry 2 was altered/);

    const text = readFileSync(exportFile, 'utf8');
    writeFileSync(exportFile, text.slice(0, -25));
    const torn = mamori(['audit', 'verify', '--file', exportFile]);
    assert.equal(torn.code, 1);
    assert.match(torn.out, /truncated mid-line/);
  });

  it('simulate sends only to this machine', () => {
    const r = mamori(['simulate', 'flows', '--to', '192.0.2.1:2055', '--subscribers', '10']);
    assert.equal(r.code, 2);
    assert.match(r.err, /sends only to this machine/);
    assert.match(mamori(['simulate', 'flows', '--to', 'nowhere']).err, /write ADDRESS:PORT/);
  });

  it('explains a corrupt state database and leaves it untouched', () => {
    const { dir, config } = workspace();
    const path = join(dir, 'data', 'state.sqlite');
    assert.equal(mamori(['-c', config, 'users', 'add', 'carol', '--role', 'auditor']).code, 0);
    const garbage = Buffer.alloc(8192, 0x5a);
    writeFileSync(path, garbage);
    const r = mamori(['-c', config, 'users', 'list']);
    assert.equal(r.code, 2);
    assert.match(r.err, /is not a SQLite database or is corrupt .*restore it from a backup/);
    assert.deepEqual(readFileSync(path), garbage);
  });

  it('explains a database locked by another process, and loses nothing', () => {
    const { dir, config } = workspace('state:\n  busyTimeout: 1s\n');
    assert.equal(mamori(['-c', config, 'users', 'add', 'dave', '--role', 'operator']).code, 0);
    const db = new Database(join(dir, 'data', 'state.sqlite'));
    db.exec('BEGIN EXCLUSIVE');
    const r = mamori(['-c', config, 'users', 'add', 'erin', '--role', 'operator']);
    db.exec('ROLLBACK');
    db.close();
    assert.equal(r.code, 2);
    assert.match(r.err, /is locked by another process/);
    const list = mamori(['-c', config, 'users', 'list']);
    assert.match(list.out, /^dave\toperator\tactive/m);
    assert.doesNotMatch(list.out, /erin/);
    assert.equal(mamori(['-c', config, 'audit', 'verify']).code, 0);
  });

  it('serves on a fresh data directory: admin password printed once, API and metrics up, clean stop', async () => {
    const { dir, config } = workspace();
    const child = spawn(process.execPath, [CLI, '-c', config, 'serve'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const deadline = Date.now() + 30_000;
    while (!/serving at (http:\S+)/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const url = /serving at (http:\S+)/.exec(out)?.[1];
    assert.ok(url, `server did not start: ${out}${err}`);
    // The password goes to the terminal (stderr); stdout, where the JSON log goes, never holds it.
    const password = /password: (\S+)/.exec(err)?.[1];
    assert.ok(password, `no password on stderr: ${err}`);
    assert.equal(out.includes(password), false, 'the password is not in the log stream');
    try {
      const login = await fetch(`${url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password }),
      });
      assert.equal(login.status, 200);
      const { token } = (await login.json()) as { token: string };
      const metrics = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      assert.match(await metrics.text(), /mamori_measure_state\{measure="router-survey",code="M5",state="not-available"\} 1/);
      assert.equal((await fetch(`${url}/metrics`)).status, 401);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    assert.equal(child.exitCode, 0);
    // The password is not stored in clear anywhere in the data directory.
    const state = readFileSync(join(dir, 'data', 'state.sqlite'));
    assert.equal(state.includes(Buffer.from(password)), false);
    const verify = mamori(['-c', config, 'audit', 'verify']);
    assert.equal(verify.code, 0, verify.out);
    // A second start finds the admin and prints no password.
    const again = spawn(process.execPath, [CLI, '-c', config, 'serve'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out2 = '';
    again.stdout.on('data', (c: Buffer) => {
      out2 += c.toString();
    });
    again.stderr.on('data', (c: Buffer) => {
      out2 += c.toString();
    });
    while (!/serving at/.test(out2) && Date.now() < deadline + 30_000) await new Promise((r) => setTimeout(r, 100));
    again.kill('SIGTERM');
    await new Promise((r) => again.once('exit', r));
    assert.doesNotMatch(out2, /password:/);
  });
});
