/**
 * The `sharer` capability: how a measure that declares the output "shared-indicators" (M2) reaches
 * partners. The core owns the network ends — the TLS listener the TAXII 2.1 server and the feeds are
 * served on, and the HTTPS client that polls partners' collections and feeds — and the measure supplies
 * what is said on them (its routes, what it asks for). TAXII 2.1 paths are the protocol's, not the API's.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { generate } from 'selfsigned';
import { PartnerError } from './errors.js';

/** The listener's certificate: the configured PEM files, or (neither given) a self-signed pair made once in the data directory. */
export interface ShareTls {
  certFile?: string | undefined;
  keyFile?: string | undefined;
  /** Where the settings are, for the error when only one file is given. */
  setting: string;
}

export interface ShareListenerOptions {
  host: string;
  port: number;
  tls: ShareTls;
  /** Largest request body accepted, bytes. */
  bodyLimit: number;
}

export interface ShareListener {
  /** https://host:port of the listener (the measure may publish another, configured URL). */
  readonly url: string;
  /** The certificate is the self-signed one made in the data directory (partners pin it). */
  readonly selfSigned: boolean;
  close(): Promise<void>;
}

export interface FetchOptions {
  headers: Record<string, string>;
  /** The PEM file of the partner's CA, when it is not a public one. */
  caFile?: string | undefined;
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

/** The configured PEM files, or a self-signed pair made once in `dataDir` (partners pin it). */
async function listenerTls(tls: ShareTls, host: string, dataDir: string): Promise<{ cert: string; key: string; generated: boolean }> {
  if (tls.certFile || tls.keyFile) {
    if (!tls.certFile || !tls.keyFile)
      throw new Error(`${tls.setting}: give both certFile and keyFile, or neither (a self-signed pair is then made)`);
    return { cert: readFileSync(tls.certFile, 'utf8'), key: readFileSync(tls.keyFile, 'utf8'), generated: false };
  }
  const dir = join(dataDir, 'taxii-tls');
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const wildcard = host === '0.0.0.0' || host === '::';
    const pems = await generate([{ name: 'commonName', value: host }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notAfterDate: new Date(Date.now() + 825 * 86_400_000),
      extensions: [
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
            { type: 7, ip: '::1' },
            ...(/^[\d.:]+$/.test(host) && !wildcard ? [{ type: 7 as const, ip: host }] : [{ type: 2 as const, value: host }]),
          ],
        },
      ],
    });
    writeFileSync(keyPath, pems.private, { mode: 0o600 });
    writeFileSync(certPath, pems.cert, { mode: 0o644 });
  }
  return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8'), generated: true };
}

async function serve(
  dataDir: string,
  options: ShareListenerOptions,
  setup: (app: FastifyInstance) => Promise<void>,
): Promise<ShareListener> {
  const tls = await listenerTls(options.tls, options.host, dataDir);
  const app: FastifyInstance = Fastify({
    https: { cert: tls.cert, key: tls.key },
    bodyLimit: options.bodyLimit,
    logger: false,
    return503OnClosing: true,
  });
  await setup(app);
  await app.listen({ host: options.host, port: options.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return { url: `https://${host}:${port}`, selfSigned: tls.generated, close: () => app.close() };
}

function fetchOnce(url: URL, o: FetchOptions): Promise<FetchResult> {
  return new Promise((resolve, reject) => {
    const ca = o.caFile ? readFileSync(o.caFile, 'utf8') : undefined;
    const req = request(url, { method: 'GET', headers: o.headers, ...(ca ? { ca } : {}), timeout: o.timeoutMs }, (res) => {
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
    // Refused connections and TLS failures say which partner: the caller (a poll now, in the console) shows it.
    req.on('error', (err) => reject(err instanceof PartnerError ? err : new PartnerError(`${o.who}: ${err.message}`)));
    req.end();
  });
}

/** The core's sharer for an instance whose data directory is `dataDir` (src/app/mamori.ts hands it out through the broker). */
export function sharerFor(dataDir: string): Sharer {
  return { serve: (options, setup) => serve(dataDir, options, setup), fetch: fetchOnce };
}
