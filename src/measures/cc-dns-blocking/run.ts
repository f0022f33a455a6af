/**
 * M3's running part: the RPZ primary serving the opt-out zone and the `cc`
 * zone (opt-out first: the first zone that matches decides), the accounting
 * feed moving opted-out subscribers' addresses into the opt-out zone, and the
 * routes — C&C entries and list imports for analysts, the consent registry for
 * the support desk and the member site, resolver set-up for the DNS team.
 * Every change is published as a new serial with NOTIFY at once; an opt-out
 * reaches the resolvers in well under the 60 s allowed (a second with BIND's
 * min-update-interval at 1; see BENCHMARKS.md).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { MeasureContext, RunningMeasure } from '../../core/registry.js';
import type { SessionEvent } from '../../ingest/radius/apply.js';
import { RpzPrimary } from '../../dns/primary.js';
import { primaryConfig, primaryEndpoint } from '../../dns/serving-settings.js';
import type { RpzZone } from '../../dns/rpz.js';
import {
  bindConfig,
  knotResolverConfig,
  masterFile,
  pdnsRecursorConfig,
  unboundConfig,
  type ResolverConfigInput,
} from '../../dns/resolver-config.js';
import { principalOf } from '../../api/server.js';
import { REST_BODY_LIMIT, restAttribute, restBody } from '../../ingest/radius/rest.js';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { CaseApi } from '../../notify/cases.js';
import { noticeTime, type Notifier } from '../../notify/notices.js';
import type { SubscriberLookup } from '../../subscriber/service.js';
import { parseBlockedLine, readNewLines, type BlockedQuery } from './resolver-log.js';
import { CcDnsBlocking, CHANNELS, M3InputError } from './service.js';
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

function m3Routes(
  service: CcDnsBlocking,
  settings: CcDnsBlockingSettings,
  publish: (zone: RpzZone) => Promise<void>,
  resolverInput: () => ResolverConfigInput,
): FastifyPluginAsyncZod {
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
      '/api/v1/m3/entries',
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
      '/api/v1/m3/entries',
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
      '/api/v1/m3/entries/:id/withdraw',
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
      '/api/v1/m3/lists',
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
        return { ...r, skipped: r.skipped.slice(0, 100), skippedCount: r.skipped.length };
      },
    );

    app.get(
      '/api/v1/m3/consent/:subscriber',
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
      '/api/v1/m3/consent/:subscriber',
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
      '/aaa/v1/m3/post-auth',
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
      '/api/v1/m3/blocked',
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
      '/api/v1/m3/resolver-config/:resolver',
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
      '/api/v1/m3/zones/:zone',
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
}

export async function startCcDnsBlocking(context: MeasureContext): Promise<RunningMeasure> {
  const own = await context.capabilities.ownState<CcDnsBlockingSettings>();
  const feed = await context.capabilities.action<{ subscribe(l: (e: SessionEvent) => void): () => void; current(): SessionEvent[] }>(
    'accounting-feed',
  );
  const s = own.settings;
  const lookup = await context.capabilities.action<SubscriberLookup>('subscriber-lookup');
  const cases = await context.capabilities.action<CaseApi>('cases');
  const notifier = await context.capabilities.action<Notifier>('notifier');
  const service = new CcDnsBlocking(own);
  await service.load();
  service.optOut.seed(feed.current());
  service.optOut.flush();
  service.cc.bump();
  service.optOutZone.bump();
  const primary = await RpzPrimary.start([service.optOutZone, service.cc], primaryConfig(s));

  const publish = async (zone: RpzZone) => {
    if (!zone.dirty) return;
    // changed() publishes the staged changes as one serial and sends NOTIFY.
    const results = await primary.changed(zone);
    const silent = results.filter((r) => !r.answered).length;
    if (silent > 0)
      context.logger.warn(
        { event: 'm3.notify.unanswered', zone: zone.origin, serial: zone.serial, secondaries: silent },
        'secondaries did not answer NOTIFY; they will find the change at the next SOA refresh',
      );
  };
  const guard = (what: string, fn: () => Promise<void>) => () => {
    fn().catch((err: Error) =>
      context.logger.error({ event: `m3.${what}.failed`, err: { type: err.name, message: err.message } }, `M3 ${what} failed`),
    );
  };
  const unsubscribe = feed.subscribe((e) => service.optOut.onSession(e));
  // Sessions come and go all the time: their changes are gathered and published twice a second.
  const optOutTimer = setInterval(
    guard('opt-out', async () => {
      if (service.optOut.flush()) await publish(service.optOutZone);
    }),
    500,
  );
  // Entries expire by time: the cc zone follows their validity every minute.
  const validityTimer = setInterval(
    guard('validity', async () => {
      if (await service.refreshCc()) await publish(service.cc);
    }),
    60_000,
  );
  optOutTimer.unref();
  validityTimer.unref();

  // What the resolvers blocked: counted, and each blocked subscriber told once a day. The client
  // address and the name asked live only in this pass. A bounded memory of recent lookups keeps a
  // busy infected device from costing a lookup per query; it holds keyed hashes (a key that lives
  // only in this process), not addresses.
  const told = new Map<string, number>();
  const toldKey = randomBytes(32);
  const tell = async (q: BlockedQuery) => {
    const now = Date.now();
    const who = createHmac('sha256', toldKey).update(q.client).digest('base64');
    if ((told.get(who) ?? 0) > now - 86_400_000) return;
    if (told.size >= 100_000) for (const [k, t] of told) if (t <= now - 86_400_000 || told.size >= 100_000) told.delete(k);
    told.set(who, now);
    const reference = `m3-${randomUUID()}`;
    const answer = await lookup.lookup({ caseId: reference, address: q.client, at: q.at });
    if (!answer.found) return;
    const { case: c, created } = await cases.open({
      kind: 'cc-blocking',
      subscriber: answer.subscriber,
      summary: 'C&Cドメインの名前解決を遮断 / resolution of a C&C domain blocked',
      at: q.at,
    });
    await cases.note(c.id, 'lookup', reference);
    if (!created) return;
    try {
      await notifier.notify(c.id, { detectionTime: noticeTime(q.at), ...s.notice });
    } catch (err) {
      await cases.note(c.id, 'notice:not-sent', (err as Error).message);
    }
  };
  const zones = [service.cc.origin, service.optOutZone.origin];
  const readLogs = async () => {
    for (const log of s.resolverLogs) {
      const cursor = await service.logCursor(log.name);
      const got = readNewLines(log.path, cursor);
      // Nothing new (the usual second): no write.
      if (!got || (got.cursor.inode === cursor?.inode && got.cursor.offset === cursor.offset)) continue;
      const blocked = got.lines
        .map((l) => parseBlockedLine(l, log.format, zones))
        .filter((q): q is BlockedQuery => q !== undefined && q.zone === service.cc.origin);
      // Resolvers name the rule by the name asked (a subdomain matches the entry's wildcard): count by entry.
      for (const q of blocked) q.rule = service.listedName(q.rule) ?? q.rule;
      await service.countBlocked(log.name, blocked, got.cursor);
      for (const q of blocked) await tell(q);
    }
  };
  let reading: Promise<void> | undefined;
  const logTimer = setInterval(() => {
    reading ??= readLogs()
      .catch((err: Error) => {
        context.logger.error(
          { event: 'm3.resolver-log.failed', err: { type: err.name, message: err.message } },
          'M3 could not read a resolver log',
        );
      })
      .finally(() => {
        reading = undefined;
      });
  }, 1000);
  logTimer.unref();

  const resolverInput = (): ResolverConfigInput => ({
    zones: [service.optOutZone.origin, service.cc.origin],
    primary: { address: s.primary.host, port: primary.port },
    ...(s.tsig[0]
      ? { tsig: { name: s.tsig[0].name, secretBase64: '<the secret configured as measures.cc-dns-blocking.tsig[0].secret>' } }
      : {}),
  });
  return {
    endpoints: { rpzPrimary: primaryEndpoint(s.primary.host, primary.port), zones: `${service.optOutZone.origin} ${service.cc.origin}` },
    routes: m3Routes(service, s, publish, resolverInput),
    listeners: () => ({ 'rpz-primary': primary.listener() }),
    async stop() {
      clearInterval(optOutTimer);
      clearInterval(validityTimer);
      clearInterval(logTimer);
      await reading;
      unsubscribe();
      await primary.stop();
    },
  };
}
