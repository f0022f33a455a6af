/**
 * A TAXII 2.1 client for the tests, written from the OASIS specification
 * (§3.2 media types, §3.4 pagination, §3.6 errors, §4–§5 endpoints) and
 * independent of the server's code: it shares no module with src/measures.
 * It speaks HTTPS with a pinned certificate, sends the TAXII Accept header,
 * and follows `next` until `more` is false.
 */
import { request } from 'node:https';

export const TAXII = 'application/taxii+json;version=2.1';

export interface TaxiiResponse<T = Record<string, unknown>> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
  text: string;
}

export class TaxiiClient {
  constructor(
    private readonly base: string,
    private readonly ca: string,
    private readonly auth: { token?: string; user?: string; password?: string },
  ) {}

  private authorization(): string | undefined {
    if (this.auth.token) return `Bearer ${this.auth.token}`;
    if (this.auth.user !== undefined) return `Basic ${Buffer.from(`${this.auth.user}:${this.auth.password ?? ''}`).toString('base64')}`;
    return undefined;
  }

  raw<T = Record<string, unknown>>(
    method: string,
    path: string,
    opts: { headers?: Record<string, string>; body?: string | Buffer } = {},
  ): Promise<TaxiiResponse<T>> {
    const url = new URL(path, this.base);
    const headers: Record<string, string> = { accept: TAXII, ...opts.headers };
    const a = this.authorization();
    if (a && !('authorization' in headers)) headers.authorization = a;
    return new Promise((resolve, reject) => {
      const req = request(url, { method, headers, ca: this.ca, timeout: 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : {};
          } catch {
            /* not JSON: kept as text */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body as T, text });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`TAXII request timed out: ${method} ${path}`)));
      req.on('error', reject);
      if (opts.body !== undefined) req.write(opts.body);
      req.end();
    });
  }

  async get<T = Record<string, unknown>>(path: string, query: Record<string, string | number> = {}): Promise<TaxiiResponse<T>> {
    const q = new URLSearchParams(Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)]))).toString();
    return this.raw<T>('GET', q ? `${path}?${q}` : path);
  }

  /** Every object of a collection, page after page; returns the objects and the number of pages. */
  async allObjects(
    apiRoot: string,
    collectionId: string,
    query: Record<string, string | number> = {},
  ): Promise<{ objects: Array<Record<string, unknown>>; pages: number; lastAdded?: string }> {
    const objects: Array<Record<string, unknown>> = [];
    let next: string | undefined;
    let pages = 0;
    let lastAdded: string | undefined;
    for (;;) {
      const res = await this.get<{ more?: boolean; next?: string; objects?: Array<Record<string, unknown>> }>(
        `${apiRoot}collections/${collectionId}/objects/`,
        { ...query, ...(next ? { next } : {}) },
      );
      if (res.status !== 200) throw new Error(`objects: HTTP ${res.status}: ${res.text}`);
      if (!String(res.headers['content-type']).startsWith('application/taxii+json'))
        throw new Error(`objects: content type ${String(res.headers['content-type'])}`);
      pages += 1;
      objects.push(...(res.body.objects ?? []));
      lastAdded = (res.headers['x-taxii-date-added-last'] as string | undefined) ?? lastAdded;
      if (!res.body.more) return { objects, pages, ...(lastAdded ? { lastAdded } : {}) };
      if (!res.body.next) throw new Error('more is true but there is no next');
      next = res.body.next;
      if (pages > 100_000) throw new Error('too many pages');
    }
  }
}
