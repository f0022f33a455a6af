/**
 * M2 end to end, as a partner ISP meets it: the server with M1 and M2
 * enabled, candidates of M1 becoming entries, an analyst approving them, a
 * recipient pulling them over TAXII 2.1 (an independent client, over TLS)
 * and over the MISP and CSV feeds; the STIX checked against the official
 * schemas and by the pattern parser; no field beyond IP, port, protocol,
 * dates, validity and confidence in any format; a withdrawal reaching the
 * recipient; lapsed, disabled and revoked recipients refused and audited;
 * bad requests answered with TAXII errors.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { parsePattern } from '../../src/core/stix/pattern.js';
import { applyDetections, decide, listCandidates } from '../../src/measures/cc-detection/candidates.js';
import type { CandidateFeed } from '../../src/measures/cc-detection/candidates.js';
import { syncEntries } from '../../src/measures/cc-sharing/entries.js';
import type { CcSharingSettings } from '../../src/measures/cc-sharing/settings.js';
import { FIELDS } from '../../src/measures/cc-sharing/stix.js';
import { importPartnerFile, indicatorFeed, pollPartner } from '../../src/measures/cc-sharing/partners.js';
import { shareDb } from '../../src/measures/cc-sharing/tables.js';
import type { Sharer } from '../../src/share/sharer.js';
import { ccLikeFeatures, measuresWithM1InletOnly, REPO_ROOT, tempDir, testConfig } from '../support/fixtures.js';
import { readInputFile } from '../../src/cli/context.js';
import { TAXII, TaxiiClient } from '../support/taxii-client.js';

const SCHEMAS = join(REPO_ROOT, '..', 'shared', 'data', 'stix2-json-schemas', 'schemas');
const CC_COLLECTION = '4c2f6a33-5e0b-5d1f-9a51-6d616d6f7269';
const SUBMISSIONS = '7b1e0d52-2f4a-5c3e-8d44-6d616d6f7269';

/** Every key at every depth, and every string value. */
function walk(v: unknown, keys: Set<string>, strings: string[]): void {
  if (Array.isArray(v)) {
    for (const x of v) walk(x, keys, strings);
    return;
  }
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      keys.add(k);
      walk(x, keys, strings);
    }
    return;
  }
  if (typeof v === 'string') strings.push(v);
}

describe('M2: sharing C&C servers with trusted recipients', () => {
  let server: Server;
  let admin: string;
  let analyst: string;
  let taxiiBase: string;
  let ca: string;
  let token: string;
  let basic: { user: string; password: string };
  let recipientId: string;
  const SHARED = ['198.51.100.7', '2001:db8:c2::1'];

  const api = async (method: 'GET' | 'POST' | 'DELETE', url: string, auth: string, payload?: object) => {
    const res = await server.app.inject({ method, url, headers: { authorization: `Bearer ${auth}` }, ...(payload ? { payload } : {}) });
    return { status: res.statusCode, body: res.body ? (res.json() as Record<string, unknown>) : {} };
  };
  const sync = async () => {
    const caps = server.mamori.broker.forMeasure('cc-sharing');
    const own = await caps.ownState<CcSharingSettings>();
    return syncEntries({
      audit: own.audit,
      feed: await caps.action<CandidateFeed>('candidate-feed'),
      settings: own.settings,
      now: new Date(),
      actor: 'measure:cc-sharing',
    });
  };
  const client = (auth: { token?: string; user?: string; password?: string }) => new TaxiiClient(taxiiBase, ca, auth);

  before(async () => {
    const dir = tempDir();
    const config = testConfig(
      join(dir, 'data'),
      [
        'server:\n  port: 0',
        'measures:',
        '  cc-detection: { enabled: true }',
        '  cc-sharing:\n    enabled: true\n    organisation: ' +
          '{ name: "Example Broadband" }\n    maintenanceInterval: ' +
          ('1h\n    taxii: { host: "127.0.0.1", port: 0, maxPage: ' + '500, maxContentLength: 65536 }'),
        'ingest:\n  flows:\n    listeners: [{ host: "127.0.0.1", port: 0 }]',
      ].join('\n'),
    );
    server = await serve(config, {
      measures: measuresWithM1InletOnly(),
      out: new PassThrough(),
      logger: createLogger(process.env.TEST_LOG ?? 'silent'),
    });
    const m = server.mamori;
    admin = (await m.accounts.createToken('module:test', 'admin', 'admin')).token;
    analyst = (await m.accounts.createToken('module:test', 'analyst', 'analyst')).token;
    taxiiBase = server.endpoints['cc-sharing']!.taxii!.replace(/taxii2\/$/, '');
    ca = readFileSync(join(dir, 'data', 'taxii-tls', 'cert.pem'), 'utf8');
    // Three C&C candidates from M1, one of them later withdrawn as a false positive.
    await applyDetections(
      m.state,
      m.audit,
      [
        { features: ccLikeFeatures(SHARED[0]!, 443), score: 0.97, explanation: [] },
        { features: ccLikeFeatures(SHARED[1]!, 8080), score: 0.91, explanation: [] },
        { features: ccLikeFeatures('198.51.100.99', 4444), score: 0.88, explanation: [] },
      ],
      new Date(),
      new Date(0),
      'measure:cc-detection',
    );
  });
  after(() => server?.close());

  it('turns candidates into entries awaiting approval, and shares what an analyst approves', async () => {
    const s = await sync();
    assert.equal(s.created, 3);
    assert.equal(s.shared, 0, 'manual approval is the default');
    const pending = (await api('GET', '/api/v1/measures/cc-sharing/entries?state=pending', analyst)).body.entries as Array<{
      id: string;
      address: string;
    }>;
    assert.equal(pending.length, 3);
    for (const e of pending) {
      const r = await api('POST', `/api/v1/measures/cc-sharing/entries/${e.id}/decision`, analyst, {
        action: 'approve',
        reason: 'checked against the evidence',
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    const again = await api('POST', `/api/v1/measures/cc-sharing/entries/${pending[0]!.id}/decision`, analyst, {
      action: 'approve',
      reason: 'twice',
    });
    assert.equal(again.status, 409);
    assert.equal(
      (
        await api('POST', `/api/v1/measures/cc-sharing/entries/${pending[0]!.id}/decision`, admin.replace(/./, 'x'), {
          action: 'approve',
          reason: 'x',
        })
      ).status,
      401,
    );
  });

  it('registers an attested recipient and issues a token and a Basic credential', async () => {
    const now = Date.now();
    const r = await api('POST', '/api/v1/measures/cc-sharing/recipients', admin, {
      name: 'Partner ISP',
      contact: 'soc@partner.example',
      attestedAt: new Date(now - 86_400_000).toISOString(),
      attestationUntil: new Date(now + 365 * 86_400_000).toISOString(),
      channels: ['taxii', 'misp', 'csv'],
      rights: [
        { collection: 'cc-indicators', read: true, write: false },
        { collection: 'partner-submissions', read: false, write: true },
      ],
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    recipientId = String(r.body.id);
    assert.equal(
      (
        await api('POST', '/api/v1/measures/cc-sharing/recipients', analyst, {
          name: 'x',
          contact: 'x',
          attestedAt: '2026-01-01T00:00:00Z',
          attestationUntil: '2027-01-01T00:00:00Z',
          channels: ['taxii'],
        })
      ).status,
      403,
      'only admins register recipients',
    );
    const t = await api('POST', `/api/v1/measures/cc-sharing/recipients/${recipientId}/credentials`, admin, { kind: 'token' });
    token = String(t.body.secret);
    const b = await api('POST', `/api/v1/measures/cc-sharing/recipients/${recipientId}/credentials`, admin, { kind: 'basic' });
    basic = { user: String(b.body.username), password: String(b.body.secret) };
    const listed = JSON.stringify((await api('GET', '/api/v1/measures/cc-sharing/recipients', analyst)).body);
    assert.ok(!listed.includes(token) && !listed.includes(basic.password), 'secrets are shown once, never listed');
    // The recipient's credentials, for admins only and without their secrets.
    const creds = await api('GET', `/api/v1/measures/cc-sharing/recipients/${recipientId}/credentials`, admin);
    assert.equal(creds.status, 200, JSON.stringify(creds.body));
    const list = creds.body.credentials as Array<{ id: string; kind: string; username: string | null; revokedAt: string | null }>;
    assert.deepEqual(
      list.map((c) => [c.id, c.kind, c.username, c.revokedAt]).sort((x, y) => String(x[1]).localeCompare(String(y[1]))),
      [
        [b.body.id, 'basic', basic.user, null],
        [t.body.id, 'token', null, null],
      ],
    );
    assert.ok(!JSON.stringify(creds.body).includes(token) && !JSON.stringify(creds.body).includes(basic.password));
    assert.equal((await api('GET', `/api/v1/measures/cc-sharing/recipients/${recipientId}/credentials`, analyst)).status, 403);
    assert.equal((await api('GET', '/api/v1/measures/cc-sharing/recipients/r-nobody/credentials', admin)).status, 409);
  });

  it('serves discovery, the API root and the collections over TLS', async () => {
    const c = client({ token });
    const d = await c.get<{ default: string; api_roots: string[] }>('/taxii2/');
    assert.equal(d.status, 200);
    assert.equal(String(d.headers['content-type']), TAXII);
    assert.match(d.body.default, /^https:\/\/127\.0\.0\.1:\d+\/mamori\/$/);
    const root = await c.get<{ versions: string[]; max_content_length: number }>('/mamori/');
    assert.deepEqual(root.body.versions, [TAXII]);
    assert.equal(root.body.max_content_length, 65536);
    const cols = await c.get<{ collections: Array<{ id: string; can_read: boolean; can_write: boolean; media_types: string[] }> }>(
      '/mamori/collections/',
    );
    assert.deepEqual(
      cols.body.collections.map((x) => [x.id, x.can_read, x.can_write]),
      [
        [CC_COLLECTION, true, false],
        [SUBMISSIONS, false, true],
      ],
    );
    // Basic works as well as the token.
    assert.equal((await client({ user: basic.user, password: basic.password }).get('/mamori/')).status, 200);
  });

  it('pages through the collection with limit and next, filters by type, id and version, and resumes from added_after', async () => {
    const c = client({ token });
    const all = await c.allObjects('/mamori/', CC_COLLECTION, { limit: 1 });
    assert.equal(all.pages, 4, 'one identity and three indicators, one per page');
    assert.deepEqual(
      all.objects.map((o) => o.type),
      ['identity', 'indicator', 'indicator', 'indicator'],
    );
    const indicators = await c.allObjects('/mamori/', CC_COLLECTION, { 'match[type]': 'indicator' });
    assert.equal(indicators.objects.length, 3);
    const one = indicators.objects[1]!;
    const byId = await c.get<{ objects: unknown[] }>(`/mamori/collections/${CC_COLLECTION}/objects/${String(one.id)}/`);
    assert.deepEqual(byId.body.objects, [one]);
    const versions = await c.get<{ versions: string[] }>(`/mamori/collections/${CC_COLLECTION}/objects/${String(one.id)}/versions/`);
    assert.deepEqual(versions.body.versions, [one.modified]);
    const manifest = await c.get<{ objects: Array<{ id: string; media_type: string; version: string }> }>(
      `/mamori/collections/${CC_COLLECTION}/manifest/`,
      { 'match[type]': 'indicator' },
    );
    assert.deepEqual(
      manifest.body.objects.map((x) => x.id),
      indicators.objects.map((o) => o.id),
    );
    const later = await c.allObjects('/mamori/', CC_COLLECTION, { added_after: all.lastAdded! });
    assert.equal(later.objects.length, 0, 'nothing new after the last date_added seen');
    assert.equal((await c.get(`/mamori/collections/${CC_COLLECTION}/objects/`, { 'match[spec_version]': '2.0' })).body.objects, undefined);
  });

  it('emits STIX that validates against the official STIX 2.1 schemas and whose patterns parse', async (t) => {
    const { objects } = await client({ token }).allObjects('/mamori/', CC_COLLECTION);
    for (const o of objects.filter((x) => x.type === 'indicator')) {
      const ast = parsePattern(String(o.pattern));
      assert.equal(ast.kind, 'observation');
      assert.deepEqual(o.indicator_types, ['malicious-activity']);
      assert.ok(Date.parse(String(o.valid_until)) > Date.parse(String(o.valid_from)));
    }
    if (!existsSync(SCHEMAS)) {
      t.skip(`official schemas not found at ${SCHEMAS}`);
      return;
    }
    const ajv = new Ajv2020({ strict: false, allErrors: true, unicodeRegExp: false });
    addFormats.default(ajv);
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.json') ? [join(dir, e.name)] : [],
      );
    for (const f of files(SCHEMAS)) ajv.addSchema(JSON.parse(readFileSync(f, 'utf8')) as object);
    const schemaOf = (type: string) =>
      ajv.getSchema(`http://raw.githubusercontent.com/oasis-open/cti-stix2-json-schemas/stix2.1/schemas/sdos/${type}.json`)!;
    for (const o of objects) {
      const validate = schemaOf(String(o.type));
      assert.ok(validate(o), `${String(o.id)}: ${JSON.stringify(validate.errors)}`);
    }
    const bundle = ajv.getSchema('http://raw.githubusercontent.com/oasis-open/cti-stix2-json-schemas/stix2.1/schemas/common/bundle.json')!;
    const b = { type: 'bundle', id: 'bundle--6f1c8b5e-1d3a-4c1e-9b6e-2f0a7c1d9e11', objects };
    assert.ok(bundle(b), JSON.stringify(bundle.errors));
  });

  it('lets nothing but IP, port, protocol, dates, validity and confidence leave, in any format', async () => {
    const c = client({ token });
    const { objects } = await c.allObjects('/mamori/', CC_COLLECTION);
    const manifest = (await c.get(`/mamori/collections/${CC_COLLECTION}/manifest/`)).body;
    const csvClient = client({ user: basic.user, password: basic.password });
    const csv = (await csvClient.raw('GET', '/feeds/cc.csv', { headers: { accept: 'text/csv' } })).text;
    const json = (await csvClient.raw('GET', '/feeds/cc.json', { headers: { accept: 'application/json' } })).body;
    const mispManifest = (
      await csvClient.raw<Record<string, unknown>>('GET', '/feeds/misp/manifest.json', { headers: { accept: 'application/json' } })
    ).body;
    const eventUuid = Object.keys(mispManifest)[0]!;
    const event = (
      await csvClient.raw<{ Event: Record<string, unknown> & { Attribute: Array<Record<string, unknown>> } }>(
        'GET',
        `/feeds/misp/${eventUuid}.json`,
        { headers: { accept: 'application/json' } },
      )
    ).body;
    const hashes = (await csvClient.raw('GET', '/feeds/misp/hashes.csv', { headers: { accept: 'text/csv' } })).text;

    const allowed = (name: string, keys: Set<string>, fields: readonly string[]) => {
      const extra = [...keys].filter((k) => !fields.includes(k));
      assert.deepEqual(extra, [], `${name} carries fields beyond those allowed`);
    };
    for (const o of objects) {
      const k = new Set<string>();
      walk(o, k, []);
      allowed(String(o.type), k, o.type === 'indicator' ? FIELDS.indicator : FIELDS.identity);
    }
    const mk = new Set<string>();
    walk(manifest, mk, []);
    allowed('TAXII manifest', mk, ['more', 'objects', 'id', 'date_added', 'version', 'media_type']);
    assert.equal(csv.split('\r\n')[0], FIELDS.csv.join(','));
    const jk = new Set<string>();
    walk(json, jk, []);
    allowed('JSON feed', jk, FIELDS.csv);
    const ek = new Set<string>();
    walk({ ...event.Event, Attribute: [], Orgc: {} }, ek, []);
    allowed('MISP event', ek, FIELDS.mispEvent);
    for (const a of event.Event.Attribute) {
      const ak = new Set<string>();
      walk(a, ak, []);
      allowed('MISP attribute', ak, FIELDS.mispAttribute);
    }
    assert.deepEqual(
      event.Event.Attribute.map((a) => a.type),
      ['ip-dst|port', 'ip-dst|port', 'ip-dst|port'],
    );
    assert.equal(hashes.trim().split('\n').length, 6, 'an MD5 per part of each ip-dst|port value');
    // Every address anywhere in any export is one of the shared endpoints: no subscriber, no exporter.
    const everything: string[] = [];
    walk([objects, manifest, json, mispManifest, event], new Set(), everything);
    everything.push(csv);
    const addresses = everything.flatMap((s) => s.match(/\b(?:\d{1,3}\.){3}\d{1,3}\b/g) ?? []);
    assert.deepEqual([...new Set(addresses)].sort(), ['198.51.100.7', '198.51.100.99']);
    assert.ok(!everything.some((s) => /\b10\.\d+\.\d+\.\d+\b/.test(s)));
  });

  it('revokes downstream what an analyst withdraws: TAXII gets revoked: true, the feeds drop it', async () => {
    const c = client({ token });
    const before = await c.allObjects('/mamori/', CC_COLLECTION);
    const m = server.mamori;
    const cand = (await listCandidates(m.state)).find((x) => x.address === '198.51.100.99')!;
    await decide(m.state, m.audit, cand.id, 'withdraw', 'benign scanner of a university', 'user:analyst');
    const s = await sync();
    assert.equal(s.revoked, 1);
    const news = await c.allObjects('/mamori/', CC_COLLECTION, { added_after: before.lastAdded! });
    assert.equal(news.objects.length, 1);
    assert.equal(news.objects[0]!.revoked, true);
    assert.match(String(news.objects[0]!.pattern), /198\.51\.100\.99/);
    const versions = await c.get<{ versions: string[] }>(
      `/mamori/collections/${CC_COLLECTION}/objects/${String(news.objects[0]!.id)}/versions/`,
    );
    assert.equal(versions.body.versions.length, 2);
    const csv = (
      await client({ user: basic.user, password: basic.password }).raw('GET', '/feeds/cc.csv', { headers: { accept: 'text/csv' } })
    ).text;
    assert.doesNotMatch(csv, /198\.51\.100\.99/);
    assert.match(csv, /198\.51\.100\.7/);
  });

  it('answers bad requests with TAXII errors: media types, pagination tokens, limits, bodies', async () => {
    const c = client({ token });
    const wrongAccept = await c.raw('GET', '/mamori/', { headers: { accept: 'application/xml' } });
    assert.equal(wrongAccept.status, 406);
    assert.equal((wrongAccept.body as { http_status: string }).http_status, '406');
    for (const [q, status] of [
      [{ next: 'garbage!' }, 400],
      [{ next: Buffer.from('x|1').toString('base64url') }, 400],
      [{ limit: 0 }, 400],
      [{ limit: 'ten' }, 400],
      [{ added_after: 'yesterday' }, 400],
      [{ 'match[version]': 'newest' }, 400],
      [{ colour: 'red' }, 400],
    ] as const) {
      const r = await c.get(`/mamori/collections/${CC_COLLECTION}/objects/`, q as Record<string, string>);
      assert.equal(r.status, status, JSON.stringify(q));
      assert.equal(String(r.headers['content-type']), TAXII);
      assert.ok((r.body as { description?: string }).description, 'a TAXII error says what was wrong');
    }
    assert.equal((await c.get('/mamori/collections/00000000-0000-0000-0000-000000000000/objects/')).status, 404);
    const post = (body: string, type = TAXII, collection = SUBMISSIONS) =>
      c.raw('POST', `/mamori/collections/${collection}/objects/`, { headers: { 'content-type': type }, body });
    assert.equal((await post('{"objects": []}', 'application/json')).status, 415);
    assert.equal((await post('{"objects": [')).status, 400);
    assert.equal((await post(JSON.stringify({ objects: [] }), TAXII, CC_COLLECTION)).status, 403, 'the C&C collection is read-only');
    assert.equal((await post(`{"objects": [${'"x",'.repeat(20_000)}"x"]}`)).status, 413);
    assert.equal((await post('[1,2,3]')).status, 400);
  });

  it("takes partners' indicators in the writable collection, reduced to endpoints, and reports each refusal", async () => {
    const c = client({ token });
    const good = {
      type: 'indicator',
      spec_version: '2.1',
      id: 'indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f',
      created: '2026-11-20T00:00:00.000Z',
      modified: '2026-11-20T00:00:00.000Z',
      pattern:
        "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value " +
        "= '203.0.113.50' " +
        'AND network-traffic:dst_port = 8443]',
      pattern_type: 'stix',
      valid_from: '2026-11-20T00:00:00Z',
      name: 'ignored: only endpoints are kept',
      description: 'ignored',
    };
    const badPattern = { ...good, id: 'indicator--1e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f', pattern: "[file:hashes.'SHA-256' = 'aa']" };
    const broken = { ...good, id: 'indicator--2e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f', pattern: '[network-traffic:dst_port = ' };
    const r = await c.raw<{
      status: string;
      success_count: number;
      failure_count: number;
      failures: Array<{ id: string; message: string }>;
      id: string;
    }>('POST', `/mamori/collections/${SUBMISSIONS}/objects/`, {
      headers: { 'content-type': TAXII },
      body: JSON.stringify({ objects: [good, badPattern, broken, { type: 'malware' }] }),
    });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.body.success_count, 1);
    assert.equal(r.body.failure_count, 3);
    assert.match(r.body.failures.find((f) => f.id === badPattern.id)!.message, /file:hashes/);
    assert.match(r.body.failures.find((f) => f.id === broken.id)!.message, /STIX pattern, at character/);
    const status = await c.get<{ id: string; success_count: number }>(`/mamori/status/${r.body.id}/`);
    assert.equal(status.body.success_count, 1);
    const rows = (await server.mamori.state.db
      .selectFrom('share_inbound' as never)
      .selectAll()
      .execute()) as Array<Record<string, unknown>>;
    assert.deepEqual(
      rows.map((x) => [x.source, x.address, x.port, x.proto]),
      [['taxii:Partner ISP', '203.0.113.50', 8443, null]],
    );
  });

  it('refuses a lapsed attestation (403), a disabled recipient and a revoked credential, and audits each', async () => {
    const c = client({ token });
    const past = Date.now() - 10 * 86_400_000;
    assert.equal(
      (
        await api('POST', `/api/v1/measures/cc-sharing/recipients/${recipientId}/attestation`, admin, {
          attestedAt: new Date(past - 86_400_000).toISOString(),
          attestationUntil: new Date(past).toISOString(),
        })
      ).status,
      200,
    );
    const lapsed = await c.get('/mamori/');
    assert.equal(lapsed.status, 403);
    assert.match(String((lapsed.body as { description: string }).description), /attestation has lapsed/);
    assert.equal((await client({ user: basic.user, password: basic.password }).raw('GET', '/feeds/misp/manifest.json')).status, 403);
    await api('POST', `/api/v1/measures/cc-sharing/recipients/${recipientId}/attestation`, admin, {
      attestedAt: new Date().toISOString(),
      attestationUntil: new Date(Date.now() + 86_400_000).toISOString(),
    });
    assert.equal((await c.get('/mamori/')).status, 200, 'renewed');
    await api('POST', `/api/v1/measures/cc-sharing/recipients/${recipientId}/disabled`, admin, { disabled: true });
    assert.equal((await c.get('/mamori/')).status, 403);
    await api('POST', `/api/v1/measures/cc-sharing/recipients/${recipientId}/disabled`, admin, { disabled: false });
    assert.equal((await client({ token: 'mmr_wrong' }).get('/mamori/')).status, 401);
    const nobody = await client({}).get('/mamori/');
    assert.equal(nobody.status, 401);
    assert.match(String(nobody.headers['www-authenticate']), /Basic/);
    const refused = [];
    const delivered = [];
    for await (const e of server.mamori.audit.entries()) {
      if (e.action === 'share.access' && e.outcome === 'refused') refused.push(e);
      if (e.action === 'share.deliver') delivered.push(e);
    }
    assert.ok(refused.length >= 3 && refused.every((e) => e.actor === `recipient:${recipientId}`));
    assert.ok(
      delivered.length > 5 && delivered.every((e) => e.actor === `recipient:${recipientId}` && typeof e.counts?.objects === 'number'),
    );
  });

  it("polls a partner's TAXII collection page by page, resumes from the last date_added, and keeps revocations", async () => {
    const m = server.mamori;
    const caFile = join(tempDir(), 'partner-ca.pem');
    writeFileSync(caFile, ca);
    // The partner here is this very server, seen from outside: a real TAXII 2.1 peer over TLS.
    const partner = {
      name: 'self',
      kind: 'taxii' as const,
      url: `${taxiiBase}mamori/collections/${CC_COLLECTION}/`,
      token,
      caFile,
      interval: '1h',
      limit: 1,
    };
    const own = await m.broker.forMeasure('cc-sharing').ownState();
    const sharer = await m.broker.forMeasure('cc-sharing').action<Sharer>('sharer');
    const first = await pollPartner(own, sharer, partner, 'measure:cc-sharing');
    assert.equal(first.pages, 4, 'the identity and three indicators, one per page');
    assert.equal(first.accepted, 3);
    assert.equal(first.refused, 1, 'the identity is not an indicator');
    const again = await pollPartner(own, sharer, partner, 'measure:cc-sharing');
    assert.deepEqual([again.pages, again.accepted], [1, 0], 'nothing new since the cursor');
    const rows = await shareDb(m.state.db)
      .selectFrom('share_inbound')
      .selectAll()
      .where('source', '=', 'partner:self')
      .orderBy('address')
      .execute();
    assert.deepEqual(
      rows.map((r) => [r.address, r.port, r.proto, r.revoked]),
      [
        ['198.51.100.7', 443, 6, 0],
        ['198.51.100.99', 4444, 6, 1],
        ['2001:db8:c2::1', 8080, 6, 0],
      ],
    );
    await assert.rejects(pollPartner(own, sharer, { ...partner, token: 'mmr_wrong' }, 'measure:cc-sharing'), /answered HTTP 401/);
    await assert.rejects(pollPartner(own, sharer, { ...partner, caFile: undefined }, 'measure:cc-sharing'), /self-signed|certificate/i);
    // The same server's MISP feed, as a partner's: a snapshot, replaced whole when its manifest changes.
    const feed = {
      name: 'self-misp',
      kind: 'misp-feed' as const,
      url: `${taxiiBase}feeds/misp/`,
      user: basic.user,
      password: basic.password,
      caFile,
      interval: '1h',
      limit: 1000,
    };
    const f1 = await pollPartner(own, sharer, feed, 'measure:cc-sharing');
    assert.equal(f1.accepted, 2, 'the two entries shared now');
    assert.equal((await pollPartner(own, sharer, feed, 'measure:cc-sharing')).accepted, 0, 'unchanged manifest: nothing fetched again');
    const mispRows = await shareDb(m.state.db)
      .selectFrom('share_inbound')
      .select(['address', 'port'])
      .where('source', '=', 'partner:self-misp')
      .orderBy('address')
      .execute();
    assert.deepEqual(
      mispRows.map((r) => [r.address, r.port]),
      [
        ['198.51.100.7', 443],
        ['2001:db8:c2::1', 8080],
      ],
    );
  });

  it("imports partners' files whole or not at all, and merges every list with who said what", async () => {
    const m = server.mamori;
    const own = await m.broker.forMeasure('cc-sharing').ownState();
    const dir = tempDir();
    const misp = join(dir, 'event.json');
    writeFileSync(
      misp,
      JSON.stringify({
        Event: {
          uuid: '5f0c1d2e-0000-4000-8000-000000000001',
          info: 'partner C2',
          Attribute: [
            { type: 'ip-dst|port', value: '198.51.100.7|443', first_seen: '2026-11-01T00:00:00Z' },
            { type: 'ip-dst', value: '192.0.2.200' },
            { type: 'ip-dst|port', value: '192.0.2.201|99999' },
            { type: 'domain', value: 'c2.example' },
            { type: 'ip-dst', value: 'not-an-ip' },
          ],
        },
      }),
    );
    const r = await importPartnerFile(own, {
      file: readInputFile(misp),
      format: 'misp',
      source: 'partner-misp',
      validityDays: 30,
      actor: 'cli:test',
    });
    assert.equal(r.entries, 2);
    assert.deepEqual(
      r.skipped.map((x) => x.line),
      [3, 4, 5],
    );
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"Event": ');
    await assert.rejects(
      importPartnerFile(own, { file: readInputFile(broken), format: 'misp', source: 'partner-misp', validityDays: 30, actor: 'cli:test' }),
      /not JSON/,
    );
    const kept = await shareDb(m.state.db)
      .selectFrom('share_inbound')
      .select('address')
      .where('source', '=', 'file:partner-misp')
      .execute();
    assert.equal(kept.length, 2, 'the earlier import is kept whole');
    // What a consent-based blocking measure would get from the broker (M2 itself declares threat indicators).
    const feed = await m.broker.forMeasure('cc-sharing').action<ReturnType<typeof indicatorFeed>>('indicator-feed');
    const merged = await feed.list();
    const c2 = merged.find((x) => x.address === '198.51.100.7' && x.port === 443 && x.sources.length > 1);
    assert.deepEqual(c2?.sources.map((x) => x.source).sort(), ['own', 'partner:self']);
    assert.ok(
      merged.some((x) => x.address === '198.51.100.7' && x.sources.some((y) => y.source === 'file:partner-misp')),
      'the MISP entry (no protocol) is kept as its own row',
    );
    assert.ok(!merged.some((x) => x.address === '198.51.100.99'), 'revoked indicators are not offered for blocking');
    assert.ok(merged.some((x) => x.address === '203.0.113.50' && x.sources[0]!.source === 'taxii:Partner ISP'));
  });
});
