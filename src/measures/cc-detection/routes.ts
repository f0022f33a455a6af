/**
 * M1's routes, under /api/v1/measures/cc-detection/ while M1 runs: candidates for analysts (list, evidence with
 * its explanation, decisions; never which subscriber), model training and a run now. Only through M1's own
 * handles (its confined state, its purpose-bound flows).
 */
import { z } from 'zod';
import { ConfigError } from '../../core/config.js';
import { parseDuration } from '../../core/duration.js';
import { acceptFiles, errorSchema, principalOf, skippedReply, skippedSchema, uploadedFile, type FastifyReply } from '../../core/http.js';
import type { MeasureRoutes } from '../../core/registry.js';
import { endpointActivity } from './activity.js';
import { decide, getCandidate, listCandidates } from './candidates.js';
import { runDetection, type M1Handles } from './run.js';
import { importModelFile, listModels, promoteModel, TrainingError, trainOnWindow } from './training.js';
import { importLabels, labelSources } from './label-store.js';
import { LabelImportError } from '../../share/labels.js';

/** Reputation lists and model files are parsed whole; this bounds what one upload may hold. */
export const M1_FILE_LIMIT = 64 * 1024 * 1024;
// Not application/json: the other routes here take JSON bodies (a model file is sent as octet-stream).

const textJaEn = z.object({ ja: z.string(), en: z.string() });

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
    explanation: z.array(
      z.object({ feature: z.string(), ja: z.string(), en: z.string(), direction: z.enum(['raised', 'lowered']).optional() }),
    ),
    summary: textJaEn.optional(),
    evidence: z.number().optional(),
    rank: z.number().optional(),
    scored: z.number().optional(),
    modelVersion: z.number().optional(),
  }),
  statusChangedAt: z.string(),
  statusChangedBy: z.string(),
  statusReason: z.string().nullable(),
});

const modelSchema = z.object({
  version: z.number(),
  kind: z.enum(['profile', 'forest']),
  source: z.string(),
  trainedAt: z.string(),
  trainedBy: z.string(),
  seed: z.number(),
  samples: z.number(),
  positives: z.number(),
  threshold: z.number(),
  windowFrom: z.string(),
  windowTo: z.string(),
  labelSources: z.array(z.object({ name: z.string(), sha256: z.string(), importedAt: z.string() })),
  notes: z.array(z.string()),
  promotedAt: z.string().nullable(),
  promotedBy: z.string().nullable(),
  active: z.boolean(),
});

/** Training and runs refuse what cannot be done now (no labels, a bad window …) with 409. */
async function conflictOr<T>(reply: FastifyReply, fn: () => Promise<T>): Promise<T | FastifyReply> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof TrainingError || err instanceof ConfigError)
      return reply.code(409).send({ error: 'conflict', message: err.message });
    throw err;
  }
}

export const ccDetectionRoutes: MeasureRoutes<M1Handles> =
  ({ running: { own, flows } }) =>
  async (app) => {
    acceptFiles(app, M1_FILE_LIMIT);

    app.get(
      '/labels',
      {
        config: { permission: 'cc:read' },
        schema: {
          tags: ['cc-detection'],
          description:
            'The imported reputation lists (teacher data): format, labels, skipped lines, when, by whom, the SHA-256 of the file.',
          response: {
            200: z.object({
              sources: z.array(
                z.object({
                  name: z.string(),
                  format: z.string(),
                  labels: z.number(),
                  skipped: z.number(),
                  importedAt: z.string(),
                  importedBy: z.string(),
                  sha256: z.string(),
                }),
              ),
            }),
          },
        },
      },
      async () => ({
        sources: (await labelSources(own.store)).map((s) => ({
          name: s.name,
          format: s.format,
          labels: s.labels,
          skipped: s.skipped,
          importedAt: s.imported_at,
          importedBy: s.imported_by,
          sha256: s.file_sha256,
        })),
      }),
    );

    app.post(
      '/labels',
      {
        config: { permission: 'cc:run' },
        bodyLimit: M1_FILE_LIMIT,
        schema: {
          tags: ['cc-detection'],
          description:
            'Imports a reputation list (Feodo-Tracker-style CSV, IP list, STIX bundle) sent as application/octet-stream, as ' +
            'the whole of its source (a new import of the same name replaces it). A broken file is refused whole, naming the ' +
            'line; skipped lines are listed. Audited as labels.import.',
          querystring: z.object({
            format: z.enum(['feodo-csv', 'ip-list', 'stix']),
            source: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/i, 'letters, digits, "-" or "_" (1–64), e.g. "feodo-ipblocklist"'),
            validDays: z.coerce.number().int().min(1).max(9999).default(30),
            name: z.string().min(1).max(255).default('upload'),
          }),
          response: {
            200: z.object({
              source: z.string(),
              labels: z.number(),
              duplicates: z.number(),
              ...skippedSchema,
            }),
            415: errorSchema,
            422: errorSchema,
          },
        },
      },
      async (request, reply) => {
        const bytes = uploadedFile(reply, request.body);
        if (!bytes) return reply;
        const q = request.query;
        try {
          const r = await importLabels(own.store, own.audit, {
            file: { name: q.name, bytes },
            format: q.format,
            source: q.source,
            validityDays: q.validDays,
            actor: principalOf(request).actor,
          });
          return { source: r.source, labels: r.labels.length, duplicates: r.duplicates, ...skippedReply(r.skipped) };
        } catch (err) {
          if (err instanceof LabelImportError) return reply.code(422).send({ error: 'bad-file', message: err.message });
          throw err;
        }
      },
    );

    app.post(
      '/models/import',
      {
        config: { permission: 'cc:run' },
        bodyLimit: M1_FILE_LIMIT,
        schema: {
          tags: ['cc-detection'],
          description:
            'Stores a model file written by "mamori cc eval --save-model" (sent as application/octet-stream) as a new version, ' +
            'not used until promoted. Audited as cc.model.import.',
          querystring: z.object({ name: z.string().min(1).max(255).default('upload') }),
          response: { 201: modelSchema, 415: errorSchema, 422: errorSchema },
        },
      },
      async (request, reply) => {
        const bytes = uploadedFile(reply, request.body);
        if (!bytes) return reply;
        try {
          const { version } = await importModelFile(own.store, own.audit, { name: request.query.name, bytes }, principalOf(request).actor);
          return reply.code(201).send((await listModels(own.store)).find((m) => m.version === version)!);
        } catch (err) {
          if (err instanceof TrainingError) return reply.code(422).send({ error: 'bad-model', message: err.message });
          throw err;
        }
      },
    );

    app.get(
      '/models',
      {
        config: { permission: 'cc:read' },
        schema: { tags: ['cc-detection'], response: { 200: z.object({ models: z.array(modelSchema) }) } },
      },
      async () => ({ models: await listModels(own.store) }),
    );

    app.post(
      '/models',
      {
        config: { permission: 'cc:run' },
        schema: {
          tags: ['cc-detection'],
          description:
            'Makes a new model version from the current window (labels: imported lists valid at its end, ' +
            "and analysts' decisions); not used until promoted.",
          body: z
            .object({
              kind: z.enum(['profile', 'forest']).default('profile'),
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
        conflictOr(reply, async () => {
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
          return reply.code(201).send((await listModels(own.store)).find((m) => m.version === version)!);
        }),
    );

    app.post(
      '/models/:version/promote',
      {
        config: { permission: 'cc:run' },
        schema: {
          tags: ['cc-detection'],
          description: 'Makes a version the one detection uses (0: the built-in profile). A version that says it is unfit is refused.',
          params: z.object({ version: z.coerce.number().int().min(0) }),
          response: { 200: modelSchema, 409: errorSchema },
        },
      },
      async (request, reply) =>
        conflictOr(reply, async () => {
          await promoteModel(own.store, own.audit, request.params.version, principalOf(request).actor);
          return (await listModels(own.store)).find((m) => m.version === request.params.version)!;
        }),
    );

    app.post(
      '/runs',
      {
        config: { permission: 'cc:run' },
        schema: {
          tags: ['cc-detection'],
          description:
            'Runs one detection now over the window ending now (or at `to`), with the active model ' +
            '(the server also does this every runInterval).',
          body: z.object({ to: z.iso.datetime({ offset: true }).optional() }).nullish(),
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
              threshold: z
                .object({
                  rule: z.enum(['budget', 'floor', 'fixed', 'model']),
                  score: z.number(),
                  evidence: z.number().nullable(),
                  subscribers: z.number(),
                  scored: z.number(),
                  allowed: z.number().nullable(),
                  expectedFalseAtMost: z.number().nullable(),
                  floor: z.number().nullable(),
                  reason: textJaEn,
                })
                .optional(),
              flowsDeleted: z.number().optional(),
              unanalysedKept: z.number().optional(),
              problems: z.array(z.string()).optional(),
            }),
            409: errorSchema,
          },
        },
      },
      async (request, reply) =>
        conflictOr(reply, async () => {
          const now = request.body?.to ? new Date(request.body.to) : new Date();
          const o = await runDetection({ flows, own, settings: own.settings, now, actor: principalOf(request).actor });
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
            threshold: r.operating,
            flowsDeleted: r.flowsDeleted,
            unanalysedKept: r.unanalysedKept,
            problems: r.health.problems,
          };
        }),
    );

    app.get(
      '/candidates',
      {
        config: { permission: 'cc:read' },
        schema: {
          tags: ['cc-detection'],
          querystring: z.object({ status: z.enum(['new', 'confirmed', 'expired', 'withdrawn']).optional() }),
          response: { 200: z.object({ candidates: z.array(candidateSchema) }) },
        },
      },
      async (request) => {
        const candidates = await listCandidates(own.store, request.query.status);
        await own.audit.append({
          actor: principalOf(request).actor,
          measure: 'cc-detection',
          action: 'cc.candidates.read',
          counts: { candidates: candidates.length },
        });
        return { candidates };
      },
    );

    app.get(
      '/candidates/:id',
      {
        config: { permission: 'cc:read' },
        schema: {
          tags: ['cc-detection'],
          params: z.object({ id: z.string().regex(/^c-[0-9a-f]{16}$/) }),
          response: { 200: candidateSchema, 404: errorSchema },
        },
      },
      async (request, reply) => {
        const c = await getCandidate(own.store, request.params.id);
        if (!c) return reply.code(404).send({ error: 'not-found', message: `no candidate ${request.params.id}` });
        await own.audit.append({
          actor: principalOf(request).actor,
          measure: 'cc-detection',
          action: 'cc.candidate.read',
          object: `candidate:${c.id}`,
        });
        return c;
      },
    );

    app.get(
      '/candidates/:id/activity',
      {
        config: { permission: 'cc:read' },
        schema: {
          tags: ['cc-detection'],
          description:
            "Per hour of the window ending at the candidate's last detection: subscribers' contacts to the endpoint and how many " +
            'subscribers made them (counts only; the console draws them).',
          params: z.object({ id: z.string().regex(/^c-[0-9a-f]{16}$/) }),
          response: {
            200: z.object({ hours: z.array(z.object({ hour: z.string(), contacts: z.number(), subscribers: z.number() })) }),
            404: errorSchema,
          },
        },
      },
      async (request, reply) => {
        const c = await getCandidate(own.store, request.params.id);
        if (!c) return reply.code(404).send({ error: 'not-found', message: `no candidate ${request.params.id}` });
        const to = new Date(Date.parse(c.lastDetected) + 1);
        const from = new Date(to.getTime() - parseDuration(own.settings.window) * 1000);
        const hours = await endpointActivity(flows, own.settings.scope, c, from, to);
        await own.audit.append({
          actor: principalOf(request).actor,
          measure: 'cc-detection',
          action: 'cc.candidate.activity',
          object: `candidate:${c.id}`,
          counts: { hours: hours.length },
        });
        return { hours };
      },
    );

    app.post(
      '/candidates/:id/decision',
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
        return decide(own.store, own.audit, request.params.id, request.body.action, request.body.reason, principalOf(request).actor);
      },
    );
  };
