/**
 * Issue 18, on the detector: the attacked zone is the deepest common suffix
 * above the random labels, at any depth and under any suffix (a customer's
 * zone under a provider's domain, a new zone directly under co.jp, random
 * labels below www); legitimate high-cardinality zones (a DNSBL, reverse-IP
 * lookups, a hash lookup, a CDN's hashed hostnames) are never candidates from
 * a cold start, nor after a restart with the stored baselines; every label
 * shape (hex, long, short, dictionary words) at 200 qps reaches the default
 * automatic-blocking confidence (0.9) within two intervals; a rule's
 * exceptions are the names most used in normal times.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DnsEvent } from '../../src/ingest/dnstap/dnstap.js';
import { RandomSubdomainDetector, type Candidate } from '../../src/measures/ddos-dns-blocking/random-subdomain.js';

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
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const chars = (r: () => number, alphabet: string, n: number) =>
  Array.from({ length: n }, () => alphabet[Math.floor(r() * alphabet.length)]).join('');
const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const WORDS = (
  'apple river stone cloud green market silver garden window yellow orange summer winter spring autumn forest ocean mountain' +
  ' bridge castle dragon eagle falcon harbor island jungle kitten lemon mirror needle planet rocket shadow thunder tiger violet wizard' +
  ' anchor basket candle desert engine feather guitar hammer igloo jacket kettle ladder magnet napkin office pencil quartz ribbon saddle' +
  ' tunnel umbrella valley wagon yogurt zebra copper marble velvet cotton timber meadow canyon glacier prairie lagoon summit'
).split(' ');

/** Label generators of the attacks (issue 18: hex, long, short, dictionary words, and a mix of them). */
const SHAPES: Record<string, (r: () => number) => string> = {
  hex: (r) => chars(r, '0123456789abcdef', 16),
  long: (r) => chars(r, ALNUM, 30),
  short: (r) => chars(r, ALNUM, 4),
  dictionary: (r) => `${pick(r, WORDS)}${r() < 0.5 ? pick(r, WORDS) : ''}${r() < 0.3 ? Math.floor(r() * 100) : ''}`,
  mixed: (r) => SHAPES[pick(r, ['hex', 'long', 'short', 'dictionary'])]!(r),
};

const VICTIM_NAMES = ['www', 'login', 'mail', 'api', 'static', 'img', 'news', 'shop', 'm', 'support'];

/**
 * Benign resolver traffic: sites under co.jp, customers' zones under a provider's example.jp, victims with their
 * usual names, a DNSBL (reverse-IP labels, mostly NXDOMAIN), PTR lookups, a hash lookup (MD5, mostly NXDOMAIN) and a
 * CDN with hashed hostnames — the last four with hundreds of different names per interval, all the time.
 */
function benign(seed: number) {
  const r = rng(seed);
  const sites = Array.from({ length: 300 }, (_, i) => `site${i}.co.jp`);
  const customers = Array.from({ length: 60 }, (_, i) => `shop${i}.example.jp`).concat(['victim-shop.example.jp']);
  const victims = ['victim-bank.co.jp', 'victim.example'];
  const octet = () => String(Math.floor(r() * 256));
  const cdn = Array.from({ length: 4000 }, () => `r${Math.floor(r() * 9)}---sn-${chars(r, ALNUM, 8)}.videocdn.example`);
  return (): { qname: string; rcode: number } => {
    const x = r();
    if (x < 0.06) return { qname: `${octet()}.${octet()}.${octet()}.${octet()}.zen.dnsbl.example`, rcode: r() < 0.9 ? 3 : 0 };
    if (x < 0.09) return { qname: `${octet()}.${octet()}.${octet()}.${octet()}.in-addr.arpa`, rcode: r() < 0.5 ? 3 : 0 };
    if (x < 0.13) return { qname: `${chars(r, '0123456789abcdef', 32)}.hash.malware-check.example`, rcode: r() < 0.95 ? 3 : 0 };
    if (x < 0.21) return { qname: cdn[Math.floor(r() ** 2 * cdn.length)]!, rcode: 0 };
    if (x < 0.3) return { qname: `${VICTIM_NAMES[Math.floor(r() ** 2 * VICTIM_NAMES.length)]}.${pick(r, victims)}`, rcode: 0 };
    if (x < 0.45)
      return { qname: `${pick(r, ['www', 'mail', 'www', 'login'])}.${customers[Math.floor(r() ** 2 * customers.length)]}`, rcode: 0 };
    return { qname: `${pick(r, ['www', 'www', 'mail', 'api', 'img'])}.${sites[Math.floor(r() ** 3 * sites.length)]}`, rcode: 0 };
  };
}

const T0 = 1_795_520_000_000;

/** Seconds of traffic as dnstap events, benign qps plus attack names from `attackFrom` on (answered NXDOMAIN). */
function traffic(o: {
  seconds: number;
  benignQps: number;
  seed: number;
  attack?: { qps: number; from: number; name: (r: () => number) => string };
}): DnsEvent[] {
  const next = benign(o.seed);
  const r = rng(o.seed + 100);
  const events: DnsEvent[] = [];
  for (let sec = 0; sec < o.seconds; sec++) {
    const attack = o.attack && sec >= o.attack.from ? o.attack.qps : 0;
    const n = o.benignQps + attack;
    for (let k = 0; k < n; k++) {
      const t = T0 + sec * 1000 + Math.floor((k / n) * 1000);
      // Exactly `attack` attack names a second, spread among the benign ones.
      const isAttack = Math.floor(((k + 1) * attack) / n) > Math.floor((k * attack) / n);
      const q = isAttack ? { qname: o.attack!.name(r), rcode: 3 } : next();
      events.push({ kind: 'query', timeMs: t, qname: q.qname, qtype: 1, rcode: 0, size: 0 });
      events.push({ kind: 'response', timeMs: t + 2, qname: q.qname, qtype: 1, rcode: q.rcode, size: q.rcode === 0 ? 120 : 90 });
    }
  }
  return events;
}

function run(d: RandomSubdomainDetector, events: DnsEvent[]): Candidate[] {
  const found: Candidate[] = [];
  for (let i = 0; i < events.length; i += 4096) found.push(...d.add(events.slice(i, i + 4096)));
  return found;
}

const zones = (found: Candidate[]) => [...new Set(found.map((c) => c.domain))];

describe('M6 attacked zone, baselines and confidence (issue 18)', () => {
  it(
    'a benign cold start with DNSBL, PTR, hash-lookup and ' +
      'CDN zones gives no candidate, nor does ' +
      'a restart with the stored baselines',
    () => {
      const d = new RandomSubdomainDetector();
      assert.deepEqual(zones(run(d, traffic({ seconds: 90, benignQps: 2500, seed: 11 }))), []);
      const stored = JSON.parse(JSON.stringify(d.snapshot())) as ReturnType<RandomSubdomainDetector['snapshot']>;
      assert.ok(
        stored.zones.some((z) => z.zone === 'zen.dnsbl.example' && z.baseline >= 200),
        'the DNSBL zone is stored with its baseline',
      );
      const restarted = new RandomSubdomainDetector();
      restarted.restore(stored);
      // After the restart the traffic starts again at once (new seed: other names), judged from the first interval.
      assert.deepEqual(
        zones(
          run(
            restarted,
            traffic({ seconds: 60, benignQps: 2500, seed: 12 }).map((e) => ({ ...e, timeMs: e.timeMs + 3_600_000 })),
          ),
        ),
        [],
      );
    },
  );

  it('a DNSBL and a hash lookup first asked after the warm-up, under domains never seen, wait for their own warm-up', () => {
    const d = new RandomSubdomainDetector();
    const r = rng(51);
    const octet = () => String(Math.floor(r() * 256));
    const events = traffic({ seconds: 80, benignQps: 2000, seed: 13 });
    // From 45 s, 150 lookups a second each, 90 % NXDOMAIN, under registrable domains nobody asked before.
    for (let sec = 45; sec < 80; sec++) {
      for (let k = 0; k < 300; k++) {
        const t = T0 + sec * 1000 + Math.floor((k / 300) * 1000);
        const qname =
          k % 2 === 0
            ? `${octet()}.${octet()}.${octet()}.${octet()}.bl.spamlist.example`
            : `${chars(r, '0123456789abcdef', 40)}.sha1.hashcheck.example`;
        events.push(
          { kind: 'query', timeMs: t, qname, qtype: 1, rcode: 0, size: 0 },
          { kind: 'response', timeMs: t + 2, qname, qtype: 1, rcode: r() < 0.9 ? 3 : 0, size: 90 },
        );
      }
    }
    events.sort((a, b) => a.timeMs - b.timeMs);
    assert.deepEqual(zones(run(d, events)), []);
  });

  for (const [title, victimZone, name] of [
    [
      "a customer's zone under a provider's domain",
      'victim-shop.example.jp',
      (r: () => number) => `${SHAPES.long!(r)}.victim-shop.example.jp`,
    ],
    ['a zone never seen before, directly under co.jp', 'x.co.jp', (r: () => number) => `${SHAPES.hex!(r)}.x.co.jp`],
    ['random labels below www (depth 2)', 'www.victim-bank.co.jp', (r: () => number) => `${SHAPES.long!(r)}.www.victim-bank.co.jp`],
    ['random labels at two levels', 'victim.example', (r: () => number) => `${SHAPES.short!(r)}.${SHAPES.hex!(r)}.victim.example`],
  ] as const) {
    it(`finds the attacked zone, not the registrable domain: ${title}`, () => {
      const d = new RandomSubdomainDetector();
      const found = run(d, traffic({ seconds: 70, benignQps: 2500, seed: 21, attack: { qps: 300, from: 45, name } }));
      assert.deepEqual(zones(found), [victimZone]);
      assert.ok(found[0]!.at - (T0 + 45_000) <= 10_000, `detected ${found[0]!.at - T0 - 45_000} ms after the onset`);
    });
  }

  it('finds a new zone attacked from the last second of an interval: that partial interval does not become its baseline', () => {
    // Seen through Unbound: 1 s of the attack (under 200 names) in the first interval, then 5 s intervals of ~750.
    const d = new RandomSubdomainDetector();
    const found = run(
      d,
      traffic({ seconds: 70, benignQps: 2500, seed: 41, attack: { qps: 150, from: 49, name: (r) => `${SHAPES.short!(r)}.x.co.jp` } }),
    );
    assert.deepEqual(zones(found), ['x.co.jp']);
  });

  it('finds an attack when the resolver drops most of its dnstap query messages (the responses name the same names)', () => {
    // BIND under load dropped a third of its dnstap messages; here 85 % of the query messages are lost.
    const r = rng(61);
    const events = traffic({
      seconds: 60,
      benignQps: 2500,
      seed: 17,
      attack: { qps: 200, from: 45, name: (x) => `${SHAPES.hex!(x)}.victim-corp.jp` },
    }).filter((e) => e.kind === 'response' || r() >= 0.85);
    const found = run(new RandomSubdomainDetector(), events);
    assert.deepEqual(zones(found), ['victim-corp.jp']);
  });

  for (const shape of Object.keys(SHAPES)) {
    it(`${shape} labels at 200 qps reach the default automatic-blocking confidence (0.9) within 10 s`, () => {
      const d = new RandomSubdomainDetector();
      const found = run(
        d,
        traffic({
          seconds: 60,
          benignQps: 2500,
          seed: 31,
          attack: { qps: 200, from: 42, name: (r) => `${SHAPES[shape]!(r)}.victim-bank.co.jp` },
        }),
      );
      assert.deepEqual(zones(found), ['victim-bank.co.jp']);
      const soon = found.filter((c) => c.at <= T0 + 52_000);
      const best = Math.max(0, ...soon.map((c) => c.confidence));
      assert.ok(
        best >= 0.9,
        `confidence within 10 s: ${best.toFixed(3)} (${found.map((c) => `${c.at - T0}:${c.confidence.toFixed(2)}`).join(' ')})`,
      );
    });
  }

  it("takes a rule's exceptions by popularity in normal times, not by recency", () => {
    const d = new RandomSubdomainDetector();
    const ev: DnsEvent[] = [];
    // 40 names under the victim: login asked 50 times a second, the others once every few seconds; the rare ones last.
    for (let sec = 0; sec < 60; sec++) {
      const names = [
        ...Array.from({ length: 50 }, () => 'login.victim.example'),
        ...Array.from({ length: 10 }, () => 'www.victim.example'),
      ];
      if (sec % 3 === 0) for (let i = 0; i < 38; i++) names.push(`host${i}.victim.example`);
      names.forEach((qname, k) => {
        const t = T0 + sec * 1000 + k;
        ev.push(
          { kind: 'query', timeMs: t, qname, qtype: 1, rcode: 0, size: 0 },
          { kind: 'response', timeMs: t + 1, qname, qtype: 1, rcode: 0, size: 80 },
        );
      });
    }
    run(d, ev);
    const known = d.knownNames('victim.example');
    assert.deepEqual(known.slice(0, 2), ['login.victim.example', 'www.victim.example']);
    assert.equal(known.length, 40);
  });

  it('forgets a normal name once it has not resolved for the retention of names, in memory and in the snapshot', () => {
    const d = new RandomSubdomainDetector();
    const ev: DnsEvent[] = [];
    // www resolves for the first 10 s only, login for the whole minute.
    for (let sec = 0; sec < 60; sec++) {
      for (const qname of sec < 10 ? ['www.victim.example', 'login.victim.example'] : ['login.victim.example']) {
        const t = T0 + sec * 1000;
        ev.push(
          { kind: 'query', timeMs: t, qname, qtype: 1, rcode: 0, size: 0 },
          { kind: 'response', timeMs: t + 1, qname, qtype: 1, rcode: 0, size: 80 },
        );
      }
    }
    run(d, ev);
    const www = d.snapshot().names.find((n) => n.name === 'www.victim.example')!;
    assert.ok(www.lastSeen <= T0 + 10_000, `www last resolved at ${www.lastSeen - T0} ms`);
    d.forgetNames(T0 + 30_000);
    assert.deepEqual(d.knownNames('victim.example'), ['login.victim.example']);
    assert.deepEqual(
      d.snapshot().names.map((n) => n.name),
      ['login.victim.example'],
    );
  });
});
