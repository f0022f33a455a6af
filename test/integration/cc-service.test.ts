/**
 * M1 as an ISP runs it: the server with M1 enabled (its real implementation),
 * the synthetic ISP's IPFIX through the collector, a reputation list, a model
 * trained and a detection run through the API, candidates with their
 * explanation, and the hourly job running by itself — never a subscriber
 * address in any answer.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { serve, type Server } from '../../src/api/serve.js';
import type { AuditEntry } from '../../src/core/audit/chain.js';
import { createLogger } from '../../src/core/logger.js';
import { importLabels } from '../../src/measures/cc-detection/label-store.js';
import { sendIpfix } from '../../src/simulate/ipfix-exporter.js';
import { DEFAULT_FAMILIES, simulateIsp } from '../../src/simulate/isp.js';
import { tempDir, testConfig } from '../support/fixtures.js';

const HOUR = 3_600_000;
// A whole simulated day ending just before now, so that M1's rolling window (24 h ending now)
// holds all of it whatever the time of day the test runs (some botnets keep office hours).
const START = new Date(Math.floor((Date.now() - 24.5 * HOUR) / HOUR) * HOUR + HOUR);

describe('M1 in the server', () => {
  let server: Server;
  let analyst: string;
  let auditor: string;
  const sim = simulateIsp({ seed: 5, subscribers: 400, hours: 23, start: START, families: DEFAULT_FAMILIES });
  const cc = sim.truth.filter((t) => t.truth === 'cc');

  const api = async (method: 'GET' | 'POST', url: string, token: string, payload?: object) => {
    const res = await server.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };

  async function auditActions(): Promise<AuditEntry[]> {
    const out: AuditEntry[] = [];
    for await (const e of server.mamori.audit.entries()) out.push(e);
    return out;
  }

  before(async () => {
    const config = testConfig(
      join(tempDir(), 'data'),
      [
        'server:\n  port: 0',
        'measures:\n  cc-detection:\n    enabled: true\n    runInterval: 2s\n    scope:\n      subscriberPrefixes: ["10.0.0.0/8"]',
        'ingest:\n  flows:\n    listeners: [{ host: "127.0.0.1", port: 0 }]',
      ].join('\n'),
    );
    server = await serve(config, { out: new PassThrough(), logger: createLogger('silent') });
    analyst = (await server.mamori.accounts.createToken('module:test', 'analyst', 'analyst')).token;
    auditor = (await server.mamori.accounts.createToken('module:test', 'auditor', 'auditor')).token;
  });
  after(() => server?.close());

  it('is enabled, and says a run without a model cannot score anything', async () => {
    const measures = (await api('GET', '/api/v1/measures', auditor)).body.measures as Array<{ code: string; state: string }>;
    assert.equal(measures.find((x) => x.code === 'M1')!.state, 'enabled');
    const run = await api('POST', '/api/v1/cc/runs', analyst);
    assert.equal(run.status, 200);
    assert.equal(run.body.ran, false);
    assert.match(String(run.body.reason), /no trained model/);
  });

  it('trains a model version on the window, labelled by a reputation list', async () => {
    const sent = await sendIpfix(sim.flows(), '127.0.0.1', server.inlet!.addresses[0]!.port, 40_000);
    await server.inlet!.flush();
    const status = server.inlet!.status();
    assert.equal(
      status.kernelDrops + status.ringDrops + status.droppedRecords,
      0,
      'datagrams were dropped: the machine was too busy for this pace',
    );
    assert.ok(sent.records > 50_000);
    const list = join(tempDir(), 'list.txt');
    writeFileSync(list, `# reputation list\n${cc.map((t) => t.address).join('\n')}\n`);
    const m = server.mamori;
    await importLabels(m.state, m.audit, {
      file: list,
      format: 'ip-list',
      source: 'partial',
      validityDays: 30,
      actor: 'cli:test',
      now: START,
    });
    assert.equal((await api('POST', '/api/v1/cc/models', auditor, {})).status, 403, 'an auditor may read, not train');
    const trained = await api('POST', '/api/v1/cc/models', analyst, { seed: 3, trees: 60 });
    assert.equal(trained.status, 201, JSON.stringify(trained.body));
    assert.equal(trained.body.version, 1);
    assert.equal(trained.body.positives, cc.length);
    const models = (await api('GET', '/api/v1/cc/models', auditor)).body.models as Array<{
      version: number;
      labelSources: Array<{ name: string }>;
    }>;
    assert.deepEqual(
      models.map((x) => [x.version, x.labelSources.map((s) => s.name)]),
      [[1, ['partial']]],
    );
  });

  it('runs a detection: candidates with their explanation in Japanese and English, and no subscriber address', async () => {
    const run = await api('POST', '/api/v1/cc/runs', analyst);
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.ran, true);
    assert.equal(run.body.modelVersion, 1);
    assert.ok(Number(run.body.detected) >= 1, JSON.stringify(run.body));
    const res = await server.app.inject({ method: 'GET', url: '/api/v1/cc/candidates', headers: { authorization: `Bearer ${auditor}` } });
    const candidates = (
      res.json() as {
        candidates: Array<{ id: string; address: string; port: number; evidence: { explanation: Array<{ ja: string; en: string }> } }>;
      }
    ).candidates;
    assert.ok(candidates.length >= 1);
    const truthOf = (c: { address: string; port: number }) => sim.truth.find((t) => t.address === c.address && t.port === c.port)?.truth;
    assert.ok(
      candidates.every((c) => truthOf(c) === 'cc'),
      `a candidate that is not a C&C: ${JSON.stringify(candidates.map((c) => [truthOf(c), c.port]))}`,
    );
    for (const c of candidates) {
      assert.ok(c.evidence.explanation.length > 0);
      assert.ok(c.evidence.explanation.every((e) => /[ぁ-んァ-ヶ一-龠]/.test(e.ja) && /score/.test(e.en)));
    }
    // No answer of M1's API names a subscriber (10.0.0.0/8 here).
    assert.doesNotMatch(res.body, /"10\.\d+\.\d+\.\d+"/);
  });

  it('runs by itself every runInterval, as M1, audited with counts', async () => {
    const deadline = Date.now() + 20_000;
    let own: AuditEntry | undefined;
    while (!own && Date.now() < deadline) {
      own = (await auditActions()).find((e) => e.action === 'cc.detect' && e.actor === 'measure:cc-detection' && e.outcome === 'ok');
      if (!own) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(own, 'no scheduled run within 20 s');
    const grants = (await auditActions())
      .filter((e) => e.action === 'capability.grant' && e.measure === 'cc-detection')
      .map((e) => e.object);
    assert.ok(grants.includes('capability:state') && grants.includes('capability:analytics-read:flows'), grants.join(', '));
  });
});
