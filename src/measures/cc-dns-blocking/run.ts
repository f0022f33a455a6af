/**
 * M3's running part: the opt-out zone and the `cc` zone served from the core's RPZ primary
 * zone (opt-out first: the first zone that matches decides), the accounting
 * feed moving opted-out subscribers' addresses into the opt-out zone, and what
 * its routes (routes.ts) work on.
 * Every change is published as a new serial with NOTIFY at once; an opt-out
 * reaches the resolvers in well under the 60 s allowed (a second with BIND's
 * min-update-interval at 1; see BENCHMARKS.md).
 */
import type { MeasureContext, RunningMeasure } from '../../core/registry.js';
import type { SessionEvent } from '../../ingest/radius/apply.js';
import type { PolicyZoneWriter, ServedZone } from '../../dns/policy-zones.js';
import type { RpzZone } from '../../dns/rpz.js';
import type { ResolverConfigInput } from '../../dns/resolver-config.js';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { CaseApi } from '../../notify/cases.js';
import { noticeTime, type Notifier } from '../../notify/notices.js';
import type { SubscriberLookup } from '../../subscriber/service.js';
import type { BlockedQuery, ResolverLogInput } from '../../dns/resolver-log.js';
import { CcDnsBlocking } from './service.js';
import type { CcDnsBlockingSettings } from './settings.js';

/** What M3's routes (routes.ts) work on. */
export interface M3Api {
  service: CcDnsBlocking;
  settings: CcDnsBlockingSettings;
  /** Publishes a changed zone (new serial, NOTIFY). */
  publish(zone: RpzZone): Promise<void>;
  resolverInput(): ResolverConfigInput;
}

export async function startCcDnsBlocking(context: MeasureContext): Promise<RunningMeasure<M3Api>> {
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
  // Both zones on the core's one primary (opt-out first: the first zone that matches decides, in the resolvers' order).
  const writer = await context.capabilities.action<PolicyZoneWriter>('policy-zone-writer');
  const served = new Map<RpzZone, ServedZone>();
  for (const z of [service.optOutZone, service.cc]) served.set(z, await writer.serve(z, { refresh: s.refresh }));
  const primary = served.get(service.cc)!;

  const publish = async (zone: RpzZone) => {
    if (!zone.dirty) return;
    // changed() publishes the staged changes as one serial and sends NOTIFY.
    const results = await served.get(zone)!.changed();
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
  // The resolvers' logs are read by the core and reach M3 only as blocked queries of its own zones.
  const logs = await context.capabilities.action<ResolverLogInput>('resolver-log-input');
  const readLogs = async () => {
    for (const log of s.resolverLogs) {
      const cursor = await service.logCursor(log.name);
      const got = logs.readBlocked(log, zones, cursor);
      // Nothing new (the usual second): no write.
      if (!got || (got.cursor.inode === cursor?.inode && got.cursor.offset === cursor.offset)) continue;
      const blocked = got.blocked.filter((q: BlockedQuery) => q.zone === service.cc.origin);
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
    primary: { address: primary.host, port: primary.port },
    ...(primary.tsigKeyName ? { tsig: { name: primary.tsigKeyName, secretBase64: '<the secret configured as rpz.tsig[0].secret>' } } : {}),
  });
  return {
    endpoints: { rpzPrimary: primary.endpoint, zones: `${service.optOutZone.origin} ${service.cc.origin}` },
    api: { service, settings: s, publish, resolverInput },
    async stop() {
      clearInterval(optOutTimer);
      clearInterval(validityTimer);
      clearInterval(logTimer);
      await reading;
      unsubscribe();
      for (const z of served.values()) z.withdraw();
    },
  };
}
