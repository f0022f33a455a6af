/**
 * M6's routes, under /api/v1/measures/ddos-dns-blocking/ while M6 runs: active rules, candidates and what
 * ended with their evidence; names a honeypot operator reports; approving and rejecting candidates.
 */
import { z } from 'zod';
import { principalOf } from '../../core/http.js';
import type { MeasureRoutes } from '../../core/registry.js';
import { listedAmplificationNames } from './amplification.js';
import type { M6Api } from './run.js';

export const ddosDnsBlockingRoutes: MeasureRoutes<M6Api> = ({ running: { decisions, receiver, tracked, apply } }) => {
  const tags = ['ddos-dns-blocking'];
  const decision = z.object({
    id: z.string(),
    kind: z.enum(['random-subdomain', 'amplification']),
    domain: z.string(),
    status: z.enum(['pending', 'active', 'rejected', 'whitelisted', 'ended']),
    firstSeen: z.string(),
    lastSeen: z.string(),
    confidence: z.number(),
    evidence: z.number(),
    explanation: z.object({ ja: z.string(), en: z.string() }),
    activeSince: z.string().optional(),
    expiresAt: z.string().optional(),
    by: z.string().optional(),
    reason: z.string().optional(),
    exceptions: z.array(z.string()),
  });
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  return async (app) => {
    app.get(
      '/attacks',
      {
        config: { permission: 'ddos:read' },
        schema: {
          tags,
          description: 'Active rules, candidates waiting for review, and what ended, newest first — with their evidence.',
          response: {
            200: z.object({
              decisions: z.array(decision),
              receiver: z.object({
                connections: z.number(),
                frames: z.number(),
                events: z.number(),
                dropped: z.number(),
                errors: z.record(z.string(), z.number()),
              }),
              trackedDomains: z.number(),
            }),
          },
        },
      },
      async () => ({
        decisions: decisions.list().map((d) => ({
          ...d,
          firstSeen: iso(d.firstSeen)!,
          lastSeen: iso(d.lastSeen)!,
          activeSince: iso(d.activeSince),
          expiresAt: iso(d.expiresAt),
        })),
        receiver: (({ connections, frames, events, dropped, errors }) => ({ connections, frames, events, dropped, errors }))(
          receiver.status(),
        ),
        trackedDomains: tracked(),
      }),
    );

    app.post(
      '/lists',
      {
        config: { permission: 'ddos:decide' },
        schema: {
          tags,
          description:
            'Names a honeypot operator reports as abused for amplification: ' +
            'they become candidates with ' +
            ('their source (review, whitelist and automatic rules ' + 'apply as to detected ones).'),
          body: z.object({
            source: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
            names: z
              .array(z.string().regex(/^([a-z0-9_-]{1,63}\.)+[a-z0-9-]{1,63}$/i, 'a domain name'))
              .min(1)
              .max(10_000),
            confidence: z.number().min(0).max(1).default(0.8),
          }),
        },
      },
      async (request) => {
        const candidates = listedAmplificationNames(
          request.body.names.map((n) => n.toLowerCase()),
          request.body.source,
          Date.now(),
          request.body.confidence,
        );
        await apply(decisions.onCandidates(candidates, Date.now()));
        return { candidates: candidates.length };
      },
    );

    app.post(
      '/decisions/:action',
      {
        config: { permission: 'ddos:decide' },
        schema: {
          tags,
          description: 'Approve a candidate (its rule goes to the resolvers at once) or reject it (with the reason).',
          params: z.object({ action: z.enum(['approve', 'reject']) }),
          body: z.object({
            kind: z.enum(['random-subdomain', 'amplification']).default('random-subdomain'),
            domain: z.string().min(1).max(253),
            reason: z.string().trim().min(1).max(2000).optional(),
          }),
        },
      },
      async (request, reply) => {
        const actor = principalOf(request).actor;
        const { kind, domain, reason } = request.body;
        if (request.params.action === 'reject' && !reason)
          return reply.code(400).send({ error: 'bad-request', message: 'a rejection needs its reason' });
        const record =
          request.params.action === 'approve'
            ? decisions.approve(domain, actor, Date.now(), kind)
            : decisions.reject(domain, actor, reason!, kind);
        await apply([record]);
        return { status: decisions.get(domain, kind)!.status };
      },
    );
  };
};
