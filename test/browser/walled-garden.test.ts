/**
 * Issue 20 item 4: the walled garden's notice page in a real browser (Debian's chromium through
 * playwright-core). Chromium's requests come from 127.0.0.1, so in this test 127.0.0.1 is the gardened
 * subscriber's session address (RADIUS accounting from radclient; the ISP prefix 127.0.0.0/8 covers it).
 * Chromium loads the page at an arbitrary path, reads the Japanese text, presses the self-release button;
 * the page confirms, the zone on Mamori's RPZ primary no longer lists the address (AXFR with kdig), the
 * audit log has the release. No console error, no CSP violation, axe-core's WCAG rules pass; a screenshot
 * goes to docs/images/walled-garden.png for the docs.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { kdig } from '../support/bind.js';
import { ConsoleBrowser, NO_CHROMIUM, SHOTS } from '../support/console-browser.js';
import { have } from '../support/flow-peers.js';
import { REPO_ROOT, tempDir } from '../support/fixtures.js';
import { GARDEN_ZONE, reportAndAnalyze, startGardenServer, type GardenServer } from '../support/garden.js';

const OWNER = `32.1.0.0.127.rpz-client-ip.${GARDEN_ZONE}`;
const DESK_PASSWORD = 'Desk-password-for-tests-42';

const skip = NO_CHROMIUM || (!(have('radclient') && have('kdig')) && 'radclient or knot-dnsutils not installed');

describe('walled garden notice page in chromium', { skip }, () => {
  let g: GardenServer;
  let browser: ConsoleBrowser;
  const dir = tempDir();
  const zoneText = () => kdig(['@127.0.0.1', '-p', String(g.primaryPort), GARDEN_ZONE, 'AXFR']);

  before(async () => {
    g = await startGardenServer(dir, { sessions: { 'alice@isp': '127.0.0.1' }, gardenAddress: '192.0.2.80' });
    const r = await reportAndAnalyze(g, '127.0.0.1');
    assert.equal(r.garden.started, 1, JSON.stringify(r));
    browser = await ConsoleBrowser.launch(`http://${g.page.host}:${g.page.port}`);
  });
  after(async () => {
    await browser?.close();
    await g?.server.close();
  });

  it('shows the case in Japanese first, and self-release lifts the garden at once', async () => {
    assert.match(await zoneText(), new RegExp(`${OWNER.replace(/\./g, '\\.')}\\.\\s+60\\s+IN\\s+A\\s+192\\.0\\.2\\.80`));
    const { context, page } = await browser.newPage('ja');
    try {
      await page.goto(`${browser.url}/some/site/the/subscriber/wanted?q=1`);
      const sections = await page.$$eval('section', (ss) => ss.map((s) => s.getAttribute('lang')));
      assert.deepEqual(sections, ['ja', 'en']);
      assert.equal(await page.textContent('section[lang=ja] h1'), 'お使いの機器がマルウェアに感染しているおそれがあります');
      const ja = (await page.textContent('section[lang=ja]')) ?? '';
      assert.match(ja, /マルウェア「mirai」/);
      assert.match(ja, /ルータを再起動し、初期パスワードを変更してください/);
      assert.match(ja, /残り2回/);
      assert.doesNotMatch(ja, /some\/site|subscriber\/wanted/, 'the path is never shown');
      await browser.accessible(page, 'walled garden (ja)');
      await page.screenshot({ path: join(REPO_ROOT, 'docs/images/walled-garden.png'), fullPage: true });

      await page.click('button[type=submit]');
      await page.waitForSelector('text=表示を解除しました');
      assert.match((await page.textContent('section[lang=en]')) ?? '', /Lifted/);
      assert.doesNotMatch(await zoneText(), /rpz-client-ip/, 'the zone no longer lists the address');
      const audit = await sql<{
        action: string;
        actor: string;
      }>`select action, actor from audit_log where action = 'm7.garden.release'`.execute(g.server.mamori.state.db);
      assert.deepEqual(
        audit.rows.map((r) => r.actor),
        ['subscriber:self-release'],
      );
      // Reloading now shows the neutral page: nothing about the case.
      await page.reload();
      assert.doesNotMatch((await page.textContent('body')) ?? '', /mirai/);
      assert.deepEqual(browser.problems, [], 'no console error, CSP violation or failed request');
    } finally {
      await context.close();
    }
  });

  it("the abuse desk sees the garden in the console's M7 page and ends it there (zone and audit checked)", async () => {
    // Reported again after the release: gardened again.
    assert.equal((await reportAndAnalyze(g, '127.0.0.1', { at: new Date() })).garden.started, 1);
    assert.match(await zoneText(), /rpz-client-ip/);
    await g.server.mamori.accounts.createUser('module:test', 'desk1', 'admin', DESK_PASSWORD);
    const desk = await ConsoleBrowser.launch(g.server.url);
    try {
      const { page } = await desk.newPage('ja');
      await desk.logIn(page, 'desk1', DESK_PASSWORD);
      // The overview the login lands on is still loading: leaving it mid-request would abort its requests.
      await page.waitForLoadState('networkidle');
      await page.goto(`${desk.url}/console/m7`);
      const row = page.locator('[data-testid=m7-gardens] tr[data-subscriber="alice@isp"]');
      await row.waitFor();
      assert.match((await row.textContent()) ?? '', /mirai/);
      await desk.accessible(page, 'M7 with a garden (ja)');
      await page.screenshot({ path: join(SHOTS, 'm7-garden-ja.png'), fullPage: true });
      await row.locator('button[data-end-garden]').click();
      await page.waitForSelector('text=alice@isp のウォールドガーデンを終了しました');
      await page.waitForSelector('text=実施中のウォールドガーデンはありません。');
      assert.doesNotMatch(await zoneText(), /rpz-client-ip/, 'the zone no longer lists the address');
      const ends = await sql<{ actor: string }>`select actor from audit_log where action = 'm7.garden.end'`.execute(
        g.server.mamori.state.db,
      );
      assert.ok(
        ends.rows.some((r) => r.actor === 'user:desk1'),
        JSON.stringify(ends.rows),
      );
      const reads = await sql<{ n: number }>`select count(*) as n from audit_log where action = 'm7.garden.read'`.execute(
        g.server.mamori.state.db,
      );
      assert.ok(Number(reads.rows[0]!.n) >= 1, 'each look at the list is audited');
      assert.deepEqual(desk.problems, [], 'no console error, CSP violation or failed request');
    } finally {
      await desk.close();
    }
  });
});
