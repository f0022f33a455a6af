/**
 * M7's routes, under /api/v1/measures/infected-host-alert/ while M7 runs: reports in (a streamed upload:
 * the body is read as it arrives, never held whole), the sources, imports and the remediation report (no
 * subscriber data), alerts (subscribers: roles that may read cases, audited), the opt-out registry, the
 * per-family remediation texts, and the analysis pass on demand.
 */
import { Readable } from 'node:stream';
import { z } from 'zod';
import { errorSchema, principalOf } from '../../core/http.js';
import type { MeasureRoutes } from '../../core/registry.js';
import { ReportFormatError } from '../../ingest/reports/entry.js';
import { decompressed } from '../../ingest/reports/read.js';
import type { M7Api } from './run.js';
import { gardenRoutes } from './garden-routes.js';

const UPLOAD_TYPES = ['application/octet-stream', 'text/csv', 'application/x-ndjson', 'application/gzip'];
const subscriberId = z.string().min(1).max(200);

export const infectedHostAlertRoutes: MeasureRoutes<M7Api> =
  ({ running: { service, scanDrops, garden, gardenChoice } }) =>
  async (app) => {
    // The body is handed over as the request stream: the reports pipeline reads it with backpressure.
    app.addContentTypeParser(UPLOAD_TYPES, (_request, payload, done) => done(null, payload));

    app.get(
      '/sources',
      {
        config: { permission: 'reports:read' },
        schema: {
          tags: ['infected-host-alert'],
          description: 'The registered report sources: who supplies each and what its entries mean.',
        },
      },
      async () => ({ sources: service.sources }),
    );

    app.post(
      '/reports',
      {
        config: { permission: 'reports:import' },
        schema: {
          tags: ['infected-host-alert'],
          description:
            'Import one report, sent as application/octet-stream (or text/csv, application/x-ndjson, application/gzip): ' +
            'a Shadowserver CSV, IntelMQ JSON lines or a plain list, under a registered source.',
          querystring: z.object({
            source: z.string().min(1).max(63),
            type: z.string().min(1).max(80).optional(),
            name: z.string().min(1).max(255).optional(),
            format: z.enum(['csv', 'json']).optional(),
            origin: z.enum(['api', 'cli']).default('api'),
          }),
          response: {
            200: z.looseObject({ id: z.string(), resolved: z.number(), unresolved: z.number() }),
            415: errorSchema,
            422: errorSchema,
          },
        },
      },
      async (request, reply) => {
        const body = request.body as unknown;
        if (!(body instanceof Readable)) {
          reply.header('connection', 'close');
          return reply.code(415).send({ error: 'unsupported-media-type', message: `send the report as ${UPLOAD_TYPES.join(' or ')}` });
        }
        const q = request.query;
        // A gzip report is recognised by its first bytes whatever the content type (as a dropped file is).
        const input = decompressed(body);
        try {
          const result = await service.importReport(input, {
            source: q.source,
            reportType: q.type,
            fileName: q.name,
            format: q.format,
            origin: q.origin,
            actor: principalOf(request).actor,
          });
          return { ...result };
        } catch (err) {
          if (err instanceof ReportFormatError) {
            reply.header('connection', 'close');
            return reply.code(422).send({ error: 'report-format', message: err.message });
          }
          throw err;
        }
      },
    );

    app.get(
      '/imports',
      {
        config: { permission: 'reports:read' },
        schema: {
          tags: ['infected-host-alert'],
          querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(50) }),
        },
      },
      async (request) => ({ imports: await service.imports(request.query.limit) }),
    );

    app.post(
      '/drops/scan',
      {
        config: { permission: 'reports:import' },
        schema: { tags: ['infected-host-alert'], description: 'Import what the drop directory holds now.' },
      },
      async () => scanDrops(),
    );

    app.get(
      '/report',
      {
        config: { permission: 'reports:read' },
        schema: {
          tags: ['infected-host-alert'],
          description: 'Notices sent since a date, per family, channel and stage, and how many were remediated within 14 and 30 days.',
          querystring: z.object({ since: z.iso.datetime({ offset: true }).optional() }),
        },
      },
      async (request) => {
        const since = request.query.since ? new Date(request.query.since) : new Date(Date.now() - 90 * 86_400_000);
        return { since: since.toISOString(), rows: await service.report(since), counts: await service.counts() };
      },
    );

    app.get(
      '/alerts',
      {
        config: { permission: 'cases:read' },
        schema: {
          tags: ['infected-host-alert'],
          description: 'Alerts (subscriber, family, stage, basis, case), newest first; each read is audited.',
          querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(200) }),
        },
      },
      async (request) => {
        const alerts = await service.alerts(request.query.limit);
        await service.auditAlertRead(principalOf(request).actor, alerts.length);
        return { alerts };
      },
    );

    app.post(
      '/analyze',
      { config: { permission: 'cases:manage' }, schema: { tags: ['infected-host-alert'], description: 'Run the analysis pass now.' } },
      async () => {
        const r = await service.analyze();
        return garden ? { ...r, garden: await garden.pass() } : r;
      },
    );

    app.get(
      '/consent/:subscriber',
      {
        config: { permission: 'consent:read' },
        schema: { tags: ['infected-host-alert'], params: z.object({ subscriber: subscriberId }) },
      },
      async (request) => {
        await service.auditConsentRead(principalOf(request).actor);
        return service.choiceOf(request.params.subscriber);
      },
    );

    app.post(
      '/consent',
      {
        config: { permission: 'consent:manage' },
        schema: {
          tags: ['infected-host-alert'],
          description: 'A subscriber opts out of stage-1 alerts, or back in (member site, support desk).',
          body: z.object({
            subscriber: subscriberId,
            choice: z.enum(['opt-out', 'opt-in']),
            channel: z.enum(['member-site', 'support-desk', 'mail', 'api']).default('api'),
          }),
        },
      },
      async (request) => {
        const r = await service.setChoice(request.body.subscriber, request.body.choice, request.body.channel, principalOf(request).actor);
        // Opting out of stage-1 alerts ends a walled garden at once.
        await garden?.onChoice(request.body.subscriber);
        return r;
      },
    );

    await app.register(gardenRoutes(garden, gardenChoice));

    app.get('/remediation', { config: { permission: 'reports:read' }, schema: { tags: ['infected-host-alert'] } }, async () => ({
      texts: await service.remediationTexts(),
    }));

    app.put(
      '/remediation/:family',
      {
        config: { permission: 'notices:templates' },
        schema: {
          tags: ['infected-host-alert'],
          description: 'The remediation text notices give for one family (ja and en).',
          params: z.object({ family: z.string().regex(/^[a-z0-9._+:/-]{1,64}$/, 'a family name as reports normalise it') }),
          body: z.object({ ja: z.string().trim().min(1).max(4000), en: z.string().trim().min(1).max(4000) }),
        },
      },
      async (request) => {
        await service.setRemediation(request.params.family, request.body, principalOf(request).actor);
        return { family: request.params.family, saved: true };
      },
    );
  };
