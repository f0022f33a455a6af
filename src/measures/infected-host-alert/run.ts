/**
 * M7's running part: the subscriber lookup, cases and notices granted by the
 * broker (nothing else: not M1's flows, not M3's resolver log), the analysis
 * pass on its interval, the drop directory watched for reports, and unresolved entries retried when late
 * accounting covers their time.
 */
import { parseDuration } from '../../core/duration.js';
import type { MeasureContext, RunningMeasure } from '../../core/registry.js';
import { ReportFormatError } from '../../ingest/reports/entry.js';
import type { ReportDropInput } from '../../ingest/reports/drop.js';
import type { CaseApi } from '../../notify/cases.js';
import type { Notifier } from '../../notify/notices.js';
import type { SubscriberLookup } from '../../subscriber/service.js';
import { startWalledGarden } from './garden-run.js';
import { endLeftoverGardens, WalledGarden } from './garden.js';
import { InfectedHostAlert } from './service.js';
import type { InfectedHostAlertSettings } from './settings.js';

export interface M7Api {
  service: InfectedHostAlert;
  /** One pass over the drop directory now (tests, and the route that asks for it). */
  scanDrops(): Promise<{ imported: number; failed: number }>;
  /** The walled garden, when its option is on (garden.ts). */
  garden: WalledGarden | undefined;
  /**
   * Records a subscriber's choice about the garden whether or not the option is on (the terms let them opt out at any
   * time); with the option on, an opt-out also ends their garden at once.
   */
  gardenChoice(subscriber: string, choice: 'opt-out' | 'opt-in', channel: string, actor: string): Promise<void>;
}

export async function startInfectedHostAlert(context: MeasureContext): Promise<RunningMeasure<M7Api>> {
  const own = await context.capabilities.ownState<InfectedHostAlertSettings>();
  const lookup = await context.capabilities.action<SubscriberLookup>('subscriber-lookup');
  const cases = await context.capabilities.action<CaseApi>('cases');
  const notifier = await context.capabilities.action<Notifier>('notifier');
  // The drop directory is read by the core: M7 gets its files as streams of report bytes.
  const drop = await context.capabilities.action<ReportDropInput>('report-input');
  const service = new InfectedHostAlert(own, lookup, cases, notifier, context.logger);
  const s = own.settings;
  const counts = { imported: 0, failed: 0, unknownFolders: 0 };
  // The walled garden only when the settings turn its option on (then the broker grants its zone and page).
  const gardenOn = context.declaration.options.some((o) => o.id === 'walled-garden' && o.active);
  const garden = gardenOn ? await startWalledGarden(context, own, service, cases) : undefined;
  if (!gardenOn) await endLeftoverGardens(own);

  const scanDrops = async () => {
    const dir = s.dropDirectory;
    const done = { imported: 0, failed: 0 };
    if (!dir) return done;
    const { files, unknown } = drop.ready(
      dir,
      service.sources.map((x) => x.id),
    );
    counts.unknownFolders = unknown.length;
    for (const f of files) {
      try {
        const r = await service.importReport(drop.open(f.path), {
          source: f.source,
          fileName: f.name,
          origin: 'drop',
          actor: `measure:${context.declaration.id}`,
        });
        drop.settle(dir, f, true, {
          import: r.id,
          summary: r.summary,
          resolved: r.resolved,
          unresolved: r.unresolved,
          unresolvedReasons: r.unresolvedReasons,
        });
        done.imported++;
      } catch (err) {
        const known = err instanceof ReportFormatError;
        drop.settle(dir, f, false, { error: (err as Error).message });
        done.failed++;
        context.logger.warn(
          { event: 'm7.drop.failed', err: { type: (err as Error).name, message: known ? (err as Error).message : 'see the result file' } },
          'a dropped report could not be imported',
        );
      }
    }
    // Failed reports hold addresses: they go when reported hosts would (30 days).
    drop.purge(dir, new Date(Date.now() - 30 * 86_400_000));
    counts.imported += done.imported;
    counts.failed += done.failed;
    return done;
  };

  // Set first thing in stop(): a pass still running when M7 stops must not schedule another (retrySoon) nor start one.
  let stopped = false;
  const guard = (what: string, fn: () => Promise<unknown>) => {
    let running: Promise<unknown> | undefined;
    const tick = () => {
      if (stopped) return;
      running ??= fn()
        .catch((err: Error) =>
          context.logger.error({ event: `m7.${what}.failed`, err: { type: err.name, message: err.message } }, `M7 ${what} failed`),
        )
        .finally(() => {
          running = undefined;
        });
    };
    return { tick, wait: () => running };
  };
  // Entries due for their periodic retry first: those it matches are decided by the same pass; then the gardens.
  const analysis = guard('analysis', async () => {
    await service.retryDue();
    await service.analyze();
    await garden?.garden.pass();
  });
  const drops = guard('drop', scanDrops);
  // Late accounting (a delayed Stop, a NAS's buffered accounting replayed, a port-block log) may match entries that found
  // no session: a bounded pass at most once a second while such spans arrive, then again while the batches are full.
  let retryTimer: NodeJS.Timeout | undefined;
  const retrySoon = () => {
    if (stopped) return;
    retryTimer ??= setTimeout(() => {
      retryTimer = undefined;
      retries.tick();
    }, 1000);
    retryTimer.unref();
  };
  const retries = guard('retry', async () => {
    const r = await service.retryCovered();
    if (r.more || service.coverageWaiting) retrySoon();
  });
  const unfollow = lookup.onCoverage((from, to) => {
    if (service.covered(from, to)) retrySoon();
  });
  const timers = [
    setInterval(analysis.tick, parseDuration(s.analysisInterval) * 1000),
    ...(s.dropDirectory ? [setInterval(drops.tick, parseDuration(s.dropInterval) * 1000)] : []),
  ];
  for (const t of timers) t.unref();

  return {
    api: {
      service,
      scanDrops,
      garden: garden?.garden,
      gardenChoice: (subscriber, choice, channel, actor) =>
        garden
          ? garden.garden.setChoice(subscriber, choice, channel, actor)
          : WalledGarden.recordChoice(own, subscriber, choice, channel, actor),
    },
    ...(garden ? { endpoints: garden.endpoints } : {}),
    listeners: () => ({
      ...garden?.listeners(),
      'report-drop': {
        counts: { imported: counts.imported },
        refused: { unreadable: counts.failed, 'unknown-source-folder': counts.unknownFolders },
      },
    }),
    async stop() {
      stopped = true;
      for (const t of timers) clearInterval(t);
      unfollow();
      clearTimeout(retryTimer);
      await retries.wait();
      await analysis.wait();
      await drops.wait();
      await garden?.stop();
    },
  };
}
