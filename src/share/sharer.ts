/**
 * The `sharer` capability: how a measure that declares the output "shared-indicators" (M2) reaches
 * partners. The core owns the network ends — the TLS listener the TAXII 2.1 server and the feeds are
 * served on, and the HTTPS client that polls partners' collections and feeds — and the measure supplies
 * what is said on them (its routes, what it asks for). TAXII 2.1 paths are the protocol's, not the API's.
 */
import { request } from 'node:https';
import Fastify, { type FastifyInstance } from 'fastify';
import { PartnerError } from './errors.js';

export interface ShareListenerOptions {
  host: string;
  port: number;
  tls: { cert: string; key: string };
  /** Largest request body accepted, bytes. */
  bodyLimit: number;
}

export interface ShareListener {
  /** https://host:port of the listener (the measure may publish another, configured URL). */
  readonly url: string;
  close(): Promise<void>;
}

export interface FetchOptions {
  headers: Record<string, string>;
  /** PEM of the partner's CA, when it is not a public one. */
  ca?: string;
  /** A larger answer is abandoned with an error naming `who`. */
  maxBytes: number;
  timeoutMs: number;
  /** Who is asked, for error messages (a partner's name: never a URL with credentials). */
  who: string;
}

export interface FetchResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export { PartnerError };

export interface Sharer {
  /** Starts the TLS listener and lets `setup` add the measure's routes to it before it listens. */
  serve(options: ShareListenerOptions, setup: (app: FastifyInstance) => Promise<void>): Promise<ShareListener>;
  /** One HTTPS GET to a partner. */
  fetch(url: URL, options: FetchOptions): Promise<FetchResult>;
}

async function serve(options: ShareListenerOptions, setup: (app: FastifyInstance) => Promise<void>): Promise<ShareListener> {
  const app: FastifyInstance = Fastify({
    https: { cert: options.tls.cert, key: options.tls.key },
    bodyLimit: options.bodyLimit,
    logger: false,
    return503OnClosing: true,
  });
  await setup(app);
  await app.listen({ host: options.host, port: options.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return { url: `https://${host}:${port}`, close: () => app.close() };
}

function fetchOnce(url: URL, o: FetchOptions): Promise<FetchResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers: o.headers, ...(o.ca ? { ca: o.ca } : {}), timeout: o.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > o.maxBytes) {
          req.destroy(new PartnerError(`a page from ${o.who} is larger than ${o.maxBytes} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new PartnerError(`${o.who} did not answer within ${Math.round(o.timeoutMs / 1000)} s`)));
    req.on('error', reject);
    req.end();
  });
}

/** The core's sharer (src/app/mamori.ts hands it out through the broker). */
export const SHARER: Sharer = { serve, fetch: fetchOnce };
