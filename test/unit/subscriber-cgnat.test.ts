/**
 * Behind CGNAT: deterministic NAT computed both ways, port-block logs, and
 * lookups that need the source port; static assignments from CSV.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Mamori } from '../../src/app/mamori.js';
import { DeterministicMap, parsePortBlockLine } from '../../src/subscriber/cgnat.js';
import type { SubscriberLookup } from '../../src/subscriber/service.js';
import { ALL_MEASURES } from '../../src/measures/index.js';
import { openTest, identifyingMeasure, runnableMeasure } from '../support/fixtures.js';

const identifier = identifyingMeasure();
/** Identifies subscribers too, but declares assigned addresses for 30 days only. */
const shortLived = runnableMeasure({
  id: 'lookup-short',
  code: 'M91',
  identifiesSubscribers: true,
  dataItems: [
    { item: 'aaa.assigned-address', retention: '30d', use: { ja: '試験', en: 'testing' } },
    { item: 'subscriber.id', retention: '30d', use: { ja: '試験', en: 'testing' } },
  ],
  outputs: [],
});

describe('deterministic NAT (RFC 7422)', () => {
  const map = new DeterministicMap({
    insidePrefix: '100.64.0.0/22',
    outsidePrefix: '203.0.113.0/28',
    portsPerSubscriber: 1000,
    firstPort: 1024,
  });

  it('maps each inside address to its own port range and back', () => {
    assert.deepEqual(map.toOutside('100.64.0.0'), { address: '203.0.113.0', firstPort: 1024, lastPort: 2023 });
    assert.deepEqual(map.toOutside('100.64.0.65'), { address: '203.0.113.1', firstPort: 2024, lastPort: 3023 });
    assert.equal(map.toInside('203.0.113.1', 2500), '100.64.0.65');
    assert.equal(map.toInside('203.0.113.1', 80), undefined, 'below the first port');
    assert.equal(map.toInside('198.51.100.1', 2500), undefined, 'not an outside address');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1023 }), (i) => {
        const inside = `100.64.${i >> 8}.${i & 255}`;
        const o = map.toOutside(inside);
        assert.equal(map.toInside(o.address, o.firstPort), inside);
        assert.equal(map.toInside(o.address, o.lastPort), inside);
      }),
      { numRuns: 300, seed: 4 },
    );
  });

  it('refuses a configuration whose outside ports cannot serve the inside prefix', () => {
    assert.throws(
      () =>
        new DeterministicMap({ insidePrefix: '100.64.0.0/16', outsidePrefix: '203.0.113.0/30', portsPerSubscriber: 4000, firstPort: 1024 }),
      /fewer than the 65536/,
    );
  });

  it('reads port-block log lines, naming what is wrong', () => {
    assert.deepEqual(parsePortBlockLine('2026-11-24T09:00:00Z,allocate,100.64.1.2,203.0.113.10,1024,2047'), {
      at: 1_795_510_800,
      event: 'allocate',
      inside: '100.64.1.2',
      outside: '203.0.113.10',
      firstPort: 1024,
      lastPort: 2047,
    });
    assert.match(String(parsePortBlockLine('1,2,3')), /6 fields/);
    assert.match(String(parsePortBlockLine('yesterday,allocate,100.64.1.2,203.0.113.10,1024,2047')), /not a time/);
    assert.match(String(parsePortBlockLine('1764000000,grab,100.64.1.2,203.0.113.10,1024,2047')), /allocate or release/);
    assert.match(String(parsePortBlockLine('1764000000,allocate,100.64.1.2,203.0.113.10,2047,1024')), /port range/);
    assert.match(String(parsePortBlockLine('1764000000,allocate,100.64.1.999,203.0.113.10,1024,2047')), /not an IPv4/);
  });
});

describe('lookups behind CGNAT and for static assignments', () => {
  let m: Mamori;
  let lookup: SubscriberLookup;
  const T = Math.floor(Date.now() / 1000) - 7 * 86_400;
  const at = (s: number) => new Date(s * 1000);

  before(async () => {
    m = await openTest(
      [
        'measures:\n  lookup-test: { enabled: true }\n  lookup-short: { enabled: true }',
        'ingest:\n  cgnat:\n    deterministic: [{ insidePrefix: ' +
          '"100.65.0.0/24", outsidePrefix: "203.0.113.64/30", ' +
          'portsPerSubscriber: 1000, firstPort: 1024 }]',
      ].join('\n'),
      { measures: [...ALL_MEASURES, identifier, shortLived] },
    );
    lookup = await m.broker.forMeasure('lookup-test').action<SubscriberLookup>('subscriber-lookup');
    // Inside sessions, as RADIUS would give them.
    m.subscribers.index.begin({ key: 'bras|a', subscriber: 'alice', address: '100.64.1.2', start: T - 3600 });
    m.subscribers.index.begin({ key: 'bras|b', subscriber: 'bob', address: '100.65.0.70', start: T - 3600 });
  });
  after(() => m?.close());

  it('follows a port block from the public address and port to the inside address and its subscriber', async () => {
    const r = await m.subscribers.importPortBlocks(
      [
        'time,event,inside,outside,first_port,last_port',
        `${T - 100},allocate,100.64.1.2,203.0.113.10,1024,2047`,
        `${T + 500},release,100.64.1.2,203.0.113.10,1024,2047`,
        'garbage',
      ].join('\n'),
      'cli:test',
    );
    assert.equal(r.applied, 2);
    assert.deepEqual(
      r.skipped.map((s) => s.line),
      [4],
    );
    assert.equal(
      (await m.subscribers.importPortBlocks(`${T - 100},allocate,100.64.1.2,203.0.113.10,1024,2047`, 'cli:test')).applied,
      1,
      'idempotent',
    );
    assert.deepEqual(await lookup.lookup({ caseId: 'c1', address: '203.0.113.10', at: at(T), port: 1500 }), {
      found: true,
      subscriber: 'alice',
      start: T - 3600,
      end: null,
    });
    assert.deepEqual(await lookup.lookup({ caseId: 'c1', address: '203.0.113.10', at: at(T) }), { found: false, reason: 'port-needed' });
    assert.deepEqual(await lookup.lookup({ caseId: 'c1', address: '203.0.113.10', at: at(T), port: 3000 }), {
      found: false,
      reason: 'no-session',
    });
    assert.deepEqual(
      await lookup.lookup({ caseId: 'c1', address: '203.0.113.10', at: at(T + 600), port: 1500 }),
      { found: false, reason: 'no-session' },
      'the block was released',
    );
  });

  it('answers many lookups as the single one does, audited as one entry naming the case with their counts', async () => {
    const reqs = [
      { address: '203.0.113.10', at: at(T), port: 1500 },
      { address: '203.0.113.10', at: at(T) },
      { address: '203.0.113.65', at: at(T), port: 7500 },
      { address: '100.64.1.2', at: at(T) },
      { address: '100.64.9.9', at: at(T) },
    ];
    const one: unknown[] = [];
    for (const r of reqs) one.push(await lookup.lookup({ caseId: 'single', ...r }));
    const many = await lookup.lookupMany('m7i-batch1', reqs);
    assert.deepEqual(many, one);
    const entries = [];
    for await (const e of m.audit.entries()) if (e.action === 'subscriber.lookup' && e.caseId === 'm7i-batch1') entries.push(e);
    assert.equal(entries.length, 1);
    assert.deepEqual(entries[0]!.counts, { lookups: 5, found: 3, cgnat: 3 });
    assert.equal(entries[0]!.object, 'case:m7i-batch1');
    assert.ok(!JSON.stringify(entries[0]).includes('203.0.113'), 'no address');
    await assert.rejects(lookup.lookupMany('bad case!', reqs), /names the case/);
  });

  it('reports the span a late port-block log covers (from its start), naming no address', async () => {
    const spans: Array<[number, number]> = [];
    const unfollow = lookup.onCoverage((f, t) => spans.push([f, t]));
    await m.subscribers.importPortBlocks(`${T - 50},allocate,100.64.1.2,203.0.113.11,1024,2047`, 'cli:test');
    unfollow();
    await m.subscribers.importPortBlocks(`${T - 40},allocate,100.64.1.2,203.0.113.12,1024,2047`, 'cli:test');
    assert.equal(spans.length, 1, 'once, and not after unsubscribing');
    assert.equal(spans[0]![0], T - 50);
    assert.ok(spans[0]![1] > T + 86_400 * 365, 'until further notice');
  });

  it('computes deterministic NAT from the configuration, with no log at all', async () => {
    // 100.65.0.70 is slot 70: outside 203.0.113.65 (64 slots per address), ports 7024–8023.
    const r = await lookup.lookup({ caseId: 'c2', address: '203.0.113.65', at: at(T), port: 7500 });
    assert.ok(r.found && r.subscriber === 'bob');
  });

  it('imports static assignments, skipping lines that are not assignments', async () => {
    const r = await m.subscribers.importStatic(
      [
        'subscriber,address,valid_from,valid_until',
        `corp-17,198.51.100.0/24,${T - 86400}`,
        `corp-18,2001:db8:aa00::/40,2026-01-01T00:00:00Z,2026-12-31T00:00:00Z`,
        'corp-19,not-an-address,2026-01-01T00:00:00Z',
        `corp-20,198.51.101.1,${T},${T - 5}`,
      ].join('\n'),
      'cli:test',
    );
    assert.equal(r.applied, 2);
    assert.deepEqual(
      r.skipped.map((s) => s.line),
      [4, 5],
    );
    // An IPv4 prefix is an IPv6-style prefix entry: any address inside answers.
    const v4 = await lookup.lookup({ caseId: 'c3', address: '198.51.100.77', at: at(T) });
    assert.ok(v4.found && v4.subscriber === 'corp-17', JSON.stringify(v4));
    assert.equal((await lookup.lookup({ caseId: 'c3', address: '198.51.101.77', at: at(T) })).found, false);
    const v6 = await lookup.lookup({ caseId: 'c3', address: '2001:db8:aa12::1', at: at(T) });
    assert.ok(v6.found && v6.subscriber === 'corp-18');
  });

  it('answers each measure only within its own declared retention, though the index is kept for the longest', async () => {
    const old = T - 60 * 86_400;
    m.subscribers.index.begin({ key: 'bras|old', subscriber: 'dave', address: '192.0.2.99', start: old - 3600 });
    m.subscribers.index.finish('bras|old', old + 3600);
    const short = await m.broker.forMeasure('lookup-short').action<SubscriberLookup>('subscriber-lookup');
    const answer = await short.lookup({ caseId: 'c4', address: '192.0.2.99', at: at(old) });
    assert.deepEqual(answer, { found: false, reason: 'outside-retention' });
    const r = await lookup.lookup({ caseId: 'c4', address: '192.0.2.99', at: at(old) });
    assert.ok(r.found && r.subscriber === 'dave', JSON.stringify(r));
  });
});
