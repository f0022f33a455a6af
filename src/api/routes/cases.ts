/**
 * The abuse desk's view: cases (who, what, timeline) and the notice
 * templates. Reading a case reveals a subscriber id, so every read is audited.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Mamori } from '../../app/mamori.js';
import { cdb, getCase } from '../../notify/cases.js';
import { NoticeError, render, VARIABLES } from '../../notify/notices.js';
import { errorSchema } from '../../core/http.js';
import { principalOf } from '../../core/http.js';

const caseSchema = z.object({
  id: z.string(),
  kind: z.string(),
  measure: z.string(),
  subscriber: z.string(),
  summary: z.string(),
  status: z.enum(['open', 'notified', 'closed']),
  stage: z.number(),
  assignee: z.string().nullable(),
  repeats: z.number(),
  openedAt: z.string(),
  updatedAt: z.string(),
  timeline: z.array(z.object({ at: z.string(), actor: z.string(), event: z.string(), detail: z.string().nullable() })),
});
const templateParams = z.object({ kind: z.string().regex(/^[a-z0-9-]{1,64}$/), language: z.enum(['ja', 'en']) });
const template = z.object({ subject: z.string().min(1).max(500), body: z.string().min(1).max(20_000) });

export function caseRoutes(mamori: Mamori): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/v1/cases',
      {
        config: { permission: 'cases:read' },
        schema: {
          tags: ['cases'],
          querystring: z.object({ status: z.enum(['open', 'notified', 'closed']).optional(), kind: z.string().optional() }),
          response: { 200: z.object({ cases: z.array(caseSchema.omit({ timeline: true })) }) },
        },
      },
      async (request) => {
        let q = cdb(mamori.state.db).selectFrom('cases').selectAll().orderBy('updated_at', 'desc').limit(1000);
        if (request.query.status) q = q.where('status', '=', request.query.status);
        if (request.query.kind) q = q.where('kind', '=', request.query.kind);
        const rows = await q.execute();
        await mamori.audit.append({ actor: principalOf(request).actor, action: 'cases.read', counts: { cases: rows.length } });
        return {
          cases: rows.map((r) => ({
            id: r.id,
            kind: r.kind,
            measure: r.measure,
            subscriber: r.subscriber,
            summary: r.summary,
            status: r.status as 'open',
            stage: r.stage,
            assignee: r.assignee,
            repeats: r.repeats,
            openedAt: r.opened_at,
            updatedAt: r.updated_at,
          })),
        };
      },
    );

    app.get(
      '/api/v1/cases/:id',
      {
        config: { permission: 'cases:read' },
        schema: {
          tags: ['cases'],
          params: z.object({ id: z.string().regex(/^case-[0-9a-f]{16}$/) }),
          response: { 200: caseSchema, 404: errorSchema },
        },
      },
      async (request, reply) => {
        const c = await getCase(mamori.state, request.params.id);
        if (!c) return reply.code(404).send({ error: 'not-found', message: `no case ${request.params.id}` });
        await mamori.audit.append({
          actor: principalOf(request).actor,
          measure: c.measure,
          action: 'case.read',
          object: `case:${c.id}`,
          caseId: c.id,
        });
        return c;
      },
    );

    app.post(
      '/api/v1/cases/:id',
      {
        config: { permission: 'cases:manage' },
        schema: {
          tags: ['cases'],
          params: z.object({ id: z.string().regex(/^case-[0-9a-f]{16}$/) }),
          body: z.object({
            assignee: z.string().trim().min(1).max(100).optional(),
            status: z.enum(['open', 'closed']).optional(),
            note: z.string().trim().min(1).max(2000).optional(),
          }),
          response: { 200: caseSchema, 404: errorSchema },
        },
      },
      async (request, reply) => {
        const c = await getCase(mamori.state, request.params.id);
        if (!c) return reply.code(404).send({ error: 'not-found', message: `no case ${request.params.id}` });
        const actor = principalOf(request).actor;
        const { assignee, status, note } = request.body;
        await mamori.audit.withAudit(
          { actor, measure: c.measure, action: 'case.update', object: `case:${c.id}`, caseId: c.id },
          async (tx) => {
            const now = new Date().toISOString();
            const s = cdb(tx);
            if (assignee !== undefined) await s.updateTable('cases').set({ assignee, updated_at: now }).where('id', '=', c.id).execute();
            if (status !== undefined) await s.updateTable('cases').set({ status, updated_at: now }).where('id', '=', c.id).execute();
            for (const [event, detail] of [
              ['assigned', assignee],
              ['status', status],
              ['note', note],
            ] as const) {
              if (detail !== undefined)
                await s.insertInto('case_events').values({ case_id: c.id, at: now, actor, event, detail }).execute();
            }
          },
        );
        return (await getCase(mamori.state, c.id))!;
      },
    );

    app.get(
      '/api/v1/notices/templates',
      {
        config: { permission: 'cases:read' },
        schema: {
          tags: ['notices'],
          description: "Every case kind's notice in Japanese and English: the edited text (who saved it, when) or the built-in one.",
          response: {
            200: z.object({
              templates: z.array(
                template.extend({
                  kind: z.string(),
                  language: z.enum(['ja', 'en']),
                  edited: z.object({ at: z.string(), by: z.string() }).nullable(),
                }),
              ),
              variables: z.array(z.string()),
            }),
          },
        },
      },
      async () => ({ templates: await mamori.notices.templates(), variables: [...VARIABLES] }),
    );

    app.get(
      '/api/v1/notices/templates/:kind/:language',
      {
        config: { permission: 'cases:read' },
        schema: {
          tags: ['notices'],
          params: templateParams,
          response: { 200: template.extend({ variables: z.array(z.string()) }), 404: errorSchema },
        },
      },
      async (request, reply) => {
        try {
          return { ...(await mamori.notices.template(request.params.kind, request.params.language)), variables: [...VARIABLES] };
        } catch (err) {
          if (err instanceof NoticeError) return reply.code(404).send({ error: 'not-found', message: err.message });
          throw err;
        }
      },
    );

    app.put(
      '/api/v1/notices/templates/:kind/:language',
      {
        config: { permission: 'notices:templates' },
        schema: { tags: ['notices'], params: templateParams, body: template, response: { 204: z.null(), 400: errorSchema } },
      },
      async (request, reply) => {
        try {
          await mamori.notices.saveTemplate(request.params.kind, request.params.language, request.body, principalOf(request).actor);
          return reply.code(204).send(null);
        } catch (err) {
          if (err instanceof NoticeError) return reply.code(400).send({ error: 'bad-template', message: err.message });
          throw err;
        }
      },
    );

    app.post(
      '/api/v1/notices/templates/preview',
      {
        config: { permission: 'cases:read' },
        schema: {
          tags: ['notices'],
          description: 'Renders a template (or an unsaved draft) with sample values; nothing is sent.',
          body: z.object({
            kind: z.string().regex(/^[a-z0-9-]{1,64}$/),
            language: z.enum(['ja', 'en']),
            draft: template.optional(),
            variables: z.partialRecord(z.enum(VARIABLES), z.string().max(5000)).default({}),
          }),
          response: { 200: template, 400: errorSchema },
        },
      },
      async (request, reply) => {
        try {
          const t = request.body.draft ?? (await mamori.notices.template(request.body.kind, request.body.language));
          return render(t, request.body.variables);
        } catch (err) {
          if (err instanceof NoticeError) return reply.code(400).send({ error: 'bad-template', message: err.message });
          throw err;
        }
      },
    );
  };
}
