/**
 * Issue 19, "every operator task without curl": the routes the console added for what was CLI-only — M1's
 * reputation-list and model-file uploads, M2's partners' lists (what came in, a poll now, a file upload) and the
 * notice templates' list. Each refuses a role without its permission, refuses bad input with an error that names
 * what was wrong (the line of a list), and is audited where it changes data.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { defaultProfile, learnProfile } from '../../src/measures/cc-detection/profile.js';
import { modelFile } from '../../src/measures/cc-detection/training.js';
import { PARTNER_FILE_LIMIT } from '../../src/measures/cc-sharing/routes.js';
import { freePort } from '../support/freeradius.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ccLikeFeatures, tempDir, testConfig } from '../support/fixtures.js';
import { applyDetections, type CandidateFeed } from '../../src/measures/cc-detection/candidates.js';
import { syncEntries } from '../../src/measures/cc-sharing/entries.js';
import type { CcSharingSettings } from '../../src/measures/cc-sharing/settings.js';

const CC_COLLECTION = '4c2f6a33-5e0b-5d1f-9a51-6d616d6f7269';

describe('console routes for what was CLI-only', () => {
  let server: Server;
  /** A partner ISP running Mamori: its TAXII server is what "poll now" fetches from. */
  let partner: Server;
  let partnerAdmin = '';
  const tokens = {} as Record<'admin' | 'analyst' | 'operator' | 'auditor', string>;

  const call = async (
    role: keyof typeof tokens,
    method: 'GET' | 'POST',
    url: string,
    body?: string | Buffer,
    type = 'application/octet-stream',
  ): Promise<{ status: number; json: any }> => {
    const res = await server.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${tokens[role]}`, ...(body !== undefined ? { 'content-type': type } : {}) },
      ...(body !== undefined ? { payload: body } : {}),
    });
    return { status: res.statusCode, json: res.body ? res.json() : undefined };
  };
  const audited = async (action: string) => {
    const out = [];
    for await (const e of server.mamori.audit.entries()) if (e.action === action) out.push(e);
    return out;
  };

  const partnerApi = async (method: 'GET' | 'POST', url: string, payload?: object) => {
    const res = await partner.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${partnerAdmin}` },
      ...(payload ? { payload } : {}),
    });
    assert.ok(res.statusCode < 300, `${url}: ${res.body}`);
    return res.json() as Record<string, any>;
  };

  before(async () => {
    // The partner: M2 with its TAXII server (a self-signed certificate), us registered as its recipient with a token, and a
    // C&C endpoint from its M1 waiting for its analyst's approval.
    const partnerDir = tempDir();
    partner = await serve(
      testConfig(
        join(partnerDir, 'data'),
        [
          'server:\n  port: 0',
          'measures:',
          '  cc-sharing:\n    enabled: true\n    maintenanceInterval: 1h\n    taxii: { host: "127.0.0.1", port: 0 }',
        ].join('\n'),
      ),
      // One analytics store per process (ours): the partner needs none to share what its M1 found.
      { analytics: false, out: new PassThrough(), logger: createLogger('silent') },
    );
    partnerAdmin = (await partner.mamori.accounts.createToken('module:test', 'admin', 'admin')).token;
    const now = Date.now();
    const us = await partnerApi('POST', '/api/v1/measures/cc-sharing/recipients', {
      name: 'Our ISP',
      contact: 'soc@our.example',
      attestedAt: new Date(now - 86_400_000).toISOString(),
      attestationUntil: new Date(now + 365 * 86_400_000).toISOString(),
      channels: ['taxii'],
    });
    const credential = await partnerApi('POST', `/api/v1/measures/cc-sharing/recipients/${us.id}/credentials`, { kind: 'token' });
    const caFile = join(partnerDir, 'data', 'taxii-tls', 'cert.pem');
    assert.ok(readFileSync(caFile, 'utf8').includes('BEGIN CERTIFICATE'));
    await applyDetections(
      partner.mamori.state,
      partner.mamori.audit,
      [{ features: ccLikeFeatures('203.0.113.66', 8443), score: 0.95, explanation: [] }],
      new Date(),
      new Date(0),
      'measure:cc-detection',
    );
    const caps = partner.mamori.broker.forMeasure('cc-sharing');
    const own = await caps.ownState<CcSharingSettings>();
    await syncEntries({
      audit: own.audit,
      feed: await caps.action<CandidateFeed>('candidate-feed'),
      settings: own.settings,
      now: new Date(),
      actor: 'measure:cc-sharing',
    });
    // The API root is beside the discovery endpoint (/taxii2/), as a partner's client finds it.
    const taxii = partner.endpoints['cc-sharing']!.taxii!.replace(/taxii2\/$/, '');

    const closed = await freePort();
    const config = testConfig(
      tempDir(),
      [
        'server:\n  port: 0',
        'measures:',
        '  cc-detection:\n    enabled: true\n    runInterval: 1h\n    scope:\n      subscriberPrefixes: ["10.0.0.0/8"]',
        '  cc-sharing:',
        '    enabled: true',
        '    taxii: { host: "127.0.0.1", port: 0 }',
        // A partner that does not answer: a poll now must say so, naming it.
        '    partners:',
        `      - { name: far-isp, url: "https://127.0.0.1:${closed}/api1/collections/x/", interval: 24h }`,
        `      - { name: partner-p, url: "${taxii}mamori/collections/${CC_COLLECTION}/", token: "${credential.secret}",` +
          ` caFile: ${JSON.stringify(caFile)}, interval: 24h }`,
      ].join('\n'),
    );
    server = await serve(config, { out: new PassThrough(), logger: createLogger('silent') });
    for (const role of ['admin', 'analyst', 'operator', 'auditor'] as const)
      tokens[role] = (await server.mamori.accounts.createToken('module:test', role, role)).token;
  });
  after(async () => {
    await server?.close();
    await partner?.close();
  });

  it('M1: imports a reputation list uploaded whole, names the bad line of a broken one, refuses a role without cc:run', async () => {
    const url = '/api/v1/measures/cc-detection/labels?format=feodo-csv&source=feodo-test&validDays=10';
    const csv =
      '# Feodo\nfirst_seen_utc,dst_ip,dst_port,c2_status,last_online,malware\n' +
      '2026-11-01 00:00:00,198.51.100.7,443,online,2026-11-20,QakBot\n';
    assert.equal((await call('operator', 'POST', url, csv)).status, 403);
    assert.equal((await call('auditor', 'POST', url, csv)).status, 403);
    const ok = await call('analyst', 'POST', url, csv);
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.deepEqual([ok.json.source, ok.json.labels, ok.json.skipped], ['feodo-test', 1, []]);
    const listed = await call('auditor', 'GET', '/api/v1/measures/cc-detection/labels');
    assert.deepEqual(
      listed.json.sources.map((s: { name: string; labels: number }) => [s.name, s.labels]),
      [['feodo-test', 1]],
    );
    assert.match(listed.json.sources[0].importedBy, /^token:/);
    assert.equal((await audited('labels.import')).length, 1);
    const broken = await call('analyst', 'POST', url, 'first_seen_utc,dst_ip\n2026-11-01,198.51.100.7\n');
    assert.equal(broken.status, 422);
    assert.match(broken.json.message, /line 1: wrong columns|no header/);
    const badName = await call('analyst', 'POST', '/api/v1/measures/cc-detection/labels?format=ip-list&source=a.b', '192.0.2.1\n');
    assert.equal(badName.status, 400);
    assert.match(badName.json.message, /letters, digits/);
    const asJson = await call('analyst', 'POST', url, '{"x":1}', 'application/json');
    assert.equal(asJson.status, 415);
    assert.equal((await audited('labels.import')).length, 1, 'nothing refused was imported');
  });

  it('M1: stores an uploaded model file as a version not used until promoted; a broken one is refused with the reason', async () => {
    const url = '/api/v1/measures/cc-detection/models/import?name=model.json';
    const learnt = learnProfile(defaultProfile(), [{ features: [], labels: [] }]);
    const file = JSON.stringify(modelFile(learnt, { command: 'mamori cc eval --real DIR', figures: ['PR-AUC 1.000'] }));
    assert.equal((await call('operator', 'POST', url, file)).status, 403);
    const ok = await call('analyst', 'POST', url, file);
    assert.equal(ok.status, 201, JSON.stringify(ok.json));
    assert.deepEqual([ok.json.kind, ok.json.source, ok.json.active], ['profile', 'eval', false]);
    assert.ok(ok.json.notes.includes('made by: mamori cc eval --real DIR (' + JSON.parse(file).createdAt + ')'), ok.json.notes);
    assert.equal((await audited('cc.model.import')).length, 1);
    const broken = JSON.stringify({ ...JSON.parse(file), model: { ...learnt, c2: { ...learnt.c2, beacon: [0.5, 0.5] } } });
    const refused = await call('analyst', 'POST', url, broken);
    assert.equal(refused.status, 422);
    assert.match(refused.json.message, /the profile's "beacon" must be 4 probabilities/);
    const notJson = await call('analyst', 'POST', url, 'model');
    assert.match(notJson.json.message, /model\.json is not JSON/);
  });

  it("M2: imports a partner's file, lists what partners sent, names the bad line, and refuses a poll to roles without it", async () => {
    const url = '/api/v1/measures/cc-sharing/inbound/files?format=ip-list&source=partner-b&name=b.txt';
    const list = '# partner B\n198.51.100.9\nnot-an-address\n2001:db8::9\n';
    assert.equal((await call('operator', 'POST', url, list)).status, 403);
    const ok = await call('analyst', 'POST', url, list);
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal(ok.json.entries, 2);
    assert.deepEqual(
      ok.json.skipped.map((s: { line: number }) => s.line),
      [3],
    );
    // A file of bad lines: the answer lists the first 100 and counts them all (it must not outgrow the file).
    const many = `198.51.100.10\n${'bad\n'.repeat(5000)}`;
    const capped = await call('analyst', 'POST', url.replace('partner-b', 'partner-c'), many);
    assert.equal(capped.status, 200, JSON.stringify(capped.json).slice(0, 300));
    assert.deepEqual([capped.json.entries, capped.json.skipped.length, capped.json.skippedCount], [1, 100, 5000]);
    const inbound = await call('operator', 'GET', '/api/v1/measures/cc-sharing/inbound');
    assert.equal(inbound.status, 200);
    const src = inbound.json.sources.find((s: { name: string }) => s.name === 'file:partner-b');
    assert.deepEqual([src.kind, src.entries, src.skipped], ['file-ip-list', 2, 1]);
    assert.match(src.receivedBy, /^token:/);
    assert.deepEqual(inbound.json.partners, [
      { name: 'far-isp', kind: 'taxii', interval: '24h' },
      { name: 'partner-p', kind: 'taxii', interval: '24h' },
    ]);
    assert.ok(!JSON.stringify(inbound.json).includes('127.0.0.1'), "the partner's address and credentials are not shown");
    assert.equal((await audited('share.import')).length, 2);
    // Bounded: a file over the limit is refused before it is parsed (and nothing is imported).
    const huge = await call('analyst', 'POST', url, Buffer.alloc(PARTNER_FILE_LIMIT + 1, 0x0a));
    assert.equal(huge.status, 413, JSON.stringify(huge.json));
    assert.match(huge.json.message, /too large/i);
    const misp = await call('analyst', 'POST', url.replace('ip-list', 'misp'), '{"Event": 3}');
    assert.equal(misp.status, 422);
    assert.match(misp.json.message, /not a MISP event/);

    assert.equal((await call('operator', 'POST', '/api/v1/measures/cc-sharing/partners/far-isp/poll')).status, 403);
    const unknown = await call('analyst', 'POST', '/api/v1/measures/cc-sharing/partners/nobody/poll');
    assert.equal(unknown.status, 404);
    assert.match(unknown.json.message, /no partner "nobody"/);
    const down = await call('analyst', 'POST', '/api/v1/measures/cc-sharing/partners/far-isp/poll');
    assert.equal(down.status, 502, JSON.stringify(down.json));
    assert.match(down.json.message, /far-isp/);
  });

  it("polls a partner's TAXII collection now: what its analyst approved since the last poll comes in, audited", async () => {
    const sources = async () =>
      (await call('analyst', 'GET', '/api/v1/measures/cc-sharing/inbound')).json.sources as Array<{ name: string; entries: number }>;
    // The poll at start (the partner's identity only: nothing approved yet) has been stored.
    for (let i = 0; !(await sources()).some((x) => x.name === 'partner:partner-p'); i++) {
      assert.ok(i < 100, 'the poll at start did not finish');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await sources()).find((x) => x.name === 'partner:partner-p')?.entries, 0);
    const pending = (await partnerApi('GET', '/api/v1/measures/cc-sharing/entries?state=pending')).entries as Array<{ id: string }>;
    assert.equal(pending.length, 1);
    await partnerApi('POST', `/api/v1/measures/cc-sharing/entries/${pending[0]!.id}/decision`, { action: 'approve', reason: 'checked' });
    const before = (await audited('share.receive')).length;
    const polled = await call('analyst', 'POST', '/api/v1/measures/cc-sharing/partners/partner-p/poll');
    assert.equal(polled.status, 200, JSON.stringify(polled.json));
    assert.equal(polled.json.accepted, 1, JSON.stringify(polled.json));
    assert.equal((await sources()).find((x) => x.name === 'partner:partner-p')?.entries, 1);
    const received = (await audited('share.receive')).slice(before);
    assert.ok(received.length >= 1 && received.every((e) => /^token:/.test(e.actor)), JSON.stringify(received));
    assert.equal(
      received.reduce((n, e) => n + (e.counts?.accepted ?? 0), 0),
      1,
    );
  });

  it('lists the notice templates to the abuse desk only', async () => {
    assert.equal((await call('operator', 'GET', '/api/v1/notices/templates')).status, 403);
    const r = await call('analyst', 'GET', '/api/v1/notices/templates');
    assert.equal(r.status, 200);
    assert.ok(r.json.templates.length >= 14, `${r.json.templates.length} templates`);
    assert.ok(r.json.variables.includes('deviceAdvice'));
  });
});
