/** The audit log for auditors: read, verify, anchor. Reading the audit log is itself audited. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Mamori } from '../../app/mamori.js';
import { auditEntrySchema } from '../../core/audit/chain.js';
import type { Metrics } from '../../core/metrics.js';
import { principalOf } from '../../core/http.js';

const isoTime = z.string().datetime({ offset: true });
export function auditRoutes(mamori: Mamori, metrics: Metrics): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/v1/audit/entries',
      {
        config: { permission: 'audit:read' },
        schema: {
          tags: ['audit'],
          querystring: z.object({
            from: isoTime.optional(),
            to: isoTime.optional(),
            afterSeq: z.coerce.number().int().min(0).default(0),
            limit: z.coerce.number().int().min(1).max(5000).default(500),
            /** Only entries of this action (e.g. share.deliver, for what recipients pulled). */
            action: z
              .string()
              .regex(/^[a-z0-9.:-]{1,100}$/)
              .optional(),
          }),
          response: { 200: z.object({ entries: z.array(auditEntrySchema), nextAfterSeq: z.number().nullable() }) },
        },
      },
      async (request) => {
        const { from, to, afterSeq, limit, action } = request.query;
        const entries = [];
        for await (const e of mamori.audit.entries({ afterSeq, ...(from ? { from } : {}), ...(to ? { to } : {}) }, limit)) {
          if (action && e.action !== action) continue;
          entries.push(e);
          if (entries.length === limit) break;
        }
        await mamori.audit.append({ actor: principalOf(request).actor, action: 'audit.read', counts: { entries: entries.length } });
        return { entries, nextAfterSeq: entries.length === limit ? entries[entries.length - 1]!.seq : null };
      },
    );

    app.get(
      '/api/v1/audit/verify',
      {
        config: { permission: 'audit:read' },
        schema: {
          tags: ['audit'],
          response: {
            200: z.object({
              ok: z.boolean(),
              checked: z.number(),
              lastSeq: z.number().nullable(),
              anchorsChecked: z.number(),
              problems: z.array(z.object({ seq: z.number().nullable(), problem: z.string() })),
              warnings: z.array(z.string()),
            }),
          },
        },
      },
      async (request) => {
        // With a signing key, the anchors' signatures are checked with its public half.
        const pub = mamori.audit.publicKey;
        const r = await mamori.audit.verify(undefined, pub ? { publicKey: pub, anchorEvery: mamori.config.audit.anchorEvery } : {});
        await mamori.audit.append({
          actor: principalOf(request).actor,
          action: 'audit.verify',
          counts: { checked: r.checked, problems: r.problems.length },
          outcome: r.ok ? 'ok' : 'error',
        });
        return {
          ok: r.ok,
          checked: r.checked,
          lastSeq: r.lastSeq,
          anchorsChecked: r.anchorsChecked,
          problems: r.problems.map((p) => ({ seq: p.seq, problem: p.problem })),
          warnings: r.warnings,
        };
      },
    );

    app.get(
      '/api/v1/audit/anchors',
      {
        config: { permission: 'audit:read' },
        schema: {
          tags: ['audit'],
          response: {
            200: z.object({
              chainId: z.string(),
              anchors: z.array(z.object({ seq: z.number(), hash: z.string(), ts: z.string(), sig: z.string().optional() })),
            }),
          },
        },
      },
      async () => ({ chainId: mamori.audit.chainId, anchors: (await mamori.audit.anchors()).anchors }),
    );

    app.post(
      '/api/v1/audit/anchor',
      {
        config: { permission: 'audit:anchor' },
        schema: { tags: ['audit'], response: { 200: z.object({ seq: z.number(), hash: z.string(), ts: z.string() }) } },
      },
      async (request) => {
        const a = await mamori.audit.anchor(principalOf(request).actor);
        metrics.auditAnchorSeq.set(a.seq);
        return { seq: a.seq, hash: a.hash, ts: a.ts };
      },
    );
  };
}
