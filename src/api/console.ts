/**
 * The operator console (console/, built by Vite into dist/console by scripts/ensure-deps.sh): its
 * page and assets, served by the API's own server. They carry no data and need no credentials (the
 * console logs in through /api/v1/auth/login); every /api path stays behind the auth hook. The CSP
 * allows only the console's own scripts, styles and images, and connections back to this server.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyReply } from 'fastify';
import type { Api } from './instance.js';

/** dist/console beside dist/src: this file compiles to dist/src/api/console.js. */
export const CONSOLE_ROOT = fileURLToPath(new URL('../../console/', import.meta.url));

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Hashed asset names (Vite's) never change content: cached for a year; the page itself is always revalidated. */
const ASSET = /^[\w.-]+$/;

export async function registerConsole(app: Api, root = CONSOLE_ROOT): Promise<void> {
  const built = existsSync(`${root}/index.html`);
  if (built) await app.register(fastifyStatic, { root, serve: false });

  const page = (reply: FastifyReply) => {
    reply.header('content-security-policy', CONSOLE_CSP);
    if (!built) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('コンソールがビルドされていません。npm start で起動してください。\nThe console is not built: start Mamori with npm start.\n');
    }
    return reply.header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false });
  };
  // The page for the console's entry and for each of its history routes (reloads, bookmarks).
  app.get('/', { config: { console: true }, schema: { hide: true } }, async (_request, reply) => page(reply));
  app.get('/console', { config: { console: true }, schema: { hide: true } }, async (_request, reply) => page(reply));
  app.get('/console/*', { config: { console: true }, schema: { hide: true } }, async (_request, reply) => page(reply));
  app.get<{ Params: { file: string } }>('/assets/:file', { config: { console: true }, schema: { hide: true } }, async (request, reply) => {
    const file = request.params.file;
    reply.header('content-security-policy', CONSOLE_CSP);
    if (!built || !ASSET.test(file) || !existsSync(`${root}/assets/${file}`)) {
      return reply.code(404).send({ error: 'not-found', message: 'no such console asset' });
    }
    return reply.sendFile(`assets/${file}`, { maxAge: 365 * 86_400_000, immutable: true });
  });
  app.get('/favicon.svg', { config: { console: true }, schema: { hide: true } }, async (_request, reply) => {
    if (!built || !existsSync(`${root}/favicon.svg`)) return reply.code(404).send({ error: 'not-found', message: 'no favicon' });
    return reply.sendFile('favicon.svg', { maxAge: 86_400_000 });
  });
}
