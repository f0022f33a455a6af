/**
 * The walled garden's notice page: a plain HTTP listener the core owns (a measure may open none), granted as
 * `garden-page` to a measure that declares the output "walled-garden". In production it listens on the garden
 * address, port 80, where the policy zone sends every name a gardened subscriber resolves, so it answers every
 * Host and every path with the same page.
 *
 * Who is asking is known by the request's source address only — the address the garden is applied to. The
 * Host header, the path and the query are the subscriber's communication (the site they meant to reach): they
 * are never stored, logged or echoed; nothing here reads them. The measure writes the page's text (`view`);
 * this module escapes it, adds the self-release form with a token bound to the source address and a time
 * (a page from elsewhere cannot post a release for the subscriber: it cannot read the token), and sends it
 * with the API's kind of security headers and a CSP without scripts.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ListenerStatus } from '../core/listeners.js';

/** One language's text of the page, written by the measure. */
export interface GardenText {
  title: string;
  /** Paragraphs, in order; line breaks inside one are kept. */
  paragraphs: string[];
  /** The release button's label, and what is said when no release is left (where to call). */
  releaseLabel: string;
  noRelease: string;
}

export interface GardenView {
  ja: GardenText;
  en: GardenText;
  /** Whether the subscriber may release themselves now. */
  canRelease: boolean;
}

/** The answer to a release: the texts to show. */
export interface GardenReleaseResult {
  outcome: 'released' | 'exhausted' | 'not-gardened';
  ja: { title: string; paragraphs: string[] };
  en: { title: string; paragraphs: string[] };
}

export interface GardenPageHandler {
  /** The page for this source address, or undefined when it is not in the garden (a neutral page, no data). */
  view(address: string): Promise<GardenView | undefined>;
  /** Self-release asked from this source address. */
  release(address: string): Promise<GardenReleaseResult>;
  /** The neutral page's text (no subscriber data). */
  neutral: { ja: { title: string; paragraphs: string[] }; en: { title: string; paragraphs: string[] } };
}

export interface GardenPageOptions {
  host: string;
  port: number;
  /** How long a page's release token stays valid, seconds. */
  tokenSeconds?: number;
  /** Connections at once from one source address (16 unless set); more are closed and counted. */
  perSourceConnections?: number;
}

export interface GardenPage {
  readonly host: string;
  readonly port: number;
  listener(): ListenerStatus;
  stop(): Promise<void>;
}

/** The `garden-page` capability. */
export interface GardenPageInput {
  start(options: GardenPageOptions, handler: GardenPageHandler): Promise<GardenPage>;
}

const MAX_BODY = 2048;
const STYLE =
  'body{font-family:sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;line-height:1.6;color:#222}' +
  'section{border-top:1px solid #ccc;margin-top:1.5rem;padding-top:1rem}p{white-space:pre-line}' +
  'button{font-size:1.1rem;padding:.5rem 1.2rem}';
const CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');
const HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const unmap = (a: string) => (a.startsWith('::ffff:') ? a.slice(7) : a);

function page(title: string, sections: string[]): string {
  return (
    `<!doctype html><html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
    `<title>${escape(title)}</title><style>${STYLE}</style></head><body>${sections.join('')}</body></html>`
  );
}

function section(lang: 'ja' | 'en', title: string, paragraphs: string[], extra = ''): string {
  return `<section lang="${lang}"><h1>${escape(title)}</h1>${paragraphs.map((p) => `<p>${escape(p)}</p>`).join('')}${extra}</section>`;
}

export class GardenPageServer implements GardenPage {
  private readonly key = randomBytes(32);
  private readonly counts = { pages: 0, neutral: 0, releases: 0 };
  private readonly refused = { method: 0, 'body-too-large': 0, 'bad-token': 0, failed: 0, 'per-source-limit': 0 };
  /** Open connections by source address: the page is unauthenticated, one source must not hold the listener. */
  private readonly bySource = new Map<string, number>();
  private server!: http.Server;

  private constructor(
    private readonly handler: GardenPageHandler,
    private readonly tokenSeconds: number,
  ) {}

  static async start(options: GardenPageOptions, handler: GardenPageHandler): Promise<GardenPageServer> {
    const s = new GardenPageServer(handler, options.tokenSeconds ?? 3600);
    s.server = http.createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, (req, res) => {
      s.handle(req, res).catch(() => {
        s.refused.failed++;
        if (!res.headersSent) res.writeHead(500, { ...HEADERS, 'content-type': 'text/plain; charset=utf-8' });
        res.end('error');
      });
    });
    s.server.maxConnections = 1024;
    const cap = options.perSourceConnections ?? 16;
    s.server.on('connection', (socket) => {
      const source = socket.remoteAddress ?? '';
      const n = s.bySource.get(source) ?? 0;
      if (n >= cap) {
        s.refused['per-source-limit']++;
        socket.destroy();
        return;
      }
      s.bySource.set(source, n + 1);
      socket.once('close', () => {
        const left = (s.bySource.get(source) ?? 1) - 1;
        if (left <= 0) s.bySource.delete(source);
        else s.bySource.set(source, left);
      });
    });
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.server.listen(options.port, options.host, () => resolve());
    });
    return s;
  }

  get host(): string {
    return (this.server.address() as AddressInfo).address;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  listener(): ListenerStatus {
    return { counts: { ...this.counts }, refused: { ...this.refused } };
  }

  /** A token for a page shown to `address` now: the time, and a MAC over address and time. */
  private token(address: string, at = Math.floor(Date.now() / 1000)): string {
    return `${at}.${createHmac('sha256', this.key).update(`${address}|${at}`).digest('base64url')}`;
  }

  private tokenValid(address: string, token: string | undefined): boolean {
    const at = Number(token?.split('.')[0]);
    if (!token || !Number.isInteger(at) || Math.floor(Date.now() / 1000) - at > this.tokenSeconds || at > Date.now() / 1000 + 5)
      return false;
    const want = Buffer.from(this.token(address, at));
    const got = Buffer.from(token);
    return want.length === got.length && timingSafeEqual(want, got);
  }

  private send(res: http.ServerResponse, status: number, html: string): void {
    res.writeHead(status, { ...HEADERS, 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // Only the source address is read: not the Host, not the path (the subscriber's communication).
    const address = unmap(req.socket.remoteAddress ?? '');
    if (req.method === 'GET' || req.method === 'HEAD') {
      req.resume();
      const view = await this.handler.view(address);
      if (!view) {
        this.counts.neutral++;
        const n = this.handler.neutral;
        this.send(res, 200, page(n.ja.title, [section('ja', n.ja.title, n.ja.paragraphs), section('en', n.en.title, n.en.paragraphs)]));
        return;
      }
      this.counts.pages++;
      const form = (label: string) =>
        `<form method="post" action="/"><input type="hidden" name="token" value="${escape(this.token(address))}">` +
        `<button type="submit">${escape(label)}</button></form>`;
      const part = (lang: 'ja' | 'en') => {
        const t = view[lang];
        // One form, under the Japanese text; the English section says the same in words.
        const extra = view.canRelease
          ? lang === 'ja'
            ? form(`${view.ja.releaseLabel} / ${view.en.releaseLabel}`)
            : ''
          : `<p>${escape(t.noRelease)}</p>`;
        return section(lang, t.title, t.paragraphs, extra);
      };
      this.send(res, 200, page(view.ja.title, [part('ja'), part('en')]));
      return;
    }
    if (req.method !== 'POST') {
      this.refused.method++;
      req.resume();
      res.writeHead(405, { ...HEADERS, allow: 'GET, HEAD, POST', 'content-type': 'text/plain; charset=utf-8' });
      res.end('method not allowed');
      return;
    }
    const body = await readBody(req);
    if (body === undefined) {
      this.refused['body-too-large']++;
      res.writeHead(413, { ...HEADERS, 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      res.end('request too large');
      return;
    }
    const token = new URLSearchParams(body).get('token') ?? undefined;
    if (!this.tokenValid(address, token)) {
      this.refused['bad-token']++;
      const ja = 'このページの有効期限が切れました。ページを再読み込みしてから、もう一度お試しください。';
      const en = 'This page has expired. Reload it and try again.';
      this.send(
        res,
        403,
        page('再読み込みしてください', [section('ja', '再読み込みしてください', [ja]), section('en', 'Please reload', [en])]),
      );
      return;
    }
    const r = await this.handler.release(address);
    if (r.outcome === 'released') this.counts.releases++;
    this.send(res, 200, page(r.ja.title, [section('ja', r.ja.title, r.ja.paragraphs), section('en', r.en.title, r.en.paragraphs)]));
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** The form's body, or undefined when it is larger than a release form can be. */
function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(undefined));
  });
}

/** What the broker grants as `garden-page`. */
export const GARDEN_PAGE_INPUT: GardenPageInput = { start: (options, handler) => GardenPageServer.start(options, handler) };
