/**
 * Issue 19: the measures' own pages of the operator console in a real browser (Debian's chromium through
 * playwright-core), against a running server whose data came in through the real paths: the synthetic ISP's
 * IPFIX through the flow collector, a reputation list, a model trained, promoted and run through M1's API.
 * Each page renders its data, offers only what the role may do, round-trips a decision that is audited, works
 * in both languages and passes axe-core; screenshots of each go to docs/images/console/.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { serve, type Server } from '../../src/app/serve.js';
import type { AuditEntry } from '../../src/core/audit/chain.js';
import { createLogger } from '../../src/core/logger.js';
import { importLabels } from '../../src/measures/cc-detection/label-store.js';
import { sendIpfix } from '../../src/simulate/ipfix-exporter.js';
import { DEFAULT_FAMILIES, randomFamilies, simulateIsp } from '../../src/simulate/isp.js';
import { ConsoleBrowser, NO_CHROMIUM, SHOTS } from '../support/console-browser.js';
import { tempDir, testConfig } from '../support/fixtures.js';

const HOUR = 3_600_000;
// A simulated day ending just before now, inside M1's rolling 24 h window whatever the time of day.
const START = new Date(Math.floor((Date.now() - 24.5 * HOUR) / HOUR) * HOUR + HOUR);
// What the callbacks below see in the page (they run there, serialised): named for the compiler only.
declare const document: any;

interface Candidate {
  id: string;
  address: string;
  port: number;
  proto: number;
  score: number;
  status: string;
  evidence: { features: Record<string, number>; explanation: Array<{ feature: string; ja: string; en: string }> };
}

describe('operator console: the measures’ pages in chromium', { skip: NO_CHROMIUM }, () => {
  let server: Server;
  let browser: ConsoleBrowser;
  let tokens: Record<'admin' | 'analyst' | 'auditor' | 'operator', string>;
  const password = 'night shift console 8816';
  // Enough botnets for a forest (it needs 20 labelled C&C endpoints), as in M1's own service test.
  const sim = simulateIsp({
    seed: 5,
    subscribers: 400,
    hours: 23,
    start: START,
    families: [...DEFAULT_FAMILIES, ...randomFamilies(5, 16)],
  });

  const api = async <T>(method: 'GET' | 'POST', url: string, role: keyof typeof tokens, payload?: object): Promise<T> => {
    const res = await server.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${tokens[role]}` },
      ...(payload ? { payload } : {}),
    });
    assert.ok(res.statusCode < 300, `${method} ${url}: ${res.statusCode} ${res.body}`);
    return res.json() as T;
  };

  async function audited(action: string): Promise<AuditEntry[]> {
    const out: AuditEntry[] = [];
    for await (const e of server.mamori.audit.entries()) if (e.action === action) out.push(e);
    return out;
  }

  async function open(page: Page, nav: string, ready: string): Promise<void> {
    await page.click(`[data-nav=${nav}]`);
    await page.waitForSelector(ready);
  }

  before(async () => {
    const config = testConfig(
      join(tempDir(), 'data'),
      [
        'server:\n  port: 0',
        'measures:',
        '  cc-detection:\n    enabled: true\n    runInterval: 1h\n    scope:\n      subscriberPrefixes: ["10.0.0.0/8"]',
        'ingest:\n  flows:\n    listeners: [{ host: "127.0.0.1", port: 0 }]',
      ].join('\n'),
    );
    server = await serve(config, { out: new PassThrough(), logger: createLogger('silent') });
    const m = server.mamori;
    tokens = {
      admin: (await m.accounts.createToken('module:test', 'admin', 'admin')).token,
      analyst: (await m.accounts.createToken('module:test', 'analyst', 'analyst')).token,
      auditor: (await m.accounts.createToken('module:test', 'auditor', 'auditor')).token,
      operator: (await m.accounts.createToken('module:test', 'operator', 'operator')).token,
    };
    for (const role of ['admin', 'analyst', 'auditor', 'operator'] as const)
      await m.accounts.createUser('module:test', `${role}1`, role, password);

    // M1: a day of the synthetic ISP through the collector, part of its botnets on a reputation list, a profile
    // trained on the window, promoted and run: candidates with their evidence, as an ISP gets them.
    await sendIpfix(sim.flows(), '127.0.0.1', server.inlet!.addresses[0]!.port, 40_000);
    await server.inlet!.flush();
    const list = join(tempDir(), 'list.txt');
    const cc = sim.truth.filter((t) => t.truth === 'cc');
    writeFileSync(list, `# reputation list\n${cc.map((t) => t.address).join('\n')}\n`);
    await importLabels(m.state, m.audit, {
      file: list,
      format: 'ip-list',
      source: 'reputation',
      validityDays: 30,
      actor: 'cli:test',
      now: START,
    });
    const trained = await api<{ version: number }>('POST', '/api/v1/measures/cc-detection/models', 'analyst', {
      kind: 'forest',
      seed: 3,
      trees: 40,
    });
    await api('POST', `/api/v1/measures/cc-detection/models/${trained.version}/promote`, 'analyst');
    const run = await api<{ detected: number }>('POST', '/api/v1/measures/cc-detection/runs', 'analyst');
    assert.ok(run.detected >= 2, JSON.stringify(run));

    browser = await ConsoleBrowser.launch(server.url);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('M1: ranks the candidates, explains one in its own units, charts its hours, and confirms it with a reason (audited)', async () => {
    const { candidates } = await api<{ candidates: Candidate[] }>('GET', '/api/v1/measures/cc-detection/candidates', 'auditor');
    const ranked = [...candidates].sort((a, b) => b.score - a.score);
    const { context, page } = await browser.newPage('en');
    await browser.logIn(page, 'analyst1', password);
    await open(page, 'm1', '[data-testid=candidates] tbody tr');
    assert.deepEqual(
      await page.$$eval('[data-testid=candidates] tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-candidate'))),
      ranked.map((c) => c.id),
      'ranked by score',
    );
    const top = ranked[0]!;
    await page.click(`[data-open="${top.id}"]`);
    await page.waitForSelector('[data-testid=evidence] [data-testid=explanation] li');
    assert.deepEqual(
      await page.$$eval('[data-testid=explanation] li', (lis) => lis.map((li) => li.textContent?.trim())),
      top.evidence.explanation.map((e) => e.en),
    );
    const f = top.evidence.features;
    const figure = (key: string) => page.textContent(`[data-figure=${key}] dd`);
    assert.equal((await figure('clients'))?.trim(), String(f.clients));
    assert.match((await figure('periodSeconds')) ?? '', /^\d[\d,.]* s$/);
    assert.match((await figure('meanBytesPerFlow')) ?? '', /^\d[\d,]* bytes$/);
    // The charts' figures (also in their screen-reader tables) are the endpoint's flows in the same window.
    await page.waitForSelector('[data-testid=chart-contacts] canvas');
    const hours = await api<{ hours: Array<{ contacts: number; subscribers: number }> }>(
      'GET',
      `/api/v1/measures/cc-detection/candidates/${top.id}/activity`,
      'auditor',
    );
    // Every hour the 24 h window touches (25 when it does not start on the hour).
    assert.ok([24, 25].includes(hours.hours.length), String(hours.hours.length));
    assert.equal(
      hours.hours.reduce((s, h) => s + h.contacts, 0),
      f.flows,
      'contacts per hour add up to the contacts the features counted',
    );
    assert.ok(Math.max(...hours.hours.map((h) => h.subscribers)) <= f.clients!);
    await page.waitForFunction((n) => document.querySelectorAll('figure.chart table tbody tr').length === n, hours.hours.length * 2);
    // The decision, with its reason, round-trips and is audited under the analyst's name.
    await page.fill('[data-testid=reason]', 'beacons every 60 s to a bare IP: seen in the sandbox');
    await page.click('[data-testid=confirm]');
    await page.waitForSelector('[data-testid=done]');
    await page.waitForFunction(
      (id) => /confirmed/.test(document.querySelector(`tr[data-candidate="${id}"] .badge`)?.textContent ?? ''),
      top.id,
    );
    const after = await api<Candidate & { statusReason: string }>('GET', `/api/v1/measures/cc-detection/candidates/${top.id}`, 'auditor');
    assert.equal(after.status, 'confirmed');
    assert.equal(after.statusReason, 'beacons every 60 s to a bare IP: seen in the sandbox');
    const entries = await audited('cc.candidate.confirm');
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.object, `candidate:${top.id}`);
    assert.match(entries[0]!.actor, /analyst1/);
    assert.equal(entries[0]!.outcome, 'ok');
    // Model versions with their figures: the built-in profile and the one trained, in use.
    const models = await page.$$eval('[data-testid=models] tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-model')));
    assert.deepEqual(models, ['1', '0']);
    assert.ok(await page.$('[data-model="1"] [data-testid=active-model]'));
    assert.ok(await page.$('[data-promote="0"]'), 'an analyst may go back to the built-in profile');
    assert.deepEqual(browser.problems, []);
    await context.close();
  });

  it('M1: offers an auditor and an operator neither decisions nor promotion', async () => {
    for (const user of ['auditor1', 'operator1']) {
      const { context, page } = await browser.newPage();
      await browser.logIn(page, user, password);
      await open(page, 'm1', '[data-testid=candidates] tbody tr');
      await page.click('[data-testid=candidates] tbody tr:first-child [data-open]');
      await page.waitForSelector('[data-testid=explanation] li');
      assert.equal(await page.$('[data-testid=reason]'), null, `${user}: no decision form`);
      assert.equal(await page.$('[data-promote]'), null, `${user}: no promotion`);
      await context.close();
    }
    assert.deepEqual(browser.problems, []);
  });

  it('passes axe-core on every measure page in both languages, and saves their screenshots', async () => {
    for (const lang of ['ja', 'en'] as const) {
      const { context, page } = await browser.newPage(lang);
      await browser.logIn(page, 'admin1', password);
      await open(page, 'm1', '[data-testid=candidates] tbody tr');
      await page.click('[data-testid=candidates] tbody tr:first-child [data-open]');
      await page.waitForSelector('[data-testid=chart-subscribers] canvas');
      await browser.accessible(page, `m1 ${lang}`);
      await page.screenshot({ path: join(SHOTS, `m1-${lang}.png`), fullPage: true });
      await context.close();
    }
    assert.deepEqual(browser.problems, []);
  });
});
