/**
 * M4's running part: the analysis on its interval, the accounting and
 * authentication feeds subscribed, its answer to the AAA's authorize calls
 * (the auth-suspender), and the service its routes (routes.ts) work on.
 */
import { parseDuration } from '../../core/duration.js';
import type { MeasureContext, RunningMeasure } from '../../core/registry.js';
import type { SessionEvent } from '../../ingest/radius/apply.js';
import type { AuthFeed, AuthSuspender } from '../../ingest/radius/auth-gate.js';
import type { Disconnector } from '../../ingest/radius/disconnect.js';
import type { CaseApi } from '../../notify/cases.js';
import type { Notifier } from '../../notify/notices.js';
import { CredentialMisuse } from './service.js';
import type { CredentialMisuseSettings } from './settings.js';

export async function startCredentialMisuse(context: MeasureContext): Promise<RunningMeasure<{ service: CredentialMisuse }>> {
  const own = await context.capabilities.ownState<CredentialMisuseSettings>();
  const cases = await context.capabilities.action<CaseApi>('cases');
  const notifier = await context.capabilities.action<Notifier>('notifier');
  const feed = await context.capabilities.action<{ subscribe(l: (e: SessionEvent) => void): () => void }>('accounting-feed');
  // RFC 5176 Disconnect-Requests go through the core's sender, granted because M4 declares "disconnects".
  const disconnector = await context.capabilities.action<Disconnector>('disconnector');
  const service = new CredentialMisuse(own, cases, notifier, context.logger, disconnector);
  const unsubscribe = feed.subscribe((e) => service.onSession(e));
  // The AAA's authentication events, and its question whether an ID is suspended: both through the core's gate.
  const stopHearing = (await context.capabilities.action<AuthFeed>('auth-feed')).subscribe((e) => service.onAuth(e));
  const stopAnswering = (await context.capabilities.action<AuthSuspender>('auth-suspender')).answer(async (account) =>
    (await service.suspension(account))
      ? { message: 'This ID is suspended: please change your password (パスワードの変更をお願いします)' }
      : undefined,
  );
  let running: Promise<unknown> | undefined;
  const timer = setInterval(
    () => {
      running ??= service
        .analyze()
        .catch((err: Error) => {
          context.logger.error(
            { event: 'm4.analysis.failed', err: { type: err.name, message: err.message } },
            'credential-misuse analysis failed',
          );
        })
        .finally(() => {
          running = undefined;
        });
    },
    parseDuration(own.settings.analysisInterval) * 1000,
  );
  timer.unref();
  return {
    api: { service },
    // The AAA's REST calls: what is held of them, and what the memory bound made it forget (refusals of bad requests are HTTP 400/413).
    listeners: () => {
      const h = service.heldAuth();
      return { 'aaa-rest': { counts: { heldEvents: h.events, heldBytes: h.bytes }, refused: { 'memory-bound': h.dropped } } };
    },
    async stop() {
      clearInterval(timer);
      unsubscribe();
      stopHearing();
      stopAnswering();
      await running;
    },
  };
}
