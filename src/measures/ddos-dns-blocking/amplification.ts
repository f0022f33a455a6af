/**
 * Amplification names: names whose answers are large for ANY, TXT, DNSKEY or
 * RRSIG queries and are suddenly asked far more than usual — the reflection
 * traffic of an amplification attack passes through the resolvers as such
 * queries with spoofed sources. Per name and interval: large answers and
 * their mean size, against the name's own baseline. Lists of abused names
 * from honeypot operators come in as candidates too, with their source.
 * Only names with large answers of those types are followed (bounded).
 */
import type { DnsEvent } from '../../ingest/dnstap/dnstap.js';
import { IntervalDetector, type Candidate } from './random-subdomain.js';

export const AMPLIFYING_TYPES = new Set([255, 16, 48, 46]); // ANY, TXT, DNSKEY, RRSIG
const TYPE_NAMES: Record<number, string> = { 255: 'ANY', 16: 'TXT', 48: 'DNSKEY', 46: 'RRSIG' };

export interface AmplificationSettings {
  intervalMs: number;
  /** Answers at least this large (bytes) count. */
  minSize: number;
  /** Large answers per interval below which a name is never a candidate. */
  minCount: number;
  baselineFactor: number;
  maxNames: number;
}

const WARM_UP_INTERVALS = 6;

export const DEFAULT_AMPLIFICATION: AmplificationSettings = {
  intervalMs: 5000,
  minSize: 1200,
  minCount: 500,
  baselineFactor: 10,
  maxNames: 50_000,
};

interface NameState {
  count: number;
  bytes: number;
  qtype: number;
  baseline: number;
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
    if (e.kind !== 'response' || e.size < this.s.minSize || !AMPLIFYING_TYPES.has(e.qtype)) return;
    let n = this.names.get(e.qname);
    if (!n) {
      if (this.names.size >= this.s.maxNames) {
        this.untracked++;
        return;
      }
      n = { count: 0, bytes: 0, qtype: e.qtype, baseline: 0, intervals: 0, idle: 0 };
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
    const learning = this.closed++ < WARM_UP_INTERVALS;
    const found: Candidate[] = [];
    for (const [name, n] of this.names) {
      if (n.count === 0) {
        if (++n.idle > 120) this.names.delete(name);
        continue;
      }
      n.idle = 0;
      const reference = Math.max(n.baseline, this.s.minCount / this.s.baselineFactor);
      if (!learning && n.count >= this.s.minCount && n.count >= this.s.baselineFactor * reference) {
        const size = Math.round(n.bytes / n.count);
        const s = this.s.intervalMs / 1000;
        const type = TYPE_NAMES[n.qtype] ?? String(n.qtype);
        found.push({
          kind: 'amplification',
          domain: name,
          at,
          distinct: 1,
          baseline: Math.round(n.baseline),
          queries: n.count,
          failureShare: 0,
          randomness: 0,
          confidence: Math.min(1, 0.5 + 0.5 * Math.min(n.count / (this.s.baselineFactor * reference) / 4, 1) * Math.min(size / 3000, 1)),
          explanation: {
            ja:
              `${name} の ${type} 問合せに対する平均 ${size} バイトの大きな応答が ${s} 秒間に ${n.count} 件ありました（平常時は約 ${Math.round(n.baseline)} ` +
              `件）。増幅攻撃（リフレクション）に悪用されている特徴に一致します。`,
            en:
              `${n.count} large answers (${size} bytes on average) to ${type} queries for ${name} in ${s} ` +
              `s (normally about ${Math.round(n.baseline)}). This matches a name abused for amplification ` +
              `(reflection).`,
          },
        });
      } else {
        n.baseline = n.intervals === 0 ? n.count : n.baseline + 0.2 * (n.count - n.baseline);
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
