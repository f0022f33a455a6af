/**
 * M7's second stage on its other ground: a subscriber who opted out is alerted for a family that does not
 * burden the network only once the device has been seen on `stage2.repeatedDays` distinct days (it keeps
 * contacting C&C servers), with that reason on a stage-2 case; a blocklist entry never reaches stage 2;
 * opting back in restores stage 1. Through the broker, as M7's start() gets it; notices to the outbox.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Mamori } from '../../src/app/mamori.js';
import { createLogger } from '../../src/core/logger.js';
import { getCase, type CaseApi } from '../../src/notify/cases.js';
import type { Notifier } from '../../src/notify/notices.js';
import { InfectedHostAlert } from '../../src/measures/infected-host-alert/service.js';
import type { InfectedHostAlertSettings } from '../../src/measures/infected-host-alert/settings.js';
import type { SubscriberLookup } from '../../src/subscriber/service.js';
import { openTest } from '../support/fixtures.js';
import { chunked } from '../support/reports.js';

const DAY = 86_400_000;
const BASE = Date.now() - 5 * DAY;

describe('M7: the second stage for a device that keeps contacting C&C servers', () => {
  let m: Mamori;
  let service: InfectedHostAlert;

  const sight = async (source: string, address: string, day: number, family: string) => {
    const t = new Date(BASE + day * DAY).toISOString();
    const list = `address,port,time,family,source\n${address},4444,${t},${family},${source}\n`;
    return service.importReport(chunked(list), { source, format: 'csv', origin: 'api', actor: 'cli:test' });
  };

  before(async () => {
    m = await openTest(
      'measures:\n  infected-host-alert:\n    enabled: true\n    prefixes: ["198.51.100.0/24"]\n' +
        '    stage2: { burdenFamilies: [mirai], repeatedDays: 3 }\n' +
        'cases: { dedupeWindow: 30d, escalateAfterRepeats: 0 }',
    );
    const from = Math.floor((BASE - 10 * DAY) / 1000);
    await m.subscribers.importStatic(`sub-1,198.51.100.1,${from}\nsub-2,198.51.100.2,${from}\n`, 'cli:test');
    await m.notices.importContacts('sub-1,one@example.net,One,en\nsub-2,two@example.net,Two,ja\n', 'cli:test');
    const caps = m.broker.forMeasure('infected-host-alert');
    service = new InfectedHostAlert(
      await caps.ownState<InfectedHostAlertSettings>(),
      await caps.action<SubscriberLookup>('subscriber-lookup'),
      await caps.action<CaseApi>('cases'),
      await caps.action<Notifier>('notifier'),
      createLogger('silent'),
    );
    await service.setChoice('sub-1', 'opt-out', 'member-site', 'cli:test');
    await service.setChoice('sub-2', 'opt-out', 'member-site', 'cli:test');
  });
  after(() => m?.close());

  it('holds the first two days, alerts on the third with the reason on a stage-2 case', async () => {
    for (const day of [0, 1]) {
      assert.equal((await sight('operator-list', '198.51.100.1', day, 'andromeda')).resolved, 1);
      assert.deepEqual((await service.analyze()).held, 1, `day ${day}: held`);
    }
    const alert = () => service.alerts().then((a) => a.find((x) => x.subscriber === 'sub-1')!);
    assert.equal((await alert()).case_id, null, 'no case while the condition does not hold');
    await sight('operator-list', '198.51.100.1', 2, 'andromeda');
    const r = await service.analyze();
    assert.deepEqual([r.notified, r.stage2], [1, 1]);
    const a = await alert();
    assert.deepEqual([a.stage, a.basis, a.reason, a.days_seen], [2, 'legitimate-business', 'keeps-contacting-cc', 3]);
    const c = await getCase(m.state, a.case_id!);
    assert.equal(c?.kind, 'infected-host-stage2');
    assert.ok(c?.timeline.some((e) => e.event === 'basis:legitimate-business' && /keeps-contacting-cc/.test(e.detail ?? '')));
  });

  it('never takes a blocklist entry to stage 2, however often it is seen', async () => {
    for (const day of [0, 1, 2, 3]) await sight('dnsbl-export', '198.51.100.2', day, 'spamhaus-pbl');
    const r = await service.analyze();
    assert.deepEqual([r.notified, r.stage2, r.held], [0, 0, 1]);
  });

  it('alerts in stage 1 again once the subscriber opts back in', async () => {
    await service.setChoice('sub-2', 'opt-in', 'support-desk', 'cli:test');
    await sight('dnsbl-export', '198.51.100.2', 4, 'spamhaus-pbl');
    const r = await service.analyze();
    assert.deepEqual([r.notified, r.stage2], [1, 0]);
    const a = (await service.alerts()).find((x) => x.subscriber === 'sub-2')!;
    assert.deepEqual([a.stage, a.basis, (await getCase(m.state, a.case_id!))?.kind], [1, 'comprehensive-consent', 'blocklisted-host']);
  });
});
