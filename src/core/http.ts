/**
 * What every HTTP route needs from the core, the API's and the measures' alike
 * (a measure's routes.ts may import this, never src/api): the permission a route
 * declares, the principal of an authenticated request, the shape of an error.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** The Fastify types a measure's routes use (a measure imports no server package itself: .dependency-cruiser.cjs). */
export type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Principal } from './accounts.js';
import type { Permission } from './roles.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The permission this route needs. */
    permission?: Permission;
    /** Only the login route: reachable without credentials (it checks them itself). */
    login?: boolean;
    /** Only /healthz and /readyz: reachable without credentials, and saying nothing but component states. */
    public?: boolean;
    /** Only the console's page and assets (api/console.ts): no credentials, no data. */
    console?: boolean;
  }
  interface FastifyRequest {
    principal?: Principal;
    bearer?: string;
  }
}

/** Every error answer: the status's kind, the stable code of a Mamori error (src/core/errors.ts), a message. */
export const errorSchema = z.object({ error: z.string(), code: z.string().optional(), message: z.string() });

/** The content types a file upload is sent as: its bytes as they are, never parsed as JSON. */
export const FILE_TYPES = ['application/octet-stream', 'text/csv', 'text/plain'];

/** Lets a plugin's routes take a file upload (FILE_TYPES) as a Buffer of at most `limit` bytes (over it: 413). */
export function acceptFiles(app: FastifyInstance, limit: number): void {
  app.addContentTypeParser(FILE_TYPES, { parseAs: 'buffer', bodyLimit: limit }, (_request, body, done) => done(null, body));
}

/** The uploaded file's bytes, or undefined with a 415 sent that names the types to use. */
export function uploadedFile(reply: FastifyReply, body: unknown): Buffer | undefined {
  if (Buffer.isBuffer(body)) return body;
  void reply.code(415).send({ error: 'unsupported-media-type', message: `send the file as ${FILE_TYPES.join(' or ')}` });
  return undefined;
}

/** How many skipped lines an import's answer lists: a file of bad lines must not make an answer larger than itself. */
const SKIPPED_LISTED = 100;
/** An import's skipped lines as answered: the first ones with their reason, and how many in all. */
export const skippedSchema = { skipped: z.array(z.object({ line: z.number(), reason: z.string() })), skippedCount: z.number() };
export function skippedReply(skipped: ReadonlyArray<{ line: number; reason: string }>): {
  skipped: Array<{ line: number; reason: string }>;
  skippedCount: number;
} {
  return { skipped: skipped.slice(0, SKIPPED_LISTED), skippedCount: skipped.length };
}

/** The principal of an authenticated request (routes run only after the API's auth hook). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error('route reached without authentication');
  return request.principal;
}
