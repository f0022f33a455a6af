/**
 * What a newcomer runs into: paths relative to the configuration file, a
 * command pointed at nothing, health checks, a port already taken, what the
 * first `npm start` says while it works.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { serve } from '../../src/app/serve.js';
import { buildApi } from '../../src/api/server.js';
import { createLogger } from '../../src/core/logger.js';
import { Metrics } from '../../src/core/metrics.js';
import { CLI, measuresWithM1InletOnly, openTest, REPO_ROOT, tempDir, testConfig } from '../support/fixtures.js';

function mamori(args: string[], cwd: string) {
  const env = { ...process.env, MAMORI_CONFIG: '' };
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd, timeout: 60_000, env });
  return { code: r.status, out: r.stdout, err: r.stderr, signal: r.signal };
}

async function occupy(host: string): Promise<{ server: NetServer; port: number }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen({ host, port: 0 }, r));
  return { server, port: (server.address() as { port: number }).port };
}

describe('operability', () => {
  it("resolves dataDir and other relative paths against the configuration file's folder, not the current directory", () => {
    const home = tempDir();
    const elsewhere = tempDir();
    writeFileSync(join(home, 'mamori.yaml'), 'dataDir: data\n');
    assert.equal(mamori(['-c', join(home, 'mamori.yaml'), 'users', 'add', 'carol', '--role', 'auditor'], elsewhere).code, 0);
    assert.ok(existsSync(join(home, 'data', 'state.sqlite')), 'the store is beside the configuration');
    assert.deepEqual(readdirSync(elsewhere), [], 'nothing is created where the command was run');
    const ok = mamori(['-c', join(home, 'mamori.yaml'), 'audit', 'verify'], elsewhere);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /^OK: audit log: 1 entry/);
  });

  it('says there is no store, exits 2 and creates nothing, instead of verifying an empty one', () => {
    const empty = tempDir();
    const r = mamori(['audit', 'verify'], empty);
    assert.equal(r.code, 2);
    assert.ok(r.err.startsWith(`mamori: no Mamori data at ${join(empty, 'data')} `), r.err);
    assert.match(r.err, /embedded defaults/);
    assert.doesNotMatch(r.out, /chain intact/);
    assert.deepEqual(readdirSync(empty), []);
    for (const args of [
      ['retention', 'run'],
      ['users', 'list'],
      ['policy', 'render', '--format', 'report'],
    ]) {
      const x = mamori(args, empty);
      assert.equal(x.code, 2, args.join(' '));
      assert.match(x.err, /no Mamori data at/);
    }
    assert.deepEqual(readdirSync(empty), []);
  });

  it('answers /healthz and /readyz without credentials, with component states and no data', async () => {
    const dir = tempDir();
    const server = await serve(
      testConfig(
        join(dir, 'data'),
        [
          'server:\n  port: 0',
          'measures:\n  cc-detection: { enabled: true }',
          'ingest:\n  flows:\n    listeners: [{ host: "127.0.0.1", port: 0 }]',
        ].join('\n'),
      ),
      { measures: measuresWithM1InletOnly(), out: new PassThrough(), logger: createLogger('silent') },
    );
    try {
      const health = await fetch(`${server.url}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      const ready = await fetch(`${server.url}/readyz`);
      const body = await ready.text();
      assert.equal(ready.status, 200, body);
      const checks = { 'state-store': 'ok', 'analytics-store': 'ok', 'flow-inlet': 'listening', M1: 'running' };
      assert.deepEqual(JSON.parse(body), { ready: true, checks });
      assert.doesNotMatch(body, /\d+\.\d+\.\d+\.\d+|::|:\d{2,5}\b/, 'no address or port');
      // Everything else still needs credentials.
      assert.equal((await fetch(`${server.url}/api/v1/measures`)).status, 401);
    } finally {
      await server.close();
    }
    // Not ready while an input is down: 503 with the component named.
    const m = await openTest();
    const readiness = () => ({ 'flow-inlet': 'stopping' });
    const app = await buildApi({ mamori: m, metrics: new Metrics(m.registry), logger: createLogger('silent'), readiness });
    const r = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(r.statusCode, 503);
    assert.deepEqual(r.json(), { ready: false, checks: { 'state-store': 'ok', 'flow-inlet': 'stopping' } });
    await app.close();
  });

  it('stops on a taken API port with one clear line and exit 2, before any file or account is made', async () => {
    const { server, port } = await occupy('127.0.0.1');
    try {
      const home = tempDir();
      writeFileSync(join(home, 'mamori.yaml'), `server: { host: 127.0.0.1, port: ${port} }\n`);
      const r = mamori(['-c', join(home, 'mamori.yaml'), 'serve'], home);
      assert.equal(r.code, 2, r.err);
      assert.equal(r.err.trim().split('\n').length, 1, r.err);
      assert.match(r.err, new RegExp(`^mamori: cannot listen on 127\\.0\\.0\\.1:${port} \\(server\\.port\\): .*already in use`));
      assert.doesNotMatch(r.out, /password/);
      assert.deepEqual(readdirSync(home), ['mamori.yaml'], 'no data directory');
    } finally {
      server.close();
    }
  });

  it('stops on a port a measure needs with one clear line and exit 2, and creates no admin', async () => {
    const { server, port } = await occupy('127.0.0.1');
    try {
      const home = tempDir();
      const sharing = `cc-sharing: { enabled: true, taxii: { host: 127.0.0.1, port: ${port} } }`;
      writeFileSync(join(home, 'mamori.yaml'), `dataDir: data\nserver: { port: 0 }\nmeasures:\n  ${sharing}\n`);
      const r = mamori(['-c', join(home, 'mamori.yaml'), 'serve'], home);
      assert.equal(r.signal, null, 'exits by itself');
      assert.equal(r.code, 2, r.err);
      assert.equal(r.err.trim().split('\n').length, 1, r.err);
      assert.match(r.err, /^mamori: a port Mamori needs is already in use .*change the port in the configuration/);
      const db = new Database(join(home, 'data', 'state.sqlite'), { readonly: true });
      assert.equal((db.prepare('select count(*) as n from users').get() as { n: number }).n, 0, 'no admin account');
      db.close();
    } finally {
      server.close();
    }
  });

  it('says, the first time npm start runs, what it is doing; later it compiles only what changed', () => {
    // The real script in a tree of its own, with npm and npx replaced by stubs that record their calls.
    const root = tempDir();
    const bin = join(root, 'bin');
    for (const d of ['scripts', 'src', 'native/flow-receiver', 'build/Release', 'dist/src/cli', 'node_modules', 'bin']) {
      mkdirSync(join(root, d), { recursive: true });
    }
    copyFileSync(join(REPO_ROOT, 'scripts/ensure-deps.sh'), join(root, 'scripts/ensure-deps.sh'));
    const past = new Date(Date.now() - 3600_000);
    for (const f of ['native/flow-receiver/receiver.cc', 'binding.gyp', 'node_modules/.package-lock.json', 'tsconfig.json', 'src/a.ts']) {
      writeFileSync(join(root, f), '');
      utimesSync(join(root, f), past, past);
    }
    writeFileSync(join(root, 'build/Release/flow_receiver.node'), '');
    writeFileSync(join(root, 'package-lock.json'), '{}'); // newer than node_modules: an install is due
    writeFileSync(join(root, 'dist/src/cli/main.js'), '');
    for (const tool of ['npm', 'npx']) {
      writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> "${join(root, 'calls')}"\n`);
      chmodSync(join(bin, tool), 0o755);
    }
    const run = () => {
      const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
      const r = spawnSync('sh', ['scripts/ensure-deps.sh'], { cwd: root, encoding: 'utf8', env, timeout: 30_000 });
      assert.equal(r.status, 0, r.stderr);
      const calls = existsSync(join(root, 'calls')) ? readFileSync(join(root, 'calls'), 'utf8') : '';
      writeFileSync(join(root, 'calls'), '');
      return { err: r.stderr, calls };
    };
    const first = run();
    assert.match(first.err, /^mamori: installing npm dependencies .*\.\.\.$/m);
    assert.match(first.err, /^mamori: compiling the TypeScript sources into dist\/ .*\.\.\.$/m);
    assert.match(first.err, /^mamori: compiled \(\d+ s\)$/m);
    assert.match(first.calls, /npm install/);
    assert.match(first.calls, /npx --no-install tsc -p tsconfig\.json/);
    // Dependencies in place (npm would have rewritten its lock), nothing changed: silent and no compile.
    writeFileSync(join(root, 'node_modules/.package-lock.json'), '');
    const again = run();
    assert.equal(again.err, '');
    assert.equal(again.calls, '');
    // A source changes: it compiles again, and says so.
    writeFileSync(join(root, 'src/a.ts'), 'export {};\n');
    const soon = new Date(Date.now() + 10_000);
    utimesSync(join(root, 'src/a.ts'), soon, soon);
    const changed = run();
    assert.match(changed.err, /^mamori: compiling the TypeScript/m);
    assert.match(changed.calls, /tsc/);
  });
});
