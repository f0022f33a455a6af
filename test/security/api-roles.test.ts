/**
 * Issue 16: the role matrix over every route of a server with the measures
 * that add routes running (M2, M3, M4, M6 besides the core), so the sweep
 * covers the routes of M2, M3, M4 and M6 (and their AAA calls) too; and subscriber-identifying fields
 * (M4's account IDs and case ids, M3's consent) shown only to the roles that
 * may open a case, every read of them audited.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { PERMISSIONS, ROLES, type Role } from '../../src/core/roles.js';
import { tempDir, testConfig } from '../support/fixtures.js';

const PARAMS: Record<string, string> = {
  username: 'nobody',
  action: 'disable',
  id: 'x-0123456789abcdef',
  format: 'terms',
  kind: 'infection-alert',
  language: 'ja',
  subscriber: 'sub-0001',
  resolver: 'bind',
  zone: 'cc',
  result: 'accept',
  file: 'manifest.json',
};
const fill = (url: string) => url.replace(/:(\w+)/g, (_m, name: string) => PARAMS[name] ?? 'x');

describe('security: roles over every route, subscriber data to case roles only', () => {
  let server: Server;
  const tokens = {} as Record<Role, string>;
  const as = (role: Role) => ({ authorization: `Bearer ${tokens[role]}` });

  before(async () => {
    const dir = tempDir();
    const config = testConfig(
      join(dir, 'data'),
      [
        'server:\n  port: 0',
        'rpz:\n  primary: { host: 127.0.0.1, port: 0 }\n  transferTo: [127.0.0.1]',
        'measures:',
        '  cc-sharing:\n    enabled: true\n    taxii: { host: "127.0.0.1", port: 0 }',
        '  cc-dns-blocking:\n    enabled: true',
        '  credential-misuse:\n    enabled: true\n    analysisInterval: 1h',
        '  ddos-dns-blocking:',
        '    enabled: true',
        `    dnstap: { unix: [${JSON.stringify(join(dir, 'dnstap.sock'))}] }`,
        '    zone: ddos.rpz.isp.test',
        '  infected-host-alert:\n    enabled: true\n    prefixes: ["198.51.100.0/24"]\n    analysisInterval: 1h',
        'ingest:\n  radius:\n    listeners: [{ host: "127.0.0.1", port: 0 }]',
      ].join('\n'),
    );
    server = await serve(config, { analytics: false, out: new PassThrough(), logger: createLogger('silent') });
    for (const role of ROLES) tokens[role] = (await server.mamori.accounts.createToken('module:test', `${role} token`, role)).token;
    await sql`insert into m4_suspensions (account, since, until, case_id, detector, lifted_at, lifted_by, reminded)
      values ('taro@isp.example', ${new Date().toISOString()}, ${new Date(Date.now() + 86_400_000).toISOString()}, 'case-4242', 'burst',
        null, null, 0)`.execute(server.mamori.state.db);
  });
  after(() => server?.close());

  it('serves the routes of M3, M4 and M6, and of the AAA, each with a permission', () => {
    const urls = server.app.declaredRoutes.map((r) => r.url);
    for (const prefix of [
      '/api/v1/measures/cc-dns-blocking/',
      '/api/v1/measures/credential-misuse/',
      '/api/v1/measures/ddos-dns-blocking/',
      '/api/v1/measures/infected-host-alert/',
      '/api/v1/aaa/',
      '/api/v1/measures/cc-dns-blocking/aaa/',
      '/api/v1/measures/cc-sharing/',
      '/api/v1/cases',
    ]) {
      assert.ok(
        urls.some((u) => u.startsWith(prefix)),
        `no route under ${prefix}`,
      );
    }
    for (const r of server.app.declaredRoutes) assert.ok(r.permission || r.login || r.public || r.console, `${r.method} ${r.url}`);
    // Only the health routes go without credentials, and they carry no data (test/integration/operability.test.ts).
    assert.deepEqual(
      server.app.declaredRoutes
        .filter((r) => r.public)
        .map((r) => r.url)
        .sort(),
      ['/healthz', '/readyz'],
    );
  });

  it('refuses every route without credentials (401)', async () => {
    for (const r of server.app.declaredRoutes.filter((x) => !x.login && !x.public && !x.console)) {
      for (const auth of [undefined, 'Bearer nonsense', 'Basic YWRtaW46YWRtaW4=']) {
        const res = await server.app.inject({
          method: r.method as 'GET',
          url: fill(r.url),
          ...(auth ? { headers: { authorization: auth } } : {}),
        });
        assert.equal(res.statusCode, 401, `${r.method} ${r.url} with ${auth ?? 'nothing'}: ${res.body}`);
      }
    }
  });

  it('refuses every route to every role without its permission (403), audited', async () => {
    let checked = 0;
    for (const r of server.app.declaredRoutes.filter((x) => !x.login && !x.public && !x.console)) {
      const allowed = PERMISSIONS[r.permission!] as readonly Role[];
      for (const role of ROLES.filter((x) => !allowed.includes(x))) {
        const before = (await server.mamori.audit.head()).seq;
        const res = await server.app.inject({ method: r.method as 'GET', url: fill(r.url), headers: as(role) });
        assert.equal(res.statusCode, 403, `${role} on ${r.method} ${r.url}: ${res.body}`);
        let last;
        for await (const e of server.mamori.audit.entries({ afterSeq: before })) last = e;
        assert.equal(last?.action, 'api.forbidden', `${role} on ${r.method} ${r.url}`);
        checked += 1;
      }
    }
    assert.ok(checked >= 100, `only ${checked} refusals checked`);
  });

  it('lets each allowed role through the GET routes (not 401/403)', async () => {
    for (const r of server.app.declaredRoutes.filter((x) => !x.login && !x.public && !x.console && x.method === 'GET')) {
      for (const role of PERMISSIONS[r.permission!] as readonly Role[]) {
        const res = await server.app.inject({ method: 'GET', url: fill(r.url), headers: as(role) });
        assert.ok(![401, 403].includes(res.statusCode), `${role} on GET ${r.url}: ${res.statusCode} ${res.body}`);
      }
    }
  });

  it('shows M4 account IDs and case ids only to roles that may open the case, and audits each such read', async () => {
    const read = async (role: Role) => {
      const before = (await server.mamori.audit.head()).seq;
      const res = await server.app.inject({ method: 'GET', url: '/api/v1/measures/credential-misuse/suspensions', headers: as(role) });
      assert.equal(res.statusCode, 200, res.body);
      const audited = [];
      for await (const e of server.mamori.audit.entries({ afterSeq: before })) if (e.action === 'm4.suspensions.read') audited.push(e);
      return { body: res.body, audited };
    };
    for (const role of ['operator', 'auditor'] as const) {
      const r = await read(role);
      assert.ok(!r.body.includes('taro@isp.example') && !r.body.includes('case-4242'), `${role} sees ${r.body}`);
      assert.match(r.body, /"detector":"burst"/, 'the suspension itself is shown, unnamed');
    }
    for (const role of ['analyst', 'admin'] as const) {
      const r = await read(role);
      assert.match(r.body, /taro@isp\.example/);
      assert.equal(r.audited.length, 1, `${role}'s read is audited`);
      assert.equal(r.audited[0]!.actor.startsWith('token:'), true);
      assert.ok(!JSON.stringify(r.audited[0]).includes('taro'), 'the audit entry does not name the account');
    }
  });

  it("audits every read of a subscriber's consent, and keeps it from auditors", async () => {
    const put = await server.app.inject({
      method: 'PUT',
      url: '/api/v1/measures/cc-dns-blocking/consent/sub-0001',
      headers: as('operator'),
      payload: { choice: 'opt-out', channel: 'support-desk' },
    });
    assert.equal(put.statusCode, 200, put.body);
    const before = (await server.mamori.audit.head()).seq;
    const got = await server.app.inject({
      method: 'GET',
      url: '/api/v1/measures/cc-dns-blocking/consent/sub-0001',
      headers: as('operator'),
    });
    assert.equal(got.statusCode, 200, got.body);
    assert.equal((got.json() as { choice: string }).choice, 'opt-out');
    const reads = [];
    for await (const e of server.mamori.audit.entries({ afterSeq: before })) if (e.action === 'm3.consent.read') reads.push(e);
    assert.equal(reads.length, 1);
    assert.match(reads[0]!.object ?? '', /^m3-consent:\d+$/);
    assert.equal(
      (await server.app.inject({ method: 'GET', url: '/api/v1/measures/cc-dns-blocking/consent/sub-0001', headers: as('auditor') }))
        .statusCode,
      403,
    );
  });
});
