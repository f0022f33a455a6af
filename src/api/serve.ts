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
import { buildApi, type Api } from './server.js';

export interface Server {
  readonly app: Api;
  readonly mamori: Mamori;
  readonly url: string;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** Where the one-time admin password goes (stdout by default; never the log). */
  out?: NodeJS.WritableStream;
  logger?: Logger;
  /** Skip the analytics engine (tests of the API alone). */
  analytics?: boolean;
}

export async function serve(config: Config, options: ServeOptions = {}): Promise<Server> {
  const out = options.out ?? process.stdout;
  const logger = options.logger ?? createLogger(config.log.level);
  const mamori = await openMamori(config, { analytics: options.analytics ?? true });
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

  const app = await buildApi({ mamori, metrics, logger });
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
  };
  await anchor();
  const guard = (what: string, job: () => Promise<void>) => () => {
    job().catch((err: Error) => logger.error({ event: `${what}.failed`, err: { type: err.name, message: err.message } }, `${what} failed`));
  };
  const timers = [
    setInterval(guard('audit.anchor', anchor), parseDuration(config.audit.anchorInterval) * 1000),
    setInterval(guard('retention', retention), parseDuration(config.retention.interval) * 1000),
  ];
  logger.info({ event: 'server.start', url, measures: statuses.map((s) => `${s.declaration.code}:${s.state}`) }, 'mamori is serving');

  let closing: Promise<void> | undefined;
  return {
    app, mamori, url,
    close() {
      closing ??= (async () => {
        for (const t of timers) clearInterval(t);
        await app.close();
        await mamori.audit.append({ actor: 'module:server', action: 'server.stop' });
        await anchor();
        await mamori.close();
      })();
      return closing;
    },
  };
}
