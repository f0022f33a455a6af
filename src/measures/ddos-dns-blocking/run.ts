/**
 * M6's running part: the dnstap receiver feeding both detectors, candidates
 * into the review queue (or, above the configured confidence, into automatic
 * rules), the policy zone served by the core's RPZ primary and published with
 * NOTIFY on every change, a sweep that ends rules when attacks stop, and what
 * the operators' routes (routes.ts) work on. Every candidate, decision and rule change is audited;
 * the names handled are used for nothing but this.
 */
import type { AuditRecord } from '../../core/audit/log.js';
import { parseDuration } from '../../core/duration.js';
import { retentionOf } from '../../core/measure.js';
import type { MeasureContext, RunningMeasure } from '../../core/registry.js';
import type { PolicyZoneWriter } from '../../dns/policy-zones.js';
import { RpzZone } from '../../dns/rpz.js';
import type { DnstapInput, DnstapReceiver } from '../../ingest/dnstap/receiver.js';
import { AmplificationDetector, DEFAULT_AMPLIFICATION } from './amplification.js';
import { BlockDecisions } from './decisions.js';
import { DEFAULT_RANDOM_SUBDOMAIN, RandomSubdomainDetector, registrableDomain } from './random-subdomain.js';
import { countByResolver, type ResolverCounts } from './resolver-counters.js';
import type { DdosDnsBlockingSettings } from './settings.js';
import { loadBaselines, loadDecisions, storeBaselines, storeDecisions } from './tables.js';

const MAX_WHITELIST = 2_000_000;
const BASELINE_SAVE_MS = 60_000;

/**
 * The whitelist: the operator's domains and a popularity list file (one a line, or "rank,domain"), as registrable
 * domains. The file's text is read by the core (`settingsFile`).
 */
export function loadWhitelist(w: DdosDnsBlockingSettings['whitelist'], fileText?: string): Set<string> {
  const set = new Set(w.domains.map((d) => registrableDomain(d.toLowerCase().replace(/\.$/, ''))));
  if (fileText !== undefined) {
    for (const line of fileText.split(/\r?\n/)) {
      if (set.size >= MAX_WHITELIST) break;
      const name = line.trim().split(',').pop()!.trim().toLowerCase().replace(/\.$/, '');
      if (name && !name.startsWith('#') && name.includes('.')) set.add(registrableDomain(name));
    }
  }
  return set;
}

/** What M6's routes (routes.ts) work on. */
export interface M6Api {
  decisions: BlockDecisions;
  receiver: DnstapReceiver;
  tracked(): number;
  /** Client queries and responses received per resolver identity (resolver-counters.ts). */
  byResolver: ResolverCounts;
  /** Audits the records, stores the changed decisions and publishes the zone if it changed. */
  apply(records: AuditRecord[]): Promise<void>;
  /** The detectors' interval: a decision's rate is queries per interval. */
  intervalMs: number;
}

export async function startDdosDnsBlocking(context: MeasureContext): Promise<RunningMeasure<M6Api>> {
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
  const whitelist = loadWhitelist(
    s.whitelist,
    s.whitelist.file ? (await context.capabilities.settingsFile(s.whitelist.file)).toString('utf8') : undefined,
  );
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
  const served = await (await context.capabilities.action<PolicyZoneWriter>('policy-zone-writer')).serve(zone, { refresh: s.refresh });

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
          const unanswered = (await served.changed()).filter((n) => !n.answered).length;
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
  const pem = (path: string) => context.capabilities.settingsFile(path);

  // The core's dnstap receiver, granted because M6 declares the names queried; M6's settings say where it listens.
  const dnstap = await context.capabilities.action<DnstapInput>('dnstap-input');
  const receiver = await dnstap.start(
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
      ...(d.tls ? { tls: { cert: await pem(d.tls.cert), key: await pem(d.tls.key), ca: await pem(d.tls.ca) } } : {}),
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
      randomSubdomains.forgetNames(Date.now() - keepMs);
      void apply(decisions.sweep(Date.now()));
    },
    Math.min(intervalMs, 10_000),
  );
  sweep.unref();
  // Baselines survive a restart: a restart must not be a cold start (tables.ts).
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
    { event: 'm6.listening', dnstap: receiver.addresses, zone: zone.origin, primaryPort: served.port, whitelist: whitelist.size },
    'M6 receiving dnstap',
  );
  return {
    endpoints: {
      rpzPrimary: served.endpoint,
      zone: zone.origin,
      dnstap: [...receiver.addresses.unix, ...receiver.addresses.tcp.map((t) => `${t.host}:${t.port}`)].join(' '),
    },
    api: { decisions, receiver, tracked: () => randomSubdomains.tracked, byResolver, apply, intervalMs },
    listeners: () => ({ dnstap: receiver.listener() }),
    async stop() {
      clearInterval(sweep);
      clearInterval(baselineTimer);
      await receiver.stop();
      await saveBaselines();
      served.withdraw();
    },
  };
}
