/**
 * Random-subdomain ("DNS water torture") detection from the minimised dnstap
 * events, on a tree of name suffixes (in the spirit of dnsdist's StatNode):
 * every query counts at each suffix above its name, from the top-level domain
 * down to three labels below the registrable domain. Time is cut into short
 * intervals; per suffix and interval: queries, distinct names (HyperLogLog),
 * failed answers (NXDOMAIN, SERVFAIL, unanswered), how machine-made the labels
 * just below look, and their shape (label-shape.ts).
 *
 * A suffix is judged only against its own past — a baseline of distinct names
 * per interval learnt from its normal intervals — and only after its own
 * warm-up; a suffix first seen under a warmed-up parent starts from "it did
 * not exist" (baseline 0), unless its names have the shape of a legitimate
 * high-cardinality zone (learnt, or reverse-IP and hash lookups), then it
 * waits for its own warm-up too. A zone whose names have the shape it always
 * had (a DNSBL, a hash lookup, a CDN) is using its names as it always did.
 *
 * The attacked zone is the deepest suffix that holds the surge: a flagged
 * suffix whose flagged child holds at least half of its distinct names gives
 * way to the child, and the zone descends further into a child holding 90 %
 * of them (`<random>.www.victim.co.jp` is an attack on `www.victim.co.jp`).
 * Public suffixes are never a zone.
 *
 * Memory is bounded: at most `maxDomains` suffixes (a 256-byte sketch each),
 * 64 children a suffix below public suffixes, 32 new children a suffix an
 * interval (256 below a public suffix); beyond, names count at the suffixes
 * above and `untracked` grows.
 * The names that resolved in normal intervals are kept with their count (the
 * most popular `KNOWN_NAMES` overall) and when they last did: a rule's
 * exceptions, forgotten after the retention of names (`forgetNames`).
 */
import { getDomain } from 'tldts';
import type { DnsEvent } from '../../ingest/dnstap/dnstap.js';
import { hashName, HyperLogLog } from './hyperloglog.js';
import { learnableShape, SEEDED_LEGITIMATE_SHAPES, shapeBelow } from './label-shape.js';

export interface RandomSubdomainSettings {
  /** Length of an interval, ms. */
  intervalMs: number;
  /** Distinct names per interval below which a zone is never a candidate. */
  minDistinct: number;
  /** How far above its own baseline (distinct names per interval) a zone must be. */
  baselineFactor: number;
  /** Share of NXDOMAIN/SERVFAIL answers that marks an attack on its own (with enough distinct names). */
  minFailureShare: number;
  /** Label randomness (0–1) that marks an attack on its own. */
  minRandomness: number;
  /** Name suffixes followed at most. */
  maxDomains: number;
  /** Normal intervals a zone needs before it is judged (its own warm-up). */
  warmUpIntervals?: number;
}

export const DEFAULT_RANDOM_SUBDOMAIN: RandomSubdomainSettings = {
  intervalMs: 5000,
  minDistinct: 200,
  baselineFactor: 10,
  minFailureShare: 0.5,
  minRandomness: 0.55,
  maxDomains: 100_000,
  warmUpIntervals: 6,
};

export interface Candidate {
  /** random-subdomain (the default): `domain` is the attacked zone; amplification: `domain` is the abused name. */
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

/** A name that resolved in normal intervals: how often, and when last (ms). */
export interface KnownName {
  name: string;
  count: number;
  lastSeen: number;
}

/** What a zone's baseline keeps across restarts (tables.ts). */
export interface ZoneBaseline {
  zone: string;
  baseline: number;
  intervals: number;
  legitShape?: string;
  queries?: number;
  failures?: number;
}

interface Node {
  name: string;
  parent: Node | undefined;
  children: Map<string, Node>;
  /** A public suffix (`jp`, `co.jp`): counted, never a zone. */
  suffix: boolean;
  /** First seen under a warmed-up parent after the detector's warm-up: it did not exist before (baseline 0). */
  bornWarm: boolean;
  /** The interval it was first seen in. */
  born: number;
  sketch: HyperLogLog;
  queries: number;
  responses: number;
  failures: number;
  randomnessSum: number;
  samples: number;
  shapes: Map<string, number>;
  newChildren: number;
  /** Interval results kept for the selection of the zone. */
  distinct: number;
  flagged: boolean;
  /** Distinct names per interval in normal times: the largest of the warm-up, then exponentially weighted. */
  baseline: number;
  /** Queries and failing queries per interval in normal times (the same way): what is new in an interval is the excess. */
  baseQueries: number;
  baseFailures: number;
  intervals: number;
  idle: number;
  /** The shape its names have in normal times, when it is a legitimate high-cardinality zone. */
  legitShape?: string;
}

interface Verdict {
  failureShare: number;
  randomness: number;
  uniqueness: number;
  queries: number;
}

const SAMPLES_PER_INTERVAL = 64;
const BASELINE_WEIGHT = 0.2;
const FORGET_AFTER_IDLE = 120;
/** Suffixes followed down to this many labels below the registrable domain. */
const LEVELS_BELOW_DOMAIN = 3;
const MAX_CHILDREN = 64;
const NEW_CHILDREN_PER_INTERVAL = 32;
/** Below a public suffix every registrable domain is a child: more of them may appear at once. */
const NEW_SUFFIX_CHILDREN_PER_INTERVAL = 256;
/** Names that resolved in normal times, with their count: the most popular are kept. */
const KNOWN_NAMES = 50_000;
const RESOLVED_PER_INTERVAL = 20_000;
const LEARNT_SHAPES = 1000;
/** Share of a zone's sampled names that must have one shape for it to count as the zone's shape. */
const SHAPE_DOMINANCE = 0.8;

/**
 * How machine-made a label looks, 0–1: character entropy (weighed by length:
 * short words are always varied), digits mixed with letters, too few vowels,
 * and long runs of consonants. "www", "mail", "static", "download" score
 * below 0.35; twelve random letters and digits score about 0.6–0.8.
 */
export function labelRandomness(label: string): number {
  const n = label.length;
  // Short labels are scored too (an attack with 4-character labels is still an attack): only 1–2 characters say nothing.
  if (n < 3) return 0;
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
  private readonly roots = new Map<string, Node>();
  private nodes = 0;
  private closed = 0;
  /** Names resolved in this interval (bounded), and in normal intervals with their counts. */
  private readonly resolved = new Map<string, number>();
  private readonly known = new Map<string, { count: number; lastSeen: number }>();
  /** Shapes of legitimate high-cardinality zones learnt from normal time (with how many zones had them), and the seeded ones. */
  private readonly learntShapes = new Map<string, number>();
  private readonly warmUp: number;
  /** Baselines came back from the store: the detector's own warm-up is behind it. */
  private restored = false;
  untracked = 0;

  constructor(private readonly s: RandomSubdomainSettings = DEFAULT_RANDOM_SUBDOMAIN) {
    super(s.intervalMs);
    this.warmUp = s.warmUpIntervals ?? DEFAULT_RANDOM_SUBDOMAIN.warmUpIntervals!;
  }

  get tracked(): number {
    return this.nodes;
  }

  /** Names under a zone that resolved in normal intervals, most popular first. */
  knownNames(zone: string): string[] {
    const tail = `.${zone}`;
    return [...this.known]
      .filter(([n]) => n.endsWith(tail))
      .sort((a, b) => b[1].count - a[1].count)
      .map(([n]) => n);
  }

  /**
   * Whether a shape counts as that of a legitimate high-cardinality zone (seeded or learnt), also seen from a
   * parent: below `spamcop.net` a DNSBL's names are `d.d.d.d+1` (the octets, then `bl`).
   */
  legitimateShape(shape: string): boolean {
    const known = (k: string) => shape === k || shape.startsWith(`${k}.`) || shape.startsWith(`${k}+`);
    return SEEDED_LEGITIMATE_SHAPES.some(known) || [...this.learntShapes.keys()].some(known);
  }

  /**
   * The warmed-up zones' baselines (the busiest first, where a cold start would hurt most) and the most popular normal names, for the state
   * store.
   */
  snapshot(maxZones = 20_000, maxNames = 20_000): { zones: ZoneBaseline[]; names: KnownName[] } {
    let zones: ZoneBaseline[] = [];
    const walk = (n: Node) => {
      if (this.warmed(n) && n.intervals > 0) {
        zones.push({
          zone: n.name,
          baseline: n.baseline,
          intervals: n.intervals,
          queries: n.baseQueries,
          failures: n.baseFailures,
          ...(n.legitShape ? { legitShape: n.legitShape } : {}),
        });
      }
      for (const c of n.children.values()) walk(c);
    };
    for (const r of this.roots.values()) walk(r);
    if (zones.length > maxZones) zones = zones.sort((a, b) => b.baseline - a.baseline).slice(0, maxZones);
    const names = [...this.known]
      .sort((a, b) => b[1].count - a[1].count)
      .slice(0, maxNames)
      .map(([name, k]) => ({ name, ...k }));
    return { zones, names };
  }

  /** Brings back stored baselines: those zones are judged at once, against what they were. */
  restore(
    b: { zones: readonly ZoneBaseline[]; names: ReadonlyArray<{ name: string; count: number; lastSeen?: number }> },
    now = Date.now(),
  ): void {
    for (const z of b.zones) {
      const n = this.path(z.zone);
      if (!n) continue;
      n.baseline = z.baseline;
      n.baseQueries = z.queries ?? 0;
      n.baseFailures = z.failures ?? 0;
      n.intervals = Math.max(n.intervals, z.intervals);
      if (z.legitShape) {
        n.legitShape = z.legitShape;
        this.learnShape(z.legitShape);
      }
    }
    for (const { name, count, lastSeen } of b.names) {
      if (this.known.size >= KNOWN_NAMES && !this.known.has(name)) continue;
      const k = this.known.get(name);
      this.known.set(name, { count: (k?.count ?? 0) + count, lastSeen: Math.max(k?.lastSeen ?? 0, lastSeen ?? now) });
    }
    // The stored zones are what the warm-up would have taught: new zones under them are judged from their first interval.
    if (b.zones.length > 0) this.restored = true;
  }

  /** Forgets the names that last resolved before `before` (ms): the retention of names holds in memory too. */
  forgetNames(before: number): void {
    for (const [name, k] of this.known) if (k.lastSeen < before) this.known.delete(name);
  }

  /** Watched for its whole warm-up (quiet intervals say it was quiet), or restored with a baseline. */
  private warmed(n: Node): boolean {
    return n.intervals >= this.warmUp || this.closed - n.born >= this.warmUp;
  }

  private newNode(name: string, parent: Node | undefined, suffix: boolean): Node {
    this.nodes++;
    const detectorWarm = this.restored || this.closed >= this.warmUp;
    const parentWarm = parent ? this.warmed(parent) : detectorWarm;
    return {
      name,
      parent,
      children: new Map(),
      suffix,
      bornWarm: detectorWarm && parentWarm,
      born: this.closed,
      sketch: new HyperLogLog(),
      queries: 0,
      responses: 0,
      failures: 0,
      randomnessSum: 0,
      samples: 0,
      shapes: new Map(),
      newChildren: 0,
      distinct: 0,
      flagged: false,
      baseline: 0,
      baseQueries: 0,
      baseFailures: 0,
      intervals: 0,
      idle: 0,
    };
  }

  /** The node of a zone, created with its parents (restore). */
  private path(zone: string): Node | undefined {
    const labels = zone.split('.');
    const domain = registrableDomain(zone);
    let map = this.roots;
    let node: Node | undefined;
    for (let i = labels.length - 1; i >= 0; i--) {
      const name = labels.slice(i).join('.');
      let next = map.get(labels[i]!);
      if (!next) {
        if (this.nodes >= this.s.maxDomains) return undefined;
        next = this.newNode(name, node, name.length < domain.length);
        map.set(labels[i]!, next);
      }
      node = next;
      map = next.children;
    }
    return node;
  }

  protected observe(e: DnsEvent): void {
    const qname = e.qname;
    if (e.kind === 'response' && e.rcode === 0 && !qname.includes('\\')) {
      const seen = this.resolved.get(qname);
      if (seen !== undefined || this.resolved.size < RESOLVED_PER_INTERVAL) this.resolved.set(qname, (seen ?? 0) + 1);
    }
    const labels = qname.split('.');
    const domain = registrableDomain(qname);
    const domainLabels = domain.split('.').length;
    // Suffixes strictly above the name, down to LEVELS_BELOW_DOMAIN below the registrable domain.
    const deepest = Math.min(labels.length - 1, domainLabels + LEVELS_BELOW_DOMAIN);
    // Responses name the same names: counted in the sketch too, distinct names survive a resolver that drops
    // some of its dnstap messages (BIND dropped a third of them under load, queries and responses alike).
    const hash = hashName(qname);
    let map = this.roots;
    let parent: Node | undefined;
    for (let depth = 1; depth <= deepest; depth++) {
      const label = labels[labels.length - depth]!;
      let node = map.get(label);
      if (!node) {
        const capped =
          parent &&
          (parent.suffix
            ? parent.newChildren >= NEW_SUFFIX_CHILDREN_PER_INTERVAL
            : parent.children.size >= MAX_CHILDREN || parent.newChildren >= NEW_CHILDREN_PER_INTERVAL);
        if (capped || this.nodes >= this.s.maxDomains) {
          this.untracked++;
          return;
        }
        node = this.newNode(labels.slice(labels.length - depth).join('.'), parent, depth < domainLabels);
        if (parent) parent.newChildren++;
        map.set(label, node);
      }
      if (e.kind === 'query') {
        node.queries++;
        node.sketch.add(hash);
        if (node.samples < SAMPLES_PER_INTERVAL) {
          node.samples++;
          node.randomnessSum += labelRandomness(labels[labels.length - depth - 1]!);
          const shape = shapeBelow(qname, node.name);
          node.shapes.set(shape, (node.shapes.get(shape) ?? 0) + 1);
        }
      } else {
        node.responses++;
        node.sketch.add(hash);
        if (e.rcode === 3 || e.rcode === 2) node.failures++;
      }
      parent = node;
      map = node.children;
    }
  }

  closeInterval(): Candidate[] {
    const at = this.intervalEnd;
    this.intervalEnd += this.s.intervalMs;
    const flagged: Array<Verdict & { node: Node }> = [];
    const visit = (n: Node, map: Map<string, Node>, key: string) => {
      for (const [k, c] of n.children) visit(c, n.children, k);
      n.newChildren = 0;
      n.flagged = false;
      if (n.queries === 0 && n.responses === 0) {
        n.distinct = 0;
        if (++n.idle > FORGET_AFTER_IDLE && n.children.size === 0) {
          map.delete(key);
          this.nodes--;
        }
        return;
      }
      n.idle = 0;
      const verdict = this.judge(n);
      if (verdict) flagged.push({ node: n, ...verdict });
    };
    for (const [k, r] of this.roots) visit(r, this.roots, k);
    const found = this.zonesOf(flagged, at);
    this.learnNames(at);
    this.closed++;
    return found;
  }

  /** One suffix at the end of an interval: flagged (with its measures) or learnt from. Resets its counters. */
  private judge(n: Node): Verdict | undefined {
    // A lost query message with its response received still was a query.
    const queries = Math.max(n.queries, n.responses);
    const distinct = queries > 0 ? Math.min(n.sketch.estimate(), queries) : 0;
    // Queries left unanswered in the interval count as failing: a resolver waiting on an
    // overwhelmed authoritative server answers late or not at all.
    const failures = Math.min(queries, n.failures + Math.max(0, queries - n.responses));
    const randomness = n.samples > 0 ? n.randomnessSum / n.samples : 0;
    let shape = '';
    let shapeCount = 0;
    for (const [k, v] of n.shapes)
      if (v > shapeCount) {
        shape = k;
        shapeCount = v;
      }
    const dominant = n.samples > 0 && shapeCount / n.samples >= SHAPE_DOMINANCE ? shape : undefined;
    n.distinct = distinct;
    n.sketch.clear();
    n.shapes.clear();
    n.queries = n.responses = n.failures = n.randomnessSum = n.samples = 0;

    const warmed = this.warmed(n);
    // No decision without a baseline: a zone is judged after its own warm-up, or from its first interval when
    // it appeared under a warmed-up parent (it did not exist: baseline 0) without the shape of a legitimate zone.
    const judged = !n.suffix && (warmed || (n.bornWarm && !(dominant && this.legitimateShape(dominant))));
    // A zone whose names have the shape they always had is used as it always is (a DNSBL, a hash lookup, a CDN).
    const asUsual = dominant !== undefined && dominant === n.legitShape;
    const reference = Math.max(n.baseline, this.s.minDistinct / this.s.baselineFactor);
    const surge = distinct >= this.s.minDistinct && distinct >= this.s.baselineFactor * reference;
    // What is new in this interval, apart from the zone's usual traffic: the attack's own failure share and
    // uniqueness, not diluted by a popular victim's normal queries.
    const excess = Math.max(1, queries - n.baseQueries);
    const failureShare = Math.max(0, Math.min(1, (failures - n.baseFailures) / excess));
    const uniqueness = Math.max(0, Math.min(1, (distinct - n.baseline) / excess));
    const attackLike = failureShare >= this.s.minFailureShare || randomness >= this.s.minRandomness;
    if (judged && !asUsual && surge && attackLike) {
      n.flagged = true;
      return { failureShare, randomness, queries, uniqueness };
    }
    // Only normal intervals teach the baseline: an attack must not become normal. In its warm-up a zone keeps the
    // largest interval seen; a zone judged from its first interval starts from 0 like a warmed-up one (else the
    // first, partial interval of an attack on a new zone would become its baseline and hide the rest).
    const fresh = !warmed && !judged;
    const learn = (old: number, now: number) => (fresh ? Math.max(old, now) : old + BASELINE_WEIGHT * (now - old));
    n.baseline = learn(n.baseline, distinct);
    n.baseQueries = learn(n.baseQueries, queries);
    n.baseFailures = learn(n.baseFailures, failures);
    n.intervals++;
    if (dominant && learnableShape(dominant) && distinct >= this.s.minDistinct / 4) {
      n.legitShape = dominant;
      this.learnShape(dominant);
    }
    return undefined;
  }

  private learnShape(shape: string): void {
    if (this.learntShapes.has(shape) || this.learntShapes.size < LEARNT_SHAPES)
      this.learntShapes.set(shape, (this.learntShapes.get(shape) ?? 0) + 1);
  }

  /** The attacked zones among the flagged suffixes: the deepest that holds the surge, then down into a child holding 90 % of it. */
  private zonesOf(flagged: ReadonlyArray<Verdict & { node: Node }>, at: number): Candidate[] {
    const covered = new Set<Node>();
    for (const { node } of flagged) {
      for (let p = node.parent; p; p = p.parent) if (p.flagged && node.distinct >= 0.5 * p.distinct) covered.add(p);
    }
    const found: Candidate[] = [];
    const seen = new Set<string>();
    for (const { node, failureShare, randomness, uniqueness, queries } of flagged) {
      if (covered.has(node)) continue;
      let zone = node;
      for (;;) {
        let next: Node | undefined;
        for (const c of zone.children.values()) if (c.distinct >= 0.9 * node.distinct) next = c;
        if (!next) break;
        zone = next;
      }
      if (seen.has(zone.name)) continue;
      seen.add(zone.name);
      const reference = Math.max(node.baseline, this.s.minDistinct / this.s.baselineFactor);
      const ratio = node.distinct / (this.s.baselineFactor * reference);
      // At least 0.55 once flagged; a surge 4× beyond the factor, failing answers and names asked once each (of the
      // excess over the zone's usual traffic) and random labels add to it. No label measure is needed: short,
      // dictionary or mixed labels that fail reach 0.9; names that all resolve stay below it (a person decides).
      const confidence = Math.min(
        1,
        0.55 +
          0.15 * Math.min(1, Math.log2(Math.max(1, ratio)) / 2) +
          0.2 * failureShare +
          0.05 * Math.min(1, uniqueness) +
          0.05 * Math.min(1, randomness / this.s.minRandomness),
      );
      found.push({
        domain: zone.name,
        at,
        distinct: Math.round(node.distinct),
        baseline: Math.round(node.baseline),
        queries,
        failureShare,
        randomness,
        confidence,
        explanation: explain(zone.name, node.distinct, node.baseline, failureShare, randomness, this.s.intervalMs),
      });
    }
    return found;
  }

  /** The names that resolved in this interval count as known unless a zone above them was flagged. */
  private learnNames(at: number): void {
    for (const [name, count] of this.resolved) {
      if (this.underFlagged(name)) continue;
      this.known.set(name, { count: (this.known.get(name)?.count ?? 0) + count, lastSeen: at });
    }
    this.resolved.clear();
    if (this.known.size > KNOWN_NAMES) {
      const keep = [...this.known].sort((a, b) => b[1].count - a[1].count).slice(0, Math.floor(KNOWN_NAMES * 0.75));
      this.known.clear();
      for (const [n, k] of keep) this.known.set(n, k);
    }
  }

  private underFlagged(name: string): boolean {
    const labels = name.split('.');
    let map = this.roots;
    for (let i = labels.length - 1; i > 0; i--) {
      const node = map.get(labels[i]!);
      if (!node) return false;
      if (node.flagged) return true;
      map = node.children;
    }
    return false;
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
