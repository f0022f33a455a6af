/**
 * Issue 16, M2's listener attacked as a partner would: a recipient with only
 * write rights pulling the C&C list from the flat feeds; an 8.8 MB push that
 * stalled every other listener; pushes without a rate or size limit; a source
 * filling share_inbound without bound; discovery answering with whatever Host
 * the client sent. A real server, TLS on loopback, the independent TAXII client.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { applyDetections, type CandidateFeed } from '../../src/measures/cc-detection/candidates.js';
import { syncEntries } from '../../src/measures/cc-sharing/entries.js';
import type { CcSharingSettings } from '../../src/measures/cc-sharing/settings.js';
import { shareDb } from '../../src/measures/cc-sharing/tables.js';
import { ccLikeFeatures, measuresWithM1InletOnly, tempDir, testConfig } from '../support/fixtures.js';
import { TAXII, TaxiiClient } from '../support/taxii-client.js';

const CC_COLLECTION = '4c2f6a33-5e0b-5d1f-9a51-6d616d6f7269';
const SUBMISSIONS = '7b1e0d52-2f4a-5c3e-8d44-6d616d6f7269';
const PUBLIC_URL = 'https://taxii.isp.example:8471';

interface PushStatus {
  success_count: number;
  failure_count: number;
  failures?: Array<{ message: string }>;
  title?: string;
  description?: string;
}

/** A partner's indicator for 10.x.y.z:port, padded with a description as real feeds carry. */
function indicator(i: number) {
  return {
    type: 'indicator',
    spec_version: '2.1',
    id: `indicator--${randomUUID()}`,
    created: '2026-11-20T00:00:00.000Z',
    modified: '2026-11-20T00:00:00.000Z',
    pattern:
      "[network-traffic:dst_ref.type = 'ipv4-addr' AND " +
      `network-traffic:dst_ref.value = '10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}' AND network-traffic:dst_port = 443]`,
    pattern_type: 'stix',
    valid_from: '2026-11-20T00:00:00Z',
    name: `C2 ${i}`,
    description: 'x'.repeat(120),
  };
}

describe('security: M2 TAXII server and feeds', () => {
  let server: Server;
  let admin: string;
  let base: string;
  let ca: string;

  const api = async (method: 'GET' | 'POST', url: string, payload?: object) => {
    const res = await server.app.inject({ method, url, headers: { authorization: `Bearer ${admin}` }, ...(payload ? { payload } : {}) });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };
  const recipient = async (name: string, rights: Array<{ collection: string; read: boolean; write: boolean }>) => {
    const r = await api('POST', '/api/v1/measures/cc-sharing/recipients', {
      name,
      contact: 'soc@partner.example',
      attestedAt: new Date(Date.now() - 86_400_000).toISOString(),
      attestationUntil: new Date(Date.now() + 86_400_000).toISOString(),
      channels: ['taxii', 'misp', 'csv'],
      rights,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = (r.body as { id: string }).id;
    const t = await api('POST', `/api/v1/measures/cc-sharing/recipients/${id}/credentials`, { kind: 'token' });
    const token = (t.body as { secret: string }).secret;
    return { id, token, client: new TaxiiClient(base, ca, { token }) };
  };
  const push = (c: TaxiiClient, body: string) =>
    c.raw<PushStatus>('POST', `/mamori/collections/${SUBMISSIONS}/objects/`, { headers: { 'content-type': TAXII }, body });

  before(async () => {
    const dir = tempDir();
    const config = testConfig(
      join(dir, 'data'),
      [
        'server:\n  port: 0',
        'measures:',
        '  cc-detection: { enabled: true }',
        '  cc-sharing:',
        '    enabled: true',
        `    taxii: { host: "127.0.0.1", port: 0, maxContentLength: 16777216, publicUrl: "${PUBLIC_URL}",`,
        '      push: { perMinute: 3, maxIndicatorsPerSource: 25000 } }',
        'ingest:\n  flows:\n    listeners: [{ host: "127.0.0.1", port: 0 }]',
      ].join('\n'),
    );
    server = await serve(config, { measures: measuresWithM1InletOnly(), out: new PassThrough(), logger: createLogger('silent') });
    admin = (await server.mamori.accounts.createToken('module:test', 'admin', 'admin')).token;
    base = server.endpoints['cc-sharing']!.taxii!.replace(/taxii2\/$/, '');
    ca = readFileSync(join(dir, 'data', 'taxii-tls', 'cert.pem'), 'utf8');
    await applyDetections(
      server.mamori.state,
      server.mamori.audit,
      [{ features: ccLikeFeatures('198.51.100.7', 443), score: 0.97, explanation: [] }],
      new Date(),
      new Date(0),
      'measure:cc-detection',
    );
    const caps = server.mamori.broker.forMeasure('cc-sharing');
    const own = await caps.ownState<CcSharingSettings>();
    await syncEntries({
      audit: own.audit,
      feed: await caps.action<CandidateFeed>('candidate-feed'),
      settings: own.settings,
      now: new Date(),
      actor: 'measure:cc-sharing',
    });
    for (const e of (await api('GET', '/api/v1/measures/cc-sharing/entries?state=pending')).body.entries as Array<{ id: string }>) {
      assert.equal(
        (await api('POST', `/api/v1/measures/cc-sharing/entries/${e.id}/decision`, { action: 'approve', reason: 'checked' })).status,
        200,
      );
    }
  });
  after(() => server?.close());

  it('refuses the flat feeds to a recipient that may only write partner submissions (403, audited)', async () => {
    const sharedList = await api('GET', '/api/v1/measures/cc-sharing/entries?state=shared');
    assert.ok(
      (sharedList.body.entries as unknown[]).length >= 1,
      `nothing is shared, so the test would prove nothing: ${JSON.stringify(sharedList.body)}`,
    );
    const writer = await recipient('write-only partner', [{ collection: 'partner-submissions', read: false, write: true }]);
    const reader = await recipient('reading partner', [{ collection: 'cc-indicators', read: true, write: false }]);
    assert.match(
      (await reader.client.raw('GET', '/feeds/cc.csv', { headers: { accept: 'text/csv' } })).text,
      /198\.51\.100\.7/,
      'a reader gets the list',
    );
    assert.equal((await writer.client.get(`/mamori/collections/${CC_COLLECTION}/objects/`)).status, 404, 'TAXII hides the collection');
    const before = (await server.mamori.audit.head()).seq;
    for (const path of ['/feeds/cc.csv', '/feeds/cc.json', '/feeds/misp/manifest.json', '/feeds/misp/hashes.csv']) {
      const r = await writer.client.raw('GET', path, { headers: { accept: '*/*' } });
      assert.equal(r.status, 403, `${path}: ${r.status} ${r.text.slice(0, 200)}`);
      assert.ok(!r.text.includes('198.51.100.7'), `${path} leaked the list`);
    }
    let refused = 0;
    for await (const e of server.mamori.audit.entries({ afterSeq: before })) {
      if (e.action === 'share.access' && e.outcome === 'refused' && e.actor === `recipient:${writer.id}`) refused += 1;
    }
    assert.equal(refused, 4);
  });

  it('names its API root by the configured public URL, never by the Host header', async () => {
    const reader = await recipient('discovering partner', [{ collection: 'cc-indicators', read: true, write: false }]);
    // TLS to the real server (its name checked as usual); the HTTP Host header says something else.
    const text = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(
        new URL('/taxii2/', base),
        {
          ca,
          servername: 'localhost',
          headers: { host: 'attacker.example:443', accept: TAXII, authorization: `Bearer ${reader.token}` },
          timeout: 20_000,
        },
        (res) => {
          let t = '';
          res.on('data', (c: Buffer) => {
            t += c.toString();
          });
          res.on('end', () => (res.statusCode === 200 ? resolve(t) : reject(new Error(`HTTP ${res.statusCode}: ${t}`))));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.ok(!text.includes('attacker.example'), text);
    const body = JSON.parse(text) as { default: string; api_roots: string[] };
    assert.deepEqual(body.api_roots, [`${PUBLIC_URL}/mamori/`]);
    assert.equal(body.default, `${PUBLIC_URL}/mamori/`);
  });

  it('stores an 8.8 MB push in slices: the event loop never stalls for the whole of it', async () => {
    const partner = await recipient('bulk partner', [{ collection: 'partner-submissions', read: false, write: true }]);
    const objects: unknown[] = [];
    let body = '';
    for (let i = 0; body.length < 8.8e6 && i < 100_000; i += 1000) {
      for (let k = i; k < i + 1000; k++) objects.push(indicator(k));
      body = JSON.stringify({ objects });
    }
    assert.ok(body.length >= 8.8e6, `envelope of ${body.length} bytes`);
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    const t0 = Date.now();
    const r = await push(partner.client, body);
    h.disable();
    const stallMs = h.max / 1e6;
    const tookMs = Date.now() - t0;
    assert.equal(r.status, 202, r.text.slice(0, 300));
    assert.equal(r.body.success_count, objects.length, JSON.stringify(r.body.failures?.slice(0, 3)));
    // Relative to the whole request, so that a loaded machine (slower everything) does not decide:
    // stored in one go, the longest stall is most of the request; in slices, a small part of it.
    assert.ok(
      stallMs < 0.3 * tookMs,
      `the event loop stalled ${stallMs.toFixed(0)} ms of the ${tookMs} ms taken to store ${objects.length} objects ` +
        `(${(body.length / 1e6).toFixed(1)} MB)`,
    );
  });

  it('holds at most maxIndicatorsPerSource indicators from one source; the rest are refused one by one', async () => {
    const partner = await recipient('flooding partner', [{ collection: 'partner-submissions', read: false, write: true }]);
    const s = shareDb(server.mamori.state.db);
    const first = await push(partner.client, JSON.stringify({ objects: Array.from({ length: 20_000 }, (_, i) => indicator(i)) }));
    assert.equal(first.body.success_count, 20_000);
    const second = await push(partner.client, JSON.stringify({ objects: Array.from({ length: 8000 }, (_, i) => indicator(50_000 + i)) }));
    assert.equal(second.status, 202, second.text.slice(0, 300));
    assert.equal(second.body.success_count, 5000);
    assert.equal(second.body.failure_count, 3000);
    assert.match(second.body.failures![0]!.message, /holds the most indicators allowed \(25000\)/);
    const held = await s
      .selectFrom('share_inbound')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('source', '=', 'taxii:flooding partner')
      .executeTakeFirstOrThrow();
    assert.equal(Number(held.n), 25_000);
  });

  it('limits the envelopes a recipient may push a minute (429 with Retry-After, audited once)', async () => {
    const partner = await recipient('hasty partner', [{ collection: 'partner-submissions', read: false, write: true }]);
    const before = (await server.mamori.audit.head()).seq;
    const codes: number[] = [];
    let last;
    for (let i = 0; i < 6; i++) {
      last = await push(partner.client, JSON.stringify({ objects: [indicator(90_000 + i)] }));
      codes.push(last.status);
    }
    assert.deepEqual(codes, [202, 202, 202, 429, 429, 429]);
    assert.match(String(last!.headers['retry-after']), /^\d+$/);
    assert.match(last!.body.description ?? '', /at most 3 envelopes a minute/);
    let refused = 0;
    for await (const e of server.mamori.audit.entries({ afterSeq: before })) {
      if (e.action === 'share.receive' && e.outcome === 'refused' && e.actor === `recipient:${partner.id}`) refused += 1;
    }
    assert.equal(refused, 1);
  });
});
