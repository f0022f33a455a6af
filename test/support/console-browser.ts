/**
 * The operator console's browser tests' common parts: Debian's chromium through playwright-core, a page per
 * language that records every console error, page error and failed request, the login, and axe-core's WCAG
 * 2 A/AA rules. Screenshots go to docs/images/console/ for docs/{ja,en}/console.md.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from './fixtures.js';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const SHOTS = join(REPO_ROOT, 'docs/images/console');
export const WAIT = 15_000;
/** Why the browser tests are skipped, or false. */
export const NO_CHROMIUM = !existsSync(CHROMIUM) && `chromium not installed (${CHROMIUM}): apt-get install chromium`;
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
// What the callbacks below see in the page (they run there, serialised): named for the compiler only.
declare const document: any, window: any, localStorage: any;

export class ConsoleBrowser {
  /** Console errors, page errors and failed requests of every page: a test asserts it stays empty. */
  readonly problems: string[] = [];
  private constructor(
    readonly browser: Browser,
    readonly url: string,
  ) {}

  static async launch(url: string): Promise<ConsoleBrowser> {
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'], timeout: 60_000 });
    mkdirSync(SHOTS, { recursive: true });
    return new ConsoleBrowser(browser, url);
  }

  close(): Promise<void> {
    return this.browser.close();
  }

  async newPage(lang: 'ja' | 'en' = 'ja'): Promise<{ context: BrowserContext; page: Page }> {
    const context = await this.browser.newContext({
      viewport: { width: 1280, height: 900 },
      locale: lang === 'ja' ? 'ja-JP' : 'en-GB',
      timezoneId: 'Asia/Tokyo',
    });
    context.setDefaultTimeout(WAIT);
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') this.problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => this.problems.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => this.problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    if (lang === 'en') await context.addInitScript(() => localStorage.setItem('mamori.lang', 'en'));
    return { context, page };
  }

  async logIn(page: Page, user: string, password: string): Promise<void> {
    await page.goto(`${this.url}/`);
    await page.waitForURL(/\/console\/login/);
    await page.fill('#username', user);
    await page.fill('#password', password);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=who]');
  }

  async navLabels(page: Page): Promise<string[]> {
    return page.$$eval('nav a', (as) => as.map((a) => a.getAttribute('data-nav') ?? ''));
  }

  /** axe-core's WCAG 2 A/AA rules: serious and critical findings fail. */
  async accessible(page: Page, name: string): Promise<void> {
    await page.evaluate(AXE);
    const violations = await page.evaluate(async () => {
      const w = window as { axe: { run: (c: unknown, o: object) => Promise<{ violations: any[] }> } };
      const r = await w.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n: any) => n.target.join(' ')).slice(0, 3) }));
    });
    const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(bad, [], `${name}: ${JSON.stringify(bad)}`);
  }
}
