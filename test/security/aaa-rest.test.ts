/**
 * Issue 16, Low: /api/v1/aaa/authorize and post-auth took a User-Name of any
 * length up to the body limit and held it 15 minutes, bounded by count and
 * not by bytes (80 posts of 900 kB: +75 MB). Against a running server with M3
 * and M4, as the AAA (role aaa): every field is bounded as RADIUS bounds it
 * (253 octets a value), oversized bodies are refused, and what is held of the
 * authentications stays within its configured memory, the rest forgotten and
 * counted.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { tempDir, testConfig } from '../support/fixtures.js';

const attr = (v: string) => ({ type: 'string', value: [v] });

describe("security: the AAA's REST endpoints bound every field and the memory they hold", () => {
  let server: Server;
  let aaa: string;
  let admin: string;

  before(async () => {
    const config = testConfig(
      join(tempDir(), 'data'),
      [
        'server:\n  port: 0',
        'rpz:',
        '  primary: { host: 127.0.0.1, port: 0 }',
        'measures:',
        '  credential-misuse: { enabled: true, maxHeldAuthMiB: 1 }',
        '  cc-dns-blocking:',
        '    enabled: true',
        '    unfilteredResolvers: { ipv4: [192.0.2.21] }',
        '    notice: { optOut: "https://member.isp.example.jp/dns", support: "0120-000-000", unfilteredResolver: "192.0.2.21" }',
        'ingest:\n  radius:\n    listeners: [{ host: "127.0.0.1", ' +
          'port: 0 }]\n    clients: [{ address: ' +
          '"127.0.0.1", secret: "s", name: "bras1" }]',
      ].join('\n'),
    );
    server = await serve(config, { out: new PassThrough(), logger: createLogger('silent') });
    aaa = (await server.mamori.accounts.createToken('module:test', 'freeradius', 'aaa')).token;
    admin = (await server.mamori.accounts.createToken('module:test', 'noc', 'admin')).token;
  });
  after(async () => {
    await server?.close();
  });

  const post = async (url: string, payload: object) => {
    const r = await server.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${aaa}` }, payload });
    return { status: r.statusCode, body: r.body };
  };
  const routes = [
    '/api/v1/aaa/authorize',
    '/api/v1/aaa/post-auth/accept',
    '/api/v1/aaa/post-auth/reject',
    '/api/v1/measures/cc-dns-blocking/aaa/post-auth',
  ];

  it('refuses a 900 kB User-Name on every AAA route', async () => {
    for (const url of routes) {
      const r = await post(url, { 'User-Name': attr('a'.repeat(900_000)) });
      assert.ok(r.status === 413 || r.status === 400, `${url}: ${r.status}`);
    }
  });

  it('takes 253 octets, refuses 254 (and counts octets, not characters), naming the bound', async () => {
    for (const url of routes) {
      assert.ok([200, 204].includes((await post(url, { 'User-Name': attr('u'.repeat(253)) })).status), url);
      const long = await post(url, { 'User-Name': attr('u'.repeat(254)) });
      assert.equal(long.status, 400, url);
      assert.match(long.body, /253 bytes/);
      assert.equal((await post(url, { 'User-Name': 'あ'.repeat(85) })).status, 400, `${url}: 255 octets in 85 characters`);
    }
  });

  it('bounds the other fields too: NAS-Identifier, Calling-Station-Id, attribute count, values per attribute, names', async () => {
    const ok = { 'User-Name': attr('bob@isp') };
    const bad: Array<[string, object]> = [
      ['NAS-Identifier of 300 bytes', { ...ok, 'NAS-Identifier': attr('n'.repeat(300)) }],
      ['Calling-Station-Id of 300 bytes', { ...ok, 'Calling-Station-Id': 'c'.repeat(300) }],
      ['65 attributes', { ...ok, ...Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`Attr-${i}`, attr('x')])) }],
      ['9 values of one attribute', { ...ok, Class: { type: 'octets', value: Array.from({ length: 9 }, () => 'x') } }],
      ['an attribute name of 100 characters', { ...ok, [`A${'b'.repeat(99)}`]: attr('x') }],
      ['a nested object', { ...ok, 'Reply-Message': { type: 'string', value: [{ deep: 'x'.repeat(1000) }] } }],
    ];
    for (const url of routes) {
      for (const [what, body] of bad) assert.equal((await post(url, body)).status, 400, `${url}: ${what}`);
    }
  });

  it('holds at most its memory bound of authentications, forgetting and counting the oldest', async () => {
    const big = {
      'User-Name': attr('u'.repeat(253)),
      'NAS-Identifier': attr('n'.repeat(253)),
      'Calling-Station-Id': attr('c'.repeat(253)),
    };
    // About 1.6 kB each as held: 1 MiB holds some 650 of them.
    for (let i = 0; i < 1200; i++) {
      const r = await post(i % 10 ? '/api/v1/aaa/post-auth/reject' : '/api/v1/aaa/authorize', {
        ...big,
        'User-Name': attr(`${i}`.padEnd(253, 'u')),
      });
      assert.equal(r.status, 204);
    }
    const r = await server.app.inject({ method: 'GET', url: '/api/v1/listeners', headers: { authorization: `Bearer ${admin}` } });
    assert.equal(r.statusCode, 200, r.body);
    const m4 = (
      JSON.parse(r.body) as {
        listeners: Array<{ owner: string; listener: string; counts: Record<string, number>; refused: Record<string, number> }>;
      }
    ).listeners.find((l) => l.owner === 'credential-misuse' && l.listener === 'aaa-rest')!;
    assert.ok(m4, r.body);
    assert.ok(m4.counts.heldBytes! <= 1024 * 1024, `held ${m4.counts.heldBytes} bytes`);
    assert.ok(m4.refused['memory-bound']! >= 400, JSON.stringify(m4));
    assert.ok(m4.counts.heldEvents! + m4.refused['memory-bound']! >= 1200);
  });
});
