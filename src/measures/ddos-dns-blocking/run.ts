/**
 * M6's running part: the dnstap receiver feeding both detectors, candidates
 * into the review queue (or, above the configured confidence, into automatic
 * rules), the policy zone served by its own RPZ primary and published with
 * NOTIFY on every change, a sweep that ends rules when attacks stop, and the
 * operators' routes. Every candidate, decision and rule change is audited;
 * the names handled are used for nothing but this.
 */
import { readFileSync } from 'node:fs';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AuditRecord } from '../../core/audit/log.js';
import { parseDuration } from '../../core/duration.js';
import { retentionOf } from '../../core/measure.js';
import type { MeasureContext, RunningMeasure } from '../../core/registry.js';
import { RpzPrimary } from '../../dns/primary.js';
import { primaryConfig, primaryEndpoint } from '../../dns/serving-settings.js';
import { RpzZone } from '../../dns/rpz.js';
import { DnstapReceiver } from '../../ingest/dnstap/receiver.js';
import { principalOf } from '../../api/server.js';
import { AmplificationDetector, DEFAULT_AMPLIFICATION, listedAmplificationNames } from './amplification.js';
import { BlockDecisions } from './decisions.js';
import { DEFAULT_RANDOM_SUBDOMAIN, RandomSubdomainDetector, registrableDomain } from './random-subdomain.js';
import type { DdosDnsBlockingSettings } from './settings.js';
import { countByResolver, type ResolverCounts } from './resolver-counters.js';
import { loadBaselines, loadDecisions, storeBaselines, storeDecisions } from './store.js';

const MAX_WHITELIST = 2_000_000;
const BASELINE_SAVE_MS = 60_000;

/** The whitelist: the operator's domains and a popularity list file (one a line, or "rank,domain"), as registrable domains. */
export function loadWhitelist(w: DdosDnsBlockingSettings['whitelist']): Set<string> {
  const set = new Set(w.domains.map((d) => registrableDomain(d.toLowerCase().replace(/\.$/, ''))));
  if (w.file) {
    for (const line of readFileSync(w.file, 'utf8').split(/\r?\n/)) {
      if (set.size >= MAX_WHITELIST) break;
      const name = line.trim().split(',').pop()!.trim().toLowerCase().replace(/\.$/, '');
      if (name && !name.startsWith('#') && name.includes('.')) set.add(registrableDomain(name));
    }
  }
  return set;
}

function m6Routes(
  decisions: BlockDecisions,
  receiver: DnstapReceiver,
  detectors: { tracked: () => number },
  apply: (records: AuditRecord[]) => Promise<void>,
  byResolver: ResolverCounts,
): FastifyPluginAsyncZod {
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
  });
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  return async (app) => {
    app.get(
      '/api/v1/m6/attacks',
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
              /**
               * Client queries and responses received per resolver identity: set beside the resolver's own counters, the difference is what
               * it dropped.
               */
              resolvers: z.record(z.string(), z.object({ queries: z.number(), responses: z.number() })),
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
        resolvers: Object.fromEntries(byResolver),
        trackedDomains: detectors.tracked(),
      }),
    );

    app.post(
      '/api/v1/m6/lists',
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
      '/api/v1/m6/decisions/:action',
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
}

export async function startDdosDnsBlocking(context: MeasureContext): Promise<RunningMeasure> {
  const own = await context.capabilities.ownState<DdosDnsBlockingSettings>();
  const s = own.settings;
  const intervalMs = parseDuration(s.detection.interval) * 1000;
  const zone = new RpzZone(s.zone, Math.floor(Date.now() / 1000));
  const randomSubdomains = new RandomSubdomainDetector({
    ...DEFAULT_RANDOM_SUBDOMAIN,
    intervalMs,
    minDistinct: s.detection.minDistinctNames,
    baselineFactor: s.detection.baselineFactor,
    minFailureShare: s.detection.minFailureShare,
    minRandomness: s.detection.minRandomness,
    warmUpIntervals: Math.ceil((parseDuration(s.detection.warmUp) * 1000) / intervalMs),
  });
  const amplification = new AmplificationDetector({
    ...DEFAULT_AMPLIFICATION,
    intervalMs,
    minFactor: s.detection.amplificationMinFactor,
    minSize: s.detection.amplificationMinSize,
    minCount: s.detection.amplificationMinCount,
    warmUpIntervals: Math.ceil((parseDuration(s.detection.warmUp) * 1000) / intervalMs),
  });
  const whitelist = loadWhitelist(s.whitelist);
  const decisions = new BlockDecisions(
    zone,
    {
      autoBlock: { enabled: s.autoBlock.enabled, minConfidence: s.autoBlock.minConfidence, ttlMs: parseDuration(s.autoBlock.ttl) * 1000 },
      quietAfterMs: parseDuration(s.quietAfter) * 1000,
      maxRuleMs: (context.declaration.maxActionSeconds ?? 7 * 86_400) * 1000,
      rejectForMs: parseDuration(s.rejectFor) * 1000,
      maxExceptions: s.maxExceptions,
    },
    (d) => whitelist.has(d),
    (d) => randomSubdomains.knownNames(d),
  );
  // Names are kept as long as the declaration says: the store by the retention job, this copy by the sweep.
  const keepMs = (retentionOf(context.declaration, 'dns.qname') ?? 0) * 1000;
  decisions.restore(await loadDecisions(own, keepMs / 1000));
  randomSubdomains.restore(await loadBaselines(own, keepMs / 1000));
  zone.bump();
  const primary = await RpzPrimary.start([zone], primaryConfig(s));

  const byResolver: ResolverCounts = new Map();
  let chain = Promise.resolve();
  /** Audits, then publishes the zone if it changed: one after another, in order. */
  const apply = (records: AuditRecord[]): Promise<void> => {
    chain = chain
      .then(async () => {
        for (const r of records) await own.audit.append(r);
        await storeDecisions(own, decisions.takeChanged());
        if (zone.dirty) {
          // changed() publishes the staged changes as one serial and sends NOTIFY.
          const unanswered = (await primary.changed(zone)).filter((n) => !n.answered).length;
          if (unanswered > 0)
            context.logger.warn(
              { event: 'm6.notify.unanswered', serial: zone.serial, secondaries: unanswered },
              'secondaries did not answer NOTIFY',
            );
        }
      })
      .catch((err: Error) => {
        context.logger.error(
          { event: 'm6.apply.failed', err: { type: err.name, message: err.message } },
          'M6 could not record or publish a decision',
        );
      });
    return chain;
  };
  const d = s.dnstap;
  const pem = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`M6 dnstap.tls.${what}: cannot read ${path} (${(err as Error).message})`);
    }
  };
  const receiver = await DnstapReceiver.start(
    {
      unix: d.unix,
      tcp: d.tcp,
      allow: d.allow,
      maxConnectionsPerSource: d.maxConnectionsPerSource,
      handshakeTimeoutMs: parseDuration(d.handshakeTimeout) * 1000,
      idleTimeoutMs: parseDuration(d.idleTimeout) * 1000,
      maxAheadMs: parseDuration(d.maxClockSkew.ahead) * 1000,
      maxBehindMs: parseDuration(d.maxClockSkew.behind) * 1000,
      ...(d.unixGroup !== undefined ? { unixGroup: d.unixGroup } : {}),
      ...(d.tls ? { tls: { cert: pem('cert', d.tls.cert), key: pem('key', d.tls.key), ca: pem('ca', d.tls.ca) } } : {}),
    },
    async (events, resolver) => {
      countByResolver(byResolver, events, resolver);
      const candidates = [...randomSubdomains.add(events), ...amplification.add(events)];
      if (candidates.length > 0) await apply(decisions.onCandidates(candidates, Date.now()));
    },
  );
  const sweep = setInterval(
    () => {
      decisions.forget(Date.now() - keepMs);
      void apply(decisions.sweep(Date.now()));
    },
    Math.min(intervalMs, 10_000),
  );
  sweep.unref();
  // Baselines survive a restart: a restart must not be a cold start (store.ts).
  const saveBaselines = () => {
    chain = chain
      .then(() => storeBaselines(own, randomSubdomains.snapshot()))
      .catch((err: Error) => {
        context.logger.error(
          { event: 'm6.baselines.failed', err: { type: err.name, message: err.message } },
          'M6 could not store its baselines',
        );
      });
    return chain;
  };
  const baselineTimer = setInterval(() => void saveBaselines(), BASELINE_SAVE_MS);
  baselineTimer.unref();
  context.logger.info(
    { event: 'm6.listening', dnstap: receiver.addresses, zone: zone.origin, primaryPort: primary.port, whitelist: whitelist.size },
    'M6 receiving dnstap',
  );
  return {
    endpoints: {
      rpzPrimary: primaryEndpoint(s.primary.host, primary.port),
      zone: zone.origin,
      dnstap: [...receiver.addresses.unix, ...receiver.addresses.tcp.map((t) => `${t.host}:${t.port}`)].join(' '),
    },
    routes: m6Routes(decisions, receiver, { tracked: () => randomSubdomains.tracked }, apply, byResolver),
    listeners: () => ({ 'rpz-primary': primary.listener(), dnstap: receiver.listener() }),
    async stop() {
      clearInterval(sweep);
      clearInterval(baselineTimer);
      await receiver.stop();
      await saveBaselines();
      await primary.stop();
    },
  };
}
