/**
 * Issue 19: the measures' own pages of the operator console in a real browser (Debian's chromium through
 * playwright-core), against a running server whose data came in through the real paths: the synthetic ISP's
 * IPFIX through the flow collector, a reputation list, a model trained, promoted and run through M1's API.
 * Each page renders its data, offers only what the role may do, round-trips a decision that is audited, works
 * in both languages and passes axe-core; screenshots of each go to docs/images/console/.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { serve, type Server } from '../../src/app/serve.js';
import type { AuditEntry } from '../../src/core/audit/chain.js';
import { createLogger } from '../../src/core/logger.js';
import { importLabels } from '../../src/measures/cc-detection/label-store.js';
import { COLLECTIONS, syncEntries } from '../../src/measures/cc-sharing/entries.js';
import type { CcSharingSettings } from '../../src/measures/cc-sharing/settings.js';
import { applyDetections, type CandidateFeed } from '../../src/measures/cc-detection/candidates.js';
import { sendIpfix } from '../../src/simulate/ipfix-exporter.js';
import { DEFAULT_FAMILIES, randomFamilies, simulateIsp } from '../../src/simulate/isp.js';
import { ConsoleBrowser, NO_CHROMIUM, SHOTS } from '../support/console-browser.js';
import { ccLikeFeatures, REPO_ROOT, tempDir, testConfig } from '../support/fixtures.js';
import { readInputFile } from '../../src/cli/context.js';
import { have } from '../support/flow-peers.js';
import { radclient } from '../support/freeradius.js';
import { NasSimulator, SECRET as DM_SECRET } from '../support/nas-simulator.js';
import { TaxiiClient } from '../support/taxii-client.js';
import { dnstapFrame, sendDnstap } from '../support/dnstap.js';
import { freePort } from '../support/freeradius.js';
import { defaultProfile, learnProfile } from '../../src/measures/cc-detection/profile.js';
import { modelFile } from '../../src/measures/cc-detection/training.js';

const HOUR = 3_600_000;
// A simulated day ending just before now, inside M1's rolling 24 h window whatever the time of day.
const START = new Date(Math.floor((Date.now() - 24.5 * HOUR) / HOUR) * HOUR + HOUR);
const ACCT_SECRET = 'acct-secret';
/** An attribute list as FreeRADIUS's rlm_rest sends it with `body = 'json'`. */
const rest = (user: string, station: string) => ({
  'User-Name': { type: 'string', value: [user] },
  'NAS-IP-Address': { type: 'ipaddr', value: ['127.0.0.1'] },
  'Calling-Station-Id': { type: 'string', value: [station] },
});
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** A line of BIND 9.18's `rpz` log category (UTC), as the resolver writes it to the file M3 reads. */
function bindRpzLine(at: Date, client: string, qname: string, rule: string): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const time =
    `${p(at.getUTCDate())}-${MONTHS[at.getUTCMonth()]}-${at.getUTCFullYear()} ` +
    `${p(at.getUTCHours())}:${p(at.getUTCMinutes())}:${p(at.getUTCSeconds())}.${p(at.getUTCMilliseconds(), 3)}`;
  return (
    `${time} rpz: info: client @0x7f5c ${client}#53211 (${qname}): view _default: rpz QNAME NXDOMAIN rewrite ` +
    `${qname}/A/IN via ${rule}.cc.rpz.isp.test`
  );
}
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

describe(
  'operator console: the measures’ pages in chromium',
  { skip: NO_CHROMIUM || (!have('radclient') && 'radclient not installed') },
  () => {
    let server: Server;
    let browser: ConsoleBrowser;
    let partner: Server;
    let partnerAdmin = '';
    const partnerApi = async (method: 'GET' | 'POST', url: string, payload?: object): Promise<Record<string, any>> => {
      const res = await partner.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${partnerAdmin}` },
        ...(payload ? { payload } : {}),
      });
      assert.ok(res.statusCode < 300, `partner ${url}: ${res.body}`);
      return res.json() as Record<string, any>;
    };
    let tokens: Record<'admin' | 'analyst' | 'auditor' | 'operator' | 'aaa', string>;
    const nas = new NasSimulator();
    const dir = tempDir();
    const rpzLog = join(dir, 'bind-rpz.log');
    const dnstapSocket = join(dir, 'dnstap.sock');
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
      return (res.body ? res.json() : undefined) as T;
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

    /** Bounded wait for what the server does by itself (M3's log reading, M4's analysis). */
    async function until(what: () => Promise<boolean>, label: string, ms = 15_000): Promise<void> {
      for (const deadline = Date.now() + ms; !(await what()); await new Promise((r) => setTimeout(r, 200)))
        assert.ok(Date.now() < deadline, `not within ${ms} ms: ${label}`);
    }

    before(async () => {
      await nas.start();
      // Three days of what BIND blocked, 2, 3 and 4 queries, in the log file M3 reads.
      const now = Date.now();
      const lines = [2, 3, 4].flatMap((n, d) =>
        Array.from({ length: n }, (_, i) =>
          bindRpzLine(new Date(now - (2 - d) * 86_400_000 - (i + 1) * 60_000), '127.0.0.9', 'c2.bad.example.test', 'bad.example.test'),
        ),
      );
      writeFileSync(rpzLog, `${lines.join('\n')}\n`);
      // A partner ISP whose TAXII server does not answer: a poll now from the console must say so, naming it.
      const closed = await freePort();
      // A partner ISP running Mamori (its TAXII server, us as its recipient with a token): what "Poll now" fetches from.
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
        // One analytics store per process (ours): the partner needs none to share what its analysts approve.
        { analytics: false, out: new PassThrough(), logger: createLogger('silent') },
      );
      partnerAdmin = (await partner.mamori.accounts.createToken('module:test', 'admin', 'admin')).token;
      const us = await partnerApi('POST', '/api/v1/measures/cc-sharing/recipients', {
        name: 'Our ISP',
        contact: 'soc@our.example',
        attestedAt: new Date(now - 86_400_000).toISOString(),
        attestationUntil: new Date(now + 365 * 86_400_000).toISOString(),
        channels: ['taxii'],
      });
      const credential = await partnerApi('POST', `/api/v1/measures/cc-sharing/recipients/${us.id}/credentials`, { kind: 'token' });
      const partnerTaxii = `${partner.endpoints['cc-sharing']!.taxii!.replace(/taxii2\/$/, '')}mamori/collections/${COLLECTIONS.cc.id}/`;
      const partnerCa = join(partnerDir, 'data', 'taxii-tls', 'cert.pem');
      // A C&C endpoint its M1 found, waiting for its analyst's approval (not shared yet).
      await applyDetections(
        partner.mamori.state,
        partner.mamori.audit,
        [{ features: ccLikeFeatures('203.0.113.66', 8443), score: 0.95, explanation: [] }],
        new Date(),
        new Date(0),
        'measure:cc-detection',
      );
      const partnerCaps = partner.mamori.broker.forMeasure('cc-sharing');
      const partnerOwn = await partnerCaps.ownState<CcSharingSettings>();
      await syncEntries({
        audit: partnerOwn.audit,
        feed: await partnerCaps.action<CandidateFeed>('candidate-feed'),
        settings: partnerOwn.settings,
        now: new Date(),
        actor: 'measure:cc-sharing',
      });
      const config = testConfig(
        join(dir, 'data'),
        [
          'server:\n  port: 0',
          'rpz:\n  primary: { host: 127.0.0.1, port: 0 }\n  transferTo: [127.0.0.1]',
          'measures:',
          '  cc-detection:\n    enabled: true\n    runInterval: 1h\n    scope:\n      subscriberPrefixes: ["10.0.0.0/8"]',
          '  cc-sharing:\n    enabled: true\n    maintenanceInterval: 1s\n    taxii: { host: "127.0.0.1", port: 0 }',
          '    partners:',
          `      - { name: far-isp, url: "https://127.0.0.1:${closed}/api1/collections/x/", interval: 24h }`,
          `      - { name: partner-p, url: "${partnerTaxii}", token: "${credential.secret}", caFile: ${JSON.stringify(partnerCa)},` +
            ' interval: 24h }',
          '  cc-dns-blocking:',
          '    enabled: true',
          `    resolverLogs: [{ name: bind1, path: ${JSON.stringify(rpzLog)}, format: bind }]`,
          '    zones: { cc: cc.rpz.isp.test, optOut: optout.rpz.isp.test }',
          '  ddos-dns-blocking:',
          '    enabled: true',
          `    dnstap: { unix: [${JSON.stringify(dnstapSocket)}] }`,
          '    zone: ddos.rpz.isp.test',
          '    whitelist: { domains: [popular.example] }',
          '  credential-misuse:',
          '    enabled: true',
          '    analysisInterval: 1s',
          '    trigger: { serverRequestsPerMinute: 50, accountRequestsPerMinute: 5 }',
          '    burst: { accepts: 5, withinSeconds: 300, distinctPlaces: 3 }',
          '    regions: [{ name: Tokyo, lat: 35.68, lon: 139.69 }, { name: Fukuoka, lat: 33.59, lon: 130.4 }]',
          '    pools: [{ prefix: 100.64.0.0/16, regions: [Tokyo] }, { prefix: 100.66.0.0/16, regions: [Fukuoka] }]',
          `    nas: [{ name: bras1, address: 127.0.0.1, port: ${nas.port}, secret: ${DM_SECRET} }]`,
          'ingest:',
          '  flows:\n    listeners: [{ host: "127.0.0.1", port: 0 }]',
          '  radius:\n    listeners: [{ host: "127.0.0.1", port: 0 }]',
          `    clients: [{ address: "127.0.0.1", secret: ${ACCT_SECRET}, name: bras1 }]`,
        ].join('\n'),
      );
      server = await serve(config, { out: new PassThrough(), logger: createLogger('silent') });
      const m = server.mamori;
      tokens = {
        admin: (await m.accounts.createToken('module:test', 'admin', 'admin')).token,
        analyst: (await m.accounts.createToken('module:test', 'analyst', 'analyst')).token,
        auditor: (await m.accounts.createToken('module:test', 'auditor', 'auditor')).token,
        operator: (await m.accounts.createToken('module:test', 'operator', 'operator')).token,
        aaa: (await m.accounts.createToken('module:test', 'freeradius', 'aaa')).token,
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
        file: readInputFile(list),
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

      // M4: a stolen ID, in session in Tokyo (accounting from radclient) and minutes later in Fukuoka, then logins
      // from many places through the AAA's REST calls: found, disconnected at the NAS, suspended, a case opened.
      const radius = server.radius!.addresses[0]!.port;
      const t = Math.floor(Date.now() / 1000);
      for (const [id, ip, at] of [
        ['v1', '100.64.7.7', t - 300],
        ['v2', '100.66.9.9', t],
      ] as const) {
        const sent =
          `Acct-Status-Type = Start\nUser-Name = "victim@isp"\nAcct-Session-Id = "${id}"\n` +
          `Framed-IP-Address = ${ip}\nEvent-Timestamp = ${at}\n`;
        assert.equal((await radclient(radius, 'acct', ACCT_SECRET, sent)).status, 0);
      }
      await server.radius!.settled();
      for (let i = 0; i < 6; i++) {
        await api('POST', '/api/v1/aaa/authorize', 'aaa', rest('victim@isp', `cpe-x${i}`));
        await api('POST', '/api/v1/aaa/post-auth/accept', 'aaa', rest('victim@isp', `cpe-x${i}`));
      }
      await until(async () => {
        const r = await server.app.inject({
          method: 'POST',
          url: '/api/v1/aaa/authorize',
          headers: { authorization: `Bearer ${tokens.aaa}` },
          payload: rest('victim@isp', 'cpe-x9'),
        });
        return r.statusCode === 401;
      }, 'victim@isp suspended');
      // M3 has read the resolver's log.
      await until(async () => {
        const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
        const r = await api<{ counts: Array<{ count: number }> }>(
          'GET',
          `/api/v1/measures/cc-dns-blocking/blocked?from=${day(now - 3 * 86_400_000)}&to=${day(now)}`,
          'auditor',
        );
        return r.counts.reduce((s, c) => s + c.count, 0) === 9;
      }, 'M3 counted the 9 blocked queries');

      browser = await ConsoleBrowser.launch(server.url);
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      await partner?.close();
      nas.stop();
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
      // A detection run now and a new profile version, from the page: the run's counts are those the audit recorded.
      const runs = (await audited('cc.detect')).length;
      await page.click('[data-testid=run-now]');
      await page.waitForFunction(() => /^Detection ran over/.test(document.querySelector('[data-testid=done]')?.textContent?.trim() ?? ''));
      const detects = await audited('cc.detect');
      assert.equal(detects.length, runs + 1);
      assert.match(detects.at(-1)!.actor, /analyst1/);
      const counts = detects.at(-1)!.counts as Record<string, number>;
      assert.match(
        ((await page.textContent('[data-testid=done]')) ?? '').trim(),
        new RegExp(`endpoints: ${counts.detected} detected, ${counts.created} new\\.$`),
      );
      await page.click('[data-testid=train]');
      await page.waitForSelector('[data-model="2"]');
      assert.match((await page.textContent('[data-testid=done]')) ?? '', /Version 2 made/);
      assert.ok(await page.$('[data-promote="2"]'), 'made, not in use');
      assert.ok(await page.$('[data-model="1"] [data-testid=active-model]'));
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
        assert.equal(await page.$('[data-testid=jobs]'), null, `${user}: neither runs nor training`);
        await context.close();
      }
      assert.deepEqual(browser.problems, []);
    });

    it('M1: imports a reputation list and a model file uploaded in the page (audited); a broken list is refused by its line', async () => {
      const { context, page } = await browser.newPage('en');
      await browser.logIn(page, 'analyst1', password);
      await open(page, 'm1', '[data-testid=label-sources] tr[data-source=reputation]');
      // A Feodo-Tracker-style list as abuse.ch writes it: the header as a comment, one line with a bad port.
      const feodo =
        '# Feodo Tracker\n# first_seen_utc,dst_ip,dst_port,c2_status,last_online,malware\n' +
        `${new Date(Date.now() - 86_400_000).toISOString().slice(0, 19).replace('T', ' ')},198.51.100.40,447,online,,Dridex\n` +
        `${new Date(Date.now() - 86_400_000).toISOString().slice(0, 19).replace('T', ' ')},198.51.100.41,99999,online,,Dridex\n`;
      await page.setInputFiles('[data-testid=list-file]', { name: 'feodo.csv', mimeType: 'text/csv', buffer: Buffer.from(feodo) });
      await page.selectOption('select[name=list-format]', 'feodo-csv');
      await page.fill('input[name=list-source]', 'feodo-console');
      await page.click('[data-testid=list-import] button[type=submit]');
      await page.waitForSelector('[data-testid=label-sources] tr[data-source=feodo-console]');
      assert.equal((await page.textContent('[data-testid=done]'))?.trim(), 'List "feodo-console" imported: 1 labels, 1 lines skipped.');
      assert.match((await page.textContent('[data-testid=skipped]')) ?? '', /Line 4 skipped: dst_port "99999" is not a port/);
      const imported = await audited('labels.import');
      assert.deepEqual(
        imported.map((e) => [e.object, /analyst1/.test(e.actor)]),
        [
          ['label-source:reputation', false],
          ['label-source:feodo-console', true],
        ],
      );
      // A broken file is refused whole, naming its line; nothing is stored.
      await page.setInputFiles('[data-testid=list-file]', {
        name: 'broken.csv',
        mimeType: 'text/csv',
        buffer: Buffer.from('first_seen_utc,dst_ip\n2026-11-01,198.51.100.7\n'),
      });
      await page.fill('input[name=list-source]', 'broken');
      await page.click('[data-testid=list-import] button[type=submit]');
      await page.waitForSelector('[role=alert]');
      assert.match((await page.textContent('[role=alert]')) ?? '', /line 1: wrong columns: expected first_seen_utc,dst_ip/);
      assert.equal(await page.$('[data-testid=label-sources] tr[data-source=broken]'), null);
      assert.equal((await audited('labels.import')).length, 2, 'nothing more audited: nothing imported');
      // A model file made by an evaluation: a new version, not in use until chosen.
      const before = (await api<{ models: Array<{ version: number }> }>('GET', '/api/v1/measures/cc-detection/models', 'auditor')).models;
      const file = modelFile(learnProfile(defaultProfile(), [{ features: [], labels: [] }]), {
        command: 'mamori cc eval --real DIR',
        figures: ['real traffic: PR-AUC 0.97'],
      });
      await page.setInputFiles('[data-testid=model-file]', {
        name: 'model.json',
        mimeType: 'application/json',
        buffer: Buffer.from(JSON.stringify(file)),
      });
      await page.click('[data-testid=model-import] button[type=submit]');
      const version = Math.max(...before.map((m) => m.version)) + 1;
      await page.waitForSelector(`[data-testid=models] tr[data-model="${version}"]`);
      assert.equal((await page.textContent('[data-testid=done]'))?.trim(), `Model version ${version} imported (not used until chosen).`);
      assert.match((await page.textContent(`tr[data-model="${version}"]`)) ?? '', /made by: mamori cc eval --real DIR/);
      assert.ok(await page.$(`[data-promote="${version}"]`), 'offered for use, not in use');
      const models = await audited('cc.model.import');
      assert.deepEqual(
        models.map((e) => [e.object, /analyst1/.test(e.actor)]),
        [[`model:${version}`, true]],
      );
      // The refusal's own request is the one console line (the browser logs a failed load); nothing else.
      assert.deepEqual(
        browser.problems.splice(0).filter((p) => !/status of 422/.test(p)),
        [],
      );
      await context.close();

      const auditor = await browser.newPage('en');
      await browser.logIn(auditor.page, 'auditor1', password);
      await open(auditor.page, 'm1', '[data-testid=label-sources] tr[data-source=feodo-console]');
      assert.equal(await auditor.page.$('[data-testid=list-import]'), null, 'an auditor imports nothing');
      assert.equal(await auditor.page.$('[data-testid=model-import]'), null);
      await auditor.context.close();
    });

    it("M2: shows partners' lists, imports a partner's STIX file (audited), and says why a poll of a partner failed", async () => {
      const { context, page } = await browser.newPage('en');
      await browser.logIn(page, 'analyst1', password);
      await open(page, 'm2', '[data-testid=partners] [data-partner=far-isp]');
      // The official STIX 2.1 example C2 indicator (oasis-open/cti-stix2-json-schemas), as a partner would send it.
      const stix = readFileSync(join(REPO_ROOT, '../shared/data/stix2-json-schemas/examples/indicator-for-c2-ip-address.json'));
      await page.setInputFiles('[data-testid=partner-file-input]', { name: 'partner.json', mimeType: 'application/json', buffer: stix });
      await page.selectOption('select[name=partner-format]', 'stix');
      await page.fill('input[name=partner-source]', 'oasis-example');
      await page.click('[data-testid=partner-file] button[type=submit]');
      await page.waitForSelector('[data-testid=inbound] tr[data-inbound="file:oasis-example"]');
      assert.equal((await page.textContent('[data-testid=done]'))?.trim(), 'File of "oasis-example" imported: 1 entries, 0 lines skipped.');
      const row = (await page.textContent('[data-testid=inbound] tr[data-inbound="file:oasis-example"]')) ?? '';
      assert.match(row, /file-stix/);
      assert.match(row, /analyst1/);
      const imports = await audited('share.import');
      assert.equal(imports.length, 1);
      assert.match(imports[0]!.actor, /analyst1/);
      assert.deepEqual(imports[0]!.counts, { entries: 1, skipped: 0 });
      // A poll now of the partner: its start-up poll brought nothing (its entry was not approved); approved since, it comes in.
      const pending = (await partnerApi('GET', '/api/v1/measures/cc-sharing/entries?state=pending')).entries as Array<{ id: string }>;
      assert.equal(pending.length, 1);
      await partnerApi('POST', `/api/v1/measures/cc-sharing/entries/${pending[0]!.id}/decision`, { action: 'approve', reason: 'checked' });
      await page.click('[data-poll=partner-p]');
      await page.waitForFunction(() =>
        /^partner-p polled: \d+ pages?, 1 accepted, \d+ refused\.$/.test(
          document.querySelector('[data-testid=done]')?.textContent?.trim() ?? '',
        ),
      );
      const p = await page.$$eval('[data-testid=inbound] tr[data-inbound="partner:partner-p"] td', (tds) =>
        tds.map((td) => td.textContent?.trim() ?? ''),
      );
      assert.deepEqual([p[1], p[2]], ['taxii-poll', '1']);
      const received = await audited('share.receive');
      assert.ok(
        received.some((e) => /analyst1/.test(e.actor) && e.counts?.accepted === 1),
        'the poll now is audited under the analyst',
      );
      // A poll now of a partner that does not answer: the partner's own error, by name; nothing received.
      await page.click('[data-poll=far-isp]');
      await page.waitForSelector('[role=alert]');
      assert.match((await page.textContent('[role=alert]')) ?? '', /far-isp: connect ECONNREFUSED/);
      assert.equal(await page.$('[data-testid=inbound] tr[data-inbound="partner:far-isp"]'), null);
      assert.deepEqual(
        browser.problems.splice(0).filter((p) => !/status of 502/.test(p)),
        [],
      );
      await context.close();

      const operator = await browser.newPage('en');
      await browser.logIn(operator.page, 'operator1', password);
      await open(operator.page, 'm2', '[data-testid=inbound] tr[data-inbound="file:oasis-example"]');
      assert.equal(await operator.page.$('[data-poll]'), null, 'an operator polls no partner');
      assert.equal(await operator.page.$('[data-testid=partner-file]'), null, 'nor imports a file');
      await operator.context.close();
    });

    it('M2: registers a recipient, issues its token, shares the C&C, shows the pull, renews, revokes (audited)', async () => {
      // The candidate confirmed in the M1 test reaches M2's queue at its next maintenance pass.
      const pendingOf = async () =>
        (await api<{ entries: Array<{ id: string; state: string }> }>('GET', '/api/v1/measures/cc-sharing/entries', 'auditor')).entries;
      await until(async () => (await pendingOf()).some((e) => e.state === 'pending'), 'the confirmed candidate in the sharing queue');
      const entry = (await pendingOf()).find((e) => e.state === 'pending')!;
      // A day as the date inputs take it, in the browser's zone (Asia/Tokyo, UTC+9).
      const day = (ms: number) => new Date(ms + 9 * 3_600_000).toISOString().slice(0, 10);
      const now = Date.now();

      // An admin registers the recipient, attested until 20 days from now, and issues it a token (shown once).
      const admin = await browser.newPage('en');
      admin.page.on('dialog', (d) => void d.accept());
      await browser.logIn(admin.page, 'admin1', password);
      await open(admin.page, 'm2', '[data-testid=add-recipient]');
      await admin.page.fill('input[name=recipient-name]', 'Partner ISP CSIRT');
      await admin.page.fill('input[name=recipient-contact]', 'soc@partner.example');
      await admin.page.fill('input[name=recipient-attested]', day(now - 86_400_000));
      await admin.page.fill('input[name=recipient-until]', day(now + 20 * 86_400_000));
      await admin.page.click('[data-testid=register]');
      const recipientId = (await (await admin.page.waitForSelector('[data-testid=recipient]')).getAttribute('data-id'))!;
      const row = `[data-testid=recipients] tr[data-recipient="${recipientId}"]`;
      assert.match((await admin.page.textContent(row)) ?? '', /Partner ISP CSIRT[\s\S]*renew soon/);
      const added = await audited('share.recipient.add');
      assert.deepEqual(
        added.map((e) => [e.object, e.actor.includes('admin1')]),
        [[`recipient:${recipientId}`, true]],
      );
      await admin.page.click('[data-testid=issue-token]');
      const secret = (await admin.page.textContent('[data-testid=secret-value]'))!.trim();
      assert.match(secret, /^mmr_/);
      const credentialId = (await audited('share.credential.issue'))[0]!.object!.replace(/^credential:/, '');
      await admin.page.waitForSelector(`[data-testid=credentials] tr[data-credential="${credentialId}"][data-revoked=no]`);

      // Neither an auditor nor an analyst is offered the recipients' administration; an auditor does not decide.
      const auditor = await browser.newPage('en');
      await browser.logIn(auditor.page, 'auditor1', password);
      await open(auditor.page, 'm2', `[data-testid=queue] tr[data-entry="${entry.id}"]`);
      assert.equal(await auditor.page.$('[data-approve]'), null, 'an auditor does not decide');
      assert.equal(await auditor.page.$('[data-testid=add-recipient], [data-manage]'), null, 'an auditor manages no recipient');
      await auditor.context.close();

      const { context, page } = await browser.newPage('en');
      await browser.logIn(page, 'analyst1', password);
      await open(page, 'm2', `[data-testid=queue] tr[data-entry="${entry.id}"]`);
      assert.equal(await page.$('[data-testid=add-recipient], [data-manage]'), null, 'an analyst manages no recipient');
      await page.fill(`[data-testid=queue] tr[data-entry="${entry.id}"] input`, 'confirmed C&C: share with the partners');
      await page.click(`[data-approve="${entry.id}"]`);
      await page.waitForSelector(`[data-testid=entries] tr[data-entry="${entry.id}"][data-state=shared]`);
      const approved = await audited('share.entry.approve');
      assert.equal(approved.length, 1);
      assert.equal(approved[0]!.object, `entry:${entry.id}`);
      assert.match(approved[0]!.actor, /analyst1/);
      await context.close();

      // The recipient pulls the collection over TAXII 2.1 with the token the console showed; the admin sees the pull.
      const base = server.endpoints['cc-sharing']!.taxii!.replace(/taxii2\/$/, '');
      const ca = readFileSync(join(dir, 'data', 'taxii-tls', 'cert.pem'), 'utf8');
      const taxii = new TaxiiClient(base, ca, { token: secret });
      const { objects } = await taxii.allObjects('/mamori/', COLLECTIONS.cc.id);
      assert.ok(
        objects.some((o) => o.id === entry.id),
        'the approved entry is delivered',
      );
      const pulls = String((await audited('share.deliver')).length);
      await admin.page.reload();
      await admin.page.waitForFunction(([sel, n]) => document.querySelector(sel)?.textContent?.trim() === n, [
        `${row} [data-testid=pulls]`,
        pulls,
      ] as const);
      assert.ok(Number((await admin.page.textContent(`${row} [data-testid=objects]`))?.trim()) >= objects.length);
      // Revoked with a reason: the recipients get the revocation.
      await admin.page.fill(`[data-testid=entries] tr[data-entry="${entry.id}"] input`, 'the partner reported a sinkhole');
      await admin.page.click(`[data-revoke="${entry.id}"]`);
      await admin.page.waitForSelector(`[data-testid=entries] tr[data-entry="${entry.id}"][data-state=revoked]`);
      assert.equal((await audited('share.entry.revoke')).length, 1);

      // A re-check recorded for a year: the badge goes, the dates are the API's, audited.
      await admin.page.click(`[data-manage="${recipientId}"]`);
      await admin.page.fill('input[name=renew-attested]', day(now));
      await admin.page.fill('input[name=renew-until]', day(now + 365 * 86_400_000));
      await admin.page.click('[data-testid=renew]');
      await admin.page.waitForFunction((sel) => !/renew soon/.test(document.querySelector(sel)?.textContent ?? 'renew soon'), row);
      const { recipients } = await api<{ recipients: Array<{ id: string; attestationUntil: string }> }>(
        'GET',
        '/api/v1/measures/cc-sharing/recipients',
        'admin',
      );
      const attestedUntil = recipients.find((r) => r.id === recipientId)!.attestationUntil;
      assert.equal(day(Date.parse(attestedUntil)), day(now + 365 * 86_400_000));
      assert.deepEqual(
        (await audited('share.recipient.attest')).map((e) => e.object),
        [`recipient:${recipientId}`],
      );

      // The credential revoked (after a confirmation): TAXII refuses it from then on, audited.
      await admin.page.click(`[data-revoke-credential="${credentialId}"]`);
      await admin.page.waitForSelector(`[data-testid=credentials] tr[data-credential="${credentialId}"][data-revoked=yes]`);
      const revoked = await audited('share.credential.revoke');
      assert.deepEqual(
        revoked.map((e) => [e.object, e.actor.includes('admin1')]),
        [[`credential:${credentialId}`, true]],
      );
      assert.equal((await taxii.get(`/mamori/collections/${COLLECTIONS.cc.id}/objects/`)).status, 401);
      assert.deepEqual(browser.problems, []);
      await admin.context.close();
    });

    it('M3: adds an entry and imports a list (audited), charts what BIND blocked per day, and looks up a consent (audited)', async () => {
      const { context, page } = await browser.newPage('en');
      await browser.logIn(page, 'analyst1', password);
      await open(page, 'm3', '[data-testid=blocked-rules] tbody tr[data-rule]');
      assert.equal((await page.textContent('[data-rule="bad.example.test"] td.num'))?.trim(), '9');
      await page.waitForSelector('[data-testid=chart-blocked] canvas');
      assert.equal(await page.$('[data-testid=subscriber]'), null, 'an analyst does not look up subscribers');
      await page.fill('[data-testid=entry-name]', 'evil.example.test');
      await page.fill('[data-testid=entry-reason]', 'C&C of a botnet confirmed in M1');
      await page.click('[data-testid=add-entry]');
      await page.waitForSelector('[data-testid=entries] tr[data-entry="evil.example.test"]');
      await page.fill('[data-testid=list-source]', 'partner-feed');
      await page.fill('[data-testid=list-text]', '# C&C\nbad.example.test\nnot a name\n');
      await page.click('[data-testid=import]');
      await page.waitForSelector('[data-testid=sources] tr[data-source="partner-feed"]');
      assert.match((await page.textContent('[data-testid=done]')) ?? '', /1 names added; 1 lines skipped \(lines 3\)/);
      assert.equal((await audited('m3.entry.add')).length, 1);
      assert.equal((await audited('m3.list.import')).length, 1);
      await context.close();

      const desk = await browser.newPage('en');
      await browser.logIn(desk.page, 'operator1', password);
      await open(desk.page, 'm3', '[data-testid=subscriber]');
      assert.equal(await desk.page.$('[data-testid=add-entry]'), null, 'the support desk does not edit the list');
      const reads = (await audited('m3.consent.read')).length;
      await desk.page.fill('[data-testid=subscriber]', 'sub-42@isp');
      await desk.page.click('[data-testid=look-up]');
      await desk.page.waitForSelector('[data-testid=consent-state]');
      assert.match((await desk.page.textContent('[data-testid=consent]')) ?? '', /protected .*comprehensive consent/);
      await desk.page.click('[data-testid=opt-out]');
      await desk.page.waitForSelector('[data-testid=opt-in]');
      assert.match((await desk.page.textContent('[data-testid=consent-state]')) ?? '', /opted out/);
      const consent = await api<{ choice: string }>('GET', '/api/v1/measures/cc-dns-blocking/consent/sub-42@isp', 'admin');
      assert.equal(consent.choice, 'opt-out');
      assert.ok((await audited('m3.consent.read')).length >= reads + 2, 'each look-up is audited');
      assert.equal((await audited('m3.consent.opt-out')).length, 1);
      assert.deepEqual(browser.problems, []);
      await desk.context.close();
    });

    it('M4: shows findings with their explanation, the disconnect and the suspension, lifts it with a reason (audited)', async () => {
      const noc = await browser.newPage('en');
      await browser.logIn(noc.page, 'operator1', password);
      await open(noc.page, 'm4', '[data-testid=findings] tbody tr');
      assert.ok(await noc.page.$('[data-testid=unnamed]'));
      assert.doesNotMatch((await noc.page.textContent('main')) ?? '', /victim@isp/, 'the NOC sees no account ID');
      assert.ok(await noc.page.$('[data-testid=lift-by-id]'), 'the NOC lifts by the ID the subscriber gives');
      await noc.context.close();

      const { context, page } = await browser.newPage('en');
      await browser.logIn(page, 'analyst1', password);
      await open(page, 'm4', '[data-testid=findings] tbody tr');
      const detectors = await page.$$eval('[data-testid=findings] tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-detector')));
      assert.deepEqual(detectors.sort(), ['burst', 'concurrent', 'travel']);
      const view = await api<{ findings: Array<{ en: string }> }>('GET', '/api/v1/measures/credential-misuse/suspensions', 'admin');
      for (const f of view.findings) assert.ok(((await page.textContent('[data-testid=findings]')) ?? '').includes(f.en));
      // One disconnect for the three detectors that fired together, acknowledged by the NAS.
      const dms = await page.$$eval('[data-testid=disconnects] tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
      assert.equal(dms.length, 1, dms.join('\n'));
      assert.match(dms[0]!, /disconnect ack[\s\S]*\d+ ms/);
      assert.equal(nas.seen.filter((d) => d.ok).length, 1, 'the NAS received one Disconnect-Request');
      await page.fill('[data-testid=suspensions] input', 'the subscriber changed the password at the shop');
      await page.click('[data-lift="victim@isp"]');
      await page.waitForSelector('[data-testid=done]');
      await page.waitForFunction(() => /lifted by/.test(document.querySelector('[data-testid=suspensions] tbody')?.textContent ?? ''));
      const lifts = await audited('m4.lift');
      assert.equal(lifts.length, 1);
      assert.match(lifts[0]!.actor, /analyst1/);
      const r = await server.app.inject({
        method: 'POST',
        url: '/api/v1/aaa/authorize',
        headers: { authorization: `Bearer ${tokens.aaa}` },
        payload: rest('victim@isp', 'cpe-home'),
      });
      assert.equal(r.statusCode, 204, 'the ID logs in again');
      assert.deepEqual(browser.problems, []);
      await context.close();
    });

    it('cases: per subscriber for the abuse desk, with the timeline, the stage, a note, and the notice in ja and en', async () => {
      const noc = await browser.newPage('en');
      await browser.logIn(noc.page, 'operator1', password);
      assert.ok(!(await browser.navLabels(noc.page)).includes('cases'), 'the NOC is not offered cases');
      await noc.context.close();

      const { context, page } = await browser.newPage('en');
      await browser.logIn(page, 'analyst1', password);
      await open(page, 'cases', '[data-testid=cases] tbody tr');
      const { cases } = await api<{ cases: Array<{ id: string; subscriber: string; kind: string }> }>('GET', '/api/v1/cases', 'admin');
      const c = cases.find((x) => x.subscriber === 'victim@isp' && x.kind === 'credential-misuse')!;
      assert.ok(c, JSON.stringify(cases));
      const reads = (await audited('case.read')).length;
      await page.click(`[data-open="${c.id}"]`);
      await page.waitForSelector('[data-testid=timeline] li');
      assert.equal((await audited('case.read')).length, reads + 1, 'opening a case is audited');
      const events = await page.$$eval('[data-testid=timeline] li', (lis) => lis.map((li) => li.getAttribute('data-event')));
      for (const e of ['opened', 'disconnect:ack', 'suspended']) assert.ok(events.includes(e), `${e} in ${events.join(', ')}`);
      assert.equal((await page.textContent('[data-testid=case-stage]'))?.trim(), 'stage 1');
      await page.waitForSelector('[data-preview=ja] h4');
      assert.match((await page.textContent('[data-preview=ja]')) ?? '', /[ぁ-んァ-ヶ一-龠]/);
      assert.match((await page.textContent('[data-preview=en] h4')) ?? '', /\w/);
      await page.fill('[data-testid=note]', 'called the subscriber: password changed');
      await page.click('[data-testid=add-note]');
      await page.waitForSelector('[data-testid=timeline] li[data-event=note]');
      assert.equal((await audited('case.update')).length, 1);
      assert.deepEqual(browser.problems, []);
      await context.close();
    });

    it('M6: shows the live attack with its explanation and proposed rule, approves it (audited), and the whitelisted', async () => {
      // 75 s of a resolver's dnstap (as Unbound writes it): benign names, www.victim.example among them; from 45 s on (after
      // M6's 30 s warm-up and a normal quarter-minute), 300 random names a second under victim.example and 150 under the
      // whitelisted popular.example, failing.
      const t0 = Math.floor(Date.now() / 1000) - 90;
      const frames: Buffer[] = [];
      let seed = 7;
      const rand = () => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed / 0x7fffffff;
      };
      const label = () => Array.from({ length: 12 }, () => 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(rand() * 36)]).join('');
      for (let sec = 0; sec < 75; sec++) {
        const names: Array<[string, number]> = [];
        for (let k = 0; k < 200; k++) names.push([k % 10 === 0 ? 'www.victim.example' : `www.site${k % 40}.co.jp`, 0]);
        for (let k = 0; k < 30; k++) names.push([`cdn${k}.popular.example`, 0]);
        if (sec >= 45) for (let k = 0; k < 300; k++) names.push([`${label()}.victim.example`, 2]);
        if (sec >= 45) for (let k = 0; k < 150; k++) names.push([`${label()}.popular.example`, 2]);
        for (const [qname, rcode] of names) {
          frames.push(dnstapFrame({ type: 5, client: '198.51.100.9', qname, timeSec: t0 + sec, identity: 'resolver-a' }));
          frames.push(dnstapFrame({ type: 6, client: '198.51.100.9', qname, rcode, timeSec: t0 + sec, identity: 'resolver-a' }));
        }
      }
      type Attacks = {
        decisions: Array<{
          domain: string;
          status: string;
          exceptions: string[];
          explanation: { en: string };
          rate: Array<{ at: string; qps: number }>;
        }>;
      };
      const attacks = () => api<Attacks>('GET', '/api/v1/measures/ddos-dns-blocking/attacks', 'auditor');
      const { context, page } = await browser.newPage('en');
      await browser.logIn(page, 'operator1', password);
      await open(page, 'm6', '[data-testid=receiver]');
      for (let i = 0; i < frames.length; i += 5000) await sendDnstap(dnstapSocket, frames.slice(i, i + 5000));
      await until(async () => (await attacks()).decisions.some((d) => d.domain === 'victim.example'), 'the attack on victim.example found');
      const victim = (await attacks()).decisions.find((d) => d.domain === 'victim.example')!;
      assert.equal(victim.status, 'pending', 'no automatic rule: it waits for review');
      // The page refreshes by itself every 5 s.
      await page.waitForSelector('[data-attack="victim.example"][data-status=pending]');
      const card = '[data-attack="victim.example"]';
      assert.equal((await page.textContent(`${card} [data-testid=explanation]`))?.trim(), victim.explanation.en);
      assert.equal((await page.textContent(`${card} [data-testid=rule]`))?.trim(), '*.victim.example CNAME .');
      assert.match((await page.textContent(`${card} [data-testid=exceptions]`)) ?? '', /when the rule is approved/);
      assert.ok(await page.$('[data-testid=past] tr[data-domain="popular.example"][data-status=whitelisted]'), 'the whitelisted domain');
      // The live rate chart has a point once the page has refreshed twice.
      await page.waitForFunction(() => document.querySelectorAll('figure.chart table tbody tr').length >= 1, undefined, {
        timeout: 15_000,
      });
      // The attack's own chart: queries per second to its zone in the intervals M6 flagged (about 320/s were sent:
      // 300 random names and 20 of www each second), not per interval and not all zones together.
      const rate = (await attacks()).decisions.find((d) => d.domain === 'victim.example')!.rate;
      assert.ok(rate.length >= 1, 'flagged intervals have their rate');
      // (The first flagged interval may hold the onset, with fewer.)
      const qps = rate.map((p) => p.qps);
      assert.ok(Math.max(...qps) > 250 && qps.every((q) => q > 0 && q < 450), `queries per second to victim.example: ${qps.join(', ')}`);
      await page.waitForSelector(`${card} figure.chart table tbody tr`, { state: 'attached' });
      await page.click(`[data-approve="victim.example"]`);
      await page.waitForSelector('[data-attack="victim.example"][data-status=active]');
      const active = (await attacks()).decisions.find((d) => d.domain === 'victim.example')!;
      assert.equal(active.status, 'active');
      // The rule lets through the name that resolved in normal times.
      assert.deepEqual(active.exceptions, ['www.victim.example']);
      const shown = await page.$$eval(`${card} [data-testid=exceptions] li`, (lis) => lis.map((li) => li.textContent?.trim()));
      assert.deepEqual(shown, active.exceptions);
      const approved = await audited('m6.rule.approve');
      assert.equal(approved.length, 1);
      assert.match(approved[0]!.actor, /operator1/);
      // Per resolver: every frame sent was received from resolver-a, none dropped here, its last frame just now.
      const perResolver = '[data-testid=resolvers] tr[data-resolver=resolver-a]';
      await page.waitForFunction(
        ([row, sent]) => Number(document.querySelector(`${row} td:nth-child(2)`)?.textContent?.replace(/\D/g, '') ?? 0) === sent,
        [perResolver, frames.length] as const,
        { timeout: 15_000 },
      );
      const cells = await page.$$eval(`${perResolver} td`, (tds) => tds.map((td) => td.textContent?.trim() ?? ''));
      const n = (text: string) => Number(text.replace(/[^\d.]/g, ''));
      assert.deepEqual(
        [cells[0], n(cells[1]!), n(cells[2]!), n(cells[3]!), n(cells[4]!), cells[5]],
        ['resolver-a', frames.length, frames.length / 2, frames.length / 2, 0, '0 %'],
      );
      assert.notEqual(cells[6], '—', 'its last frame is shown');
      // A honeypot operator's list of names abused for amplification: candidates with their source, for review.
      await page.fill('input[name=report-source]', 'honeypot-jp');
      await page.fill('textarea[name=report-names]', 'amp.abused.example\n');
      await page.click('[data-testid=report-send]');
      await page.waitForSelector('[data-attack="amp.abused.example"][data-status=pending]');
      assert.match((await page.textContent('[data-testid=done]')) ?? '', /honeypot-jp: 1 candidates/);
      const listed = (await attacks()).decisions.find((d) => d.domain === 'amp.abused.example');
      assert.equal(listed?.status, 'pending');
      assert.deepEqual(browser.problems, []);
      await context.close();

      const auditor = await browser.newPage('en');
      await browser.logIn(auditor.page, 'auditor1', password);
      await open(auditor.page, 'm6', '[data-attack="victim.example"]');
      assert.equal(await auditor.page.$('[data-reject]'), null, 'an auditor does not decide');
      assert.equal(await auditor.page.$('[data-testid=report]'), null, 'an auditor reports no list');
      await auditor.context.close();
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
        await open(page, 'm2', '[data-testid=recipients] tbody tr [data-manage]');
        await page.click('[data-testid=recipients] tbody tr [data-manage]');
        await page.waitForSelector('[data-testid=credentials] tbody tr[data-credential]');
        await browser.accessible(page, `m2 ${lang}`);
        await page.screenshot({ path: join(SHOTS, `m2-${lang}.png`), fullPage: true });
        await open(page, 'm3', '[data-testid=chart-blocked] canvas');
        await page.fill('[data-testid=subscriber]', 'sub-42@isp');
        await page.click('[data-testid=look-up]');
        await page.waitForSelector('[data-testid=consent-state]');
        await browser.accessible(page, `m3 ${lang}`);
        await page.screenshot({ path: join(SHOTS, `m3-${lang}.png`), fullPage: true });
        await open(page, 'm4', '[data-testid=findings] tbody tr');
        await browser.accessible(page, `m4 ${lang}`);
        await page.screenshot({ path: join(SHOTS, `m4-${lang}.png`), fullPage: true });
        await open(page, 'm6', '[data-attack="victim.example"]');
        // One refresh later the live chart has its first point.
        await page.waitForFunction(() => document.querySelectorAll('figure.chart table tbody tr').length >= 1, undefined, {
          timeout: 15_000,
        });
        await browser.accessible(page, `m6 ${lang}`);
        await page.screenshot({ path: join(SHOTS, `m6-${lang}.png`), fullPage: true });
        await open(page, 'cases', '[data-testid=cases] tbody tr');
        await page.click('[data-testid=cases] tbody tr [data-open]');
        await page.waitForSelector('[data-preview=ja] h4');
        await browser.accessible(page, `cases ${lang}`);
        await page.screenshot({ path: join(SHOTS, `cases-${lang}.png`), fullPage: true });
        await context.close();
      }
      assert.deepEqual(browser.problems, []);
    });
  },
);
