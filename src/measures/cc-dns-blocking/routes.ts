/**
 * M3's routes, under /api/v1/measures/cc-dns-blocking/ while M3 runs: C&C entries and list imports for
 * analysts, the consent registry for the support desk and the member site, resolver set-up for the DNS
 * team, blocked-query counts, and the AAA's post-auth call (FreeRADIUS rlm_rest).
 */
import { z } from 'zod';
import { principalOf, skippedReply } from '../../core/http.js';
import type { MeasureRoutes } from '../../core/registry.js';
import { bindConfig, knotResolverConfig, masterFile, pdnsRecursorConfig, unboundConfig } from '../../dns/resolver-config.js';
import { REST_BODY_LIMIT, restAttribute, restBody } from '../../ingest/radius/rest.js';
import type { M3Api } from './run.js';
import { CHANNELS, M3InputError } from './service.js';
import type { CcDnsBlockingSettings } from './settings.js';

const RESOLVERS = ['bind', 'unbound', 'pdns-recursor', 'knot-resolver'] as const;

/**
 * Reply attributes that give a PPPoE/IPoE session the unfiltered resolvers:
 * MS-Primary/Secondary-DNS-Server (RFC 2548, what BRASes hand out over IPCP)
 * and DNS-Server-IPv6-Address (RFC 6911).
 */
export function unfilteredResolverReply(r: CcDnsBlockingSettings['unfilteredResolvers']): Record<string, string | string[]> {
  const reply: Record<string, string | string[]> = {};
  if (r.ipv4[0]) reply['reply:MS-Primary-DNS-Server'] = r.ipv4[0];
  if (r.ipv4[1]) reply['reply:MS-Secondary-DNS-Server'] = r.ipv4[1];
  if (r.ipv6.length > 0) reply['reply:DNS-Server-IPv6-Address'] = r.ipv6;
  return reply;
}

export const ccDnsBlockingRoutes: MeasureRoutes<M3Api> = ({ running: { service, settings, publish, resolverInput } }) => {
  const tags = ['cc-dns-blocking'];
  const entry = z.object({
    id: z.number(),
    name: z.string(),
    source: z.string(),
    addedBy: z.string(),
    reason: z.string().nullable(),
    validFrom: z.string(),
    validUntil: z.string(),
    withdrawnAt: z.string().nullable(),
    active: z.boolean(),
  });
  const consent = z.object({
    subscriber: z.string(),
    blocked: z.boolean(),
    choice: z.enum(['opt-out', 'opt-in', 'contract-default']),
    channel: z.enum(CHANNELS).nullable(),
    at: z.string().nullable(),
  });
  const refreshCc = async () => {
    if (await service.refreshCc()) await publish(service.cc);
  };
  return async (app) => {
    app.setErrorHandler((err, _request, reply) => {
      if (err instanceof M3InputError) return reply.code(400).send({ error: 'bad-request', message: err.message });
      throw err;
    });

    app.get(
      '/entries',
      {
        config: { permission: 'blocklist:read' },
        schema: {
          tags,
          querystring: z.object({
            source: z.string().optional(),
            active: z.coerce.boolean().optional(),
            limit: z.coerce.number().int().min(1).max(10_000).optional(),
          }),
          response: {
            200: z.object({ entries: z.array(entry), zone: z.object({ origin: z.string(), serial: z.number(), names: z.number() }) }),
          },
        },
      },
      async (request) => ({
        entries: await service.entries(request.query),
        zone: { origin: service.cc.origin, serial: service.cc.serial, names: service.blockedNames },
      }),
    );

    app.post(
      '/entries',
      {
        config: { permission: 'blocklist:manage' },
        schema: {
          tags,
          description: 'An analyst entry: the name and its subdomains are blocked.',
          body: z.object({ name: z.string().min(1).max(253), reason: z.string().trim().min(1).max(2000), validFor: z.string().optional() }),
          response: { 201: entry },
        },
      },
      async (request, reply) => {
        const e = await service.addEntry({ ...request.body, actor: principalOf(request).actor });
        await refreshCc();
        return reply.code(201).send(e);
      },
    );

    app.post(
      '/entries/:id/withdraw',
      {
        config: { permission: 'blocklist:manage' },
        schema: {
          tags,
          params: z.object({ id: z.coerce.number().int() }),
          body: z.object({ reason: z.string().trim().min(1).max(2000) }),
          response: { 200: z.object({ withdrawn: z.boolean() }) },
        },
      },
      async (request) => {
        const withdrawn = await service.withdraw(request.params.id, principalOf(request).actor, request.body.reason);
        await refreshCc();
        return { withdrawn };
      },
    );

    app.post(
      '/lists',
      {
        config: { permission: 'blocklist:manage' },
        schema: {
          tags,
          description:
            'Imports a list of C&C names (one a line, or hosts-file lines): whole or not at all; bad lines are reported with their number.',
          body: z.object({
            source: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'a source name: letters, digits, ".", "_" or "-"'),
            format: z.enum(['domains', 'hosts']).default('domains'),
            text: z.string().max(64 << 20),
            validFor: z.string().optional(),
          }),
        },
      },
      async (request) => {
        const r = await service.importList(request.body.text, { ...request.body, actor: principalOf(request).actor });
        await refreshCc();
        return { ...r, ...skippedReply(r.skipped) };
      },
    );

    app.get(
      '/consent/:subscriber',
      {
        config: { permission: 'consent:read' },
        schema: {
          tags,
          params: z.object({ subscriber: z.string().min(1).max(253) }),
          response: {
            200: consent.extend({
              history: z.array(
                z.object({ choice: z.enum(['opt-out', 'opt-in']), channel: z.enum(CHANNELS), actor: z.string(), at: z.string() }),
              ),
            }),
          },
        },
      },
      async (request) => {
        await service.auditConsentRead(request.params.subscriber, principalOf(request).actor);
        return { ...(await service.choiceOf(request.params.subscriber)), history: await service.history(request.params.subscriber) };
      },
    );

    app.put(
      '/consent/:subscriber',
      {
        config: { permission: 'consent:manage' },
        schema: {
          tags,
          description: 'The subscriber opts out (never filtered) or back in. Reaches the resolvers at once (NOTIFY, IXFR).',
          params: z.object({ subscriber: z.string().min(1).max(253) }),
          body: z.object({ choice: z.enum(['opt-out', 'opt-in']), channel: z.enum(CHANNELS) }),
          response: { 200: consent },
        },
      },
      async (request) => {
        const r = await service.setChoice(request.params.subscriber, request.body.choice, request.body.channel, principalOf(request).actor);
        if (service.optOut.flush()) await publish(service.optOutZone);
        return r;
      },
    );

    app.post(
      '/aaa/post-auth',
      {
        config: { permission: 'aaa:rest' },
        bodyLimit: REST_BODY_LIMIT,
        schema: {
          tags,
          description:
            'For FreeRADIUS rlm_rest in post-auth: an opted-out ' +
            'subscriber gets the unfiltered resolvers ' +
            ('as reply attributes (200); everyone else 204 (the ' + 'BRAS default: the filtering resolvers).'),
          body: restBody,
        },
      },
      async (request, reply) => {
        const account = restAttribute(request.body, 'User-Name');
        if (!account) return reply.code(400).send({ error: 'bad-request', message: 'no User-Name in the request' });
        const attributes = unfilteredResolverReply(settings.unfilteredResolvers);
        if (Object.keys(attributes).length === 0) return reply.code(204).send();
        const choice = await service.choiceOf(account);
        return choice.blocked ? reply.code(204).send() : reply.code(200).send(attributes);
      },
    );

    app.get(
      '/blocked',
      {
        config: { permission: 'blocklist:read' },
        schema: {
          tags,
          description: "Blocked queries per day, zone, listed name and resolver, from the resolvers' logs (no client, no subscriber).",
          querystring: z.object({ from: z.string().regex(/^\d{4}-\d{2}-\d{2}$/), to: z.string().regex(/^\d{4}-\d{2}-\d{2}$/) }),
          response: {
            200: z.object({
              counts: z.array(z.object({ day: z.string(), zone: z.string(), rule: z.string(), resolver: z.string(), count: z.number() })),
            }),
          },
        },
      },
      async (request) => ({ counts: await service.blockedCounts(request.query.from, request.query.to) }),
    );

    app.get(
      '/resolver-config/:resolver',
      {
        config: { permission: 'blocklist:read' },
        schema: {
          tags,
          description: "Copy-paste configuration for the resolver, with this installation's zones, primary and key name.",
          params: z.object({ resolver: z.enum(RESOLVERS) }),
        },
      },
      async (request, reply) => {
        const input = resolverInput();
        const text =
          request.params.resolver === 'bind'
            ? bindConfig(input)
            : request.params.resolver === 'unbound'
              ? unboundConfig(input)
              : request.params.resolver === 'pdns-recursor'
                ? pdnsRecursorConfig(input)
                : knotResolverConfig(input, (z) => `/var/lib/knot-resolver/${z}.zone`);
        return reply.type('text/plain; charset=utf-8').send(text);
      },
    );

    app.get(
      '/zones/:zone',
      {
        config: { permission: 'blocklist:read' },
        schema: {
          tags,
          description: 'A policy zone as a master file (Knot Resolver reads RPZ from files).',
          params: z.object({ zone: z.enum(['cc', 'opt-out']) }),
        },
      },
      async (request, reply) =>
        reply.type('text/dns; charset=utf-8').send(masterFile(request.params.zone === 'cc' ? service.cc : service.optOutZone)),
    );
  };
};
