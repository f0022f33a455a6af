/**
 * Random-subdomain ("DNS water torture") detection, per registrable domain,
 * from the minimised dnstap events. Time is cut into short intervals; for
 * each domain and interval: queries, distinct names (HyperLogLog), failed
 * answers (NXDOMAIN, SERVFAIL) and how machine-made the first labels look.
 * Each domain is compared with its own past: a baseline of distinct names per
 * interval, learnt only from intervals that were not flagged. A candidate
 * needs all of: many distinct names, far above the domain's baseline, and
 * either mostly failing answers or random-looking labels — a CDN with many
 * real hostnames has the first but answers them, and its labels repeat.
 *
 * Memory is bounded: at most `maxDomains` are followed (a 256-byte sketch and
 * at most 32 known-good names each); beyond that, new domains are counted as untracked until an idle one
 * is forgotten.
 */
import { getDomain } from 'tldts';
import type { DnsEvent } from '../../ingest/dnstap/dnstap.js';
import { hashName, HyperLogLog } from './hyperloglog.js';

export interface RandomSubdomainSettings {
  /** Length of an interval, ms. */
  intervalMs: number;
  /** Distinct names per interval below which a domain is never a candidate. */
  minDistinct: number;
  /** How far above its own baseline (distinct names per interval) a domain must be. */
  baselineFactor: number;
  /** Share of NXDOMAIN/SERVFAIL answers that marks an attack on its own (with enough distinct names). */
  minFailureShare: number;
  /** Label randomness (0–1) that marks an attack on its own. */
  minRandomness: number;
  maxDomains: number;
}

export const DEFAULT_RANDOM_SUBDOMAIN: RandomSubdomainSettings = {
  intervalMs: 5000,
  minDistinct: 200,
  baselineFactor: 10,
  minFailureShare: 0.5,
  minRandomness: 0.55,
  maxDomains: 100_000,
};

export interface Candidate {
  /** random-subdomain (the default): `domain` is the attacked domain; amplification: `domain` is the abused name. */
  kind?: 'random-subdomain' | 'amplification';
  domain: string;
  /** End of the interval that was judged. */
  at: number;
  distinct: number;
  baseline: number;
  queries: number;
  failureShare: number;
  randomness: number;
  confidence: number;
  explanation: { ja: string; en: string };
}

interface DomainState {
  sketch: HyperLogLog;
  queries: number;
  responses: number;
  failures: number;
  randomnessSum: number;
  randomnessSamples: number;
  /** Distinct names per interval in normal times (exponentially weighted). */
  baseline: number;
  intervals: number;
  idleIntervals: number;
  /** Names that resolved in this interval (bounded); kept as known-good if the interval was normal. */
  resolved: Set<string>;
  /** Names that resolved in normal intervals: the exceptions a block of this domain lets through. */
  known: Set<string>;
}

const KNOWN_NAMES_PER_DOMAIN = 32;

const SAMPLES_PER_INTERVAL = 64;
const BASELINE_WEIGHT = 0.2;
const FORGET_AFTER_IDLE = 120;

/**
 * How machine-made a label looks, 0–1: character entropy (weighed by length:
 * short words are always varied), digits mixed with letters, too few vowels,
 * and long runs of consonants. "www", "mail", "static", "download" score
 * below 0.35; twelve random letters and digits score about 0.6–0.8.
 */
export function labelRandomness(label: string): number {
  const n = label.length;
  if (n < 6) return 0;
  const counts = new Map<string, number>();
  let digits = 0;
  let letters = 0;
  let vowels = 0;
  let run = 0;
  let longestRun = 0;
  for (const c of label) {
    counts.set(c, (counts.get(c) ?? 0) + 1);
    const vowel = 'aeiouy'.includes(c);
    if (c >= '0' && c <= '9') digits++;
    else if (c >= 'a' && c <= 'z') {
      letters++;
      if (vowel) vowels++;
    }
    if (vowel || !(c >= 'a' && c <= 'z')) run = 0;
    else longestRun = Math.max(longestRun, ++run);
  }
  let entropy = 0;
  for (const k of counts.values()) {
    const p = k / n;
    entropy -= p * Math.log2(p);
  }
  const entropyShare = (entropy / Math.log2(Math.min(n, 36))) * Math.min(1, n / 12);
  const mixed = digits > 0 && letters > 0 ? (Math.min(digits, letters) / n) * 2 : 0;
  const fewVowels = letters > 0 ? 1 - Math.min(vowels / letters / 0.3, 1) : 0;
  const consonants = Math.min(longestRun / 5, 1);
  return Math.min(1, 0.35 * entropyShare + 0.3 * mixed + 0.2 * fewVowels + 0.15 * consonants);
}

/** The registrable domain of a name (public suffix list, private suffixes included), or its last two labels. */
export function registrableDomain(qname: string): string {
  const d = qname.includes('\\') ? null : getDomain(qname, { allowPrivateDomains: true });
  if (d) return d;
  const labels = qname.split('.');
  return labels.slice(-2).join('.');
}

/**
 * Steps through time by the events' own timestamps (the resolver's clock):
 * an interval is judged when the first event after its end arrives.
 */
export abstract class IntervalDetector {
  protected intervalEnd = 0;

  constructor(private readonly stepMs: number) {}

  protected abstract observe(e: DnsEvent): void;
  /** Judges the interval just ended, then starts the next. */
  abstract closeInterval(): Candidate[];

  /** Takes events in time order (a resolver's batches); returns the candidates of every interval that ended. */
  add(events: readonly DnsEvent[]): Candidate[] {
    const found: Candidate[] = [];
    for (const e of events) {
      if (this.intervalEnd === 0) this.intervalEnd = Math.ceil(e.timeMs / this.stepMs) * this.stepMs || this.stepMs;
      // Bounded: a clock jump forward closes at most a few intervals, not thousands.
      for (let k = 0; e.timeMs >= this.intervalEnd && k < 3; k++) found.push(...this.closeInterval());
      if (e.timeMs >= this.intervalEnd) this.intervalEnd = Math.ceil((e.timeMs + 1) / this.stepMs) * this.stepMs;
      this.observe(e);
    }
    return found;
  }
}

export class RandomSubdomainDetector extends IntervalDetector {
  private readonly domains = new Map<string, DomainState>();
  untracked = 0;

  constructor(private readonly s: RandomSubdomainSettings = DEFAULT_RANDOM_SUBDOMAIN) {
    super(s.intervalMs);
  }

  get tracked(): number {
    return this.domains.size;
  }

  /** Names under a domain that resolved in its normal intervals (most recent last). */
  knownNames(domain: string): string[] {
    return [...(this.domains.get(domain)?.known ?? [])];
  }

  protected observe(e: DnsEvent): void {
    const domain = registrableDomain(e.qname);
    if (domain === e.qname) return; // the apex itself says nothing about subdomains
    let d = this.domains.get(domain);
    if (!d) {
      if (this.domains.size >= this.s.maxDomains) {
        this.untracked++;
        return;
      }
      d = {
        sketch: new HyperLogLog(),
        queries: 0,
        responses: 0,
        failures: 0,
        randomnessSum: 0,
        randomnessSamples: 0,
        baseline: 0,
        intervals: 0,
        idleIntervals: 0,
        resolved: new Set(),
        known: new Set(),
      };
      this.domains.set(domain, d);
    }
    if (e.kind === 'query') {
      d.queries++;
      d.sketch.add(hashName(e.qname));
      if (d.randomnessSamples < SAMPLES_PER_INTERVAL) {
        d.randomnessSum += labelRandomness(e.qname.slice(0, e.qname.indexOf('.')));
        d.randomnessSamples++;
      }
    } else {
      d.responses++;
      if (e.rcode === 3 || e.rcode === 2) d.failures++;
      else if (e.rcode === 0 && d.resolved.size < KNOWN_NAMES_PER_DOMAIN && !e.qname.includes('\\')) d.resolved.add(e.qname);
    }
  }

  closeInterval(): Candidate[] {
    const at = this.intervalEnd;
    this.intervalEnd += this.s.intervalMs;
    const found: Candidate[] = [];
    for (const [domain, d] of this.domains) {
      if (d.queries === 0 && d.responses === 0) {
        if (++d.idleIntervals > FORGET_AFTER_IDLE) this.domains.delete(domain);
        continue;
      }
      d.idleIntervals = 0;
      const distinct = d.queries > 0 ? Math.min(d.sketch.estimate(), d.queries) : 0;
      // Queries left unanswered in the interval count as failing: a resolver waiting on an
      // overwhelmed authoritative server answers late or not at all.
      const failureShare = d.queries > 0 ? Math.min(1, (d.failures + Math.max(0, d.queries - d.responses)) / d.queries) : 0;
      const randomness = d.randomnessSamples > 0 ? d.randomnessSum / d.randomnessSamples : 0;
      const reference = Math.max(d.baseline, this.s.minDistinct / this.s.baselineFactor);
      const surge = distinct >= this.s.minDistinct && distinct >= this.s.baselineFactor * reference;
      // Random-looking labels alone are enough only against a known baseline: a CDN's
      // machine-made hostnames on the first intervals would look the same, but they resolve.
      const attackLike = failureShare >= this.s.minFailureShare || (d.intervals >= 3 && randomness >= this.s.minRandomness);
      if (surge && attackLike) {
        const confidence = Math.min(
          1,
          0.4 * Math.min(distinct / (this.s.baselineFactor * reference) / 4, 1) + 0.35 * failureShare + 0.25 * randomness,
        );
        found.push({
          domain,
          at,
          distinct: Math.round(distinct),
          baseline: Math.round(d.baseline),
          queries: d.queries,
          failureShare,
          randomness,
          confidence,
          explanation: explain(domain, distinct, d.baseline, failureShare, randomness, this.s.intervalMs),
        });
      } else {
        // Only normal intervals teach the baseline and the known names: an attack must not become normal.
        d.baseline = d.intervals === 0 ? distinct : d.baseline + BASELINE_WEIGHT * (distinct - d.baseline);
        d.intervals++;
        for (const n of d.resolved) {
          if (d.known.size >= KNOWN_NAMES_PER_DOMAIN) d.known.delete(d.known.values().next().value!);
          d.known.delete(n);
          d.known.add(n);
        }
      }
      d.resolved.clear();
      d.sketch.clear();
      d.queries = d.responses = d.failures = d.randomnessSum = d.randomnessSamples = 0;
    }
    return found;
  }
}

function explain(
  domain: string,
  distinct: number,
  baseline: number,
  failureShare: number,
  randomness: number,
  intervalMs: number,
): { ja: string; en: string } {
  const s = intervalMs / 1000;
  const pct = Math.round(failureShare * 100);
  const r = randomness.toFixed(2);
  return {
    ja:
      `${domain} の配下で ${s} 秒間に約 ${Math.round(distinct)} 種類の異なる名前が問い合わされました（平常時は約 ${Math.round(baseline)} ` +
      `種類）。応答の ${pct}% が NXDOMAIN または SERVFAIL で、名前の先頭ラベルのランダムさは ${r} です。ランダムサブドメイン攻撃の特徴に一致します。`,
    en:
      `About ${Math.round(distinct)} different names under ${domain} were asked in ${s} s (normally ` +
      `about ${Math.round(baseline)}). ${pct}% of the answers were NXDOMAIN or SERVFAIL, and the ` +
      `first labels look random (${r}). This matches a random-subdomain attack.`,
  };
}
