/**
 * The HTTP API through Fastify's injector: every route refuses an
 * unauthenticated call and a call from a role without its permission.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { before, describe, it } from 'node:test';
import { buildApi, type Api } from '../../src/api/server.js';
import type { Mamori } from '../../src/app/mamori.js';
import { createLogger } from '../../src/core/logger.js';
import { Metrics } from '../../src/core/metrics.js';
import { PERMISSIONS, ROLES, type Role } from '../../src/core/roles.js';
import { ccLikeFeatures, openTest } from '../support/fixtures.js';
import { casesFor } from '../../src/notify/cases.js';
import { ALL_MEASURES } from '../../src/measures/index.js';
import { applyDetections } from '../../src/measures/cc-detection/candidates.js';

const logLines: string[] = [];

function fillPath(url: string): string {
  const id = url.startsWith('/api/v1/measures/cc-detection/') ? 'c-0123456789abcdef' : 'cc-detection';
  return url.replace(':username', 'nobody').replace(':action', 'disable').replace(':id', id).replace(':format', 'terms');
}

describe('HTTP API', () => {
  let m: Mamori;
  let app: Api;
  const tokens = {} as Record<Role, string>;

  before(async () => {
    m = await openTest('auth:\n  loginAttempts: 5\n  loginWindow: 1m\n');
    const sink = new PassThrough();
    sink.on('data', (chunk: Buffer) => logLines.push(...chunk.toString().split('\n').filter(Boolean)));
    app = await buildApi({ mamori: m, metrics: new Metrics(m.registry), logger: createLogger('info', sink) });
    for (const role of ROLES) tokens[role] = (await m.accounts.createToken('module:test', `${role} token`, role)).token;
    await m.accounts.createUser('module:test', 'alice', 'analyst', 'correct horse battery');
  });

  it('declares a permission on every route', () => {
    assert.ok(app.declaredRoutes.length >= 15, `only ${app.declaredRoutes.length} routes`);
    for (const r of app.declaredRoutes) assert.ok(r.permission || r.login || r.public || r.console, `${r.method} ${r.url}`);
    assert.deepEqual(
      app.declaredRoutes.filter((r) => r.login).map((r) => r.url),
      ['/api/v1/auth/login'],
    );
    assert.deepEqual(
      app.declaredRoutes.filter((r) => r.public).map((r) => r.url),
      ['/healthz', '/readyz'],
    );
    // The console's page and assets only (src/api/console.ts): nothing under /api.
    assert.deepEqual(
      app.declaredRoutes
        .filter((r) => r.console)
        .map((r) => r.url)
        .sort(),
      ['/', '/assets/:file', '/console', '/console/*', '/favicon.svg'],
    );
  });

  it('refuses every route without credentials (401)', async () => {
    for (const r of app.declaredRoutes.filter((x) => !x.login && !x.public && !x.console)) {
      for (const auth of [undefined, 'Bearer nonsense', `Bearer ${tokens.admin}x`, 'Basic YWRtaW46YWRtaW4=']) {
        const res = await app.inject({
          method: r.method as 'GET',
          url: fillPath(r.url),
          ...(auth ? { headers: { authorization: auth } } : {}),
        });
        assert.equal(res.statusCode, 401, `${r.method} ${r.url} with ${auth ?? 'nothing'}: ${res.body}`);
        assert.equal(res.headers['www-authenticate'], 'Bearer realm="mamori"');
      }
    }
  });

  it('refuses every route to every role without its permission (403), audited', async () => {
    let checked = 0;
    for (const r of app.declaredRoutes.filter((x) => !x.login && !x.public && !x.console)) {
      const allowed = PERMISSIONS[r.permission!] as readonly Role[];
      for (const role of ROLES.filter((x) => !allowed.includes(x))) {
        const before = (await m.audit.head()).seq;
        const res = await app.inject({
          method: r.method as 'GET',
          url: fillPath(r.url),
          headers: { authorization: `Bearer ${tokens[role]}` },
        });
        assert.equal(res.statusCode, 403, `${role} on ${r.method} ${r.url}: ${res.body}`);
        let last;
        for await (const e of m.audit.entries()) if (e.seq > before) last = e;
        assert.equal(last?.action, 'api.forbidden');
        assert.equal(last?.actor.startsWith('token:'), true);
        checked += 1;
      }
    }
    assert.ok(checked >= 20, `only ${checked} refusals checked`);
  });

  it('lets each allowed role through (not 401/403)', async () => {
    for (const r of app.declaredRoutes.filter((x) => !x.login && !x.public && !x.console && x.method === 'GET')) {
      for (const role of PERMISSIONS[r.permission!] as readonly Role[]) {
        const res = await app.inject({ method: 'GET', url: fillPath(r.url), headers: { authorization: `Bearer ${tokens[role]}` } });
        assert.ok(![401, 403].includes(res.statusCode), `${role} on GET ${r.url}: ${res.statusCode} ${res.body}`);
      }
    }
  });

  it('shows measures without an implementation as "not available", and M1 to M4, M6 and M7 as disabled until enabled', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/measures', headers: { authorization: `Bearer ${tokens.analyst}` } });
    const body = res.json() as { measures: Array<{ code: string; state: string; stateText: { ja: string; en: string } }> };
    assert.equal(body.measures.length, 8);
    for (const x of body.measures) {
      if (['M1', 'M2', 'M3', 'M4', 'M6', 'M7'].includes(x.code)) {
        assert.equal(x.state, 'disabled');
        assert.equal(x.stateText.ja, '停止中');
      } else {
        assert.equal(x.state, 'not-available', x.code);
        assert.match(x.stateText.en, /not available/);
      }
    }
  });

  it('says flow collection is off, and why, while M1 is disabled', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/flows/exporters',
      headers: { authorization: `Bearer ${tokens.operator}` },
    });
    const body = res.json() as { running: boolean; reason: { ja: string; en: string } };
    assert.equal(body.running, false);
    assert.match(body.reason.en, /M1 \(C&C detection\) is disabled/);
    assert.match(body.reason.ja, /停止中/);
  });

  it('logs in a user, serves their session, and ends it on logout', async () => {
    const login = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'alice', password: 'correct horse battery' },
    });
    assert.equal(login.statusCode, 200, login.body);
    const { token, role } = login.json() as { token: string; role: string };
    assert.equal(role, 'analyst');
    const me = await app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } });
    const { permissions, ...who } = me.json() as { permissions: string[] };
    assert.deepEqual(who, { name: 'alice', role: 'analyst', kind: 'user' });
    // What the console offers follows these: an analyst decides on candidates but manages no user.
    assert.ok(permissions.includes('cc:decide') && !permissions.includes('users:manage') && !permissions.includes('audit:read'));
    const out = await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { authorization: `Bearer ${token}` } });
    assert.equal(out.statusCode, 204);
    const again = await app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } });
    assert.equal(again.statusCode, 401);
  });

  it('stops a revoked token at once', async () => {
    const t = await m.accounts.createToken('module:test', 'short-lived', 'operator');
    const ok = await app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${t.token}` } });
    assert.equal(ok.statusCode, 200);
    await m.accounts.revokeToken('module:test', t.id);
    const res = await app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${t.token}` } });
    assert.equal(res.statusCode, 401);
  });

  it('answers bad input with a message naming the field', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { authorization: `Bearer ${tokens.admin}` },
      payload: { username: 'bob', role: 'root' },
    });
    assert.equal(res.statusCode, 400);
    assert.match((res.json() as { message: string }).message, /role/);
  });

  it('serves the disclosure and the OpenAPI document', async () => {
    const terms = await app.inject({
      method: 'GET',
      url: '/api/v1/policy/terms?lang=ja',
      headers: { authorization: `Bearer ${tokens.auditor}` },
    });
    assert.match(terms.body, /検知の対象となる情報の範囲/);
    const doc = await app.inject({ method: 'GET', url: '/api/v1/openapi.json', headers: { authorization: `Bearer ${tokens.analyst}` } });
    const paths = Object.keys((doc.json() as { paths: object }).paths);
    assert.ok(paths.includes('/api/v1/measures') && paths.includes('/api/v1/audit/verify'), paths.join(','));
  });

  it('pages through the audit log for auditors, and audits the reading', async () => {
    const auth = { authorization: `Bearer ${tokens.auditor}` };
    const first = (await app.inject({ method: 'GET', url: '/api/v1/audit/entries?limit=2', headers: auth })).json() as {
      entries: Array<{ seq: number }>;
      nextAfterSeq: number;
    };
    assert.deepEqual(
      first.entries.map((e) => e.seq),
      [1, 2],
    );
    assert.equal(first.nextAfterSeq, 2);
    const second = (
      await app.inject({ method: 'GET', url: `/api/v1/audit/entries?limit=2&afterSeq=${first.nextAfterSeq}`, headers: auth })
    ).json() as { entries: Array<{ seq: number }> };
    assert.deepEqual(
      second.entries.map((e) => e.seq),
      [3, 4],
    );
    const verify = (await app.inject({ method: 'GET', url: '/api/v1/audit/verify', headers: auth })).json() as { ok: boolean };
    assert.equal(verify.ok, true);
    let reads = 0;
    for await (const e of m.audit.entries()) if (e.action === 'audit.read') reads += 1;
    assert.ok(reads >= 2);
  });

  it(
    'shows cases to the abuse desk only, audits each read, ' + 'and lets them assign and close; templates ' + 'are edited and previewed',
    async () => {
      const m7 = ALL_MEASURES.find((x) => x.declaration.code === 'M7')!.declaration;
      const opened = await casesFor(m.state, m.audit, m7, { dedupeSeconds: 86_400, escalateAfterRepeats: 3 }).open({
        kind: 'infection-alert',
        subscriber: 'sub-0042',
        summary: 'contacts to a C&C server',
      });
      const id = opened.case.id;
      const as = (role: Role) => ({ authorization: `Bearer ${tokens[role]}` });
      assert.equal(
        (await app.inject({ method: 'GET', url: '/api/v1/cases', headers: as('auditor') })).statusCode,
        403,
        'an auditor sees the audit log, not the subscribers',
      );
      const list = (await app.inject({ method: 'GET', url: '/api/v1/cases?status=open', headers: as('analyst') })).json() as {
        cases: Array<{ id: string; subscriber: string }>;
      };
      assert.deepEqual(
        list.cases.map((c) => [c.id, c.subscriber]),
        [[id, 'sub-0042']],
      );
      const updated = await app.inject({
        method: 'POST',
        url: `/api/v1/cases/${id}`,
        headers: as('analyst'),
        payload: { assignee: 'tanaka', status: 'closed', note: 'customer called back' },
      });
      assert.equal(updated.statusCode, 200, updated.body);
      const c = updated.json() as { status: string; assignee: string; timeline: Array<{ event: string }> };
      assert.deepEqual(
        [c.status, c.assignee, c.timeline.map((e) => e.event)],
        ['closed', 'tanaka', ['opened', 'assigned', 'status', 'note']],
      );
      let reads = 0;
      for await (const e of m.audit.entries()) if (e.action === 'case.update' && e.caseId === id) reads++;
      assert.equal(reads, 1);
      const t = (
        await app.inject({ method: 'GET', url: '/api/v1/notices/templates/infection-alert/ja', headers: as('analyst') })
      ).json() as {
        subject: string;
        variables: string[];
      };
      assert.match(t.subject, /マルウェア/);
      const bad = await app.inject({
        method: 'PUT',
        url: '/api/v1/notices/templates/infection-alert/ja',
        headers: as('admin'),
        payload: { subject: 'x', body: '{{password}}' },
      });
      assert.equal(bad.statusCode, 400);
      assert.match((bad.json() as { message: string }).message, /unknown variable \{\{password\}\}/);
      assert.equal(
        (
          await app.inject({
            method: 'PUT',
            url: '/api/v1/notices/templates/infection-alert/ja',
            headers: as('analyst'),
            payload: { subject: 'x', body: 'y' },
          })
        ).statusCode,
        403,
      );
      assert.equal(
        (
          await app.inject({
            method: 'PUT',
            url: '/api/v1/notices/templates/infection-alert/ja',
            headers: as('admin'),
            payload: { subject: '【重要】{{name}} 様へ', body: '{{detectionTime}} に検知しました。' },
          })
        ).statusCode,
        204,
      );
      // The list the console's notices page shows: every kind in both languages, the edited one saying by whom.
      const listed = (await app.inject({ method: 'GET', url: '/api/v1/notices/templates', headers: as('analyst') })).json() as {
        templates: Array<{ kind: string; language: string; subject: string; edited: { by: string } | null }>;
      };
      const ofKind = (kind: string, language: string) => listed.templates.find((x) => x.kind === kind && x.language === language);
      assert.equal(ofKind('infection-alert', 'ja')?.subject, '【重要】{{name}} 様へ');
      assert.match(ofKind('infection-alert', 'ja')?.edited?.by ?? '', /^token:/);
      assert.equal(ofKind('infection-alert', 'en')?.edited, null);
      assert.match(ofKind('credential-misuse', 'en')?.subject ?? '', /password/);
      const preview = (
        await app.inject({
          method: 'POST',
          url: '/api/v1/notices/templates/preview',
          headers: as('analyst'),
          payload: { kind: 'infection-alert', language: 'ja', variables: { name: '山田', detectionTime: '2026-11-24 09:00' } },
        })
      ).json() as { subject: string; body: string };
      assert.deepEqual(preview, { subject: '【重要】山田 様へ', body: '2026-11-24 09:00 に検知しました。' });
    },
  );

  it('sets secure headers', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${tokens.admin}` } });
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.match(String(res.headers['content-security-policy']), /default-src 'none'/);
  });

  it('never writes addresses or host names into the application log', async () => {
    await app.inject({
      method: 'GET',
      url: '/api/v1/measures/192.0.2.77?q=c2.evil.example.com',
      headers: { authorization: `Bearer ${tokens.analyst}` },
    });
    await app.inject({ method: 'GET', url: '/api/v1/nothing/2001:db8::77', headers: { authorization: `Bearer ${tokens.analyst}` } });
    await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      remoteAddress: '198.51.100.77',
      payload: { username: '203.0.113.77', password: 'x' },
    });
    const log = logLines.join('\n');
    assert.ok(logLines.length > 10, 'the logger wrote nothing: the test would prove nothing');
    for (const secret of ['192.0.2.77', 'c2.evil.example.com', '2001:db8::77', '198.51.100.77', '203.0.113.77']) {
      assert.ok(!log.includes(secret), `the log contains ${secret}`);
    }
  });

  it('rate-limits login attempts', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        remoteAddress: '127.0.0.9',
        payload: { username: 'alice', password: 'wrong password' },
      });
      codes.push(res.statusCode);
    }
    assert.deepEqual(codes, [401, 401, 401, 401, 401, 429, 429]);
  });
});

describe("HTTP API: a measure's routes, registered by the core under /api/v1/measures/<id> while it runs", () => {
  let m1: Mamori;
  let m1App: Api;
  const m1Tokens = {} as Record<Role, string>;

  before(async () => {
    m1 = await openTest('measures:\n  cc-detection:\n    enabled: true\n    scope:\n      subscriberPrefixes: ["10.0.0.0/8"]\n');
    const module = ALL_MEASURES.find((x) => x.declaration.id === 'cc-detection')!;
    const capabilities = m1.broker.forMeasure('cc-detection');
    // M1's own handles, as its start() hands them to its routes (flows are only for training and runs, not tried here).
    const running = { api: { own: await capabilities.ownState(), flows: undefined }, stop: async () => undefined };
    m1App = await buildApi({
      mamori: m1,
      metrics: new Metrics(m1.registry),
      logger: createLogger('silent'),
      measures: [{ module, capabilities, running }],
    });
    for (const role of ROLES) m1Tokens[role] = (await m1.accounts.createToken('module:test', `${role} token`, role)).token;
  });

  it("serves M1's routes only under its prefix, each with a permission", () => {
    const own = m1App.declaredRoutes.filter((r) => r.url.startsWith('/api/v1/measures/cc-detection/'));
    assert.deepEqual(own.map((r) => `${r.method} ${r.url}`).sort(), [
      'GET /api/v1/measures/cc-detection/candidates',
      'GET /api/v1/measures/cc-detection/candidates/:id',
      'GET /api/v1/measures/cc-detection/candidates/:id/activity',
      'GET /api/v1/measures/cc-detection/labels',
      'GET /api/v1/measures/cc-detection/models',
      'POST /api/v1/measures/cc-detection/candidates/:id/decision',
      'POST /api/v1/measures/cc-detection/labels',
      'POST /api/v1/measures/cc-detection/models',
      'POST /api/v1/measures/cc-detection/models/:version/promote',
      'POST /api/v1/measures/cc-detection/models/import',
      'POST /api/v1/measures/cc-detection/runs',
    ]);
    for (const r of own) assert.ok(r.permission, `${r.method} ${r.url}`);
    assert.equal(
      m1App.declaredRoutes.some((r) => !r.url.startsWith('/api/v1/measures/cc-detection/') && r.permission?.startsWith('cc:')),
      false,
    );
  });

  it("lists M1's routes in the OpenAPI document", async () => {
    const doc = (
      await m1App.inject({ method: 'GET', url: '/api/v1/openapi.json', headers: { authorization: `Bearer ${m1Tokens.admin}` } })
    ).json() as { paths: Record<string, unknown> };
    for (const path of [
      '/api/v1/measures/cc-detection/candidates',
      '/api/v1/measures/cc-detection/candidates/{id}/decision',
      '/api/v1/measures/cc-detection/models',
      '/api/v1/measures/cc-detection/labels',
      '/api/v1/measures/cc-detection/models/import',
    ]) {
      assert.ok(doc.paths[path], `${path} in ${Object.keys(doc.paths).join(' ')}`);
    }
  });

  it("shows C&C candidates with their explanation, and records an analyst's decision", async () => {
    const features = ccLikeFeatures('198.18.9.9', 8080);
    await applyDetections(
      m1.state,
      m1.audit,
      [
        {
          features,
          score: 0.97,
          explanation: [
            {
              feature: 'periodic_share',
              ja: '周期的に接続するクライアントの割合（1.00）が C&C らしさを 41 ポイント押し上げた',
              en: 'share of clients contacting it periodically (1.00) raised the score by 41 points',
            },
          ],
        },
      ],
      new Date(),
      new Date(0),
      'measure:cc-detection',
    );
    const list = (
      await m1App.inject({
        method: 'GET',
        url: '/api/v1/measures/cc-detection/candidates?status=new',
        headers: { authorization: `Bearer ${m1Tokens.auditor}` },
      })
    ).json() as { candidates: Array<{ id: string; address: string; evidence: { explanation: Array<{ ja: string }> } }> };
    assert.equal(list.candidates.length, 1);
    assert.equal(list.candidates[0]!.address, '198.18.9.9');
    assert.match(list.candidates[0]!.evidence.explanation[0]!.ja, /周期的/);
    const id = list.candidates[0]!.id;
    const decided = await m1App.inject({
      method: 'POST',
      url: `/api/v1/measures/cc-detection/candidates/${id}/decision`,
      headers: { authorization: `Bearer ${m1Tokens.analyst}` },
      payload: { action: 'confirm', reason: 'matches Feodo Tracker entry' },
    });
    assert.equal(decided.statusCode, 200, decided.body);
    assert.equal((decided.json() as { status: string; statusChangedBy: string }).status, 'confirmed');
    const twice = await m1App.inject({
      method: 'POST',
      url: `/api/v1/measures/cc-detection/candidates/${id}/decision`,
      headers: { authorization: `Bearer ${m1Tokens.analyst}` },
      payload: { action: 'confirm', reason: 'again' },
    });
    assert.equal(twice.statusCode, 409);
  });
});
