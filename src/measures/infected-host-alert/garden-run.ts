/**
 * The walled garden while M7 runs with the option on: its policy zone on the core's RPZ primary (granted as
 * policy-zone-writer for the output "walled-garden"; refused while the option is off), the accounting feed
 * moving gardened subscribers' addresses in and out of it, the notice page on the core's garden-page
 * listener, and the end of every garden when M7 stops.
 */
import { ClientAddressZone, type ClientSessionEvent } from '../../dns/client-zone.js';
import type { PolicyZoneWriter } from '../../dns/policy-zones.js';
import { RpzZone } from '../../dns/rpz.js';
import { MamoriError } from '../../core/errors.js';
import type { MeasureState } from '../../core/measure-state.js';
import type { MeasureContext } from '../../core/registry.js';
import type { ListenerStatus } from '../../core/listeners.js';
import type { CaseApi } from '../../notify/cases.js';
import type { GardenPageInput } from '../../notify/garden-page.js';
import { WalledGarden } from './garden.js';
import { allowedNames, allowZoneOf } from './garden-settings.js';
import type { InfectedHostAlert } from './service.js';
import type { InfectedHostAlertSettings } from './settings.js';

/** An allowed name another policy zone blocks: the allow zone, listed first, would lift that block for every subscriber. */
export class GardenAllowError extends MamoriError {
  static override readonly code = 'walled-garden-allow';
  static override readonly status = 400;
}

/** The walled garden could not start (its page listener, most likely); nothing of it is left running. */
export class GardenStartError extends MamoriError {
  static override readonly code = 'walled-garden-start';
  static override readonly status = 500;
}

/** The garden's routes were called while the option is off. */
export class GardenOffError extends MamoriError {
  static override readonly code = 'walled-garden-off';
  static override readonly status = 409;
}

export interface RunningGarden {
  garden: WalledGarden;
  endpoints: Record<string, string>;
  listeners(): Record<string, ListenerStatus>;
  stop(): Promise<void>;
}

export async function startWalledGarden(
  context: MeasureContext,
  own: MeasureState & { settings: InfectedHostAlertSettings },
  service: InfectedHostAlert,
  cases: CaseApi,
  serialBase = Math.floor(Date.now() / 1000),
): Promise<RunningGarden> {
  const g = own.settings.walledGarden;
  const feed = await context.capabilities.action<{
    subscribe(l: (e: ClientSessionEvent) => void): () => void;
    current(): ClientSessionEvent[];
  }>('accounting-feed');
  const writer = await context.capabilities.action<PolicyZoneWriter>('policy-zone-writer');
  const pages = await context.capabilities.action<GardenPageInput>('garden-page');
  // Serials from the clock (as M3 and M6): a restart never goes below what the secondaries hold (RFC 1982),
  // or they would ignore NOTIFY and keep gardens that ended until the SOA expire.
  const zone = new ClientAddressZone(new RpzZone(g.zone, serialBase), { ipv6: true });
  // Served once the zone holds the gardens in force; publish() before then has nothing to tell.
  const at: { served?: Awaited<ReturnType<PolicyZoneWriter['serve']>> } = {};
  const publish = async () => {
    if (!at.served || !zone.zone.dirty) return;
    const results = await at.served.changed();
    const silent = results.filter((r) => !r.answered).length;
    if (silent > 0)
      context.logger.warn(
        { event: 'm7.garden.notify.unanswered', serial: zone.zone.serial, secondaries: silent },
        'secondaries did not answer NOTIFY; they will find the change at the next SOA refresh',
      );
  };
  // The allow-list: passthru names in a zone of their own that resolvers list BEFORE the garden zone (within one zone
  // a client-IP trigger outranks a QNAME trigger, so they cannot live in the garden zone). Being first, it would lift
  // every later zone's rule for these names for every client: a name another zone blocks (M3's C&C zone) is refused now
  // and, should a block for it come later, withdrawn from the allow zone while the block lasts.
  const allowZone = new RpzZone(allowZoneOf(g), serialBase);
  const names = allowedNames(g, own.settings.notice);
  const ownZones = [zone.zone.origin, allowZone.origin];
  const blockedNow = writer.rulesElsewhere(names, ownZones);
  if (blockedNow.length > 0)
    throw new GardenAllowError(
      blockedNow
        .map(
          (b) =>
            `"measures.infected-host-alert.walledGarden.allow": "${b.name}" has a rule in the policy zone ${b.zone} (at it, under it ` +
            `or a wildcard above it); the allow zone ${allowZone.origin} comes before it in the resolvers' order and would lift ` +
            'that rule for every subscriber: remove the name from the list, or end the rule first',
        )
        .join('; '),
    );
  const withheld = new Set<string>();
  for (const n of names) allowZone.passthru(n);
  allowZone.bump();
  let versionElsewhere = writer.versionElsewhere(ownZones);
  let allowServed: Awaited<ReturnType<typeof writer.serve>>;
  const allowCounts = { withdrawn: 0, restored: 0 };
  /** Another zone published: allowed names it now blocks leave the allow zone (its block wins), names it no longer blocks return. */
  const recheckAllow = async () => {
    const v = writer.versionElsewhere(ownZones);
    if (v === versionElsewhere) return;
    versionElsewhere = v;
    const blocked = new Set(writer.rulesElsewhere(names, ownZones).map((b) => b.name));
    for (const n of names) {
      if (blocked.has(n) && !withheld.has(n)) {
        withheld.add(n);
        allowZone.unpassthru(n);
        allowCounts.withdrawn++;
      } else if (!blocked.has(n) && withheld.delete(n)) {
        allowZone.passthru(n);
        allowCounts.restored++;
      }
    }
    if (!allowZone.dirty) return;
    context.logger.warn(
      { event: 'm7.garden.allow.changed', zone: allowZone.origin, withheld: withheld.size },
      'allowed names blocked by another policy zone are withheld from the allow zone while blocked',
    );
    await allowServed.changed();
  };

  const garden = new WalledGarden(own, zone, service, cases, publish, context.logger);
  await garden.load();
  // The page first (port 80 may be refused: EACCES, in use); whatever started is undone on any failure, so the zone
  // is never served without its page and a later start finds nothing left behind.
  const undo: Array<() => unknown> = [];
  let page: Awaited<ReturnType<GardenPageInput['start']>>;
  let timer: NodeJS.Timeout;
  let unsubscribe: () => void;
  let unwatch: () => void;
  try {
    const listen = { host: g.listen.host!, port: g.listen.port };
    page = await pages.start(listen, garden).catch((err: NodeJS.ErrnoException) => {
      throw new GardenStartError(
        `the walled garden's page listener (walledGarden.listen ${listen.host}:${listen.port}) could not start: ${err.code ?? err.message}`,
        { cause: err },
      );
    });
    undo.push(() => page.stop());
    allowServed = await writer.serve(allowZone);
    undo.push(() => allowServed.withdraw());
    zone.seed(feed.current());
    zone.flush();
    zone.zone.bump();
    at.served = await writer.serve(zone.zone);
    undo.push(() => at.served?.withdraw());
    unsubscribe = feed.subscribe((e) => zone.onSession(e));
    undo.push(unsubscribe);
    // Sessions come and go: their changes are gathered and published twice a second.
    const failed = (err: Error) =>
      context.logger.error(
        { event: 'm7.garden.publish.failed', err: { type: err.name, message: err.message } },
        'garden zone not published',
      );
    timer = setInterval(() => {
      if (zone.flush()) publish().catch(failed);
      recheckAllow().catch(failed);
    }, 500);
    timer.unref();
    undo.push(() => clearInterval(timer));
    unwatch = garden.watchTimeBox();
    undo.push(unwatch);
    context.logger.info(
      { event: 'm7.garden.on', zone: zone.zone.origin, pagePort: page.port, basisConfirmedBy: g.basisConfirmedBy },
      'walled garden on',
    );
    await own.audit.append({
      actor: `measure:${context.declaration.id}`,
      measure: context.declaration.id,
      action: 'm7.garden.on',
      object: 'm7-garden:zone',
      counts: { gardens: (await garden.active()).length },
    });
  } catch (err) {
    for (const u of undo.reverse()) await Promise.resolve(u()).catch(() => undefined);
    throw err;
  }
  return {
    garden,
    endpoints: {
      rpzPrimary: at.served.endpoint,
      gardenZone: zone.zone.origin,
      allowZone: allowZone.origin,
      gardenPage: `${page.host}:${page.port}`,
    },
    // The page's requests, and the gardens started, released, ended and refused a release since start.
    listeners: () => {
      const l = page.listener();
      const c = garden.counts;
      return {
        'garden-page': {
          counts: {
            ...l.counts,
            gardensStarted: c.started,
            gardensReleased: c.released,
            gardensEnded: c.ended,
            allowNames: names.length - withheld.size,
            allowWithheld: withheld.size,
            allowWithdrawn: allowCounts.withdrawn,
            allowRestored: allowCounts.restored,
          },
          refused: { ...l.refused, 'releases-exhausted': c.exhausted, 'bad-session-address': zone.refused['bad-address'] },
        },
      };
    },
    async stop() {
      clearInterval(timer);
      unsubscribe();
      await page.stop();
      // Every garden ends with M7: the empty zone is published (NOTIFY) before it is withdrawn.
      unwatch();
      await garden.stopAll();
      zone.flush();
      await publish();
      at.served?.withdraw();
      // A resolver keeps its last copy a while: emptied first, so no name stays exempt from the other zones.
      for (const n of names) if (!withheld.has(n)) allowZone.unpassthru(n);
      if (allowZone.dirty) await allowServed.changed();
      allowServed.withdraw();
    },
  };
}
