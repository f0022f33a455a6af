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

describe('M7: entries with no session retried when late accounting covers their time', () => {
  let m: Mamori;
  let service: InfectedHostAlert;
  const spans: Array<[number, number]> = [];
  let unfollow = () => {};

  before(async () => {
    m = await openTest('measures:\n  infected-host-alert:\n    enabled: true\n    prefixes: ["198.51.100.0/24"]\n');
    await m.notices.importContacts('sub-3,three@example.net,Three,en\n', 'cli:test');
    const caps = m.broker.forMeasure('infected-host-alert');
    const lookup = await caps.action<SubscriberLookup>('subscriber-lookup');
    service = new InfectedHostAlert(
      await caps.ownState<InfectedHostAlertSettings>(),
      lookup,
      await caps.action<CaseApi>('cases'),
      await caps.action<Notifier>('notifier'),
      createLogger('silent'),
    );
    // As run.ts follows it: the spans the lookup's feed reports and M7 keeps.
    unfollow = lookup.onCoverage((from, to) => {
      if (service.covered(from, to)) spans.push([from, to]);
    });
  });
  after(async () => {
    unfollow();
    await m?.close();
  });

  it('matches them when a subscribers import covers their time, as an import would; bounded, audited, backing off', async () => {
    const rows = ['address,port,time,family,source'];
    // A busy host on a blocklist, seen 2,001 times before anyone's assignment for it was loaded; another nobody will have.
    for (let i = 0; i < 2001; i++) rows.push(`198.51.100.3,4444,${new Date(BASE + i * 1000).toISOString()},spamhaus-pbl,dnsbl-export`);
    rows.push(`198.51.100.4,4444,${new Date(BASE).toISOString()},spamhaus-pbl,dnsbl-export`);
    const imp = await service.importReport(chunked(rows.join('\n') + '\n'), {
      source: 'dnsbl-export',
      format: 'csv',
      origin: 'api',
      actor: 'cli:test',
    });
    assert.deepEqual(imp.unresolvedReasons, { 'no-session': 2002 });
    assert.equal((await service.retryCovered()).tried, 0, 'no accounting arrived: nothing to retry');

    // The static assignments are loaded late (a subscribers import): the feed reports the span they cover.
    await m.subscribers.importStatic(`sub-3,198.51.100.3,${Math.floor(BASE / 1000) - 3600}\n`, 'cli:test');
    assert.ok(spans.length > 0, 'the import covered the entries’ time');
    const first = await service.retryCovered();
    assert.deepEqual([first.tried, first.resolved, first.unresolved, first.more], [2000, 1999, 1, true], 'a bounded batch');
    const second = await service.retryCovered();
    assert.deepEqual([second.tried, second.resolved, second.more], [2, 2, false], 'the rest, next pass; none tried twice');
    assert.equal((await service.retryCovered()).tried, 0);

    const row = (await service.imports()).find((x) => x.id === imp.id)!;
    assert.deepEqual([row.resolved, row.unresolved, row.resolved_later], [0, 2002, 2001]);
    // One alert, as if the entries had matched at import: the blocklist's purpose and notice, every sighting counted.
    const alert = (await service.alerts()).find((x) => x.subscriber === 'sub-3')!;
    assert.deepEqual([alert.purpose, alert.family, alert.sightings, alert.pending], ['blocklist', 'spamhaus-pbl', 2001, 1]);
    const r = await service.analyze();
    assert.equal(r.notified, 1);
    assert.equal((await getCase(m.state, (await service.alerts())[0]!.case_id!))?.kind, 'blocklisted-host');

    // Audited: per pass one entry with counts, and the lookups under the import that caused them, in batches.
    const retries: Array<Record<string, number>> = [];
    const lookups: number[] = [];
    for await (const e of m.audit.entries()) {
      if (e.action === 'm7.unresolved.retry') retries.push(e.counts ?? {});
      if (e.action === 'subscriber.lookup' && e.caseId === imp.id) lookups.push(e.counts?.lookups ?? 0);
      assert.ok(!/198\.51\.100|sub-3/.test(JSON.stringify(e)) || e.action === 'subscribers.import-static', JSON.stringify(e));
    }
    assert.deepEqual(
      retries.map((c) => [c.tried, c.resolved, c.unresolved]),
      [
        [2000, 1999, 1],
        [2, 2, 0],
      ],
    );
    assert.equal(
      lookups.reduce((a, b) => a + b, 0),
      2002 + 2002,
    );
    assert.ok(lookups.length <= 4, `lookup audit entries: ${lookups.length}`);

    // Live accounting (a Start now) covers no reported time: no span, no pass.
    const before = spans.length;
    m.subscribers.index.begin({ key: 'bras|live', subscriber: 'sub-9', address: '198.51.100.9', start: Math.floor(Date.now() / 1000) });
    assert.equal(spans.length, before);

    // The entry nobody had is retried on the analysis interval only when due (1 h, then 2 h …), and not after 30 days.
    assert.equal((await service.retryDue()).tried, 0);
    const due = await service.retryDue(new Date(Date.now() + 3 * 3_600_000));
    assert.deepEqual([due.tried, due.unresolved], [1, 1]);
    assert.equal((await service.retryDue(new Date(BASE + 31 * DAY))).tried, 0, 'beyond the entries’ retention');
  });
});
