/**
 * Issue 19: the operator console in a real browser (Debian's chromium through playwright-core) against
 * a running server on loopback with a temporary data directory and listeners up (RPZ primaries, dnstap,
 * RADIUS): login, the overview's measures and inputs, role hiding, the ja/en switch, an audit
 * verification round trip with a filtered export, disclosures, administration, session expiry, no
 * console error or CSP violation, and axe-core's accessibility rules on every page in both languages.
 * Screenshots of each page in both languages go to docs/images/console/ for docs/{ja,en}/console.md.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import dgram from 'node:dgram';
import { CONSOLE_CSP, CONSOLE_ROOT } from '../../src/api/console.js';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { ConsoleBrowser, NO_CHROMIUM, SHOTS, WAIT } from '../support/console-browser.js';
import { kdig } from '../support/bind.js';
import { measuresWithM1InletOnly, tempDir, testConfig } from '../support/fixtures.js';
import { have } from '../support/flow-peers.js';
import { netflow5 } from '../support/flow-builders.js';

// What the callbacks below see in the page (they run there, serialised): named for the compiler only.
declare const document: any, sessionStorage: any;

describe('operator console in chromium', { skip: NO_CHROMIUM }, () => {
  let server: Server;
  let browser: ConsoleBrowser;
  let adminPassword = '';
  const analystPassword = 'night shift analyst 7421';
  /** Console errors, page errors and failed requests of every page: must stay empty. */
  let problems: string[] = [];
  const newPage = (lang: 'ja' | 'en' = 'ja') => browser.newPage(lang);
  const logIn = (page: Page, user: string, password: string) => browser.logIn(page, user, password);
  const navLabels = (page: Page) => browser.navLabels(page);
  const accessible = (page: Page, name: string) => browser.accessible(page, name);

  before(async () => {
    assert.ok(existsSync(join(CONSOLE_ROOT, 'index.html')), `the console is not built in ${CONSOLE_ROOT}: run sh scripts/ensure-deps.sh`);
    const dir = tempDir();
    const config = testConfig(
      join(dir, 'data'),
      [
        'server:\n  port: 0',
        'rpz:\n  primary: { host: 127.0.0.1, port: 0 }\n  transferTo: [127.0.0.1]',
        'measures:',
        '  cc-detection: { enabled: true }',
        '  cc-dns-blocking:\n    enabled: true',
        '  ddos-dns-blocking:',
        '    enabled: true',
        `    dnstap: { unix: [${JSON.stringify(join(dir, 'dnstap.sock'))}] }`,
        '    zone: ddos.rpz.isp.test',
        '  infected-host-alert:\n    enabled: true\n    prefixes: ["198.51.100.0/24"]\n    analysisInterval: 1h',
        'ingest:',
        '  radius:\n    listeners: [{ host: "127.0.0.1", port: 0 }]',
        '  flows:\n    listeners: [{ host: "127.0.0.1", port: 0 }]',
      ].join('\n'),
    );
    // The first admin's password, as the terminal shows it once.
    const out = new PassThrough();
    let printed = '';
    out.on('data', (b: Buffer) => (printed += b.toString()));
    // M1's inlet with the analytics store (flows are stored), M1's detection itself left out.
    server = await serve(config, { measures: measuresWithM1InletOnly(), out, logger: createLogger('silent') });
    adminPassword = /password: (\S+)/.exec(printed)?.[1] ?? '';
    assert.ok(adminPassword, 'the first admin password was printed');
    await server.mamori.accounts.createUser('module:test', 'analyst1', 'analyst', analystPassword);
    await server.mamori.accounts.createUser('module:test', 'auditor1', 'auditor', analystPassword);
    browser = await ConsoleBrowser.launch(server.url);
    problems = browser.problems;
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A GET through the API with the page's own session (what the console itself would read). */
  const fetchAs = (page: Page, url: string): Promise<unknown> =>
    page.evaluate(async (u) => {
      const token = (JSON.parse(sessionStorage.getItem('mamori.session')!) as { token: string }).token;
      return (await fetch(u, { headers: { authorization: `Bearer ${token}` } })).json();
    }, url);

  /** Sends NetFlow datagrams to the inlet and waits (bounded) until it has counted `total` records from this router. */
  async function exportFlows(datagrams: Buffer[], total: number): Promise<void> {
    const port = server.inlet!.addresses[0]!.port;
    const s = dgram.createSocket('udp4');
    for (const d of datagrams) await new Promise<void>((r, j) => s.send(d, port, '127.0.0.1', (e) => (e ? j(e) : r())));
    s.close();
    const deadline = Date.now() + WAIT;
    while ((server.inlet!.status().exporters[0]?.records ?? 0) < total) {
      assert.ok(Date.now() < deadline, `the inlet counted ${server.inlet!.status().exporters[0]?.records ?? 0} of ${total} records`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('serves the console with a CSP of its own assets, history routes to the page, and /api stays JSON 401', async () => {
    for (const path of ['/', '/console/audit', '/console/anything/deeper']) {
      const res = await fetch(`${server.url}${path}`);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', /text\/html/);
      assert.equal(res.headers.get('content-security-policy'), CONSOLE_CSP);
      assert.equal(res.headers.get('cache-control'), 'no-cache');
      const html = await res.text();
      assert.match(html, /<script type="module" crossorigin src="\/assets\/index-[\w-]+\.js"><\/script>/);
      assert.doesNotMatch(html, /<script>|<style|style=/, 'no inline script or style');
    }
    assert.doesNotMatch(CONSOLE_CSP, /unsafe/);
    const script = /src="(\/assets\/[^"]+)"/.exec(await (await fetch(`${server.url}/`)).text())![1]!;
    const asset = await fetch(`${server.url}${script}`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
    assert.equal(asset.headers.get('x-content-type-options'), 'nosniff');
    for (const path of ['/assets/..%2f..%2fpackage.json', '/assets/nothing.js']) {
      assert.equal((await fetch(`${server.url}${path}`)).status, 404, path);
    }
    for (const path of ['/api/v1/measures', '/api/v1/nothing', '/api/v1/audit/entries', '/metrics']) {
      const res = await fetch(`${server.url}${path}`);
      assert.equal(res.status, 401, path);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/, path);
    }
  });

  it('logs in (a wrong password is refused with a message), shows every measure with its state and the inputs', async () => {
    const { context, page } = await newPage();
    await page.goto(`${server.url}/console/audit`);
    await page.waitForURL(/\/console\/login\?next=/);
    await page.fill('#username', 'admin');
    await page.fill('#password', 'wrong password');
    await page.click('button[type=submit]');
    assert.match((await page.textContent('[data-testid=login-error]', { timeout: WAIT })) ?? '', /パスワードが違う/);
    problems.length = 0; // the refused login's 401 is the browser's own console line, expected here
    await page.fill('#password', adminPassword);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/console\/audit$/); // back where the login was asked for
    await page.click('[data-nav=overview]');
    await page.waitForSelector('[data-testid=measures] tbody tr');
    await page.waitForSelector('[data-testid=listeners] tbody tr');
    const rows = await page.$$eval('[data-testid=measures] tbody tr', (trs) =>
      trs.map((tr) => ({ id: tr.getAttribute('data-measure'), state: tr.querySelector('.badge')?.className ?? '' })),
    );
    const declared = server.mamori.registry.list();
    assert.deepEqual(
      rows.map((r) => r.id),
      declared.map((s) => s.declaration.id),
    );
    for (const s of declared) assert.match(rows.find((r) => r.id === s.declaration.id)!.state, new RegExp(s.state));
    const listeners = await page.$$eval('[data-testid=listeners] tbody tr td:nth-child(2)', (tds) => tds.map((td) => td.textContent));
    for (const l of ['radius', 'rpz-primary', 'dnstap']) assert.ok(listeners.includes(l), `listener ${l} in ${listeners.join(',')}`);
    // A router exports NetFlow v5: 20 flows, then 10 after a gap of 5 in the sequence (5 flows lost).
    const rec = { src: '198.51.100.7', dst: '203.0.113.9', sport: 40000, dport: 443, proto: 6, packets: 3, bytes: 180, first: 1, last: 2 };
    const unixSecs = Math.floor(Date.now() / 1000);
    await exportFlows([netflow5({ uptime: 10, unixSecs, sequence: 0 }, Array(20).fill(rec))], 20);
    await page.click('[data-testid=refresh]');
    await page.waitForSelector('[data-testid=exporters] tbody tr');
    await exportFlows([netflow5({ uptime: 20, unixSecs, sequence: 25 }, Array(10).fill(rec))], 30);
    await page.click('[data-testid=refresh]');
    await page.waitForFunction(() => document.querySelector('[data-testid=exporters] tbody tr td:nth-child(4)')?.textContent === '30');
    const cells = await page.$$eval('[data-testid=exporters] tbody tr td', (tds) => tds.map((td) => td.textContent?.trim()));
    assert.equal(cells[0], '127.0.0.1');
    assert.equal(cells[1], 'netflow5');
    assert.ok(Number(cells[2]) > 0, `records/s ${cells[2]}`);
    assert.equal(cells[4], '5', 'estimated loss');
    assert.notEqual(cells[6], '—', 'last seen');
    assert.match((await page.textContent('[data-testid=unreported]')) ?? '', /SMTP/);
    // A resolver transfers M6's policy zone (AXFR, as a secondary does): the overview shows the serial it holds now.
    if (have('kdig')) {
      const primary = server.endpoints['ddos-dns-blocking']!.rpzPrimary!;
      const port = primary.split(':').pop()!;
      const axfr = await kdig(['@127.0.0.1', '-p', port, 'ddos.rpz.isp.test', 'AXFR']);
      const serial = /SOA\s+\S+\s+\S+\s+(\d+)/.exec(axfr)?.[1];
      assert.ok(serial, axfr);
      await page.click('[data-testid=refresh]');
      await page.waitForSelector('[data-testid=secondaries] tr[data-zone="ddos.rpz.isp.test"]');
      const cells = await page.$$eval('[data-testid=secondaries] tr[data-zone="ddos.rpz.isp.test"] td', (tds) =>
        tds.map((td) => td.textContent?.trim()),
      );
      assert.equal(cells[0], '127.0.0.1');
      assert.equal(cells[2], serial, 'the serial the secondary holds');
      assert.match(cells[3]!, /\(axfr\)/);
    }
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('offers an analyst neither Administration nor the audit log, an auditor no Administration, and refuses their URLs', async () => {
    const { context, page } = await newPage();
    await logIn(page, 'analyst1', analystPassword);
    // The measure pages of the measures running here (M1's inlet, M3, M6) come after the overview.
    assert.deepEqual(await navLabels(page), ['overview', 'm1', 'm3', 'm6', 'm7', 'cases', 'notices', 'disclosure']);
    await page.goto(`${server.url}/console/admin`);
    await page.waitForSelector('[data-testid=measures]');
    assert.equal(new URL(page.url()).pathname, '/');
    assert.equal(await page.$('[data-testid=listeners]'), null, 'listeners need metrics:read');
    const auditor = await newPage();
    await logIn(auditor.page, 'auditor1', analystPassword);
    assert.deepEqual(await navLabels(auditor.page), ['overview', 'm1', 'm3', 'm6', 'm7', 'audit', 'disclosure']);
    await auditor.context.close();
    const admin = await newPage();
    await logIn(admin.page, 'admin', adminPassword);
    assert.deepEqual(await navLabels(admin.page), ['overview', 'm1', 'm3', 'm6', 'm7', 'cases', 'notices', 'audit', 'disclosure', 'admin']);
    assert.deepEqual(problems, []);
    await admin.context.close();
    await context.close();
  });

  it('switches between Japanese and English in one click, and keeps the choice', async () => {
    const { context, page } = await newPage();
    await logIn(page, 'admin', adminPassword);
    assert.equal(await page.getAttribute('html', 'lang'), 'ja');
    assert.equal((await page.textContent('h1'))?.trim(), '概要');
    await page.click('[data-testid=lang]');
    await page.waitForFunction(() => document.documentElement.lang === 'en');
    assert.equal((await page.textContent('h1'))?.trim(), 'Overview');
    assert.match((await page.textContent('[data-testid=measures] thead'))!, /Legal basis/);
    await page.reload();
    await page.waitForSelector('[data-testid=measures] tbody tr');
    assert.equal((await page.textContent('h1'))?.trim(), 'Overview');
    await page.click('[data-testid=lang]');
    await page.waitForFunction(() => document.documentElement.lang === 'ja');
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('verifies the audit chain, shows the result, and exports the filtered view', async () => {
    const { context, page } = await newPage();
    await logIn(page, 'admin', adminPassword);
    await page.click('[data-nav=audit]');
    await page.waitForSelector('[data-testid=entries] tbody tr');
    const before = (await server.mamori.audit.head()).seq;
    await page.click('[data-testid=verify]');
    const result = (await page.textContent('[data-testid=verify-result]', { timeout: WAIT })) ?? '';
    assert.match(result, /改ざんは見つかりませんでした/);
    const r = await server.mamori.audit.verify();
    assert.ok(r.ok);
    assert.match(result, new RegExp(`検証した記録 ${before}`), result);
    // The verification itself is audited; reload the entries and filter on it.
    await page.click('form.filters button[type=submit]');
    await page.waitForSelector('[data-testid=entries] tbody tr[data-action="audit.verify"]');
    await page.fill('[data-testid=filter-action]', 'audit.verify');
    await page.waitForFunction(() =>
      [...document.querySelectorAll('[data-testid=entries] tbody tr')].every((tr) => tr.getAttribute('data-action') === 'audit.verify'),
    );
    const shown = await page.$$eval('[data-testid=entries] tbody tr', (trs) => trs.length);
    assert.equal(shown, 1);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }), page.click('[data-testid=export]')]);
    const file = await download.path();
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string; hash: string });
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.action, 'audit.verify');
    assert.match(lines[0]!.hash, /^[0-9a-f]{64}$/);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('renders the disclosures from the declarations in either language, printable', async () => {
    const { context, page } = await newPage();
    await logIn(page, 'admin', adminPassword);
    await page.click('[data-nav=disclosure]');
    await page.waitForSelector('[data-testid=document] h1');
    assert.match((await page.textContent('[data-testid=document] h1'))!, /契約約款/);
    await page.click('[data-format=report]');
    await page.click('.toolbar button[lang=en]');
    await page.waitForFunction(() => /Compliance report/.test(document.querySelector('[data-testid=document] h1')?.textContent ?? ''));
    assert.equal(await page.getAttribute('[data-testid=document]', 'lang'), 'en');
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.isVisible('header.top'), false, 'the header is not printed');
    assert.equal(await page.isVisible('[data-testid=document]'), true);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('imports a report on the M7 page and shows its counts, no subscriber named; records an opt-out and runs the analysis', async () => {
    const { context, page } = await newPage('en');
    await logIn(page, 'admin', adminPassword);
    await page.click('[data-nav=m7]');
    await page.waitForSelector('[data-testid=m7-source]');
    await page.selectOption('[data-testid=m7-source]', 'operator-list');
    const t = new Date(Date.now() - 3_600_000).toISOString();
    await page.setInputFiles('[data-testid=m7-file]', {
      name: 'cert-list.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(
        `address,port,time,family,source\n198.51.100.7,4444,${t},mirai,operator-list\n192.0.2.1,1,${t},mirai,operator-list\n`,
      ),
    });
    await page.click('form button[type=submit]');
    const result = (await page.textContent('[data-testid=m7-result]')) ?? '';
    assert.match(result, /2 rows, 1 entries, 0 matched to a subscriber, 1 not\./);
    assert.match(result, /outside-prefixes: 1/);
    await page.waitForSelector('[data-testid=m7-imports] tbody tr');
    assert.match((await page.textContent('[data-testid=m7-imports]')) ?? '', /operator-list \(api\)/);

    // The support desk: a subscriber's stage-1 opt-out looked up by ID and recorded (both audited, the ID never in the log).
    const m7Audit = async () => {
      const out: Array<{ action: string; object: string | null; actor: string }> = [];
      for await (const e of server.mamori.audit.entries()) if (e.action.startsWith('m7.consent.')) out.push(e);
      return out;
    };
    await page.fill('[data-testid=m7-subscriber]', 'sub-7777@isp');
    await page.click('[data-testid=m7-look-up]');
    assert.equal((await page.textContent('[data-testid=m7-consent-state]'))?.trim(), 'receives stage-1 alerts');
    await page.click('[data-testid=m7-opt-out]');
    await page.waitForSelector('[data-testid=m7-opt-in]');
    assert.equal((await page.textContent('[data-testid=m7-consent-state]'))?.trim(), 'opted out of stage-1 alerts');
    const consent = await m7Audit();
    assert.deepEqual(
      consent.map((e) => e.action),
      ['m7.consent.read', 'm7.consent.opt-out', 'm7.consent.read'],
    );
    assert.ok(consent.every((e) => /admin/.test(e.actor) && !JSON.stringify(e).includes('sub-7777')));
    // The abuse desk runs the analysis pass now.
    await page.click('[data-testid=m7-analyze]');
    await page.waitForFunction(() => document.querySelector('[data-testid=done]')?.textContent?.trim() === 'The analysis ran.');
    assert.deepEqual(problems, []);
    await context.close();
  });

  it("edits M7's remediation text for a family on the M7 page (audited); an analyst only reads it", async () => {
    const { context, page } = await newPage('en');
    await logIn(page, 'admin', adminPassword);
    await page.click('[data-nav=m7]');
    await page.waitForSelector('[data-testid=m7-remediation] tr[data-family="*"]');
    await page.click('[data-testid=add-family]');
    await page.fill('input[name=family]', 'mirai');
    await page.fill('textarea[name=remediation-ja]', 'ルータの電源を切り、管理パスワードを変更してください。');
    await page.fill('textarea[name=remediation-en]', 'Power-cycle the router and change its admin password.');
    await page.click('[data-testid=remediation-form] button[type=submit]');
    await page.waitForSelector('[data-testid=m7-remediation] tr[data-family=mirai]');
    assert.equal((await page.textContent('[data-testid=done]'))?.trim(), 'Remediation text for mirai saved.');
    assert.match((await page.textContent('tr[data-family=mirai]')) ?? '', /edited.*管理パスワード.*change its admin password/s);
    // What the notices for mirai will give, as the server serves it.
    const texts = (await fetchAs(page, '/api/v1/measures/infected-host-alert/remediation')) as {
      texts: Array<{ family: string; en: string; origin: string }>;
    };
    assert.deepEqual(
      texts.texts.filter((x) => x.family === 'mirai').map((x) => [x.en, x.origin]),
      [['Power-cycle the router and change its admin password.', 'edited']],
    );
    const saved: Array<{ object: string | null; actor: string }> = [];
    for await (const e of server.mamori.audit.entries()) if (e.action === 'm7.remediation.update') saved.push(e);
    assert.deepEqual(
      saved.map((e) => [e.object, /admin/.test(e.actor)]),
      [['m7-remediation:mirai', true]],
    );
    // Edited again from its row: the form comes with the saved texts.
    await page.click('[data-edit-family=mirai]');
    assert.equal(await page.inputValue('textarea[name=remediation-en]'), 'Power-cycle the router and change its admin password.');
    await page.click('[data-testid=remediation-form] button[type=button]');
    assert.deepEqual(problems, []);
    await context.close();

    const analyst = await newPage('en');
    await logIn(analyst.page, 'analyst1', analystPassword);
    await analyst.page.click('[data-nav=m7]');
    await analyst.page.waitForSelector('[data-testid=m7-remediation] tr[data-family=mirai]');
    assert.equal(await analyst.page.$('[data-edit-family]'), null, 'an analyst does not edit notice texts');
    assert.equal(await analyst.page.$('[data-testid=add-family]'), null);
    await analyst.context.close();
  });

  it('edits a notice template in ja and en side by side, previews both with sample values, saves (audited)', async () => {
    const { context, page } = await newPage('en');
    await logIn(page, 'admin', adminPassword);
    await page.click('[data-nav=notices]');
    await page.waitForSelector('[data-testid=template]');
    await page.selectOption('[data-testid=notice-kind]', 'credential-misuse');
    assert.match(await page.inputValue('input[name=subject-ja]'), /接続用パスワードの変更/);
    assert.equal((await page.textContent('[data-origin=en]'))?.trim(), 'Built-in text (not edited)');
    // An unknown variable is refused by the server, by name; nothing is stored.
    await page.fill('textarea[name=body-en]', 'Dear {{name}}, your {{password}} was used.');
    await page.click('[data-testid=save]');
    await page.waitForSelector('[role=alert]');
    assert.match((await page.textContent('[role=alert]')) ?? '', /unknown variable \{\{password\}\}/);
    problems.splice(0).forEach((p) => assert.match(p, /status of 400/));
    // The edit previewed in both languages with the sample values, then saved.
    await page.fill('input[name=subject-ja]', '【重要】{{name}} 様: 接続用パスワードの変更のお願い');
    await page.fill('textarea[name=body-en]', 'Dear {{name}},\n\nAt {{detectionTime}} (JST) your ID was used elsewhere.\n');
    await page.click('[data-lang=en] details summary');
    await page.fill('input[name=sample-en-name]', 'Hanako Sato');
    await page.click('[data-testid=preview]');
    await page.waitForSelector('[data-preview=en] h4');
    assert.equal((await page.textContent('[data-preview=ja] h4'))?.trim(), '【重要】山田 太郎 様: 接続用パスワードの変更のお願い');
    assert.match((await page.textContent('[data-preview=en] pre')) ?? '', /^Dear Hanako Sato,\s+At 2026-11-24 20:00 \(JST\) your ID/);
    await page.click('[data-testid=save]');
    await page.waitForFunction(() => /credential-misuse was saved/.test(document.querySelector('[data-testid=done]')?.textContent ?? ''));
    assert.match((await page.textContent('[data-origin=ja]')) ?? '', /^Edited by .*admin/);
    const served = (await fetchAs(page, '/api/v1/notices/templates/credential-misuse/ja')) as { subject: string };
    assert.equal(served.subject, '【重要】{{name}} 様: 接続用パスワードの変更のお願い');
    const saved: Array<{ object: string | null; actor: string }> = [];
    for await (const e of server.mamori.audit.entries()) if (e.action === 'notice.template.update') saved.push(e);
    assert.deepEqual(
      saved.map((e) => [e.object, /admin/.test(e.actor)]),
      [
        ['template:credential-misuse-ja', true],
        ['template:credential-misuse-en', true],
      ],
    );
    assert.deepEqual(problems, []);
    await context.close();

    // The abuse desk reads them; only admins edit.
    const analyst = await newPage('en');
    await logIn(analyst.page, 'analyst1', analystPassword);
    await analyst.page.click('[data-nav=notices]');
    await analyst.page.waitForSelector('[data-testid=template]');
    assert.equal(await analyst.page.$('[data-testid=save]'), null);
    assert.equal(await analyst.page.getAttribute('input[name=subject-ja]', 'readonly'), '');
    await analyst.context.close();
  });

  it('changes one’s own password (the current one first), then asks to log in again with the new one (audited)', async () => {
    const { context, page } = await newPage('en');
    await logIn(page, 'auditor1', analystPassword);
    await page.click('[data-testid=account]');
    await page.waitForSelector('[data-testid=password-form]');
    const fill = async (current: string, fresh: string, again: string) => {
      await page.fill('input[name=current]', current);
      await page.fill('input[name=new]', fresh);
      await page.fill('input[name=again]', again);
      await page.click('[data-testid=password-form] button[type=submit]');
    };
    const fresh = 'auditor shift change 5521';
    await fill(analystPassword, fresh, `${fresh}x`);
    assert.match((await page.textContent('[role=alert]')) ?? '', /The new passwords differ\./);
    await fill('not my password', fresh, fresh);
    await page.waitForFunction(() => /current password is wrong/.test(document.querySelector('[role=alert]')?.textContent ?? ''));
    problems.splice(0).forEach((p) => assert.match(p, /status of 403/));
    assert.ok(await server.mamori.accounts.verifyPassword('auditor1', analystPassword), 'nothing changed');
    await fill(analystPassword, fresh, fresh);
    await page.waitForSelector('[data-testid=password-changed]');
    assert.ok(await server.mamori.accounts.verifyPassword('auditor1', fresh), 'the new password is stored');
    const changed: Array<{ object: string | null; actor: string }> = [];
    for await (const e of server.mamori.audit.entries()) if (e.action === 'user.password') changed.push(e);
    assert.deepEqual(
      changed.slice(-1).map((e) => [e.object, e.actor]),
      [['user:auditor1', 'user:auditor1']],
    );
    await page.fill('#username', 'auditor1');
    await page.fill('#password', fresh);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=who]');
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('administers users and tokens, and shows the configuration check', async () => {
    const { context, page } = await newPage();
    await logIn(page, 'admin', adminPassword);
    await page.click('[data-nav=admin]');
    await page.waitForSelector('[data-testid=users] tbody tr');
    await page.fill('input[name=new-username]', 'operator2');
    await page.selectOption('select[name=new-role]', 'operator');
    await page.click('form:has(input[name=new-username]) button[type=submit]');
    const secret = (await page.textContent('[data-testid=secret] code', { timeout: WAIT }))!.trim();
    assert.ok(secret.length >= 12);
    await page.waitForSelector('[data-testid=users] tr[data-user=operator2]');
    assert.ok(await server.mamori.accounts.verifyPassword('operator2', secret), 'the password shown is the one stored');
    await page.fill('input[name=token-name]', 'nightly export');
    await page.click('form:has(input[name=token-name]) button[type=submit]');
    await page.waitForSelector('[data-testid=tokens] tbody tr');
    assert.ok((await server.mamori.accounts.listTokens()).some((k) => k.name === 'nightly export'));
    const checks = await page.$$eval('[data-testid=config-checks] li', (lis) => lis.map((li) => li.getAttribute('data-check')));
    assert.ok(checks.includes('audit-signing') && checks.includes('radius-clients'), checks.join(','));
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('goes back to the login page with a message when the session ends on the server', async () => {
    const { context, page } = await newPage();
    // Closed even when an assertion fails: its page would go on refreshing and put 401s in the next test's console lines.
    try {
      await logIn(page, 'admin', adminPassword);
      const token = await page.evaluate(() => (JSON.parse(sessionStorage.getItem('mamori.session')!) as { token: string }).token);
      const out = await fetch(`${server.url}/api/v1/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      assert.equal(out.status, 204);
      // The overview's own refresh may meet the 401 first and already be on its way to the login page (the link is then
      // detached); otherwise the next navigation meets it. Either way the login page must come, with the message.
      await page.click('[data-nav=audit]', { timeout: 5_000 }).catch(() => undefined);
      await page.waitForURL(/\/console\/login/);
      assert.match((await page.textContent('[data-testid=expired]')) ?? '', /有効期限が切れました/);
      // The 401 that ended the session is the browser's own console line, expected here and nothing else.
      assert.deepEqual(
        problems.filter((p) => !/401/.test(p)),
        [],
      );
      problems.length = 0;
    } finally {
      await context.close();
    }
  });

  it('passes axe-core on every page in both languages, and saves their screenshots', async () => {
    problems.length = 0; // this test's own console lines only
    for (const lang of ['ja', 'en'] as const) {
      const { context, page } = await newPage(lang);
      await page.goto(`${server.url}/console/login`);
      await page.waitForSelector('#username');
      await accessible(page, `login ${lang}`);
      await page.screenshot({ path: join(SHOTS, `login-${lang}.png`) });
      await logIn(page, 'admin', adminPassword);
      const pages = [
        { name: 'overview', ready: '[data-testid=listeners] tbody tr' },
        { name: 'audit', ready: '[data-testid=entries] tbody tr' },
        { name: 'disclosure', ready: '[data-testid=document] h1' },
        { name: 'm7', ready: '[data-testid=m7-imports] tbody tr' },
        { name: 'notices', ready: '[data-testid=template]' },
        { name: 'admin', ready: '[data-testid=config-checks] li' },
      ];
      for (const p of pages) {
        await page.click(`[data-nav=${p.name}]`);
        await page.waitForSelector(p.ready);
        if (p.name === 'notices') {
          // The notice an infected subscriber gets, previewed in both languages.
          await page.selectOption('[data-testid=notice-kind]', 'infected-host');
          await page.click('[data-testid=preview]');
          await page.waitForSelector('[data-preview=en] h4');
        }
        if (p.name === 'audit') {
          await page.click('[data-testid=verify]');
          await page.waitForSelector('[data-testid=verify-result]');
        }
        await accessible(page, `${p.name} ${lang}`);
        await page.screenshot({ path: join(SHOTS, `${p.name}-${lang}.png`), fullPage: p.name !== 'audit' });
      }
      await page.click('[data-testid=account]');
      await page.waitForSelector('[data-testid=password-form]');
      await accessible(page, `account ${lang}`);
      await page.screenshot({ path: join(SHOTS, `account-${lang}.png`) });
      await context.close();
    }
    assert.deepEqual(problems, []);
  });

  // Last: the throttle then holds this client address for the rest of the window.
  it('says how long to wait once failed logins are throttled', async () => {
    const { context, page } = await newPage('en');
    await page.goto(`${server.url}/console/login`);
    let text = '';
    for (let i = 0; i < 10 && !/wait/.test(text); i++) {
      await page.fill('#username', 'nobody');
      await page.fill('#password', `guess ${i}`);
      await page.click('button[type=submit]');
      await page.waitForFunction(
        (n) => document.querySelector('[data-testid=login-error]')?.getAttribute('data-attempt') === String(n),
        i + 1,
      );
      text = (await page.textContent('[data-testid=login-error]')) ?? '';
    }
    assert.match(text, /Too many failed logins: please wait \(too many failed logins from this address; try again in \d+ s\)/);
    problems.length = 0; // the refused logins' 401 and 429 are the browser's own console lines
    await context.close();
  });
});
