/**
 * M6's random-subdomain detector on synthetic resolver traffic: popular
 * domains with Zipf-like popularity and realistic subdomains (a CDN with
 * thousands of machine-made hostnames among them), then a random-subdomain
 * attack on a victim domain. Detected within two intervals of the onset, and
 * no benign domain is ever a candidate — with or without the attack.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DnsEvent } from '../../src/ingest/dnstap/dnstap.js';
import { hashName, HyperLogLog } from '../../src/measures/ddos-dns-blocking/hyperloglog.js';
import {
  DEFAULT_RANDOM_SUBDOMAIN,
  labelRandomness,
  RandomSubdomainDetector,
  registrableDomain,
  type Candidate,
} from '../../src/measures/ddos-dns-blocking/random-subdomain.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const randomLabel = (r: () => number, n: number) => Array.from({ length: n }, () => ALNUM[Math.floor(r() * 36)]).join('');

/** Benign resolver traffic: 500 domains, Zipf popularity, each with its own subdomains; one CDN with 5,000 machine-made hostnames. */
function benign(seed: number) {
  const r = rng(seed);
  const domains = Array.from({ length: 500 }, (_, i) => `site${i}.co.jp`);
  const subs = ['www', 'mail', 'api', 'static', 'img', 'cdn', 'login', 'm', 'shop', 'news'];
  const weights = domains.map((_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const cdnHosts = Array.from({ length: 5000 }, () => `r${Math.floor(r() * 9)}---sn-${randomLabel(r, 8)}`);
  return (): { qname: string; rcode: number } => {
    if (r() < 0.08) return { qname: `${cdnHosts[Math.floor(r() ** 2 * cdnHosts.length)]}.videocdn.example`, rcode: 0 };
    let x = r() * total;
    let i = 0;
    while (x > weights[i]! && i < weights.length - 1) x -= weights[i++]!;
    const sub = r() < 0.02 ? `typo${Math.floor(r() * 50)}` : subs[Math.floor(r() ** 1.5 * subs.length)]!;
    return { qname: `${sub}.${domains[i]}`, rcode: sub.startsWith('typo') ? 3 : 0 };
  };
}

/** Seconds of traffic as dnstap events (a query and its response each), benign qps plus an optional attack. */
function traffic(o: {
  seconds: number;
  benignQps: number;
  attackQps?: number;
  attackFrom?: number;
  attackAnswered?: boolean;
  seed: number;
}): DnsEvent[] {
  const next = benign(o.seed);
  const r = rng(o.seed + 1);
  const events: DnsEvent[] = [];
  const start = 1_795_520_000_000;
  for (let sec = 0; sec < o.seconds; sec++) {
    const attack = o.attackQps && sec >= (o.attackFrom ?? 0) ? o.attackQps : 0;
    const n = o.benignQps + attack;
    for (let k = 0; k < n; k++) {
      const t = start + sec * 1000 + Math.floor((k / n) * 1000);
      const q = k < attack ? { qname: `${randomLabel(r, 12)}.victim.example`, rcode: 2 } : next();
      events.push({ kind: 'query', timeMs: t, qname: q.qname, qtype: 1, rcode: 0, size: 0 });
      // A stalled resolver (the victim's servers overwhelmed) answers the attack names late or never.
      if (k >= attack || o.attackAnswered !== false)
        events.push({ kind: 'response', timeMs: t + 2, qname: q.qname, qtype: 1, rcode: q.rcode, size: 120 });
    }
  }
  events.sort((a, b) => a.timeMs - b.timeMs);
  return events;
}

function detect(events: DnsEvent[]): Candidate[] {
  const d = new RandomSubdomainDetector();
  const found: Candidate[] = [];
  for (let i = 0; i < events.length; i += 4096) found.push(...d.add(events.slice(i, i + 4096)));
  found.push(...d.closeInterval());
  return found;
}

describe('M6 random-subdomain detection', () => {
  it("counts distinct names within HyperLogLog's error", () => {
    for (const n of [50, 1000, 50_000]) {
      const h = new HyperLogLog();
      for (let i = 0; i < n; i++) {
        h.add(hashName(`n${i}.victim.example`));
        h.add(hashName(`n${i}.victim.example`));
      }
      const e = h.estimate();
      assert.ok(Math.abs(e - n) / n < 0.2, `${n}: estimated ${e.toFixed(0)}`);
    }
  });

  it('scores machine-made labels high and human ones low', () => {
    for (const l of ['www', 'mail', 'static', 'api-eu', 'login', 'shopping', 'download', 'newsletter', 'marketing'])
      assert.ok(labelRandomness(l) < 0.35, `${l}: ${labelRandomness(l)}`);
    const r = rng(5);
    const scores = Array.from({ length: 200 }, () => labelRandomness(randomLabel(r, 12)));
    // The detector judges the mean over the names of an interval, not each label.
    const mean = scores.reduce((x, y) => x + y, 0) / scores.length;
    assert.ok(mean >= DEFAULT_RANDOM_SUBDOMAIN.minRandomness + 0.05, `mean of random labels ${mean.toFixed(3)}`);
    assert.ok(scores.filter((x) => x >= DEFAULT_RANDOM_SUBDOMAIN.minRandomness).length > 150);
  });

  it('groups names by registrable domain (public suffix list)', () => {
    assert.equal(registrableDomain('a.b.victim.example'), 'victim.example');
    assert.equal(registrableDomain('www.city.shibuya.tokyo.jp'), 'city.shibuya.tokyo.jp');
    assert.equal(registrableDomain('x.user1.github.io'), 'user1.github.io');
    assert.equal(registrableDomain('a\\001b.odd.example'), 'odd.example');
  });

  it('flags no benign domain in 60 s of benign traffic (CDN with machine-made hostnames included)', () => {
    assert.deepEqual(
      detect(traffic({ seconds: 60, benignQps: 2000, seed: 1 })).map((c) => c.domain),
      [],
    );
  });

  it('finds the attacked domain within two intervals of the onset, and nothing else', () => {
    const onset = 30;
    const found = detect(traffic({ seconds: 60, benignQps: 2000, attackQps: 500, attackFrom: onset, seed: 2 }));
    assert.deepEqual([...new Set(found.map((c) => c.domain))], ['victim.example']);
    const first = found[0]!;
    const onsetMs = 1_795_520_000_000 + onset * 1000;
    assert.ok(first.at - onsetMs <= 2 * DEFAULT_RANDOM_SUBDOMAIN.intervalMs, `detected ${first.at - onsetMs} ms after the onset`);
    assert.ok(first.confidence > 0.6, String(first.confidence));
    assert.match(first.explanation.ja, /victim\.example の配下で/);
    assert.match(first.explanation.en, /random-subdomain attack/);
  });

  it('finds it as well when the resolver stops answering the attack names (no responses at all)', () => {
    // From 35 s: after the zone's own warm-up (30 s), before which nothing is judged.
    const found = detect(traffic({ seconds: 55, benignQps: 2000, attackQps: 500, attackFrom: 35, attackAnswered: false, seed: 3 }));
    assert.deepEqual([...new Set(found.map((c) => c.domain))], ['victim.example']);
    assert.ok(found[0]!.failureShare > 0.9);
  });

  it('remembers the names that resolved in normal times, and none from an attack', () => {
    const d = new RandomSubdomainDetector();
    const events = traffic({ seconds: 40, benignQps: 2000, attackQps: 500, attackFrom: 20, seed: 4 });
    // The victim has normal names too, before the attack.
    const before = Array.from({ length: 20 }, (_, i) => [
      { kind: 'query' as const, timeMs: 1_795_520_000_000 + i * 1000, qname: 'www.victim.example', qtype: 1, rcode: 0, size: 0 },
      { kind: 'response' as const, timeMs: 1_795_520_000_000 + i * 1000 + 1, qname: 'www.victim.example', qtype: 1, rcode: 0, size: 80 },
    ]).flat();
    const all = [...events, ...before].sort((a, b) => a.timeMs - b.timeMs);
    for (let i = 0; i < all.length; i += 4096) d.add(all.slice(i, i + 4096));
    assert.deepEqual(d.knownNames('victim.example'), ['www.victim.example']);
    assert.ok(d.knownNames('site0.co.jp').includes('www.site0.co.jp'));
    assert.ok(d.knownNames('site0.co.jp').length <= 32);
  });

  it('keeps memory bounded: at most maxDomains followed, the rest counted', () => {
    const d = new RandomSubdomainDetector({ ...DEFAULT_RANDOM_SUBDOMAIN, maxDomains: 100 });
    d.add(
      Array.from({ length: 1000 }, (_, i) => ({
        kind: 'query' as const,
        timeMs: 1_795_520_000_000 + i,
        qname: `www.d${i}.example`,
        qtype: 1,
        rcode: 0,
        size: 0,
      })),
    );
    // The tree's nodes: the top-level domain and 99 domains under it; every other name is counted.
    assert.equal(d.tracked, 100);
    assert.equal(d.untracked, 901);
  });
});
