/**
 * Issue 19, without a browser: the console's page and assets as the API server serves them (CSP,
 * caching, history routes, no path escape, /api still JSON 401), the page when the console is not
 * built, and the two routes the console added: the configuration check and the vocabulary.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { CONSOLE_CSP, CONSOLE_ROOT, registerConsole } from '../../src/api/console.js';
import { configChecks } from '../../src/api/routes/config.js';
import { buildApi, type Api } from '../../src/api/server.js';
import type { Mamori } from '../../src/app/mamori.js';
import { generateSigningKeys } from '../../src/core/audit/signing.js';
import { createLogger } from '../../src/core/logger.js';
import { Metrics } from '../../src/core/metrics.js';
import { LEGAL_BASIS_IDS } from '../../src/core/vocabulary.js';
import { openTest, tempDir } from '../support/fixtures.js';

describe('console served by the API server', () => {
  let m: Mamori;
  let app: Api;
  let admin = '';
  let analyst = '';

  before(async () => {
    assert.ok(existsSync(join(CONSOLE_ROOT, 'index.html')), `the console is not built in ${CONSOLE_ROOT}: run sh scripts/ensure-deps.sh`);
    m = await openTest();
    app = await buildApi({ mamori: m, metrics: new Metrics(m.registry), logger: createLogger('silent') });
    admin = (await m.accounts.createToken('module:test', 'admin', 'admin')).token;
    analyst = (await m.accounts.createToken('module:test', 'analyst', 'analyst')).token;
  });

  it('serves the page for / and every /console route, with its CSP, no inline code, revalidated', async () => {
    for (const url of ['/', '/console', '/console/audit', '/console/a/b?x=1']) {
      const res = await app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.match(String(res.headers['content-type']), /^text\/html/);
      assert.equal(res.headers['content-security-policy'], CONSOLE_CSP);
      assert.equal(res.headers['cache-control'], 'no-cache');
      assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN');
      assert.doesNotMatch(res.body, /<script>|<style|\sstyle=|\son\w+=/, 'no inline script, style or handler');
    }
    assert.doesNotMatch(CONSOLE_CSP, /unsafe|\*|data:/);
  });

  it('serves the hashed assets for a year, and nothing outside them', async () => {
    const page = (await app.inject({ method: 'GET', url: '/' })).body;
    const assets = [...page.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((x) => x[1]!);
    assert.equal(assets.length, 2, page);
    for (const url of assets) {
      const res = await app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.match(String(res.headers['cache-control']), /max-age=31536000.*immutable/);
      assert.equal(res.headers['content-security-policy'], CONSOLE_CSP);
    }
    for (const url of [
      '/assets/..%2f..%2fpackage.json',
      '/assets/%2e%2e%2findex.html',
      '/assets/missing.js',
      '/console.js',
      '/index.html',
    ]) {
      const res = await app.inject({ method: 'GET', url });
      assert.ok([401, 404].includes(res.statusCode), `${url}: ${res.statusCode}`);
      assert.doesNotMatch(res.body, /"name": "mamori"|<html/, url);
    }
  });

  it('keeps every /api path JSON 401 without credentials', async () => {
    for (const url of ['/api/v1/measures', '/api/v1/nothing', '/api/v1/config/check', '/api/v1/vocabulary', '/api']) {
      const res = await app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 401, url);
      assert.match(String(res.headers['content-type']), /application\/json/);
    }
  });

  it('says the console is not built, instead of failing, when dist/console is missing', async () => {
    const bare = Fastify() as unknown as Api;
    await registerConsole(bare, join(tempDir(), 'nothing'));
    const res = await bare.inject({ method: 'GET', url: '/console/overview' });
    assert.equal(res.statusCode, 503);
    assert.match(res.body, /npm start/);
    assert.equal((await bare.inject({ method: 'GET', url: '/assets/index.js' })).statusCode, 404);
    await bare.close();
  });

  it('gives the vocabulary in both languages to any reader of the measures', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/vocabulary', headers: { authorization: `Bearer ${analyst}` } });
    assert.equal(res.statusCode, 200);
    const v = res.json() as { legalBases: Record<string, { ja: string; en: string; short: { ja: string } }>; dataItems: object };
    assert.deepEqual(Object.keys(v.legalBases).sort(), [...LEGAL_BASIS_IDS].sort());
    assert.equal(v.legalBases['legitimate-business']!.short.ja, '正当業務行為');
    assert.ok(Object.keys(v.dataItems).includes('flow.addresses'));
  });

  it('checks the running configuration for operators, naming settings, not values', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/config/check', headers: { authorization: `Bearer ${admin}` } });
    assert.equal(res.statusCode, 200);
    const r = res.json() as { ok: boolean; checks: Array<{ id: string; setting: string; result: string }> };
    // The embedded defaults: loopback, no signing key, no measure enabled.
    assert.deepEqual(
      r.checks.map((c) => [c.id, c.setting, c.result]),
      [
        ['server-loopback', 'server.host', 'ok'],
        ['audit-signing', 'audit.signingKeyFile', 'warning'],
      ],
    );
    assert.equal(r.ok, false);
    const refused = await app.inject({ method: 'GET', url: '/api/v1/config/check', headers: { authorization: `Bearer ${analyst}` } });
    assert.equal(refused.statusCode, 403);
  });

  it('warns of an API beyond loopback, an open flow inlet and RADIUS without clients', async () => {
    const dir = tempDir();
    generateSigningKeys(join(dir, 'key.pem'), join(dir, 'key.pub'));
    const open = await openTest(
      [
        'server:\n  host: 0.0.0.0',
        'measures:',
        '  cc-detection:\n    enabled: true\n    scope: { subscriberPrefixes: [198.51.100.0/24] }',
        '  cc-dns-blocking:\n    enabled: true',
        'rpz:\n  primary: { host: 127.0.0.1, port: 0 }\n  transferTo: [127.0.0.1]',
        `audit:\n  signingKeyFile: ${JSON.stringify(join(dir, 'key.pem'))}`,
      ].join('\n'),
      { analytics: false },
    );
    const byId = Object.fromEntries(configChecks(open).map((c) => [c.id, c]));
    assert.equal(byId['server-loopback']!.result, 'warning');
    assert.equal(byId['audit-signing']!.result, 'ok');
    assert.equal(byId['flow-exporters']!.result, 'warning');
    assert.equal(byId['radius-clients']!.result, 'warning');
    assert.doesNotMatch(JSON.stringify(byId), /0\.0\.0\.0|key\.pem/, 'no value shown');
    const closed = await openTest(
      [
        'measures:',
        '  cc-dns-blocking:\n    enabled: true',
        'rpz:\n  primary: { host: 127.0.0.1, port: 0 }\n  transferTo: [127.0.0.1]',
        'ingest:\n  radius:\n    clients: [{ address: 127.0.0.1, secret: testing123 }]',
      ].join('\n'),
      { analytics: false },
    );
    assert.equal(configChecks(closed).find((c) => c.id === 'radius-clients')!.result, 'ok');
  });
});
