/** Declared measures and their state; the disclosures generated from them. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Mamori } from '../../app/mamori.js';
import type { MeasureStatus } from '../../core/registry.js';
import { STATE_TEXT } from '../../core/registry.js';
import { errorSchema } from '../../core/http.js';
import { renderDisclosure } from '../../policy/disclosure.js';

const text = z.object({ ja: z.string(), en: z.string() });
const measureSchema = z.object({
  id: z.string(),
  code: z.string(),
  title: text,
  purpose: text,
  state: z.enum(['not-available', 'disabled', 'enabled']),
  stateText: text,
  available: z.boolean(),
  enabled: z.boolean(),
  bases: z.array(z.string()),
  dataItems: z.array(z.object({ item: z.string(), retention: z.string(), keptWhile: z.array(z.string()) })),
  outputs: z.array(z.string()),
  identifiesSubscribers: z.boolean(),
});

function view(s: MeasureStatus): z.infer<typeof measureSchema> {
  const d = s.declaration;
  return {
    id: d.id,
    code: d.code,
    title: d.title,
    purpose: d.purpose,
    state: s.state,
    stateText: STATE_TEXT[s.state],
    available: s.available,
    enabled: s.enabled,
    bases: d.bases.map((b) => b.basis),
    dataItems: d.dataItems.map((i) => ({ item: i.item, retention: i.retention, keptWhile: [...i.keptWhile] })),
    outputs: [...d.outputs],
    identifiesSubscribers: d.identifiesSubscribers,
  };
}

export function measureRoutes(mamori: Mamori): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/v1/measures',
      {
        config: { permission: 'measures:read' },
        schema: { tags: ['measures'], response: { 200: z.object({ measures: z.array(measureSchema) }) } },
      },
      async () => ({ measures: mamori.registry.list().map(view) }),
    );

    app.get(
      '/api/v1/measures/:id',
      {
        config: { permission: 'measures:read' },
        schema: { tags: ['measures'], params: z.object({ id: z.string().max(64) }), response: { 200: measureSchema, 404: errorSchema } },
      },
      async (request, reply) => {
        const s = mamori.registry.status(request.params.id);
        if (!s) return reply.code(404).send({ error: 'not-found', message: `no measure "${request.params.id}"` });
        return view(s);
      },
    );

    app.get(
      '/api/v1/policy/:format',
      {
        config: { permission: 'policy:read' },
        schema: {
          tags: ['policy'],
          params: z.object({ format: z.enum(['terms', 'notice', 'report']) }),
          querystring: z.object({ lang: z.enum(['ja', 'en']).default('ja') }),
        },
      },
      async (request, reply) => {
        const body = await renderDisclosure(mamori.registry, request.params.format, request.query.lang, mamori);
        return reply.type('text/markdown; charset=utf-8').send(body);
      },
    );
  };
}
