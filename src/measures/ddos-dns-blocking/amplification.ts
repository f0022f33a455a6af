/**
 * Amplification names: names whose answers are many times larger than the
 * queries for them and are suddenly asked far more than usual — the
 * reflection traffic of an amplification attack passes through the resolvers
 * as such queries with spoofed sources. What counts is the factor (answer
 * size over query size), not an absolute size: a 1,114-byte answer to a
 * 47-byte query for amp.abused.example is a 24× amplifier. dnstap gives the answer's size; the
 * query's is its wire size from the name (header 12, name, type and class 4,
 * EDNS OPT 11), what a reflection query costs the attacker. Per name and
 * interval: amplified answers and their mean size, against the name's own
 * baseline (count and usual answer size). Lists of abused names from honeypot
 * operators come in as candidates too, with their source. Only names with
 * amplified answers are followed (bounded).
 */
import type { DnsEvent } from '../../ingest/dnstap/dnstap.js';
import { IntervalDetector, type Candidate } from './random-subdomain.js';

/** Types reflection attacks favour (named in explanations; any type whose answers amplify counts). */
const TYPE_NAMES: Record<number, string> = {
  255: 'ANY',
  16: 'TXT',
  48: 'DNSKEY',
  46: 'RRSIG',
  1: 'A',
  28: 'AAAA',
  15: 'MX',
  2: 'NS',
  6: 'SOA',
};

export interface AmplificationSettings {
  intervalMs: number;
  /** Answers at least this many times the query's size count. */
  minFactor: number;
  /** An optional floor (bytes) besides the factor; 0: the factor alone. */
  minSize: number;
  /** Amplified answers per interval below which a name is never a candidate. */
  minCount: number;
  baselineFactor: number;
  maxNames: number;
  /** Intervals that only learn after a start (detection.warmUp). */
  warmUpIntervals?: number;
}

const WARM_UP_INTERVALS = 6;

export const DEFAULT_AMPLIFICATION: AmplificationSettings = {
  intervalMs: 5000,
  minFactor: 10,
  minSize: 0,
  minCount: 500,
  baselineFactor: 10,
  maxNames: 50_000,
};

/** The wire size of a query for `qname` with EDNS: header 12 + name (length + 2) + type and class 4 + OPT 11. */
export function querySize(qname: string): number {
  return qname.length + 2 + 12 + 4 + 11;
}

interface NameState {
  count: number;
  bytes: number;
  qtype: number;
  baseline: number;
  normalSize: number;
  intervals: number;
  idle: number;
}

export class AmplificationDetector extends IntervalDetector {
  private readonly names = new Map<string, NameState>();
  private closed = 0;
  untracked = 0;

  constructor(private readonly s: AmplificationSettings = DEFAULT_AMPLIFICATION) {
    super(s.intervalMs);
  }

  protected observe(e: DnsEvent): void {
    if (e.kind !== 'response' || e.size < this.s.minSize || e.size < this.s.minFactor * querySize(e.qname)) return;
    let n = this.names.get(e.qname);
    if (!n) {
      if (this.names.size >= this.s.maxNames) {
        this.untracked++;
        return;
      }
      n = { count: 0, bytes: 0, qtype: e.qtype, baseline: 0, normalSize: 0, intervals: 0, idle: 0 };
      this.names.set(e.qname, n);
    }
    n.count++;
    n.bytes += e.size;
    n.qtype = e.qtype;
  }

  closeInterval(): Candidate[] {
    const at = this.intervalEnd;
    this.intervalEnd += this.s.intervalMs;
    // The first intervals only learn: at start-up every busy name is new, and a
    // signed zone's steady DNSKEY answers must become baseline, not candidates.
    const learning = this.closed++ < (this.s.warmUpIntervals ?? WARM_UP_INTERVALS);
    const found: Candidate[] = [];
    for (const [name, n] of this.names) {
      if (n.count === 0) {
        if (++n.idle > 120) this.names.delete(name);
        continue;
      }
      n.idle = 0;
      const size = Math.round(n.bytes / n.count);
      const reference = Math.max(n.baseline, this.s.minCount / this.s.baselineFactor);
      if (!learning && n.count >= this.s.minCount && n.count >= this.s.baselineFactor * reference) {
        const factor = size / querySize(name);
        const s = this.s.intervalMs / 1000;
        const type = TYPE_NAMES[n.qtype] ?? String(n.qtype);
        const usual = n.intervals > 0 ? `${Math.round(n.normalSize)}` : '-';
        found.push({
          kind: 'amplification',
          domain: name,
          at,
          distinct: 1,
          baseline: Math.round(n.baseline),
          queries: n.count,
          failureShare: 0,
          randomness: 0,
          confidence: Math.min(
            1,
            0.5 + 0.25 * Math.min(n.count / (this.s.baselineFactor * reference) / 4, 1) + 0.25 * Math.min(factor / 30, 1),
          ),
          explanation: {
            ja:
              `${name} の ${type} 問合せに、問合せの約 ${factor.toFixed(0)} 倍（平均 ${size} バイト、平常時の応答は ${usual} バイト）の応答が ` +
              `${s} 秒間に ${n.count} 件ありました（平常時は約 ${Math.round(n.baseline)} 件）。増幅攻撃（リフレクション）に悪用されている特徴に一致します。`,
            en:
              `${n.count} answers ${factor.toFixed(0)}× the size of the query (${size} bytes on average; usually ${usual}) ` +
              `to ${type} queries for ${name} in ${s} s (normally about ${Math.round(n.baseline)}). ` +
              `This matches a name abused for amplification (reflection).`,
          },
        });
      } else {
        n.baseline = n.intervals === 0 ? n.count : n.baseline + 0.2 * (n.count - n.baseline);
        n.normalSize = n.intervals === 0 ? size : n.normalSize + 0.2 * (size - n.normalSize);
        n.intervals++;
      }
      n.count = n.bytes = 0;
    }
    return found;
  }
}

/** A honeypot operator's list of abused names, as candidates with their source (confidence as the list states it). */
export function listedAmplificationNames(names: readonly string[], source: string, at: number, confidence = 0.8): Candidate[] {
  return names.map((name) => ({
    kind: 'amplification' as const,
    domain: name,
    at,
    distinct: 1,
    baseline: 0,
    queries: 0,
    failureShare: 0,
    randomness: 0,
    confidence,
    explanation: {
      ja: `${source} の一覧に増幅攻撃に悪用されている名前として掲載されています。`,
      en: `Listed by ${source} as a name abused for amplification.`,
    },
  }));
}
