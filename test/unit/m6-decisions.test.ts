/**
 * M6's decisions: review by default, whitelisted domains never blocked,
 * automatic rules only above the confidence and only for their TTL, the rule
 * for an attacked domain blocking its subdomains but not its known names, and
 * rules ending when the attack stops.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RpzZone } from '../../src/dns/rpz.js';
import { BlockDecisions, DecisionError, type DecisionSettings } from '../../src/measures/ddos-dns-blocking/decisions.js';
import type { Candidate } from '../../src/measures/ddos-dns-blocking/random-subdomain.js';

const S: DecisionSettings = {
  autoBlock: { enabled: false, minConfidence: 0.9, ttlMs: 600_000 },
  quietAfterMs: 120_000,
  maxRuleMs: 7 * 86_400_000,
  rejectForMs: 3_600_000,
};
const T0 = 1_795_520_000_000;
const cand = (domain: string, at: number, confidence = 0.8): Candidate => ({
  domain,
  at,
  distinct: 2500,
  baseline: 3,
  queries: 2600,
  failureShare: 0.95,
  randomness: 0.7,
  confidence,
  explanation: { ja: 'ja', en: 'en' },
});
const records = (z: RpzZone) => {
  z.bump();
  return z.list().map((r) => `${r.name} ${r.data}`);
};

function setup(s: DecisionSettings = S, whitelist: string[] = ['popular.example']) {
  const zone = new RpzZone('ddos.rpz.isp.test');
  const d = new BlockDecisions(
    zone,
    s,
    (x) => whitelist.includes(x),
    (x) => (x === 'victim.example' ? ['www.victim.example', 'mail.victim.example', 'victim.example'] : []),
  );
  return { zone, d };
}

describe('M6 decisions', () => {
  it('queues a candidate for review and blocks only when a person approves: the subdomains, not the known names', () => {
    const { zone, d } = setup();
    const audit = d.onCandidates([cand('victim.example', T0)], T0);
    assert.equal(d.get('victim.example')!.status, 'pending');
    assert.deepEqual(
      audit.map((a) => a.action),
      ['m6.candidate'],
    );
    assert.deepEqual(records(zone), [], 'nothing blocked before review');
    d.approve('victim.example', 'user:noc', T0 + 1000);
    // Each exception also blocks the names below it: Unbound would otherwise let them through (rules.ts).
    assert.deepEqual(records(zone), [
      '*.mail.victim.example.ddos.rpz.isp.test .',
      '*.victim.example.ddos.rpz.isp.test .',
      '*.www.victim.example.ddos.rpz.isp.test .',
      'mail.victim.example.ddos.rpz.isp.test rpz-passthru.',
      'www.victim.example.ddos.rpz.isp.test rpz-passthru.',
    ]);
  });

  it('never blocks a whitelisted domain, and says why', () => {
    const { zone, d } = setup({ ...S, autoBlock: { ...S.autoBlock, enabled: true } });
    d.onCandidates([cand('popular.example', T0, 0.99)], T0);
    assert.equal(d.get('popular.example')!.status, 'whitelisted');
    assert.throws(
      () => d.approve('popular.example', 'user:noc', T0),
      (e: unknown) => e instanceof DecisionError && /whitelist/.test(e.message),
    );
    assert.deepEqual(records(zone), []);
  });

  it('blocks automatically only above the confidence, for its TTL, renewed while the attack goes on', () => {
    const { zone, d } = setup({ ...S, autoBlock: { enabled: true, minConfidence: 0.9, ttlMs: 600_000 } });
    d.onCandidates([cand('low.example', T0, 0.85)], T0);
    assert.equal(d.get('low.example')!.status, 'pending');
    d.onCandidates([cand('victim.example', T0, 0.95)], T0);
    assert.equal(d.get('victim.example')!.status, 'active');
    assert.equal(d.get('victim.example')!.expiresAt, T0 + 600_000);
    d.onCandidates([cand('victim.example', T0 + 300_000, 0.95)], T0 + 300_000);
    assert.equal(d.get('victim.example')!.expiresAt, T0 + 900_000, 'renewed');
    assert.ok(records(zone).includes('*.victim.example.ddos.rpz.isp.test .'));
  });

  it('ends a rule when the attack has been quiet, and takes it out of the zone', () => {
    const { zone, d } = setup();
    d.onCandidates([cand('victim.example', T0)], T0);
    d.approve('victim.example', 'user:noc', T0);
    assert.deepEqual(d.sweep(T0 + 60_000), []);
    const ended = d.sweep(T0 + 121_000);
    assert.deepEqual(
      ended.map((a) => a.action),
      ['m6.rule.end'],
    );
    assert.equal(d.get('victim.example')!.status, 'ended');
    assert.deepEqual(records(zone), []);
  });

  it('keeps a rejected domain out of the queue for a while', () => {
    const { d } = setup();
    d.onCandidates([cand('victim.example', T0)], T0);
    d.reject('victim.example', 'user:noc', "a customer's test");
    d.onCandidates([cand('victim.example', T0 + 60_000)], T0 + 60_000);
    assert.equal(d.get('victim.example')!.status, 'rejected');
    d.onCandidates([cand('victim.example', T0 + 4_000_000)], T0 + 4_000_000);
    assert.equal(d.get('victim.example')!.status, 'pending');
  });
  it('lets through at most maxExceptions names, the most popular first, and says how many were left out', () => {
    const zone = new RpzZone('ddos.rpz.isp.test');
    const popular = Array.from({ length: 10 }, (_, i) => `h${i}.victim.example`);
    const d = new BlockDecisions(
      zone,
      { ...S, maxExceptions: 3 },
      () => false,
      () => popular,
    );
    d.onCandidates([cand('victim.example', T0)], T0);
    d.approve('victim.example', 'user:noc', T0);
    assert.deepEqual(d.get('victim.example')!.exceptions, ['h0.victim.example', 'h1.victim.example', 'h2.victim.example']);
    assert.equal(d.get('victim.example')!.exceptionsLeftOut, 7);
    d.reject('victim.example', 'user:noc', 'ended by hand');
    assert.deepEqual(records(zone), [], 'every record of the rule leaves the zone');
  });

  it("whitelists a customer's zone by its registrable domain", () => {
    const { d } = setup(S, ['example.jp']);
    d.onCandidates([cand('shop.example.jp', T0)], T0);
    assert.equal(d.get('shop.example.jp')!.status, 'whitelisted');
  });

  it('never dates evidence after now: a candidate from a resolver clock in year 3005, or one stored so, still ends when quiet', () => {
    const y3005 = Date.UTC(3005, 0, 1);
    const { d } = setup();
    d.onCandidates([cand('victim.example', y3005)], T0);
    assert.equal(d.get('victim.example')!.lastSeen, T0);
    d.sweep(T0 + S.quietAfterMs + 1);
    assert.equal(d.get('victim.example')!.status, 'ended');
    const { d: restored } = setup();
    restored.restore([{ ...d.get('victim.example')!, status: 'pending', firstSeen: y3005, lastSeen: y3005 }], T0);
    assert.equal(restored.get('victim.example')!.lastSeen, T0);
    restored.sweep(T0 + S.quietAfterMs + 1);
    assert.equal(restored.get('victim.example')!.status, 'ended');
  });
});
