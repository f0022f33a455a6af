/**
 * The capability broker against the real embedded engine (chdb): what a
 * measure declared is granted, anything else is refused and the refusal audited.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { Mamori } from '../../src/app/mamori.js';
import { CapabilityRefusedError, type ActionCapability, type PurposeBoundAnalytics } from '../../src/core/capabilities.js';
import { ALL_MEASURES } from '../../src/measures/index.js';
import { openTest, runnableMeasure, tempDir } from '../support/fixtures.js';

const flowLike = runnableMeasure();
const dnsLike = runnableMeasure({
  id: 'dns-test',
  code: 'M91',
  dataItems: [{ item: 'dns.qname', retention: '1d', use: { ja: '試験', en: 'testing' } }],
  outputs: ['rpz-rules'],
});
const disabled = runnableMeasure({ id: 'off-test', code: 'M92' });
// Declares every action and input of the broker besides the DNS ones: disconnects, suspensions, sharing, account IDs.
const actor = runnableMeasure({
  id: 'act-test',
  code: 'M93',
  dataItems: [{ item: 'aaa.account-id', retention: '1d', use: { ja: '試験', en: 'testing' } }],
  outputs: ['disconnects', 'auth-suspensions', 'shared-indicators'],
  maxActionDuration: '1d',
});
// M7 with a do-nothing implementation, enabled, to show what the broker does with its real declaration.
// M7's declaration and tables, with a do-nothing start (its own needs prefixes and SMTP): what the broker grants it.
const m7 = {
  declaration: ALL_MEASURES[6]!.declaration,
  migrations: ALL_MEASURES[6]!.migrations,
  stateTables: ALL_MEASURES[6]!.stateTables,
  implementation: {
    async start() {
      return { async stop() {} };
    },
  },
};

async function lastAudit(m: Mamori) {
  const head = await m.audit.head();
  for await (const e of m.audit.entries()) if (e.seq === head.seq) return e;
  throw new Error('empty log');
}

async function refused(m: Mamori, promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof CapabilityRefusedError, String(err));
    assert.match(err.message, pattern);
    return true;
  });
  const e = await lastAudit(m);
  assert.equal(e.action, 'capability.refused');
  assert.equal(e.outcome, 'refused');
}

describe('capability broker', () => {
  let m: Mamori;
  let handle: PurposeBoundAnalytics;

  before(async () => {
    m = await openTest(
      'measures:\n  test-measure: { enabled: true }\n  dns-test: ' +
        '{ enabled: true }\n  act-test: { ' +
        'enabled: true }\n  infected-host-alert: { enabled: true }\n',
      {
        analytics: true,
        measures: [...ALL_MEASURES.filter((x) => x.declaration.code !== 'M7'), m7, flowLike, dnsLike, actor, disabled],
      },
    );
    await m.analytics!.exec('CREATE DATABASE IF NOT EXISTS t_flows');
    await m.analytics!.exec('CREATE TABLE t_flows.flows (ts DateTime, dst IPv6, dport UInt16) ENGINE = MergeTree ORDER BY ts');
    await m.analytics!.exec('CREATE TABLE t_flows.other (ts DateTime, name String) ENGINE = MergeTree ORDER BY ts');
    await m.analytics!.insert(
      't_flows.flows',
      'TSV',
      Buffer.from('2026-11-24 00:00:00\t::ffff:192.0.2.1\t443\n2026-11-24 00:01:00\t::ffff:192.0.2.1\t443\n'),
    );
    m.datasets.register({
      name: 'test-flows',
      store: 'analytics',
      table: 't_flows.flows',
      timeColumn: 'ts',
      items: ['flow.addresses', 'flow.ports'],
      owner: 'test-measure',
    });
    m.datasets.register({
      name: 'other',
      store: 'analytics',
      table: 't_flows.other',
      timeColumn: 'ts',
      items: ['dns.qname'],
      owner: 'dns-test',
    });
    handle = await m.broker.forMeasure('test-measure').analyticsRead(['test-flows']);
  });

  it('grants a measure its own dataset and audits every query with counts', async () => {
    const rows = await handle.query<{ n: string }>(`SELECT count() AS n FROM ${handle.table('test-flows')} WHERE dport = {p:UInt16}`, {
      p: 443,
    });
    assert.equal(Number(rows[0]!.n), 2);
    const e = await lastAudit(m);
    assert.deepEqual([e.action, e.measure, e.object, e.counts], ['analytics.read', 'test-measure', 'dataset:test-flows', { rows: 1 }]);
  });

  it('allows CTEs and subqueries over granted tables', async () => {
    const rows = await handle.query(
      `WITH c AS (SELECT dst FROM t_flows.flows) SELECT count() FROM c WHERE dst IN (SELECT dst FROM t_flows.flows)`,
    );
    assert.equal(rows.length, 1);
  });

  it('refuses a query that reads another table', async () => {
    await refused(m, handle.query('SELECT * FROM t_flows.other'), /reads t_flows\.other/);
    await refused(
      m,
      handle.query('SELECT 1 FROM t_flows.flows WHERE dst IN (SELECT toIPv6(name) FROM t_flows.other)'),
      /reads t_flows\.other/,
    );
    await refused(m, handle.query('SELECT 1 FROM t_flows.flows WHERE ts IN t_flows.other'), /refers to t_flows\.other/);
    await refused(m, handle.query('SELECT name FROM system.tables'), /reads system\.tables/);
  });

  it('refuses table functions and dictionary reads', async () => {
    await refused(m, handle.query("SELECT * FROM file('/etc/passwd', 'LineAsString')"), /table function file\(\)/);
    await refused(m, handle.query("SELECT * FROM merge('t_flows', '.*')"), /table function merge\(\)/);
    await refused(m, handle.query("SELECT dictGet('d', 'a', 1) FROM t_flows.flows"), /dictGet\(\) reads data/);
  });

  it('refuses anything but SELECT', async () => {
    await refused(m, handle.query('INSERT INTO t_flows.flows SELECT * FROM t_flows.flows'), /only SELECT/);
    await refused(m, handle.query('ALTER TABLE t_flows.flows DELETE WHERE 1'), /only SELECT/);
    await refused(m, handle.query('DROP TABLE t_flows.flows'), /only SELECT/);
  });

  it('refuses a dataset collected for another measure (purpose limitation)', async () => {
    const dns = m.broker.forMeasure('dns-test');
    await refused(m, dns.analyticsRead(['test-flows']), /holds flow\.addresses, flow\.ports, which M91 does not declare/);
    await refused(m, m.broker.forMeasure('test-measure').analyticsRead(['other']), /holds dns\.qname, which M90 does not declare/);
  });

  it("refuses M1's flow records to M7: they may not be used to find infected subscribers", async () => {
    await refused(
      m,
      m.broker.forMeasure('infected-host-alert').analyticsRead(['flows']),
      /holds flow\.addresses, .*which M7 does not declare/,
    );
  });

  it("refuses M3's blocked-query log, the resolvers' queries and M1's candidates to M7: its data is third parties' reports", async () => {
    const m7caps = m.broker.forMeasure('infected-host-alert');
    await refused(m, m7caps.action('dnstap-input'), /M7 does not declare the data item "dns\.qname"/);
    await refused(m, m7caps.action('candidate-feed'), /M7 does not declare the data item "cc\.candidate"/);
    await refused(m, m7caps.action('accounting-feed'), /M7 does not declare the data item "aaa\.account-id"/);
    const own = await m7caps.ownState();
    await assert.rejects(
      own.store.db
        .selectFrom('m3_blocked' as never)
        .selectAll()
        .execute(),
      /may not .*m3_blocked/,
    );
    await assert.rejects(
      own.store.db
        .selectFrom('m3_consent' as never)
        .selectAll()
        .execute(),
      /may not .*m3_consent/,
    );
    await own.refusalsAudited();
    const e = await lastAudit(m);
    assert.deepEqual([e.action, e.outcome, e.measure], ['capability.refused', 'refused', 'infected-host-alert']);
    // What it declared it gets: its own tables, the lookup, cases and the notifier.
    await own.store.db
      .selectFrom('m7_alerts' as never)
      .selectAll()
      .execute();
    await m7caps.action('subscriber-lookup');
  });

  it('refuses an unknown dataset, a disabled measure and an unknown measure', async () => {
    await refused(m, m.broker.forMeasure('test-measure').analyticsRead(['nope']), /dataset "nope" does not exist/);
    await refused(m, m.broker.forMeasure('off-test').analyticsRead(['test-flows']), /the measure is disabled/);
    await refused(m, m.broker.forMeasure('ghost').analyticsRead(['test-flows']), /no such measure/);
  });

  it('refuses an action capability the declaration does not allow', async () => {
    await refused(m, m.broker.forMeasure('test-measure').action('subscriber-lookup'), /M90 may not identify subscribers/);
    await refused(m, m.broker.forMeasure('test-measure').action('sharer'), /does not declare the output "shared-indicators"/);
    await refused(m, m.broker.forMeasure('dns-test').action('notifier'), /does not declare the output "subscriber-notices"/);
  });

  it('grants each action and input to a measure that declares it, and only to it (issue 15: actions only through the broker)', async () => {
    // What each capability is, as the measures use it: the methods they call.
    const granted: Array<[string, ActionCapability, string]> = [
      ['dns-test', 'policy-zone-writer', 'serve'],
      ['dns-test', 'dnstap-input', 'start'],
      ['dns-test', 'resolver-log-input', 'readBlocked'],
      ['infected-host-alert', 'report-input', 'ready'],
      ['act-test', 'disconnector', 'disconnect'],
      ['act-test', 'auth-suspender', 'answer'],
      ['act-test', 'auth-feed', 'subscribe'],
      ['act-test', 'sharer', 'serve'],
    ];
    for (const [measure, capability, method] of granted) {
      const got = await m.broker.forMeasure(measure).action<Record<string, unknown>>(capability);
      assert.equal(typeof got[method], 'function', `${measure} ${capability}.${method}`);
      const e = await lastAudit(m);
      assert.deepEqual([e.action, e.measure, e.object], ['capability.grant', measure, `capability:${capability}`]);
    }
    // A measure that did not declare the output (or the item) gets none of them, and each refusal is audited.
    await refused(m, m.broker.forMeasure('test-measure').action('policy-zone-writer'), /does not declare the output "rpz-rules"/);
    await refused(m, m.broker.forMeasure('test-measure').action('dnstap-input'), /does not declare the data item "dns\.qname"/);
    await refused(m, m.broker.forMeasure('act-test').action('resolver-log-input'), /does not declare the data item "dns\.qname"/);
    await refused(m, m.broker.forMeasure('dns-test').action('report-input'), /does not declare the data item "report\.host"/);
    await refused(m, m.broker.forMeasure('dns-test').action('flow-input'), /does not declare the data item "flow\.addresses"/);
    await refused(m, m.broker.forMeasure('dns-test').action('disconnector'), /does not declare the output "disconnects"/);
    await refused(m, m.broker.forMeasure('dns-test').action('auth-suspender'), /does not declare the output "auth-suspensions"/);
    await refused(m, m.broker.forMeasure('dns-test').action('auth-feed'), /does not declare the data item "aaa\.account-id"/);
    await refused(m, m.broker.forMeasure('act-test').action('policy-zone-writer'), /does not declare the output "rpz-rules"/);
    await refused(m, m.broker.forMeasure('off-test').action('sharer'), /the measure is disabled/);
  });

  it("reads a file the measure's settings name, and refuses any other path (a measure opens no file itself)", async () => {
    const list = join(tempDir(), 'top-1m.csv');
    writeFileSync(list, '1,example.jp\n');
    const o = await openTest(`measures:\n  ddos-dns-blocking:\n    enabled: true\n    whitelist: { file: ${JSON.stringify(list)} }\n`);
    const caps = o.broker.forMeasure('ddos-dns-blocking');
    assert.equal((await caps.settingsFile(list)).toString('utf8'), '1,example.jp\n');
    await refused(o, caps.settingsFile('/etc/passwd'), /\/etc\/passwd is not a file the measure's settings name/);
    await refused(o, o.broker.forMeasure('cc-detection').settingsFile(list), /the measure is disabled/);
  });

  it('refuses a dataset registration that holds items its owner did not declare', () => {
    assert.throws(
      () =>
        m.datasets.register({
          name: 'bad',
          store: 'analytics',
          table: 'x.y',
          timeColumn: 'ts',
          items: ['flow.addresses', 'aaa.account-id'],
          owner: 'test-measure',
        }),
      /holds aaa\.account-id, which M90 does not declare/,
    );
  });
});
