/**
 * From candidates to RPZ rules, so that normal use is never blocked:
 *
 * - a domain on the whitelist (the operator's list, an imported popularity
 *   list, and the domains most asked at this ISP's own resolvers) is never
 *   blocked — its candidates are shown, and approval is refused with the reason;
 * - by default every candidate waits for a person (review queue); automatic
 *   blocking, if enabled, takes only candidates above a high confidence, for a
 *   short time that is renewed while the attack goes on;
 * - a rule blocks the names at every depth under the attacked zone (the
 *   deepest common suffix of the random names, not the registrable domain) and
 *   lets through the names that resolved there in normal times, most popular
 *   first, at most `maxExceptions` of them (rules.ts: records that mean the
 *   same on Unbound and BIND, checked with both); the zone itself is never blocked;
 * - an amplification rule blocks the abused name alone (RPZ cannot tell query
 *   types apart, so nothing around it);
 * - a rule ends when the attack has been quiet for `quietAfterMs`, at its TTL
 *   if it was automatic, and never lasts longer than `maxRuleMs`.
 *
 * Every decision is returned as an audit record for the caller to write,
 * naming the decision by its id (the audit log never holds a queried name).
 */
import { randomBytes } from 'node:crypto';
import type { AuditRecord } from '../../core/audit/log.js';
import type { RpzZone } from '../../dns/rpz.js';
import { registrableDomain, type Candidate } from './random-subdomain.js';
import { zoneRules } from './rules.js';
import { MamoriError } from '../../core/errors.js';

export interface DecisionSettings {
  autoBlock: { enabled: boolean; minConfidence: number; ttlMs: number };
  quietAfterMs: number;
  maxRuleMs: number;
  /** A rejected domain is not queued again for this long. */
  rejectForMs: number;
  /** Exceptions (names that resolved in normal times) a rule lets through, most popular first; the rest are blocked with the attack. */
  maxExceptions?: number;
}

export const DEFAULT_MAX_EXCEPTIONS = 200;

/** Intervals of queries kept per decision for its live chart (15 minutes at the default 5 s interval). */
export const RATE_POINTS = 180;

export type RuleStatus = 'pending' | 'active' | 'rejected' | 'whitelisted' | 'ended';

export type DecisionKind = 'random-subdomain' | 'amplification';

export interface Decision {
  /** What the audit log names: never the domain itself (names are what the measure handles). */
  id: string;
  kind: DecisionKind;
  /** The attacked domain (random-subdomain) or the abused name (amplification). */
  domain: string;
  status: RuleStatus;
  firstSeen: number;
  lastSeen: number;
  confidence: number;
  /** Intervals in which the detector flagged it (or list entries that named it). */
  evidence: number;
  explanation: { ja: string; en: string };
  activeSince?: number;
  /** Automatic rules end at this time unless renewed. */
  expiresAt?: number;
  by?: string;
  reason?: string;
  exceptions: string[];
  /** Names that resolved in normal times but were beyond `maxExceptions`: blocked while the rule is active. */
  exceptionsLeftOut?: number;
}

export class DecisionError extends MamoriError {
  static override readonly code = 'm6-decision';
  static override readonly status = 409;
}

const MEASURE = 'ddos-dns-blocking';

export class BlockDecisions {
  private readonly decisions = new Map<string, Decision>();
  /** Records left out because their owner would not fit under the policy zone (counted, never thrown). */
  unwritable = 0;
  /** Decisions changed since `takeChanged()`: what the caller stores. */
  private readonly changed = new Set<Decision>();

  constructor(
    private readonly zone: RpzZone,
    private readonly s: DecisionSettings,
    private readonly isWhitelisted: (domain: string) => boolean,
    private readonly knownNames: (domain: string) => string[],
  ) {}

  /** The decisions changed since the last call (to be stored). */
  takeChanged(): Decision[] {
    const out = [...this.changed];
    this.changed.clear();
    return out;
  }

  /**
   * Brings back stored decisions after a restart: active rules go back into the
   * zone with the exceptions they had; the rest is history and queue.
   */
  restore(stored: readonly Decision[], now = Date.now()): void {
    for (const d of stored) {
      // A time ahead of the clock (a resolver's clock, before the receiver bounded it) would hold the decision open for ever.
      this.decisions.set(`${d.kind}|${d.domain}`, { ...d, firstSeen: Math.min(d.firstSeen, now), lastSeen: Math.min(d.lastSeen, now) });
      if (d.status !== 'active') continue;
      if (d.kind === 'amplification') this.zone.blockExact(d.domain);
      else this.writeRules(d);
    }
  }

  /** Forgets decisions last seen before `before` (ms), except rules in force. */
  /**
   * Queries to the attacked zone (or for the abused name) in each interval the detector flagged, by decision id:
   * what the console charts. Counts only, in memory, bounded; gone with the decision.
   */
  private readonly rates = new Map<string, Array<[at: number, queries: number]>>();

  /** The flagged intervals of a decision, oldest first: [end of the interval (ms), queries in it]. */
  rateOf(id: string): ReadonlyArray<readonly [number, number]> {
    return this.rates.get(id) ?? [];
  }

  private noteRate(d: Decision, at: number, queries: number): void {
    let r = this.rates.get(d.id);
    if (!r) this.rates.set(d.id, (r = []));
    if (r.length > 0 && r[r.length - 1]![0] >= at) return;
    r.push([at, queries]);
    if (r.length > RATE_POINTS) r.splice(0, r.length - RATE_POINTS);
  }

  forget(before: number): void {
    for (const [key, d] of this.decisions) {
      if (d.status !== 'active' && d.lastSeen < before) {
        this.decisions.delete(key);
        this.rates.delete(d.id);
        this.changed.delete(d);
      }
    }
  }

  list(): Decision[] {
    return [...this.decisions.values()].sort((a, b) => b.lastSeen - a.lastSeen);
  }

  get(domain: string, kind: DecisionKind = 'random-subdomain'): Decision | undefined {
    return this.decisions.get(`${kind}|${domain}`);
  }

  /** New evidence from the detector; returns the audit records of what changed. */
  onCandidates(candidates: readonly Candidate[], now: number): AuditRecord[] {
    const audit: AuditRecord[] = [];
    for (const candidate of candidates) {
      // Evidence is never dated after now, whatever a resolver's clock said.
      const c = candidate.at > now ? { ...candidate, at: now } : candidate;
      const kind = c.kind ?? 'random-subdomain';
      const key = `${kind}|${c.domain}`;
      let d = this.decisions.get(key);
      if (d && d.status === 'rejected' && now - d.lastSeen < this.s.rejectForMs) {
        d.lastSeen = c.at;
        continue;
      }
      if (!d || d.status === 'ended' || d.status === 'rejected') {
        // Zones can be anywhere under a registrable domain (a customer's zone under a provider's): the whitelist holds registrable domains.
        const whitelisted = this.isWhitelisted(registrableDomain(c.domain));
        d = {
          id: `m6-${randomBytes(6).toString('hex')}`,
          kind,
          domain: c.domain,
          status: whitelisted ? 'whitelisted' : 'pending',
          firstSeen: c.at,
          lastSeen: c.at,
          confidence: c.confidence,
          evidence: 0,
          explanation: c.explanation,
          exceptions: [],
        };
        this.decisions.set(key, d);
        audit.push({
          actor: `measure:${MEASURE}`,
          measure: MEASURE,
          action: whitelisted ? 'm6.candidate.whitelisted' : 'm6.candidate',
          object: `m6-decision:${d.id}`,
          counts: { distinct: c.distinct, confidence: Math.round(c.confidence * 100) },
        });
      }
      d.lastSeen = c.at;
      d.evidence++;
      this.noteRate(d, c.at, c.queries);
      this.changed.add(d);
      d.confidence = Math.max(d.confidence, c.confidence);
      d.explanation = c.explanation;
      const auto = this.s.autoBlock;
      if (d.status === 'pending' && auto.enabled && c.confidence >= auto.minConfidence) {
        this.activate(d, 'measure:ddos-dns-blocking', now, now + auto.ttlMs);
        audit.push({
          actor: `measure:${MEASURE}`,
          measure: MEASURE,
          action: 'm6.rule.auto',
          object: `m6-decision:${d.id}`,
          counts: {
            exceptions: d.exceptions.length,
            exceptionsLeftOut: d.exceptionsLeftOut ?? 0,
            ttlSeconds: Math.round(auto.ttlMs / 1000),
          },
        });
      } else if (d.status === 'active' && d.expiresAt !== undefined) {
        d.expiresAt = Math.min(now + auto.ttlMs, (d.activeSince ?? now) + this.s.maxRuleMs);
      }
    }
    return audit;
  }

  approve(domain: string, actor: string, now: number, kind: DecisionKind = 'random-subdomain'): AuditRecord {
    const d = this.get(domain, kind);
    if (!d) throw new DecisionError(`no candidate for ${domain}`);
    if (d.status === 'whitelisted')
      throw new DecisionError(
        `${domain} is on the whitelist (legitimate domains are never blocked); remove it from the operator ` +
          `list first if this is really an attack`,
      );
    if (d.status !== 'pending') throw new DecisionError(`${domain} is ${d.status}, not waiting for review`);
    this.activate(d, actor, now, undefined);
    this.changed.add(d);
    return {
      actor,
      measure: MEASURE,
      action: 'm6.rule.approve',
      object: `m6-decision:${d.id}`,
      counts: { exceptions: d.exceptions.length, exceptionsLeftOut: d.exceptionsLeftOut ?? 0 },
    };
  }

  reject(domain: string, actor: string, reason: string, kind: DecisionKind = 'random-subdomain'): AuditRecord {
    const d = this.get(domain, kind);
    if (!d) throw new DecisionError(`no candidate for ${domain}`);
    if (d.status === 'active') this.deactivate(d);
    d.status = 'rejected';
    d.by = actor;
    d.reason = reason;
    this.changed.add(d);
    return { actor, measure: MEASURE, action: 'm6.rule.reject', object: `m6-decision:${d.id}` };
  }

  /** Ends rules whose attack has stopped or whose time is up; returns the audit records. */
  sweep(now: number): AuditRecord[] {
    const audit: AuditRecord[] = [];
    for (const d of this.decisions.values()) {
      if (d.status !== 'active') {
        if (d.status === 'pending' && now - d.lastSeen > this.s.quietAfterMs) {
          d.status = 'ended';
          d.reason = 'the attack stopped before review';
          this.changed.add(d);
        }
        continue;
      }
      const why =
        now - d.lastSeen > this.s.quietAfterMs
          ? 'attack stopped'
          : d.expiresAt !== undefined && now >= d.expiresAt
            ? 'automatic rule expired'
            : now - (d.activeSince ?? now) >= this.s.maxRuleMs
              ? 'longest allowed duration reached'
              : undefined;
      if (!why) continue;
      this.deactivate(d);
      d.status = 'ended';
      d.reason = why;
      this.changed.add(d);
      audit.push({ actor: `measure:${MEASURE}`, measure: MEASURE, action: 'm6.rule.end', object: `m6-decision:${d.id}` });
    }
    return audit;
  }

  private activate(d: Decision, actor: string, now: number, expiresAt: number | undefined): void {
    if (d.kind === 'amplification') {
      // RPZ cannot tell query types apart: the abused name alone is blocked, nothing around it.
      d.exceptions = [];
      this.zone.blockExact(d.domain);
    } else {
      const rules = zoneRules(d.domain, this.knownNames(d.domain), this.s.maxExceptions ?? DEFAULT_MAX_EXCEPTIONS);
      d.exceptions = rules.passthru;
      d.exceptionsLeftOut = rules.leftOut;
      this.writeRules(d);
    }
    d.status = 'active';
    d.activeSince = now;
    d.by = actor;
    if (expiresAt !== undefined) d.expiresAt = expiresAt;
    else delete d.expiresAt;
  }

  /** The records of an active random-subdomain rule; an owner too long for the policy zone is left out (it cannot be written). */
  private writeRules(d: Decision): void {
    const rules = zoneRules(d.domain, d.exceptions, Number.MAX_SAFE_INTEGER);
    for (const owner of rules.block) this.tryWrite(() => this.zone.blockUnder(owner.slice(2)));
    for (const n of rules.passthru) this.tryWrite(() => this.zone.passthruName(n));
  }

  private tryWrite(write: () => unknown): void {
    try {
      write();
    } catch {
      this.unwritable++;
    }
  }

  private deactivate(d: Decision): void {
    if (d.kind === 'amplification') {
      this.zone.removeRule(d.domain);
      return;
    }
    const rules = zoneRules(d.domain, d.exceptions, Number.MAX_SAFE_INTEGER);
    for (const owner of [...rules.block, ...rules.passthru]) this.zone.removeRule(owner);
  }
}
