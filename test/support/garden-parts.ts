/**
 * M7 and its walled garden put together by hand on an opened Mamori (no server): the broker's capabilities for M7,
 * its service, and a start of the garden — what the garden's unit tests drive directly.
 */
import type { Mamori } from '../../src/app/mamori.js';
import { createLogger } from '../../src/core/logger.js';
import type { MeasureContext } from '../../src/core/registry.js';
import { startWalledGarden } from '../../src/measures/infected-host-alert/garden-run.js';
import { InfectedHostAlert } from '../../src/measures/infected-host-alert/service.js';
import type { InfectedHostAlertSettings } from '../../src/measures/infected-host-alert/settings.js';
import type { CaseApi } from '../../src/notify/cases.js';
import type { Notifier } from '../../src/notify/notices.js';
import type { SubscriberLookup } from '../../src/subscriber/service.js';

const ID = 'infected-host-alert';

export async function gardenParts(m: Mamori) {
  const capabilities = m.broker.forMeasure(ID);
  const own = await capabilities.ownState<InfectedHostAlertSettings>();
  const cases = await capabilities.action<CaseApi>('cases');
  const service = new InfectedHostAlert(
    own,
    await capabilities.action<SubscriberLookup>('subscriber-lookup'),
    cases,
    await capabilities.action<Notifier>('notifier'),
    createLogger('silent'),
  );
  const context = {
    declaration: m.registry.status(ID)!.declaration,
    capabilities,
    logger: createLogger('silent'),
    dataDir: m.paths.dataDir,
  } as unknown as MeasureContext;
  const start = () => startWalledGarden(context, own, service, cases);
  return { own, cases, service, context, start };
}
