/**
 * `mamori serve`: opens the instance, starts the inputs and measures, serves
 * the API, metrics and health; once all of that listens, creates the first
 * admin on a fresh data directory (password printed once, to the terminal,
 * stored only as an argon2id hash); anchors the audit chain and runs
 * retention at start and on schedule.
 */
import { createServer, type AddressInfo } from 'node:net';
import { generatePassword } from '../core/accounts.js';
import { openMamori, type Mamori } from './mamori.js';
import type { Config } from '../core/config.js';
import { parseDuration } from '../core/duration.js';
import { MamoriError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/logger.js';
import { Metrics } from '../core/metrics.js';
import { runRetention } from '../core/retention.js';
import type { ActionCapability, CapabilityProviders, MeasureCapabilities } from '../core/capabilities.js';
import type { MeasureModule, RunningMeasure } from '../core/registry.js';
import { FLOW_DATASET } from '../ingest/flow/dataset.js';
import { FlowInlet, inletSettings } from '../ingest/flow/inlet.js';
import type { FlowInput } from '../ingest/flow/dataset.js';
import { SharedInput } from './inputs.js';
import { registerFlowMetrics } from '../ingest/flow/metrics.js';
import { dropAbandonedImports } from '../ingest/flow/import.js';
import { buildApi, type Api } from '../api/server.js';
import { listenerRoutes } from '../api/routes/listeners.js';
import { registerListenerMetrics, type OwnedListenerStatus } from '../core/listeners.js';
import { RadiusAccountingServer } from '../ingest/radius/server.js';
import { DetailTailer } from '../ingest/radius/detail.js';

export interface Server {
  readonly app: Api;
  readonly mamori: Mamori;
  readonly inlet: FlowInlet | undefined;
  /** Present while a measure that identifies subscribers runs. */
  readonly radius: RadiusAccountingServer | undefined;
  readonly url: string;
  /** What running measures serve to partners, by measure id (e.g. M2's TAXII URL). */
  readonly endpoints: Readonly<Record<string, Readonly<Record<string, string>>>>;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** Where the one-time admin password goes: the terminal (stderr) by default, never the JSON log on stdout. */
  out?: NodeJS.WritableStream;
  logger?: Logger;
  /** Skip the analytics engine (tests of the API alone). */
  analytics?: boolean;
  /** Measure modules (tests substitute implementations). */
  measures?: readonly MeasureModule[];
}

/**
 * The inlet accepts datagrams from any source unless allowedExporters names the
 * routers: anyone who can reach its port can then write flow records. Said at
 * every start, by counts only (the log carries no addresses).
 */
export function warnOpenInlet(config: Config, logger: Logger): void {
  const f = config.ingest.flows;
  if (f.allowedExporters.length > 0) return;
  const wildcard = f.listeners.filter((l) => l.host === '::' || l.host === '0.0.0.0').length;
  // The setting's dotted name looks like a host name to the log's masking: it goes in a field, as a path.
  const fields = {
    event: 'flows.any-exporter',
    setting: ['ingest', 'flows', 'allowedExporters'],
    listeners: f.listeners.length,
    wildcardListeners: wildcard,
  };
  logger.warn(
    fields,
    'flow inlet accepts datagrams from any exporter: list the routers in the setting named here, ' +
      'or let only them reach the listening ports (firewall) ' +
      '/ フロー収集はすべての送信元を受け付けています: ここに示す設定にルータを列挙するか、ファイアウォールで受信ポートをルータだけに制限してください',
  );
}

/** A port Mamori must listen on is taken (or not allowed). */
export class ListenError extends MamoriError {
  static override readonly code = 'cannot-listen';
  static override readonly status = 503;
}

function listenProblem(err: unknown): ListenError | undefined {
  const e = err as NodeJS.ErrnoException;
  const text = `${e?.code ?? ''} ${e?.message ?? ''}`;
  if (/EADDRINUSE/.test(text)) {
    return new ListenError(
      `a port Mamori needs is already in use (${e.message}): ` +
        'stop the process holding it (another mamori serve?) or change the port in the configuration',
    );
  }
  if (/EACCES/.test(text)) {
    return new ListenError(
      `Mamori may not listen on a port it needs (${e.message}): ` +
        'ports below 1024 need privileges; choose another port in the configuration',
    );
  }
  return undefined;
}

/** The API's port, tried before anything is opened: a second instance stops here, having touched nothing. */
async function checkPort(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (err) => reject(listenProblem(err) ?? err));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  }).catch((err: unknown) => {
    if (err instanceof ListenError) throw new ListenError(`cannot listen on ${host}:${port} (server.port): ${err.message}`);
    throw err;
  });
}

export async function serve(config: Config, options: ServeOptions = {}): Promise<Server> {
  const out = options.out ?? process.stderr;
  const logger = options.logger ?? createLogger(config.log.level);
  await checkPort(config.server.host, config.server.port);
  // The shared inputs listen while a running measure holds them (src/app/inputs.ts); the broker grants them.
  const flows = new SharedInput('flow-input', async () => {
    const started = await FlowInlet.start({ analytics: mamori.analytics!, audit: mamori.audit, logger }, inletSettings(config));
    const { addresses: listeners, receiver, recvBufferSize } = started;
    logger.info({ event: 'flows.listening', listeners, receiver, recvBufferSize }, 'flow inlet listening');
    warnOpenInlet(config, logger);
    return started;
  });
  const radius = new SharedInput('radius-accounting', () => startAccounting(mamori, config, logger));
  const mamori: Mamori = await openMamori(config, {
    analytics: options.analytics ?? true,
    ...(options.measures ? { measures: options.measures } : {}),
    providers: (core) => ({
      // Flow records are collected for M1's purpose only: the inlet that fills its dataset is M1's alone.
      'flow-input': flows.provider((inlet): FlowInput => ({ status: () => countsOf(inlet.status()) }), {
        measure: FLOW_DATASET.owner,
        why: `the flow inlet fills the "${FLOW_DATASET.name}" dataset, collected for ${FLOW_DATASET.owner} alone`,
      }),
      // Assignments are collected for the measures that look subscribers up or follow accounting, while they run.
      ...withInput(radius, core, ['subscriber-lookup', 'accounting-feed']),
    }),
    onAnchorError: (err) => {
      logger.error({ event: 'audit.anchor.failed', err: { type: err.name, message: err.message } }, 'audit anchor failed');
    },
  });
  const metrics = new Metrics(mamori.registry);
  mamori.audit.onAppend((e) => {
    metrics.auditEntries.inc({ action: e.action, outcome: e.outcome });
    metrics.auditHeadSeq.set(e.seq);
  });
  mamori.audit.onAnchor((a) => {
    metrics.auditAnchorSeq.set(a.seq);
    logger.info({ event: 'audit.anchor', seq: a.seq, hash: a.hash, signed: a.sig !== undefined }, 'audit chain anchored');
  });

  // What has started, stopped in reverse if a later step fails (a port taken by a measure's listener).
  const stops: Array<() => Promise<unknown>> = [];
  const running: Array<{ id: string; code: string; measure: RunningMeasure; module: MeasureModule; capabilities: MeasureCapabilities }> =
    [];
  const endpoints: Record<string, Readonly<Record<string, string>>> = {};
  let app: Api;
  let closing: Promise<void> | undefined;
  try {
    // What an import that died with an earlier process left (staging rows, uploads): deleted now, audited.
    await dropAbandonedImports(mamori, 'module:server', { uploads: true });
    registerFlowMetrics(metrics.registry, () => flows.current()?.status());

    for (const status of mamori.registry.list().filter((m) => m.enabled)) {
      const d = status.declaration;
      const impl = mamori.registry.get(d.id)!.implementation!;
      const capabilities = mamori.broker.forMeasure(d.id);
      const child = logger.child({ measure: d.id });
      const measure = await impl.start({ declaration: d, capabilities, logger: child, dataDir: mamori.paths.dataDir });
      running.push({ id: d.id, code: d.code, measure, module: mamori.registry.get(d.id)!, capabilities });
      stops.push(async () => {
        await measure.stop();
        await capabilities.release();
      });
      if (measure.endpoints) endpoints[d.id] = measure.endpoints;
    }

    // Ready when the stores answer and every input started above is up; not while stopping.
    const readiness = () => {
      const state = closing ? 'stopping' : undefined;
      return {
        ...(flows.current() ? { 'flow-inlet': state ?? 'listening' } : {}),
        ...(radius.current() ? { 'radius-accounting': state ?? 'listening' } : {}),
        ...(mamori.policyZones.listener() ? { 'rpz-primary': state ?? 'listening' } : {}),
        ...Object.fromEntries(running.map((r) => [r.code, state ?? 'running'])),
      };
    };
    // Every listener's counts and refusals, on /metrics and /api/v1/listeners.
    const listeners = (): OwnedListenerStatus[] => [
      ...((r) => (r ? [{ owner: 'server', listener: 'radius', ...r.server.listener() }] : []))(radius.current()),
      ...((rpz) => (rpz ? [{ owner: 'server', listener: 'rpz-primary', ...rpz }] : []))(mamori.policyZones.listener()),
      { owner: 'server', ...mamori.notices.sender() },
      ...running.flatMap((r) => Object.entries(r.measure.listeners?.() ?? {}).map(([listener, st]) => ({ owner: r.id, listener, ...st }))),
    ];
    registerListenerMetrics(metrics.registry, listeners);
    const measures = running.map((r) => ({ module: r.module, capabilities: r.capabilities, running: r.measure }));
    app = await buildApi({
      mamori,
      metrics,
      logger,
      inlet: () => flows.current(),
      measures,
      runningRoutes: [listenerRoutes(listeners, () => mamori.policyZones.secondaries())],
      readiness,
    });
    stops.push(() => app.close());
    await app.listen({ host: config.server.host, port: config.server.port });
  } catch (err) {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await mamori.close();
    throw listenProblem(err) ?? err;
  }
  const addr = app.server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;

  // Everything listens: only now is the first admin created, so a start that fails creates nobody.
  if ((await mamori.accounts.countUsers()) === 0) {
    const password = generatePassword();
    await mamori.accounts.createUser('module:bootstrap', 'admin', 'admin', password);
    out.write(
      [
        '',
        '初回起動: 管理者アカウントを作成しました / First start: an admin account was created',
        `  user: admin`,
        `  password: ${password}`,
        'このパスワードは一度だけ表示されます。ログイン後に変更してください。',
        'This password is shown only once. Change it after logging in.',
        '',
      ].join('\n') + '\n',
    );
  }

  const statuses = mamori.registry.list();
  await mamori.audit.append({
    actor: 'module:server',
    action: 'server.start',
    counts: {
      declared: statuses.length,
      available: statuses.filter((s) => s.available).length,
      enabled: statuses.filter((s) => s.enabled).length,
    },
  });
  const anchor = async () => {
    await mamori.audit.anchor('module:server');
  };
  const retention = async () => {
    const results = await runRetention(mamori, 'module:retention');
    for (const r of results) metrics.retentionDeleted.inc({ dataset: r.dataset }, r.deleted);
  };
  await anchor();
  const guard = (what: string, job: () => Promise<void>) => (): Promise<void> =>
    job().catch((err: Error) => {
      logger.error({ event: `${what}.failed`, err: { type: err.name, message: err.message } }, `${what} failed`);
    });
  // A first pass now: data that expired while the server was down goes at once, not an interval later.
  const firstRetention = guard('retention', retention)();
  const timers = [
    setInterval(guard('audit.anchor', anchor), parseDuration(config.audit.anchorInterval) * 1000),
    setInterval(guard('retention', retention), parseDuration(config.retention.interval) * 1000),
    setInterval(
      guard('radius.store', () => mamori.subscribers.flush()),
      250,
    ),
    setInterval(
      guard('radius.detail', async () => {
        await radius.current()?.detail?.poll();
      }),
      1000,
    ),
    setInterval(
      guard('notices.deliver', async () => {
        await mamori.notices.deliver();
      }),
      parseDuration(config.notices.deliveryInterval) * 1000,
    ),
  ];
  logger.info({ event: 'server.start', url, measures: statuses.map((s) => `${s.declaration.code}:${s.state}`) }, 'mamori is serving');

  return {
    app,
    mamori,
    url,
    get inlet() {
      return flows.current();
    },
    get radius() {
      return radius.current()?.server;
    },
    endpoints,
    close() {
      closing ??= (async () => {
        for (const t of timers) clearInterval(t);
        await firstRetention;
        await app.close();
        for (const r of running.reverse()) {
          await r.measure.stop();
          await r.capabilities.release();
        }
        await flows.stop();
        await radius.stop();
        await mamori.audit.append({ actor: 'module:server', action: 'server.stop' });
        await anchor();
        await mamori.close();
      })();
      return closing;
    },
  };
}

/** RADIUS accounting (and FreeRADIUS detail files, when configured) into the assignment index. */
async function startAccounting(
  mamori: Mamori,
  config: Config,
  logger: Logger,
): Promise<{ server: RadiusAccountingServer; detail: DetailTailer | undefined; stop(): Promise<void> }> {
  const subscribers = mamori.subscribers;
  // Answered only once stored: an acknowledged Start survives a crash (RFC 2866 §4.2).
  const server = await RadiusAccountingServer.start(
    config.ingest.radius,
    subscribers.index,
    (e) => subscribers.record(e),
    () => subscribers.flush(),
  );
  logger.info(
    { event: 'radius.listening', listeners: server.addresses, clients: config.ingest.radius.clients.length },
    'RADIUS accounting listening',
  );
  const d = config.ingest.radius.detail;
  const detail = d
    ? new DetailTailer({
        directory: d.directory,
        prefix: d.prefix,
        state: mamori.state,
        index: subscribers.index,
        emit: (e) => subscribers.record(e),
      })
    : undefined;
  return { server, detail, stop: () => server.stop() };
}

/** The core's providers of `capabilities`, each holding `input` for the measure it is granted to. */
function withInput<T extends { stop(): Promise<unknown> }>(
  input: SharedInput<T>,
  core: Readonly<CapabilityProviders>,
  capabilities: ActionCapability[],
): CapabilityProviders {
  const out: CapabilityProviders = {};
  for (const c of capabilities) {
    const inner = core[c];
    if (inner) out[c] = async (measure, hold) => input.provider(() => inner(measure, hold))(measure, hold);
  }
  return out;
}

/** The inlet's counts, without its exporters' addresses. */
function countsOf(s: ReturnType<FlowInput['status']>): ReturnType<FlowInput['status']> {
  return { storedRecords: s.storedRecords, droppedRecords: s.droppedRecords, kernelDrops: s.kernelDrops, ringDrops: s.ringDrops };
}
