/**
 * `mamori serve`: opens the instance, creates the first admin on a fresh data
 * directory (password printed once, stored only as an argon2id hash), serves
 * the API and metrics, anchors the audit chain and runs retention on schedule.
 */
import type { AddressInfo } from 'node:net';
import { generatePassword } from '../core/accounts.js';
import { openMamori, type Mamori } from '../core/app.js';
import type { Config } from '../core/config.js';
import { parseDuration } from '../core/duration.js';
import { createLogger, type Logger } from '../core/logger.js';
import { Metrics } from '../core/metrics.js';
import { runRetention } from '../core/retention.js';
import type { MeasureModule, RunningMeasure } from '../core/registry.js';
import { FLOW_DATASET } from '../ingest/flow/dataset.js';
import { FlowInlet, inletSettings } from '../ingest/flow/inlet.js';
import { registerFlowMetrics } from '../ingest/flow/metrics.js';
import { buildApi, type Api } from './server.js';
import { listenerRoutes } from './routes/listeners.js';
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
  /** Where the one-time admin password goes (stdout by default; never the log). */
  out?: NodeJS.WritableStream;
  logger?: Logger;
  /** Skip the analytics engine (tests of the API alone). */
  analytics?: boolean;
  /** Measure modules (tests substitute implementations). */
  measures?: readonly MeasureModule[];
}

export async function serve(config: Config, options: ServeOptions = {}): Promise<Server> {
  const out = options.out ?? process.stdout;
  const logger = options.logger ?? createLogger(config.log.level);
  const mamori = await openMamori(config, { analytics: options.analytics ?? true, ...(options.measures ? { measures: options.measures } : {}) });
  const metrics = new Metrics(mamori.registry);
  mamori.audit.onAppend((e) => {
    metrics.auditEntries.inc({ action: e.action, outcome: e.outcome });
    metrics.auditHeadSeq.set(e.seq);
  });

  if ((await mamori.accounts.countUsers()) === 0) {
    const password = generatePassword();
    await mamori.accounts.createUser('module:bootstrap', 'admin', 'admin', password);
    out.write([
      '',
      '初回起動: 管理者アカウントを作成しました / First start: an admin account was created',
      `  user: admin`,
      `  password: ${password}`,
      'このパスワードは一度だけ表示されます。ログイン後に変更してください。',
      'This password is shown only once. Change it after logging in.',
      '',
    ].join('\n') + '\n');
  }

  // M1's inlet runs only while M1 runs: flow data may be collected for no other purpose.
  let inlet: FlowInlet | undefined;
  if (mamori.analytics && mamori.registry.status(FLOW_DATASET.owner)?.enabled) {
    inlet = await FlowInlet.start({ analytics: mamori.analytics, audit: mamori.audit, logger }, inletSettings(config));
    logger.info({ event: 'flows.listening', listeners: inlet.addresses, receiver: inlet.receiver, recvBufferSize: inlet.recvBufferSize }, 'flow inlet listening');
  }
  registerFlowMetrics(metrics.registry, () => inlet?.status());

  // RADIUS accounting runs only while a measure that declares assigned addresses runs: the
  // assignments are collected for those measures' lookups and for nothing else.
  let radius: RadiusAccountingServer | undefined;
  let detail: DetailTailer | undefined;
  const needsAssignments = mamori.registry.list().some((m) => m.enabled && m.declaration.dataItems.some((i) => i.item === 'aaa.assigned-address'));
  if (needsAssignments) {
    const subscribers = mamori.subscribers;
    // Answered only once stored: an acknowledged Start survives a crash (RFC 2866 §4.2).
    radius = await RadiusAccountingServer.start(config.ingest.radius, subscribers.index, (e) => subscribers.record(e), () => subscribers.flush());
    logger.info({ event: 'radius.listening', listeners: radius.addresses, clients: config.ingest.radius.clients.length }, 'RADIUS accounting listening');
    const d = config.ingest.radius.detail;
    if (d) detail = new DetailTailer({ directory: d.directory, prefix: d.prefix, state: mamori.state, index: subscribers.index, emit: (e) => subscribers.record(e) });
  }

  const running: RunningMeasure[] = [];
  const runningIds: string[] = [];
  const endpoints: Record<string, Readonly<Record<string, string>>> = {};
  for (const status of mamori.registry.list().filter((m) => m.enabled)) {
    const impl = mamori.registry.get(status.declaration.id)!.implementation!;
    runningIds.push(status.declaration.id);
    running.push(await impl.start({ declaration: status.declaration, capabilities: mamori.broker.forMeasure(status.declaration.id), logger: logger.child({ measure: status.declaration.id }), dataDir: mamori.paths.dataDir }));
    const e = running[running.length - 1]!.endpoints;
    if (e) endpoints[status.declaration.id] = e;
  }

  // Every listener's counts and refusals, on /metrics and /api/v1/listeners.
  const listeners = (): OwnedListenerStatus[] => [
    ...(radius ? [{ owner: 'server', listener: 'radius', ...radius.listener() }] : []),
    ...running.flatMap((r, i) => Object.entries(r.listeners?.() ?? {}).map(([listener, s]) => ({ owner: runningIds[i]!, listener, ...s }))),
  ];
  registerListenerMetrics(metrics.registry, listeners);
  const runningRoutes = [...running.flatMap((r) => (r.routes ? [r.routes] : [])), listenerRoutes(listeners)];
  const app = await buildApi({ mamori, metrics, logger, ...(inlet ? { inlet } : {}), runningRoutes });
  await app.listen({ host: config.server.host, port: config.server.port });
  const addr = app.server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;

  const statuses = mamori.registry.list();
  await mamori.audit.append({
    actor: 'module:server', action: 'server.start',
    counts: { declared: statuses.length, available: statuses.filter((s) => s.available).length, enabled: statuses.filter((s) => s.enabled).length },
  });
  const anchor = async () => {
    const a = await mamori.audit.anchor('module:server');
    metrics.auditAnchorSeq.set(a.seq);
    logger.info({ event: 'audit.anchor', seq: a.seq, hash: a.hash }, 'audit chain anchored');
  };
  const retention = async () => {
    const results = await runRetention(mamori, 'module:retention');
    for (const r of results) metrics.retentionDeleted.inc({ dataset: r.dataset }, r.deleted);
    metrics.retentionDeleted.inc({ dataset: 'ip-assignments' }, await mamori.subscribers.retain());
  };
  await anchor();
  const guard = (what: string, job: () => Promise<void>) => () => {
    job().catch((err: Error) => logger.error({ event: `${what}.failed`, err: { type: err.name, message: err.message } }, `${what} failed`));
  };
  const timers = [
    setInterval(guard('audit.anchor', anchor), parseDuration(config.audit.anchorInterval) * 1000),
    setInterval(guard('retention', retention), parseDuration(config.retention.interval) * 1000),
    setInterval(guard('radius.store', () => mamori.subscribers.flush()), 250),
    setInterval(guard('radius.detail', async () => { await detail?.poll(); }), 1000),
    setInterval(guard('notices.deliver', async () => { await mamori.notices.deliver(); }), parseDuration(config.notices.deliveryInterval) * 1000),
  ];
  logger.info({ event: 'server.start', url, measures: statuses.map((s) => `${s.declaration.code}:${s.state}`) }, 'mamori is serving');

  let closing: Promise<void> | undefined;
  return {
    app, mamori, url, inlet, radius, endpoints,
    close() {
      closing ??= (async () => {
        for (const t of timers) clearInterval(t);
        await app.close();
        await inlet?.stop();
        await radius?.stop();
        for (const r of [...running].reverse()) await r.stop();
        await mamori.audit.append({ actor: 'module:server', action: 'server.stop' });
        await anchor();
        await mamori.close();
      })();
      return closing;
    },
  };
}
