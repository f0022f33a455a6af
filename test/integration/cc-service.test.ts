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
import { serve, type Server } from '../../src/app/serve.js';
import type { AuditEntry } from '../../src/core/audit/chain.js';
import { createLogger } from '../../src/core/logger.js';
import { importLabels } from '../../src/measures/cc-detection/label-store.js';
import { sendIpfix } from '../../src/simulate/ipfix-exporter.js';
import { DEFAULT_FAMILIES, randomFamilies, simulateIsp } from '../../src/simulate/isp.js';
import { CLI, tempDir, testConfig } from '../support/fixtures.js';
import { readInputFile } from '../../src/cli/context.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

const HOUR = 3_600_000;
// 23 simulated hours starting 23.5 h ago, so that M1's rolling window (24 h ending now) holds all of them, with half an
// hour to spare at either end, whatever the time the test runs. (Aligned to the hour before, the start fell up to 30
// minutes before the window in half the hours, and the forest trained on what was left was sometimes unfit.)
const START = new Date(Date.now() - 23.5 * HOUR);

describe('M1 in the server', () => {
  let server: Server;
  let analyst: string;
  let auditor: string;
  // Enough botnets for a forest (it needs 20 labelled C&C endpoints).
  const sim = simulateIsp({
    seed: 5,
    subscribers: 400,
    hours: 23,
    start: START,
    families: [...DEFAULT_FAMILIES, ...randomFamilies(5, 16)],
  });
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

  it('is enabled, and runs with the built-in profile before any model is trained (here: on an empty window, and says so)', async () => {
    const measures = (await api('GET', '/api/v1/measures', auditor)).body.measures as Array<{ code: string; state: string }>;
    assert.equal(measures.find((x) => x.code === 'M1')!.state, 'enabled');
    const run = await api('POST', '/api/v1/measures/cc-detection/runs', analyst);
    assert.equal(run.status, 200);
    assert.equal(run.body.ran, true);
    assert.equal(run.body.modelVersion, 0);
    assert.deepEqual(run.body.problems, ['no flows in the window: nothing was analysed']);
  });

  it('makes a model version from the window, labelled by a reputation list, and says what its few labels allow', async () => {
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
    assert.ok(cc.length >= 20, `${cc.length} C&C endpoints`);
    const m = server.mamori;
    await importLabels(m.state, m.audit, {
      file: readInputFile(list),
      format: 'ip-list',
      source: 'partial',
      validityDays: 30,
      actor: 'cli:test',
      now: START,
    });
    assert.equal((await api('POST', '/api/v1/measures/cc-detection/models', auditor, {})).status, 403, 'an auditor may read, not train');
    // Only part of the botnets on the list, as with real lists: the profile learns from them, and says
    // whether they are enough to calibrate its scores.
    const trained = await api('POST', '/api/v1/measures/cc-detection/models', analyst, { seed: 3 });
    assert.equal(trained.status, 201, JSON.stringify(trained.body));
    assert.equal(trained.body.version, 1);
    assert.equal(trained.body.kind, 'profile');
    // Endpoints contacted fewer than 10 times in the window are not scored, labelled or not.
    assert.ok(Number(trained.body.positives) >= 20 && Number(trained.body.positives) <= cc.length, String(trained.body.positives));
    assert.equal(trained.body.active, false, 'a new version is not used until promoted');
    const forest = await api('POST', '/api/v1/measures/cc-detection/models', analyst, { kind: 'forest', seed: 3, trees: 40 });
    assert.equal(forest.status, 201, JSON.stringify(forest.body));
    assert.equal(forest.body.version, 2);
    const models = (await api('GET', '/api/v1/measures/cc-detection/models', auditor)).body.models as Array<{
      version: number;
      labelSources: Array<{ name: string }>;
    }>;
    assert.deepEqual(
      models.map((x) => [x.version, x.labelSources.map((s) => s.name)]),
      [
        [2, ['partial']],
        [1, ['partial']],
        [0, []],
      ],
    );
  });

  it(
    'runs a detection with the promoted version: ranked ' + 'candidates explained in Japanese and English, ' + 'and no subscriber address',
    async () => {
      assert.equal(
        (await api('POST', '/api/v1/measures/cc-detection/models/2/promote', auditor)).status,
        403,
        'an auditor may not promote',
      );
      const promoted = await api('POST', '/api/v1/measures/cc-detection/models/2/promote', analyst);
      assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
      assert.equal(promoted.body.active, true);
      const run = await api('POST', '/api/v1/measures/cc-detection/runs', analyst);
      assert.equal(run.status, 200, JSON.stringify(run.body));
      assert.equal(run.body.ran, true);
      assert.equal(run.body.modelVersion, 2);
      assert.ok(Number(run.body.detected) >= 1, JSON.stringify(run.body));
      const res = await server.app.inject({
        method: 'GET',
        url: '/api/v1/measures/cc-detection/candidates',
        headers: { authorization: `Bearer ${auditor}` },
      });
      type C = {
        id: string;
        address: string;
        port: number;
        score: number;
        evidence: { rank: number; summary: { ja: string; en: string }; explanation: Array<{ ja: string; en: string; direction: string }> };
      };
      const candidates = (res.json() as { candidates: C[] }).candidates;
      assert.ok(candidates.length >= 1);
      const truthOf = (c: { address: string; port: number }) => sim.truth.find((t) => t.address === c.address && t.port === c.port)?.truth;
      // Accuracy is `mamori cc eval`'s business; here, the forest trained on this window's labels must be
      // mostly right (a one-subscriber UDP keep-alive every 20 s is the simulator's hardest benign timer).
      const wrong = candidates.filter((c) => truthOf(c) !== 'cc');
      assert.ok(
        wrong.length <= candidates.length / 10,
        `candidates that are not C&C: ${JSON.stringify(wrong.map((c) => [truthOf(c), c.port]))}`,
      );
      for (let i = 1; i < candidates.length; i++) assert.ok(candidates[i - 1]!.score >= candidates[i]!.score, 'ranked by score');
      for (const c of candidates) {
        assert.ok(c.evidence.explanation.length > 0 && c.evidence.rank >= 1);
        assert.match(c.evidence.summary.en, /contacts a day from \d+ subscribers?/);
        assert.ok(c.evidence.explanation.every((e) => /[ぁ-んァ-ヶ一-龠]/.test(e.ja) && /raised the score/.test(e.en)));
      }
      // No answer of M1's API names a subscriber (10.0.0.0/8 here).
      assert.doesNotMatch(res.body, /"10\.\d+\.\d+\.\d+"/);
    },
  );

  it('lists, shows and decides candidates from the command line, against the running server', async () => {
    const env = { ...process.env, MAMORI_TOKEN: analyst, MAMORI_URL: server.url };
    const cli = async (...args: string[]) =>
      (await execFileAsync(process.execPath, [CLI, 'cc', 'candidates', ...args], { env, encoding: 'utf8' })).stdout;
    const listed = (await cli('list')).trim().split('\n');
    const first = listed[0]!.split('\t');
    assert.equal(first[0], '1');
    assert.match(first[1]!, /^c-[0-9a-f]{16}$/);
    assert.match(listed[0]!, /contacts a day from \d+ subscriber/);
    const shown = await cli('show', first[1]!);
    assert.match(shown, /rank \d+ of \d+ scored endpoints, model 2/);
    assert.match(await cli('show', first[1]!, '--ja'), /加入者/);
    assert.match(await cli('decide', first[1]!, '--confirm', '--reason', 'seen in the sandbox too'), /: confirmed/);
    await assert.rejects(cli('decide', first[1]!, '--confirm', '--reason', 'again'), /a confirmed candidate cannot be confirmed/);
    await assert.rejects(
      execFileAsync(process.execPath, [CLI, 'cc', 'candidates', 'list'], {
        env: { ...process.env, MAMORI_TOKEN: '', MAMORI_URL: server.url },
        encoding: 'utf8',
      }),
      /set MAMORI_TOKEN/,
    );
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
