/**
 * One error hierarchy: every error class in the code is a MamoriError with a
 * stable code, a name and an HTTP status; the API's one error handler answers
 * with them; the CLI prints the same message.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { buildApi } from '../../src/api/server.js';
import { openMamori } from '../../src/app/mamori.js';
import { loadConfig } from '../../src/core/config.js';
import { MamoriError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import { Metrics } from '../../src/core/metrics.js';
import { CandidateError } from '../../src/measures/cc-detection/candidates.js';
import { StateStoreError } from '../../src/store/state/store.js';
import { CLI, openTest, REPO_ROOT, tempDir } from '../support/fixtures.js';

function files(dir: string, ext: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p, ext) : p.endsWith(ext) ? [p] : [];
  });
}

describe('one error hierarchy', () => {
  it('gives every error class a stable code, its name and an HTTP status', async () => {
    // Modules that run on import (the CLI entry point, worker threads) are read as text below.
    const modules = files(join(REPO_ROOT, 'dist/src'), '.js').filter((f) => !/cli\/main\.js$|-worker\.js$/.test(f));
    const classes = new Map<string, typeof MamoriError>();
    for (const f of modules) {
      for (const [key, value] of Object.entries((await import(pathToFileURL(f).href)) as Record<string, unknown>)) {
        if (typeof value !== 'function' || value === MamoriError || !(value.prototype instanceof Error)) continue;
        classes.set(`${relative(REPO_ROOT, f)}:${key}`, value as typeof MamoriError);
      }
    }
    assert.ok(classes.size >= 29, `only ${classes.size} error classes found`);
    const codes = new Map<string, string>();
    for (const [where, E] of classes) {
      assert.ok(E.prototype instanceof MamoriError, `${where} is not a MamoriError`);
      assert.match(E.code, /^[a-z][a-z0-9-]{1,40}$/, `${where}: code`);
      assert.ok(Number.isInteger(E.status) && E.status >= 400 && E.status <= 599, `${where}: status ${E.status}`);
      assert.equal((Object.create(E.prototype) as Error).name, E.name, `${where}: name`);
      assert.ok(!codes.has(E.code) || codes.get(E.code) === E.name, `${where}: code ${E.code} is also ${codes.get(E.code)}'s`);
      codes.set(E.code, E.name);
    }
    // Classes a module does not export are caught by the source itself.
    const stray = files(join(REPO_ROOT, 'src'), '.ts').filter(
      (f) => !f.endsWith('core/errors.ts') && /\bextends Error\b/.test(readFileSync(f, 'utf8')),
    );
    assert.deepEqual(
      stray.map((f) => relative(REPO_ROOT, f)),
      [],
      'every error class extends MamoriError',
    );
    // An instance says what it is, in a log line and in a stack.
    const e = new StateStoreError('state database x is locked');
    assert.deepEqual(
      [e.name, e.code, e.status, String(e.stack).split('\n')[0]],
      ['StateStoreError', 'state-store', 503, 'StateStoreError: state database x is locked'],
    );
  });

  it("maps them in the API's one error handler: status, stable code, message; a server error hides its message", async () => {
    const m = await openTest();
    const lines: string[] = [];
    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter(Boolean)));
    const app = await buildApi({
      mamori: m,
      metrics: new Metrics(m.registry),
      logger: createLogger('info', sink),
      runningRoutes: [
        async (a) => {
          a.get('/api/v1/test/throw/:what', { config: { permission: 'measures:read' } }, async (request) => {
            const what = (request.params as { what: string }).what;
            if (what === 'conflict') throw new CandidateError('candidate c-1 is withdrawn');
            if (what === 'store') throw new StateStoreError('state database /secret/path is locked');
            throw new Error('a bug');
          });
        },
      ],
    });
    const token = (await m.accounts.createToken('module:test', 't', 'admin')).token;
    const get = async (what: string) => {
      const r = await app.inject({ method: 'GET', url: `/api/v1/test/throw/${what}`, headers: { authorization: `Bearer ${token}` } });
      return [r.statusCode, r.json()];
    };
    assert.deepEqual(await get('conflict'), [409, { error: 'conflict', code: 'cc-candidate', message: 'candidate c-1 is withdrawn' }]);
    const hidden = 'internal error; see the server log';
    assert.deepEqual(await get('store'), [503, { error: 'unavailable', code: 'state-store', message: hidden }]);
    assert.deepEqual(await get('bug'), [500, { error: 'internal', code: 'internal', message: 'internal error; see the server log' }]);
    const logged = lines.map((l) => JSON.parse(l) as { err?: { type: string }; code?: string }).filter((l) => l.err);
    assert.deepEqual(
      logged.map((l) => [l.err!.type, l.code]),
      [
        ['StateStoreError', 'state-store'],
        ['Error', undefined],
      ],
    );
    await app.close();
  });

  it('prints in the CLI the message the API gives, exit 2, no stack', async () => {
    const dir = tempDir();
    const config = join(dir, 'mamori.yaml');
    writeFileSync(config, `dataDir: ${JSON.stringify(join(dir, 'data'))}\n`);
    const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, '-c', config, ...args], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(cli('users', 'add', 'carol', '--role', 'auditor').status, 0);
    const again = cli('users', 'add', 'carol', '--role', 'auditor');
    assert.equal(again.status, 2);
    assert.equal(again.stderr, 'mamori: user "carol" already exists\n');

    const m = await openMamori(loadConfig(config));
    const app = await buildApi({ mamori: m, metrics: new Metrics(m.registry), logger: createLogger('silent') });
    const token = (await m.accounts.createToken('module:test', 't', 'admin')).token;
    const r = await app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { authorization: `Bearer ${token}` },
      payload: { username: 'carol', role: 'auditor' },
    });
    assert.equal(r.statusCode, 400);
    assert.deepEqual(r.json(), { error: 'bad-request', code: 'account', message: 'user "carol" already exists' });
    await app.close();
    await m.close();
  });
});
