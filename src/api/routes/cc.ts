/** M1's candidates for analysts: list, evidence with its explanation, decisions. Never which subscriber. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Mamori } from '../../core/app.js';
import { CandidateError, decide, getCandidate, listCandidates } from '../../measures/cc-detection/candidates.js';
import { errorSchema } from '../schemas.js';
import { principalOf } from '../server.js';

const candidateSchema = z.object({
  id: z.string(), address: z.string(), port: z.number(), proto: z.number(),
  status: z.enum(['new', 'confirmed', 'expired', 'withdrawn']), score: z.number(),
  firstDetected: z.string(), lastDetected: z.string(), detections: z.number(),
  evidence: z.object({ features: z.record(z.string(), z.number()), explanation: z.array(z.object({ feature: z.string(), ja: z.string(), en: z.string() })) }),
  statusChangedAt: z.string(), statusChangedBy: z.string(), statusReason: z.string().nullable(),
});

export function ccRoutes(mamori: Mamori): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/api/v1/cc/candidates', {
      config: { permission: 'cc:read' },
      schema: { tags: ['cc-detection'], querystring: z.object({ status: z.enum(['new', 'confirmed', 'expired', 'withdrawn']).optional() }), response: { 200: z.object({ candidates: z.array(candidateSchema) }) } },
    }, async (request) => {
      const candidates = await listCandidates(mamori.state, request.query.status);
      await mamori.audit.append({ actor: principalOf(request).actor, measure: 'cc-detection', action: 'cc.candidates.read', counts: { candidates: candidates.length } });
      return { candidates };
    });

    app.get('/api/v1/cc/candidates/:id', {
      config: { permission: 'cc:read' },
      schema: { tags: ['cc-detection'], params: z.object({ id: z.string().regex(/^c-[0-9a-f]{16}$/) }), response: { 200: candidateSchema, 404: errorSchema } },
    }, async (request, reply) => {
      const c = await getCandidate(mamori.state, request.params.id);
      if (!c) return reply.code(404).send({ error: 'not-found', message: `no candidate ${request.params.id}` });
      await mamori.audit.append({ actor: principalOf(request).actor, measure: 'cc-detection', action: 'cc.candidate.read', object: `candidate:${c.id}` });
      return c;
    });

    app.post('/api/v1/cc/candidates/:id/decision', {
      config: { permission: 'cc:decide' },
      schema: {
        tags: ['cc-detection'],
        params: z.object({ id: z.string().regex(/^c-[0-9a-f]{16}$/) }),
        body: z.object({ action: z.enum(['confirm', 'withdraw']), reason: z.string().min(1).max(2000) }),
        response: { 200: candidateSchema, 409: errorSchema },
      },
    }, async (request, reply) => {
      try {
        return await decide(mamori.state, mamori.audit, request.params.id, request.body.action, request.body.reason, principalOf(request).actor);
      } catch (err) {
        if (err instanceof CandidateError) return reply.code(409).send({ error: 'conflict', message: err.message });
        throw err;
      }
    });
  };
}
