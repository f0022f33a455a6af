/**
 * Health for load balancers and orchestrators, without credentials: `/healthz`
 * (the process answers) and `/readyz` (the stores answer and every input of
 * the enabled measures is up). They name components and states only: no
 * address, port, count or data.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { sql } from 'kysely';
import { z } from 'zod';
import type { Mamori } from '../../app/mamori.js';

/** Each component's state; ready when every one is "ok", "listening" or "running". */
export type Readiness = () => Promise<Record<string, string>> | Record<string, string>;

const GOOD = new Set(['ok', 'listening', 'running']);

/** The stores: one trivial query each. */
export async function storeChecks(mamori: Mamori): Promise<Record<string, string>> {
  const checks: Record<string, string> = {};
  try {
    await sql`select 1`.execute(mamori.state.db);
    checks['state-store'] = 'ok';
  } catch {
    checks['state-store'] = 'failed';
  }
  if (mamori.analytics) {
    try {
      await mamori.analytics.query('SELECT 1');
      checks['analytics-store'] = 'ok';
    } catch {
      checks['analytics-store'] = 'failed';
    }
  }
  return checks;
}

export function healthRoutes(mamori: Mamori, inputs: Readiness = () => ({})): FastifyPluginAsyncZod {
  const checksSchema = z.record(z.string(), z.string());
  return async (app) => {
    app.get(
      '/healthz',
      {
        config: { public: true },
        schema: { tags: ['operations'], security: [], response: { 200: z.object({ status: z.literal('ok') }) } },
      },
      async () => ({ status: 'ok' as const }),
    );

    app.get(
      '/readyz',
      {
        config: { public: true },
        schema: {
          tags: ['operations'],
          security: [],
          response: {
            200: z.object({ ready: z.literal(true), checks: checksSchema }),
            503: z.object({ ready: z.literal(false), checks: checksSchema }),
          },
        },
      },
      async (_request, reply) => {
        const checks = { ...(await storeChecks(mamori)), ...(await inputs()) };
        const ready = Object.values(checks).every((s) => GOOD.has(s));
        return ready ? { ready: true as const, checks } : reply.code(503).send({ ready: false as const, checks });
      },
    );
  };
}
