/** M1's candidates for analysts: list, evidence with its explanation, decisions. Never which subscriber. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Mamori } from '../../core/app.js';
import { decide, getCandidate, listCandidates } from '../../measures/cc-detection/candidates.js';
import { errorSchema } from '../schemas.js';
import type { FastifyReply } from 'fastify';
import { CapabilityRefusedError } from '../../core/capabilities.js';
import { ConfigError } from '../../core/config.js';
import { parseDuration } from '../../core/duration.js';
import { m1Handles, runDetection } from '../../measures/cc-detection/run.js';
import { listModels, TrainingError, trainOnWindow } from '../../measures/cc-detection/training.js';
import { principalOf } from '../server.js';

const candidateSchema = z.object({
  id: z.string(),
  address: z.string(),
  port: z.number(),
  proto: z.number(),
  status: z.enum(['new', 'confirmed', 'expired', 'withdrawn']),
  score: z.number(),
  firstDetected: z.string(),
  lastDetected: z.string(),
  detections: z.number(),
  evidence: z.object({
    features: z.record(z.string(), z.number()),
    explanation: z.array(z.object({ feature: z.string(), ja: z.string(), en: z.string() })),
  }),
  statusChangedAt: z.string(),
  statusChangedBy: z.string(),
  statusReason: z.string().nullable(),
});

const modelSchema = z.object({
  version: z.number(),
  trainedAt: z.string(),
  trainedBy: z.string(),
  seed: z.number(),
  samples: z.number(),
  positives: z.number(),
  threshold: z.number(),
  windowFrom: z.string(),
  windowTo: z.string(),
  labelSources: z.array(z.object({ name: z.string(), sha256: z.string(), importedAt: z.string() })),
});

/** M1 must be enabled for training and runs: the broker refuses its handles otherwise (409, audited). */
async function withM1<T>(
  mamori: Mamori,
  reply: FastifyReply,
  fn: (h: Awaited<ReturnType<typeof m1Handles>>) => Promise<T>,
): Promise<T | FastifyReply> {
  try {
    return await fn(await m1Handles(mamori.broker.forMeasure('cc-detection')));
  } catch (err) {
    if (err instanceof CapabilityRefusedError || err instanceof TrainingError || err instanceof ConfigError)
      return reply.code(409).send({ error: 'conflict', message: err.message });
    throw err;
  }
}

export function ccRoutes(mamori: Mamori): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/v1/cc/models',
      {
        config: { permission: 'cc:read' },
        schema: { tags: ['cc-detection'], response: { 200: z.object({ models: z.array(modelSchema) }) } },
      },
      async () => ({ models: await listModels(mamori.state) }),
    );

    app.post(
      '/api/v1/cc/models',
      {
        config: { permission: 'cc:run' },
        schema: {
          tags: ['cc-detection'],
          description:
            "Trains a new model version on the current window (labels: imported lists valid at its end, and analysts' decisions).",
          body: z
            .object({
              seed: z
                .number()
                .int()
                .min(0)
                .max(2 ** 31)
                .default(42),
              trees: z.number().int().min(1).max(2000).default(100),
              targetPrecision: z.number().gt(0).max(1).default(0.95),
            })
            .prefault({}),
          response: { 201: modelSchema, 409: errorSchema },
        },
      },
      async (request, reply) =>
        withM1(mamori, reply, async ({ own, flows }) => {
          const to = new Date();
          const from = new Date(to.getTime() - parseDuration(own.settings.window) * 1000);
          const { version } = await trainOnWindow({
            flows,
            state: own.store,
            audit: own.audit,
            scope: own.settings.scope,
            from,
            to,
            ...request.body,
            actor: principalOf(request).actor,
          });
          return reply.code(201).send((await listModels(mamori.state)).find((m) => m.version === version)!);
        }),
    );

    app.post(
      '/api/v1/cc/runs',
      {
        config: { permission: 'cc:run' },
        schema: {
          tags: ['cc-detection'],
          description:
            'Runs one detection now over the window ending now, with the latest model (the server also does this every runInterval).',
          response: {
            200: z.object({
              ran: z.boolean(),
              reason: z.string().optional(),
              modelVersion: z.number().optional(),
              endpoints: z.number().optional(),
              detected: z.number().optional(),
              created: z.number().optional(),
              redetected: z.number().optional(),
              expired: z.number().optional(),
              allowListed: z.number().optional(),
              flowsDeleted: z.number().optional(),
              problems: z.array(z.string()).optional(),
            }),
            409: errorSchema,
          },
        },
      },
      async (request, reply) =>
        withM1(mamori, reply, async ({ own, flows }) => {
          const o = await runDetection({ flows, own, settings: own.settings, now: new Date(), actor: principalOf(request).actor });
          if (!o.ran) return { ran: false, reason: o.reason };
          const r = o.result;
          return {
            ran: true,
            modelVersion: o.modelVersion,
            endpoints: r.endpoints,
            detected: r.detected,
            created: r.created,
            redetected: r.redetected,
            expired: r.expired,
            allowListed: r.allowListed,
            flowsDeleted: r.flowsDeleted,
            problems: r.health.problems,
          };
        }),
    );

    app.get(
      '/api/v1/cc/candidates',
      {
        config: { permission: 'cc:read' },
        schema: {
          tags: ['cc-detection'],
          querystring: z.object({ status: z.enum(['new', 'confirmed', 'expired', 'withdrawn']).optional() }),
          response: { 200: z.object({ candidates: z.array(candidateSchema) }) },
        },
      },
      async (request) => {
        const candidates = await listCandidates(mamori.state, request.query.status);
        await mamori.audit.append({
          actor: principalOf(request).actor,
          measure: 'cc-detection',
          action: 'cc.candidates.read',
          counts: { candidates: candidates.length },
        });
        return { candidates };
      },
    );

    app.get(
      '/api/v1/cc/candidates/:id',
      {
        config: { permission: 'cc:read' },
        schema: {
          tags: ['cc-detection'],
          params: z.object({ id: z.string().regex(/^c-[0-9a-f]{16}$/) }),
          response: { 200: candidateSchema, 404: errorSchema },
        },
      },
      async (request, reply) => {
        const c = await getCandidate(mamori.state, request.params.id);
        if (!c) return reply.code(404).send({ error: 'not-found', message: `no candidate ${request.params.id}` });
        await mamori.audit.append({
          actor: principalOf(request).actor,
          measure: 'cc-detection',
          action: 'cc.candidate.read',
          object: `candidate:${c.id}`,
        });
        return c;
      },
    );

    app.post(
      '/api/v1/cc/candidates/:id/decision',
      {
        config: { permission: 'cc:decide' },
        schema: {
          tags: ['cc-detection'],
          params: z.object({ id: z.string().regex(/^c-[0-9a-f]{16}$/) }),
          body: z.object({ action: z.enum(['confirm', 'withdraw']), reason: z.string().min(1).max(2000) }),
          response: { 200: candidateSchema, 409: errorSchema },
        },
      },
      async (request) => {
        // A CandidateError (409) goes to the API's error handler.
        return decide(mamori.state, mamori.audit, request.params.id, request.body.action, request.body.reason, principalOf(request).actor);
      },
    );
  };
}
