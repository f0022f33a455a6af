/** Operations: Prometheus metrics and the retention job on demand. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Mamori } from '../../app/mamori.js';
import type { Metrics } from '../../core/metrics.js';
import { runRetention } from '../../core/retention.js';
import { principalOf } from '../../core/http.js';

export function opsRoutes(mamori: Mamori, metrics: Metrics): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/metrics', { config: { permission: 'metrics:read' }, schema: { hide: true } }, async (_request, reply) => {
      metrics.auditHeadSeq.set((await mamori.audit.head()).seq);
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });

    app.post(
      '/api/v1/retention/run',
      {
        config: { permission: 'retention:run' },
        schema: {
          tags: ['operations'],
          response: {
            200: z.object({
              results: z.array(
                z.object({
                  dataset: z.string(),
                  owner: z.string(),
                  measure: z.string().optional(),
                  retentionSeconds: z.number(),
                  cutoff: z.string(),
                  deleted: z.number(),
                  held: z.number().optional(),
                }),
              ),
            }),
          },
        },
      },
      async (request) => {
        const results = await runRetention(mamori, principalOf(request).actor);
        for (const r of results) metrics.retentionDeleted.inc({ dataset: r.dataset }, r.deleted);
        return { results };
      },
    );
  };
}
