/**
 * M7's walled garden without the network: the client-IP owners it writes (IPv4, IPv6 in the draft's `zz`
 * form, prefixes), A/AAAA local data through the primary's AXFR and IXFR encoding, who is gardened and who
 * never is, self-releases up to the limit and then none, the time-box, and the option: off, the broker
 * refuses the garden's zone and page and the terms carry no garden clause; on, both are there.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import dnsPacket, { type Answer } from 'dns-packet';
import net from 'node:net';
import { ClientAddressZone } from '../../src/dns/client-zone.js';
import { RpzPrimary } from '../../src/dns/primary.js';
import { clientIpOwner, RpzZone } from '../../src/dns/rpz.js';
import { createLogger } from '../../src/core/logger.js';
import { renderTerms } from '../../src/policy/render.js';
import type { CaseApi } from '../../src/notify/cases.js';
import type { Notifier } from '../../src/notify/notices.js';
import type { SubscriberLookup } from '../../src/subscriber/service.js';
import { endLeftoverGardens, WalledGarden } from '../../src/measures/infected-host-alert/garden.js';
import { allowedNames, allowZoneOf, walledGardenSettings } from '../../src/measures/infected-host-alert/garden-settings.js';
import { InfectedHostAlert } from '../../src/measures/infected-host-alert/service.js';
import type { InfectedHostAlertSettings } from '../../src/measures/infected-host-alert/settings.js';
import { tablesOf } from '../../src/store/state/tables.js';
import type { M7Tables } from '../../src/measures/infected-host-alert/tables.js';
import type { GardenTables } from '../../src/measures/infected-host-alert/garden-tables.js';
import { openTest } from '../support/fixtures.js';
import { gardenParts } from '../support/garden-parts.js';

describe('rpz-client-ip owners', () => {
  it('writes IPv4 reversed by octet and IPv6 reversed by group with the longest zero run as zz', () => {
    assert.equal(clientIpOwner('127.0.0.2'), '32.2.0.0.127.rpz-client-ip');
    assert.equal(clientIpOwner('198.51.100.0/24'), '24.0.100.51.198.rpz-client-ip');
    assert.equal(clientIpOwner('2001:db8::1'), '128.1.zz.db8.2001.rpz-client-ip');
    assert.equal(clientIpOwner('2001:0DB8:0000:0000:0000:0000:0000:0001'), '128.1.zz.db8.2001.rpz-client-ip');
    assert.equal(clientIpOwner('2001:db8:100::/40'), '40.zz.100.db8.2001.rpz-client-ip');
    // Two runs of two zero groups: the first is compressed (as RFC 5952 writes it).
    assert.equal(clientIpOwner('2001:db8:0:0:1:0:0:1'), '128.1.0.0.1.zz.db8.2001.rpz-client-ip');
    assert.equal(clientIpOwner('::1'), '128.1.zz.rpz-client-ip');
    assert.equal(clientIpOwner('2001:db8:1:2:3:4:5:6'), '128.6.5.4.3.2.1.db8.2001.rpz-client-ip', 'no zero run: no zz');
    assert.equal(clientIpOwner('::ffff:192.0.2.1'), '128.201.c000.ffff.zz.rpz-client-ip', 'an embedded IPv4 tail');
  });

  it('refuses what is not an address or prefix, naming it', () => {
    assert.throws(() => clientIpOwner('300.1.1.1'), /not an IPv4 or IPv6/);
    assert.throws(() => clientIpOwner('2001:db8::g'), /not an IPv4 or IPv6/);
    assert.throws(() => clientIpOwner('198.51.100.1/24'), /host bits set beyond \/24/);
    assert.throws(() => clientIpOwner('2001:db8::1/64'), /host bits set beyond \/64/);
    assert.throws(() => clientIpOwner('2001:db8::/129'), /not between 1 and 128/);
  });
});

describe('local data in the zone and on the wire', () => {
  it('publishes A and AAAA at a client-IP owner through AXFR and IXFR, and removes them', async () => {
    const zone = new RpzZone('garden.rpz.test');
    zone.bump();
    const p = await RpzPrimary.start([zone], { host: '127.0.0.1', port: 0, transferTo: ['127.0.0.1'] });
    try {
      const owner = zone.client('2001:db8::7', { kind: 'local-data', a: ['192.0.2.80'], aaaa: ['2001:DB8::80'] });
      zone.client('127.0.0.2', { kind: 'local-data', a: ['192.0.2.80'], aaaa: [] });
      zone.bump();
      assert.equal(owner, '128.7.zz.db8.2001.rpz-client-ip.garden.rpz.test');
      const xfr = (type: 'AXFR' | 'IXFR', serial?: number): Answer[] => {
        const q = dnsPacket.encode({
          type: 'query',
          id: 7,
          questions: [{ name: zone.origin, type, class: 'IN' }],
          ...(serial !== undefined ? { authorities: [{ name: zone.origin, type: 'SOA', ttl: 0, class: 'IN', data: soa(serial) }] } : {}),
        });
        return p.answer(q, '127.0.0.1', 'tcp').flatMap((m) => dnsPacket.decode(m).answers ?? []);
      };
      const records = (as: Answer[]) =>
        as.filter((a) => a.type === 'A' || a.type === 'AAAA').map((a) => `${a.name} ${a.type} ${String((a as { data: unknown }).data)}`);
      assert.deepEqual(records(xfr('AXFR')).sort(), [
        '128.7.zz.db8.2001.rpz-client-ip.garden.rpz.test A 192.0.2.80',
        '128.7.zz.db8.2001.rpz-client-ip.garden.rpz.test AAAA 2001:db8::80',
        '32.2.0.0.127.rpz-client-ip.garden.rpz.test A 192.0.2.80',
      ]);
      const before = zone.serial;
      assert.equal(zone.removeClient('2001:db8::7'), true);
      zone.bump();
      // IXFR: old SOA, the two removed records, new SOA, nothing added.
      const ixfr = xfr('IXFR', before);
      const soas = ixfr.map((a, i) => (a.type === 'SOA' ? i : -1)).filter((i) => i >= 0);
      assert.equal(soas.length, 4);
      assert.deepEqual(records(ixfr.slice(soas[1]! + 1, soas[2]!)).sort(), [
        '128.7.zz.db8.2001.rpz-client-ip.garden.rpz.test A 192.0.2.80',
        '128.7.zz.db8.2001.rpz-client-ip.garden.rpz.test AAAA 2001:db8::80',
      ]);
      assert.deepEqual(records(ixfr.slice(soas[2]! + 1, soas[3]!)), []);
      assert.throws(() => zone.client('127.0.0.3', { kind: 'local-data', a: [], aaaa: [] }), /at least one address/);
      assert.throws(() => zone.client('127.0.0.3', { kind: 'local-data', a: ['2001:db8::1'], aaaa: [] }), /not an IPv4 address/);
    } finally {
      await p.stop();
    }
  });

  it('follows a listed subscriber over IPv4 and IPv6 sessions, and only while the session is open', () => {
    const z = new ClientAddressZone(new RpzZone('garden.rpz.test'), { ipv6: true });
    const action = { kind: 'local-data', a: ['192.0.2.80'], aaaa: [] } as const;
    z.onSession({ kind: 'begin', key: 'bras|1', subscriber: 'alice', address: '100.64.0.5', at: 0 });
    z.onSession({ kind: 'begin', key: 'bras|1#1', subscriber: 'alice', address: '2001:db8:1::/56', at: 0 });
    z.onSession({ kind: 'begin', key: 'bras|2', subscriber: 'bob', address: '100.64.0.6', at: 0 });
    z.set('alice', action);
    z.zone.bump();
    assert.deepEqual([...new Set(z.zone.list().map((r) => r.name))].sort(), [
      '32.5.0.64.100.rpz-client-ip.garden.rpz.test',
      '56.zz.1.db8.2001.rpz-client-ip.garden.rpz.test',
    ]);
    assert.equal(z.subscriberAt('100.64.0.5'), 'alice');
    assert.equal(z.subscriberAt('2001:db8:1::9'), 'alice', 'an address inside the delegated prefix');
    assert.equal(z.subscriberAt('100.64.0.6'), undefined, 'bob is not listed');
    z.onSession({ kind: 'finish', key: 'bras|1', at: 1 });
    z.zone.bump();
    assert.deepEqual(
      z.zone.list().map((r) => r.name),
      ['56.zz.1.db8.2001.rpz-client-ip.garden.rpz.test'],
    );
    z.set('alice', undefined);
    z.zone.bump();
    assert.equal(z.zone.size, 0);
  });
});

const soa = (serial: number) => ({
  mname: 'localhost',
  rname: 'hostmaster.garden.rpz.test',
  serial,
  refresh: 60,
  retry: 30,
  expire: 600,
  minimum: 60,
});

/** The records of a zone by AXFR over TCP from the primary at host:port, as [owner, type, data] sorted. */
async function transfer(endpoint: string, zone: string): Promise<string[][]> {
  const [host, port] = endpoint.split(/:(?=\d+$)/) as [string, string];
  const q = dnsPacket.streamEncode({ type: 'query', id: 9, questions: [{ name: zone, type: 'AXFR', class: 'IN' }] });
  const data = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const c = net.connect(Number(port), host, () => c.end(q));
    c.setTimeout(5000, () => c.destroy(new Error('AXFR timed out')));
    c.on('data', (b: Buffer) => chunks.push(b));
    c.on('error', reject);
    c.on('close', () => resolve(Buffer.concat(chunks)));
  });
  const answers: Answer[] = [];
  for (let at = 0; at + 2 <= data.length; at += 2 + data.readUInt16BE(at))
    answers.push(...(dnsPacket.streamDecode(data.subarray(at)).answers ?? []));
  return answers
    .filter((a) => a.type !== 'SOA' && a.type !== 'NS')
    .map((a) => [a.name, a.type, String((a as { data: unknown }).data)])
    .sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0));
}

const GARDEN_YAML = (enabled: boolean) =>
  [
    'measures:',
    '  infected-host-alert:',
    '    enabled: true',
    '    prefixes: ["100.64.0.0/10"]',
    '    notice: { optOut: "https://member.isp.example/settings", support: "0120-000-000" }',
    '    walledGarden:',
    `      enabled: ${enabled}`,
    '      basisConfirmedBy: "legal dept., memo 2026-12-01 (test)"',
    '      address: { ipv4: [192.0.2.80] }',
    '      listen: { host: 127.0.0.1, port: 0 }',
    '      duration: 72h',
    '      maxReleases: 2',
  ].join('\n');

describe('who is gardened, releases, time-box', () => {
  it('gardens stage-1 subscribers still seen after the notices, lets them release twice, then sends them to the desk', async () => {
    const m = await openTest(GARDEN_YAML(true));
    const broker = m.broker.forMeasure('infected-host-alert');
    const own = await broker.ownState<InfectedHostAlertSettings>();
    const cases = await broker.action<CaseApi>('cases');
    const service = new InfectedHostAlert(
      own,
      await broker.action<SubscriberLookup>('subscriber-lookup'),
      cases,
      await broker.action<Notifier>('notifier'),
      createLogger('silent'),
    );
    const zone = new ClientAddressZone(new RpzZone('garden.rpz.test'), { ipv6: true });
    let published = 0;
    // What served.changed() does: the staged changes become a serial.
    const publish = async () => {
      published++;
      zone.zone.bump();
    };
    const garden = new WalledGarden(own, zone, service, cases, publish, createLogger('silent'));
    const db = tablesOf<M7Tables>(own.store.db);
    // Hours before now: a garden past its end is not shown (the page reads the real clock).
    const T0 = Date.now() - 21 * 3_600_000;
    const iso = (h: number) => new Date(T0 + h * 3_600_000).toISOString();
    const alert = async (id: string, subscriber: string, v: Partial<M7Tables['m7_alerts']>) => {
      const c = await cases.open({ kind: 'infected-host', subscriber, summary: 'test', key: `infection:mirai:${id}` });
      await db
        .insertInto('m7_alerts')
        .values({
          id,
          subscriber,
          family: 'mirai',
          purpose: 'infection',
          source: 'shadowserver',
          first_seen: iso(0),
          last_seen: iso(20),
          last_day: iso(20).slice(0, 10),
          days_seen: 3,
          sightings: 5,
          status: 'notified',
          stage: 1,
          basis: 'comprehensive-consent',
          reason: null,
          case_id: c.case.id,
          notices: 2,
          first_notice_at: iso(1),
          last_notice_at: iso(10),
          reinfections: 0,
          remediated_at: null,
          pending: 0,
          ...v,
        })
        .execute();
    };
    await alert('a-alice', 'alice', {});
    await alert('a-once', 'carol', { notices: 1 }); // one notice only: not yet
    await alert('a-quiet', 'dave', { last_seen: iso(5) }); // not seen after the last notice
    await alert('a-stage2', 'erin', { stage: 2, basis: 'legitimate-business', reason: 'burdens-network' }); // no consent
    await alert('a-optout', 'frank', {});
    await service.setChoice('frank', 'opt-out', 'api', 'test');
    await alert('a-gardenout', 'grace', {});
    await garden.setChoice('grace', 'opt-out', 'api', 'test');
    zone.seed(
      ['alice', 'carol', 'dave', 'erin', 'frank', 'grace'].map((s, i) => ({
        kind: 'begin' as const,
        key: `bras|${i}`,
        subscriber: s,
        address: `100.64.0.${i + 1}`,
        at: 0,
      })),
    );

    let r = await garden.pass(new Date(iso(21)));
    assert.equal(r.started, 1, 'only alice');
    assert.deepEqual(
      zone.zone.list().map((x) => `${x.name} ${x.type} ${x.data}`),
      ['32.1.0.64.100.rpz-client-ip.garden.rpz.test A 192.0.2.80'],
    );
    assert.equal(published, 1);
    assert.equal(await garden.view('100.64.0.2'), undefined, 'carol is not gardened: a neutral page');
    let view = await garden.view('100.64.0.1');
    assert.equal(view?.canRelease, true);
    assert.match(view!.ja.paragraphs.join('\n'), /mirai.*残り2回/s);

    // Release 1, seen again after it: gardened again; release 2; seen again: gardened with no button.
    const seen = (ms: number) =>
      db
        .updateTable('m7_alerts')
        .set({ last_seen: new Date(ms).toISOString() })
        .where('id', '=', 'a-alice')
        .execute();
    for (const n of [1, 2]) {
      await seen(Date.now() - 1000); // the latest sighting is from before the release
      assert.equal((await garden.release('100.64.0.1')).outcome, 'released', `release ${n}`);
      assert.equal(zone.zone.size, 0, `release ${n} lifts the rule at once`);
      r = await garden.pass(new Date(Date.now() + 60_000));
      assert.equal(r.started, 0, 'not again before a new sighting');
      await seen(Date.now() + 60_000);
      r = await garden.pass(new Date(Date.now() + 120_000));
      assert.equal(r.started, 1, `gardened again after release ${n} and a new sighting`);
    }
    view = await garden.view('100.64.0.1');
    assert.equal(view?.canRelease, false, 'no button after the last release');
    assert.match(view!.ja.noRelease, /0120-000-000/);
    assert.equal((await garden.release('100.64.0.1')).outcome, 'exhausted');
    assert.equal((await garden.list())[0]?.releasesLeft, 0);

    // The time-box: past ends_at the garden ends by itself.
    r = await garden.pass(new Date(Date.now() + 73 * 3_600_000));
    assert.deepEqual(r.ended, { 'time-box': 1 });
    zone.zone.bump();
    assert.equal(zone.zone.size, 0);
    const audit = await sql<{ action: string }>`select action from audit_log where action like 'm7.garden.%'`.execute(m.state.db);
    const actions = audit.rows.map((a) => a.action);
    assert.equal(actions.filter((a) => a === 'm7.garden.start').length, 3);
    assert.equal(actions.filter((a) => a === 'm7.garden.release').length, 2);
    assert.equal(actions.filter((a) => a === 'm7.garden.end').length, 1);

    // A garden left in force by an earlier run (crash, option turned off) is ended when M7 starts without it.
    await tablesOf<GardenTables>(own.store.db)
      .insertInto('m7_garden')
      .values({
        id: 'left',
        alert_id: 'a-alice',
        case_id: (await garden.list())[0]?.case_id ?? 'case-x',
        subscriber: 'alice',
        family: 'mirai',
        started_at: iso(0),
        ends_at: iso(72),
        ended_at: null,
        end_reason: null,
        ended_by: null,
      })
      .execute();
    assert.equal(await endLeftoverGardens(own), 1);
    assert.deepEqual(await garden.active(), []);
  });

  it('off: the broker refuses the garden zone and page, and the terms have no garden clause; on: both', async () => {
    const off = await openTest(GARDEN_YAML(false));
    const m7 = off.broker.forMeasure('infected-host-alert');
    await assert.rejects(m7.action('policy-zone-writer'), /does not declare the output "rpz-rules" or "walled-garden"/);
    await assert.rejects(m7.action('garden-page'), /does not declare the output "walled-garden"/);
    await assert.rejects(m7.action('accounting-feed'), /does not declare the data item "aaa.account-id"/);
    const termsOff = renderTerms(off.registry.list(), 'ja', 'now');
    assert.doesNotMatch(termsOff, /ウォールドガーデン/);

    const on = await openTest(GARDEN_YAML(true));
    const g = on.broker.forMeasure('infected-host-alert');
    assert.ok(await g.action('garden-page'));
    assert.ok(await g.action('policy-zone-writer'));
    const termsOn = renderTerms(on.registry.list(), 'ja', 'now');
    assert.match(termsOn, /第\d+条（マルウェア感染端末の利用者への注意喚起 — ウォールドガーデン/);
    assert.match(termsOn, /注意喚起画面の表示を停止することができます/);
    assert.match(renderTerms(on.registry.list(), 'en', 'now'), /Article \d+ \(Alerting subscribers with infected devices — walled garden/);
  });

  it('M7 stopping ends every garden and withdraws the zone; the page stops listening', async () => {
    const m = await openTest(`rpz:\n  primary: { host: 127.0.0.1, port: 0 }\n  transferTo: [127.0.0.1]\n${GARDEN_YAML(true)}`);
    const { own, cases, start } = await gardenParts(m);
    const running = await start();
    assert.deepEqual(m.policyZones.origins, ['garden-allow.rpz.mamori', 'garden.rpz.mamori']);
    const c = await cases.open({ kind: 'infected-host', subscriber: 'zoe', summary: 'test', key: 'infection:mirai:1' });
    await tablesOf<GardenTables>(own.store.db)
      .insertInto('m7_garden')
      .values({
        id: 'g1',
        alert_id: 'a1',
        case_id: c.case.id,
        subscriber: 'zoe',
        family: 'mirai',
        started_at: new Date().toISOString(),
        ends_at: new Date(Date.now() + 3_600_000).toISOString(),
        ended_at: null,
        end_reason: null,
        ended_by: null,
      })
      .execute();
    const [host, port] = running.endpoints.gardenPage!.split(/:(?=\d+$)/);
    assert.equal((await fetch(`http://${host}:${port}/`)).status, 200, 'the page listens');
    await running.stop();
    const rows = await tablesOf<GardenTables>(own.store.db).selectFrom('m7_garden').select(['end_reason']).execute();
    assert.deepEqual(rows, [{ end_reason: 'stopped' }]);
    assert.deepEqual(m.policyZones.origins, [], 'the zone is withdrawn');
    await assert.rejects(fetch(`http://${host}:${port}/`), 'the page stopped listening');
  });

  it('the allow-list: names checked and made canonical, the notice hosts added, its zone a sibling of the garden zone', async () => {
    const g = walledGardenSettings.parse({ allow: ['Update.AV-Vendor.example.', 'support.isp.example'] });
    assert.deepEqual(g.allow, ['update.av-vendor.example', 'support.isp.example']);
    assert.equal(allowZoneOf(g), 'garden-allow.rpz.mamori');
    assert.equal(allowZoneOf({ zone: 'garden.rpz.isp.example', allowZone: 'ok.rpz.isp.example' }), 'ok.rpz.isp.example');
    // The opt-out page (a web address) is allowed with the list; a telephone number is no name.
    assert.deepEqual(allowedNames(g, { optOut: 'https://Member.ISP.example/settings', support: '0120-000-000' }), [
      'member.isp.example',
      'support.isp.example',
      'update.av-vendor.example',
    ]);
    assert.deepEqual(walledGardenSettings.parse({}).allow, [], 'empty unless set');
    const bad = walledGardenSettings.safeParse({ allow: ['ok.example', 'bad name.example', '*.av.example'] });
    assert.ok(!bad.success);
    const messages = bad.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    assert.ok(
      messages.some((t) => /^allow\.1: .*bad name\.example.*is not a DNS label/.test(t)),
      messages.join('\n'),
    );
    assert.ok(
      messages.some((t) => /^allow\.2: .*without "\*\."/.test(t)),
      messages.join('\n'),
    );
    await assert.rejects(
      openTest(GARDEN_YAML(true).replace('      duration: 72h', '      allowZone: x.garden.rpz.mamori\n      duration: 72h')),
      /allowZone": "x\.garden\.rpz\.mamori" must be a zone of its own/,
    );
  });

  it('serves the allow zone beside the garden, refuses an allowed name another policy zone blocks, withdraws both at stop', async () => {
    const yaml = (allow: string) =>
      `rpz:\n  primary: { host: 127.0.0.1, port: 0 }\n  transferTo: [127.0.0.1]\n` +
      GARDEN_YAML(true).replace('      duration: 72h', `      allow: [${allow}]\n      duration: 72h`);
    const start = async (allow: string, blocked?: string) => {
      const m = await openTest(yaml(allow));
      // Another measure's C&C zone on the same primary, served first (as M3 starts before M7).
      const cc = new RpzZone('cc.rpz.mamori');
      if (blocked) cc.block(blocked);
      cc.bump();
      await m.policyZones.writerFor(m.registry.status('cc-dns-blocking')!.declaration).serve(cc);
      return { m, cc, run: (await gardenParts(m)).start };
    };
    const refused = await start('av.example, os.example', 'evil.av.example');
    await assert.rejects(
      refused.run(),
      (err: Error) =>
        err.name === 'GardenAllowError' &&
        /walledGarden\.allow": "av\.example" has a rule in the policy zone cc\.rpz\.mamori/.test(err.message) &&
        !/os\.example/.test(err.message),
    );
    assert.deepEqual(refused.m.policyZones.origins, ['cc.rpz.mamori'], 'nothing of the garden served');
    await refused.m.policyZones.stop();

    const ok = await start('av.example');
    const running = await ok.run();
    assert.equal(running.endpoints.allowZone, 'garden-allow.rpz.mamori');
    const axfr = await transfer(running.endpoints.rpzPrimary!, 'garden-allow.rpz.mamori');
    // dns-packet gives names without the final dot.
    assert.deepEqual(axfr, [
      ['*.av.example.garden-allow.rpz.mamori', 'CNAME', 'rpz-passthru'],
      ['*.member.isp.example.garden-allow.rpz.mamori', 'CNAME', 'rpz-passthru'],
      ['av.example.garden-allow.rpz.mamori', 'CNAME', 'rpz-passthru'],
      ['member.isp.example.garden-allow.rpz.mamori', 'CNAME', 'rpz-passthru'],
    ]);
    await running.stop();
    assert.deepEqual(ok.m.policyZones.origins, ['cc.rpz.mamori'], 'both garden zones withdrawn');
    await ok.m.policyZones.stop();
  });

  it('refuses to start with the garden on until its basis is confirmed, naming what is missing', async () => {
    await assert.rejects(
      openTest(
        GARDEN_YAML(true)
          .replace(/ {6}basisConfirmedBy.*\n/, '')
          .replace(/ {6}address.*\n/, ''),
      ),
      (err: Error) =>
        /basisConfirmedBy/.test(err.message) && /do not state a legal basis/.test(err.message) && /\.address/.test(err.message),
    );
  });
});
