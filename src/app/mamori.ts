/**
 * One Mamori instance: configuration, stores, audit log, measure registry,
 * datasets and the capability broker, opened in that order and closed in
 * reverse. The server and the CLI both start from here.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Migration } from 'kysely';
import { ALL_MEASURES } from '../measures/index.js';
import { FLOW_DATASET, ensureFlowTable } from '../ingest/flow/dataset.js';
import { openChdbStore } from '../store/analytics/chdb.js';
import type { AnalyticsStore } from '../store/analytics/store.js';
import { openSqliteStateStore } from '../store/state/store.js';
import { Accounts } from '../core/accounts.js';
import { MamoriError } from '../core/errors.js';
import { AuditLog } from '../core/audit/log.js';
import { loadSigningKey } from '../core/audit/signing.js';
import { CapabilityBroker, type CapabilityProviders } from '../core/capabilities.js';
import { resolvePaths, type Config } from '../core/config.js';
import { DatasetRegistry } from '../core/datasets.js';
import { parseDuration } from '../core/duration.js';
import { MeasureRegistry, type MeasureModule } from '../core/registry.js';
import type { CoreInstance } from '../core/instance.js';
import { assignmentDatasets, assignmentRetentionSeconds, SubscriberService, subscriberMigrations } from '../subscriber/service.js';
import { detailMigrations } from '../ingest/radius/detail.js';
import { CASE_DATASETS, caseMigrations, casesFor } from '../notify/cases.js';
import { NOTICE_DATASETS, noticeMigrations, notifierFor, Notices } from '../notify/notices.js';
import { flowImportMigrations } from '../ingest/flow/import-registry.js';
import { PolicyZones } from '../dns/policy-zones.js';
import { sharerFor } from '../share/sharer.js';
import { AuthGate } from '../ingest/radius/auth-gate.js';
import { sendDisconnect, type Disconnector } from '../ingest/radius/disconnect.js';
import { DnstapReceiver, type DnstapInput } from '../ingest/dnstap/receiver.js';
import { RESOLVER_LOG_INPUT } from '../dns/resolver-log.js';
import { REPORT_DROP_INPUT } from '../ingest/reports/drop.js';
import { GARDEN_PAGE_INPUT } from '../notify/garden-page.js';

export interface Mamori extends CoreInstance {
  /** The IP-assignment index and its audited lookup. */
  readonly subscribers: SubscriberService;
  /** Contacts, templates and the delivery queue of notices. */
  readonly notices: Notices;
  /** The one RPZ primary and the policy zones measures serve from it. */
  readonly policyZones: PolicyZones;
  /** The AAA's authorize and post-auth calls: events to the auth-feed, suspensions from the auth-suspender. */
  readonly authGate: AuthGate;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Told when an anchor taken by entry count fails (the server logs it). */
  onAnchorError?: (err: Error) => void;
  /** Open the analytics engine too (the server does; most CLI commands need not). */
  analytics?: boolean;
  measures?: readonly MeasureModule[];
  /**
   * Providers added to (or put in place of) the core's own; as a function, given the core's, so that the server can
   * put its inputs in front of them (the RADIUS server listens while a lookup or an accounting feed is held).
   */
  providers?: CapabilityProviders | ((core: Readonly<CapabilityProviders>) => CapabilityProviders);
  /** Start a new data directory when there is none (default). Without, a missing state store is a NoStoreError. */
  create?: boolean;
}

/** A command that needs an instance found none where the configuration points. */
export class NoStoreError extends MamoriError {
  static override readonly code = 'no-store';
  static override readonly status = 503;
}

export async function openMamori(config: Config, options: OpenOptions = {}): Promise<Mamori> {
  // The registry checks the measure settings before any file is touched.
  const registry = new MeasureRegistry(options.measures ?? ALL_MEASURES, config.measures, config.configDir);
  const paths = resolvePaths(config);
  if (options.create === false && !existsSync(paths.statePath)) {
    const where = config.configDir
      ? `dataDir of the configuration in ${config.configDir}`
      : 'no -c given: embedded defaults, ./data in the current directory';
    throw new NoStoreError(
      `no Mamori data at ${paths.dataDir} (${where}): ${paths.statePath} does not exist. ` +
        'Give -c with the configuration of the instance, or start it once with `mamori serve` to create it.',
    );
  }
  const signer = config.audit.signingKeyFile ? loadSigningKey(config.audit.signingKeyFile, paths.dataDir) : undefined;
  mkdirSync(paths.dataDir, { recursive: true, mode: 0o750 });
  const core = { ...subscriberMigrations, ...detailMigrations, ...flowImportMigrations, ...caseMigrations, ...noticeMigrations };
  const migrations = Object.assign(core, ...(options.measures ?? ALL_MEASURES).map((m) => m.migrations ?? {})) as Record<string, Migration>;
  const state = await openSqliteStateStore(paths.statePath, { busyTimeoutMs: parseDuration(config.state.busyTimeout) * 1000, migrations });
  let analytics: AnalyticsStore | undefined;
  try {
    analytics = options.analytics ? await openChdbStore(paths.analyticsPath) : undefined;
  } catch (err) {
    await state.close();
    throw err;
  }
  const audit = await AuditLog.open(state, paths.anchorFile, {
    every: config.audit.anchorEvery,
    ...(signer ? { signer } : {}),
    ...(options.onAnchorError ? { onError: options.onAnchorError } : {}),
  });
  const datasets = new DatasetRegistry(
    (id) => registry.get(id)?.declaration,
    () => registry.declarations(),
  );
  // Registered whether or not M1 runs now: data collected earlier must still be deleted on time.
  if (analytics) {
    await ensureFlowTable(analytics);
    datasets.register(FLOW_DATASET);
  }
  for (const m of options.measures ?? ALL_MEASURES) for (const d of m.datasets ?? []) if (d.store === 'state') datasets.register(d);
  // The shared services' data, governed by the declarations of the measures that use them.
  const shared = [...assignmentDatasets((cutoff) => subscribers.forget(cutoff)), ...CASE_DATASETS, ...NOTICE_DATASETS];
  for (const d of shared) datasets.register(d);
  // What measures publish for each other comes first; explicit providers (tests, later features) add to it.
  const published: CapabilityProviders = {};
  for (const m of options.measures ?? ALL_MEASURES) {
    for (const [capability, make] of Object.entries(m.publishes ?? {}))
      published[capability as keyof CapabilityProviders] = () => make!(state);
  }
  // Subscriber identification: one index for every measure that may identify, each lookup audited.
  const subscribers = new SubscriberService(state, audit, {
    interimTimeoutSeconds: parseDuration(config.ingest.radius.interimTimeout),
    retentionSeconds: assignmentRetentionSeconds(registry.declarations()),
    deterministicNat: config.ingest.cgnat.deterministic,
  });
  await subscribers.load();
  published['subscriber-lookup'] = (declaration) => subscribers.lookupFor(declaration);
  published['accounting-feed'] = () => subscribers.accountingFeed();
  const caseRules = { dedupeSeconds: parseDuration(config.cases.dedupeWindow), escalateAfterRepeats: config.cases.escalateAfterRepeats };
  published.cases = (declaration) => casesFor(state, audit, declaration, caseRules);
  const n = config.notices;
  const notices = new Notices(
    state,
    audit,
    {
      smtp: n.smtp ? { ...n.smtp, from: n.from } : undefined,
      outbox: resolve(paths.dataDir, n.outbox),
      from: n.from,
      perMinute: n.perMinute,
      maxAttempts: n.maxAttempts,
    },
    n.smtp?.dkim ? readFileSync(n.smtp.dkim.privateKeyFile, 'utf8') : undefined,
  );
  published.notifier = (declaration) => notifierFor(state, notices, declaration);
  // Actions on the world: one listener or sender each, owned here, granted by the broker.
  const policyZones = new PolicyZones(config.rpz);
  published['policy-zone-writer'] = (declaration) => policyZones.writerFor(declaration);
  published.disconnector = (): Disconnector => ({ disconnect: sendDisconnect });
  const sharer = sharerFor(paths.dataDir);
  published.sharer = () => sharer;
  const authGate = new AuthGate();
  published['auth-suspender'] = (declaration) => authGate.suspenderFor(declaration);
  published['auth-feed'] = () => authGate.feed();
  published['resolver-log-input'] = () => RESOLVER_LOG_INPUT;
  published['report-input'] = () => REPORT_DROP_INPUT;
  published['garden-page'] = () => GARDEN_PAGE_INPUT;
  published['dnstap-input'] = (): DnstapInput => ({ start: (options, sink) => DnstapReceiver.start(options, sink) });
  const added = typeof options.providers === 'function' ? options.providers(published) : options.providers;
  const broker = new CapabilityBroker({ registry, datasets, audit, state, analytics, providers: { ...published, ...added } });
  let closing: Promise<void> | undefined;
  return {
    config,
    paths,
    state,
    analytics,
    audit,
    registry,
    datasets,
    broker,
    subscribers,
    notices,
    policyZones,
    authGate,
    accounts: new Accounts(state, audit),
    close() {
      closing ??= (async () => {
        await policyZones.stop();
        await subscribers.flush();
        await audit.settled();
        await analytics?.close();
        await state.close();
      })();
      return closing;
    },
  };
}
