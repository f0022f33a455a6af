/**
 * M2 at work: the TAXII server and feeds on the core's sharing listener (the
 * sharer, granted because M2 declares "shared-indicators"), and a
 * maintenance pass at start and every `maintenanceInterval` — M1's candidates
 * read through the feed the broker grants, entries created, extended,
 * revoked and expired. Stopping waits for a pass in progress.
 */
import { parseDuration } from '../../core/duration.js';
import type { MeasureState } from '../../core/measure-state.js';
import type { MeasureContext, RunningMeasure } from '../../core/registry.js';
import type { CandidateFeed } from '../../core/feeds.js';
import type { Sharer } from '../../share/sharer.js';
import { syncEntries } from './entries.js';
import type { CcSharingSettings } from './settings.js';
import { PartnerError, pollPartner, type Partner, type PollSummary } from './partners.js';
import { startTaxii } from './taxii.js';

export const M2_ACTOR = 'measure:cc-sharing';

/** What M2's routes use while it runs: its confined state, the partners configured, and a poll of one now. */
export interface M2Api {
  own: MeasureState & { settings: CcSharingSettings };
  partners: Array<{ name: string; kind: string; interval: string }>;
  /** Polls a configured partner now (joining a poll already running), audited under the actor. */
  pollNow(name: string, actor: string): Promise<PollSummary>;
}

export async function startSharing(context: MeasureContext): Promise<RunningMeasure<M2Api>> {
  const own = await context.capabilities.ownState<CcSharingSettings>();
  const feed = await context.capabilities.action<CandidateFeed>('candidate-feed');
  const sharer = await context.capabilities.action<Sharer>('sharer');
  const settings = own.settings;
  let pass: Promise<void> | undefined;
  const maintain = () => {
    if (pass) return pass;
    pass = syncEntries({ audit: own.audit, feed, settings, now: new Date(), actor: M2_ACTOR })
      .then((s) => {
        context.logger.info({ event: 'share.sync', ...s }, 'shared list maintained');
      })
      .catch((err: Error) => {
        context.logger.error(
          { event: 'share.sync.failed', err: { type: err.name, message: err.message } },
          'maintenance of the shared list failed',
        );
      })
      .finally(() => {
        pass = undefined;
      });
    return pass;
  };
  await maintain();
  const taxii = await startTaxii({ own, settings, logger: context.logger, sharer });
  context.logger.info({ event: 'taxii.listening', url: taxii.url, selfSigned: taxii.selfSigned }, 'TAXII server and feeds listening');
  const timers = [
    setInterval(
      () => {
        void maintain();
      },
      parseDuration(settings.maintenanceInterval) * 1000,
    ),
  ];
  // Each partner on its own clock; a poll still running when the next is due (or asked for now) is not doubled.
  const polling = new Map<string, Promise<PollSummary>>();
  const limits = { sliceObjects: settings.taxii.push.sliceObjects, maxPerSource: settings.taxii.push.maxIndicatorsPerSource };
  const poll = (partner: Partner, actor: string): Promise<PollSummary> => {
    const running = polling.get(partner.name);
    if (running) return running;
    const p = pollPartner(own, sharer, partner, actor, limits)
      .then((s) => {
        context.logger.info(
          { event: 'share.poll', partner: partner.name, pages: s.pages, accepted: s.accepted, refused: s.refused },
          'partner polled',
        );
        return s;
      })
      .finally(() => {
        polling.delete(partner.name);
      });
    polling.set(partner.name, p);
    return p;
  };
  for (const partner of settings.partners) {
    const scheduled = () =>
      void poll(partner, M2_ACTOR).catch((err: Error) => {
        context.logger.warn(
          { event: 'share.poll.failed', partner: partner.name, err: { type: err.name, message: err.message } },
          'polling a partner failed',
        );
      });
    scheduled();
    timers.push(setInterval(scheduled, parseDuration(partner.interval) * 1000));
  }
  for (const t of timers) t.unref();
  return {
    api: {
      own,
      partners: settings.partners.map((p) => ({ name: p.name, kind: p.kind, interval: p.interval })),
      async pollNow(name: string, actor: string): Promise<PollSummary> {
        const partner = settings.partners.find((p) => p.name === name);
        if (!partner) throw new PartnerError(`no partner "${name}" in measures.cc-sharing.partners`);
        // A poll already running is joined, not doubled: its entries are audited under whoever started it, so this
        // person's request is recorded too.
        if (polling.has(name))
          await own.audit.append({ actor, measure: 'cc-sharing', action: 'share.poll.join', object: `partner:${name}` });
        return poll(partner, actor);
      },
    },
    endpoints: { taxii: `${taxii.url}/taxii2/`, feeds: `${taxii.url}/feeds/` },
    async stop() {
      for (const t of timers) clearInterval(t);
      await taxii.close();
      await Promise.all([pass, ...[...polling.values()].map((p) => p.catch(() => undefined))]);
    },
  };
}
