/**
 * M6's routes, under /api/v1/measures/ddos-dns-blocking/ while M6 runs: active rules, candidates and what
 * ended with their evidence; what each resolver's dnstap delivered; names a honeypot operator reports;
 * approving and rejecting candidates.
 */
import { z } from 'zod';
import { principalOf } from '../../core/http.js';
import type { MeasureRoutes } from '../../core/registry.js';
import { listedAmplificationNames } from './amplification.js';
import type { M6Api } from './run.js';

export const ddosDnsBlockingRoutes: MeasureRoutes<M6Api> = ({
  running: { decisions, receiver, tracked, byResolver, apply, intervalMs },
}) => {
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
    /** Names that resolved in normal times beyond maxExceptions: blocked with the attack while the rule is active. */
    exceptionsLeftOut: z.number().optional(),
    /** Queries per second to the zone (or for the name) in each interval the detector flagged, oldest first (last 180). */
    rate: z.array(z.object({ at: z.string(), qps: z.number() })),
  });
  const receiverStatus = z.object({
    connections: z.number(),
    frames: z.number(),
    events: z.number(),
    dropped: z.number(),
    errors: z.record(z.string(), z.number()),
  });
  const perResolver = z.record(
    z.string(),
    z.object({
      queries: z.number(),
      responses: z.number(),
      /** dnstap frames received from it, events of its frames dropped here (any reason), its last frame. */
      frames: z.number(),
      dropped: z.number(),
      lastSeen: z.string().nullable(),
    }),
  );
  /** Per resolver identity: what reached M6 (queries, responses) beside what the receiver took and dropped of it. */
  const resolvers = () => {
    const tallies = receiver.resolvers();
    const out: Record<string, { queries: number; responses: number; frames: number; dropped: number; lastSeen: string | null }> = {};
    for (const id of new Set([...tallies.keys(), ...byResolver.keys()])) {
      const t = tallies.get(id);
      const c = byResolver.get(id);
      out[id] = {
        queries: c?.queries ?? 0,
        responses: c?.responses ?? 0,
        frames: t?.frames ?? 0,
        dropped: t?.dropped ?? 0,
        lastSeen: t?.lastSeenMs ? new Date(t.lastSeenMs).toISOString() : null,
      };
    }
    return out;
  };
  const status = () =>
    (({ connections, frames, events, dropped, errors }) => ({ connections, frames, events, dropped, errors }))(receiver.status());
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
              receiver: receiverStatus,
              /** Client queries and responses received per resolver identity (the same as GET /resolvers). */
              resolvers: perResolver,
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
          rate: decisions.rateOf(d.id).map(([at, queries]) => ({ at: iso(at)!, qps: Math.round((queries * 10_000) / intervalMs) / 10 })),
        })),
        receiver: status(),
        resolvers: resolvers(),
        trackedDomains: tracked(),
      }),
    );

    app.get(
      '/resolvers',
      {
        config: { permission: 'ddos:read' },
        schema: {
          tags,
          description:
            'dnstap loss made visible: per resolver identity, the client queries and responses M6 received since it started, ' +
            'with the dnstap frames received from it, the events of its frames dropped here and its last frame, ' +
            "to set beside the resolver's own counters (Unbound: total.num.queries of unbound-control stats_noreset; " +
            'BIND: DNSTAPsuccess and DNSTAPdropped ' +
            "of its statistics channel); the difference is what the resolver dropped. Mamori's own drops are in receiver.",
          response: { 200: z.object({ resolvers: perResolver, receiver: receiverStatus }) },
        },
      },
      async () => ({ resolvers: resolvers(), receiver: status() }),
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
