/**
 * Issue 16, the API's own accounts attacked over real HTTP on loopback: login
 * guessing past the throttle by rotating X-Forwarded-For, everyone behind the
 * reverse proxy locked out by one guesser (and by their own successful logins),
 * the 429 saying "bad-request", weak passwords accepted, and API tokens that
 * outlive the right of the user who made them.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { serve, type Server } from '../../src/app/serve.js';
import { ConfigError, parseConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import { tempDir, testConfig } from '../support/fixtures.js';

const PROXY = '127.0.0.1';
const STRONG = 'violet-Harbour-tram-1987';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

/** One HTTP request from a chosen loopback source address, optionally through "the proxy" (X-Forwarded-For). */
function http(
  url: string,
  method: string,
  path: string,
  o: { from?: string; xff?: string; token?: string; body?: object } = {},
): Promise<Reply> {
  const payload = o.body ? JSON.stringify(o.body) : undefined;
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, url),
      {
        method,
        localAddress: o.from ?? PROXY,
        timeout: 20_000,
        headers: {
          ...(payload ? { 'content-type': 'application/json' } : {}),
          ...(o.xff ? { 'x-forwarded-for': o.xff } : {}),
          ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}

describe('security: logins, passwords and tokens', () => {
  let server: Server;
  let admin: string;
  const login = (username: string, password: string, o: { from?: string; xff?: string } = {}) =>
    http(server.url, 'POST', '/api/v1/auth/login', { ...o, body: { username, password } });

  before(async () => {
    const config = testConfig(
      join(tempDir(), 'data'),
      [
        'server:\n  host: 127.0.0.1\n  port: 0',
        `  trustProxy: [${PROXY}]`,
        'auth:\n  loginAttempts: 5\n  accountLoginAttempts: 8\n  loginWindow: 10m',
      ].join('\n'),
    );
    server = await serve(config, { analytics: false, out: new PassThrough(), logger: createLogger('silent') });
    admin = (await server.mamori.accounts.createToken('module:test', 'admin', 'admin')).token;
    for (const [name, role] of [
      ['victim', 'analyst'],
      ['office1', 'operator'],
      ['office2', 'operator'],
    ] as const) {
      await server.mamori.accounts.createUser('module:test', name, role, STRONG);
    }
  });
  after(() => server?.close());

  it('refuses trustProxy: true (any client could name its own address)', () => {
    assert.throws(
      () => parseConfig('server:\n  trustProxy: true\n', 'test'),
      (err: unknown) => err instanceof ConfigError && /"server\.trustProxy".*reverse proxies/.test(err.message),
    );
  });

  it('throttles a guesser that rotates X-Forwarded-For, by address when it is not a proxy and by account through the proxy', async () => {
    // Not a listed proxy: its X-Forwarded-For is ignored, the peer address is counted.
    const direct: number[] = [];
    for (let i = 0; i < 7; i++)
      direct.push((await login('victim', `guess-${i}`, { from: '127.0.0.7', xff: `198.51.100.${i + 1}` })).status);
    assert.deepEqual(direct, [401, 401, 401, 401, 401, 429, 429]);
    // Through the proxy, each guess claims a new client address: the account's own limit stops it.
    const proxied: number[] = [];
    for (let i = 0; i < 6; i++) proxied.push((await login('victim', `guess-p${i}`, { xff: `203.0.113.${i + 1}` })).status);
    assert.deepEqual(proxied, [401, 401, 401, 429, 429, 429], 'eight failures for the account in all (five direct, three proxied)');
    const r = await login('victim', STRONG, { xff: '203.0.113.200' });
    assert.equal(r.status, 429, 'a locked account is not checked at all: the right password would confirm a guess');
    assert.equal(r.body.error, 'too-many-attempts');
    assert.match(String(r.body.message), /too many failed logins for this account; try again in \d+ s/);
    assert.match(String(r.headers['retry-after']), /^\d+$/);
  });

  it('does not lock out the other users behind the reverse proxy, nor count successful logins', async () => {
    const guesser: number[] = [];
    for (let i = 0; i < 6; i++) guesser.push((await login(`nobody${i}`, 'wrong password', { xff: '198.51.100.66' })).status);
    assert.deepEqual(guesser, [401, 401, 401, 401, 401, 429]);
    const blocked = await login('office1', STRONG, { xff: '198.51.100.66' });
    assert.equal(blocked.status, 429);
    assert.match(String(blocked.body.message), /from this address/);
    for (let i = 0; i < 8; i++) {
      const ok = await login(i % 2 ? 'office1' : 'office2', STRONG, { xff: '192.0.2.10' });
      assert.equal(ok.status, 200, `login ${i + 1} from the office: ${JSON.stringify(ok.body)}`);
    }
    const text = await (await server.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${admin}` } })).body;
    assert.match(text, /mamori_login_throttled_total\{by="address"\} [1-9]/);
  });

  it('refuses a password a strength estimator rates weak, and says why', async () => {
    const session = (await login('office2', STRONG, { xff: '192.0.2.11' })).body.token as string;
    const weak = await http(server.url, 'POST', '/api/v1/me/password', { token: session, body: { current: STRONG, new: 'aaaaaaaaaaaa' } });
    assert.equal(weak.status, 400, JSON.stringify(weak.body));
    assert.match(String(weak.body.message), /too easy to guess.*Repeated characters/);
    assert.match(String(weak.body.message), /推測されやすすぎます/);
    const created = await http(server.url, 'POST', '/api/v1/users', {
      token: admin,
      body: { username: 'intern', role: 'operator', password: 'password1234' },
    });
    assert.equal(created.status, 400, JSON.stringify(created.body));
    assert.match(String(created.body.message), /commonly used password/);
    const ok = await http(server.url, 'POST', '/api/v1/me/password', {
      token: session,
      body: { current: STRONG, new: 'cobalt-Meadow-kite-2291' },
    });
    assert.equal(ok.status, 204, JSON.stringify(ok.body));
  });

  it('revokes the tokens a user made when that user is disabled or demoted', async () => {
    for (const name of ['boss', 'boss2']) await server.mamori.accounts.createUser('module:test', name, 'admin', STRONG);
    const tokenOf = async (name: string) => {
      const session = (await login(name, STRONG, { xff: '192.0.2.20' })).body.token as string;
      const t = await http(server.url, 'POST', '/api/v1/tokens', { token: session, body: { name: `${name} script`, role: 'admin' } });
      assert.equal(t.status, 201, JSON.stringify(t.body));
      const token = t.body.token as string;
      assert.equal((await http(server.url, 'GET', '/api/v1/users', { token })).status, 200);
      return token;
    };
    const t1 = await tokenOf('boss');
    const t2 = await tokenOf('boss2');
    assert.equal((await http(server.url, 'POST', '/api/v1/users/boss/disable', { token: admin })).status, 204);
    assert.equal((await http(server.url, 'GET', '/api/v1/users', { token: t1 })).status, 401, "the disabled admin's token still works");
    const demoted = await http(server.url, 'POST', '/api/v1/users/boss2/role', { token: admin, body: { role: 'auditor' } });
    assert.equal(demoted.status, 204, JSON.stringify(demoted.body));
    assert.equal((await http(server.url, 'GET', '/api/v1/users', { token: t2 })).status, 401, "the demoted admin's token still works");
    const tokens = (await http(server.url, 'GET', '/api/v1/tokens', { token: admin })).body.tokens as Array<{
      createdBy: string;
      revokedAt: string | null;
    }>;
    assert.ok(
      tokens.filter((t) => t.createdBy === 'user:boss' || t.createdBy === 'user:boss2').every((t) => t.revokedAt),
      'revoked in the list too',
    );
    assert.equal(
      (await http(server.url, 'GET', '/api/v1/users', { token: admin })).status,
      200,
      'a token made by the CLI has no such owner',
    );
  });
});
