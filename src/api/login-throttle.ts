/**
 * Login throttling: failed logins are counted per client address and per
 * account over a sliding window; past either limit, that address or account
 * waits until its oldest failure leaves the window. Only failures count, so a
 * busy office behind one proxy is not locked out by its own successful logins.
 * IPv6 clients are counted per /64 (one subscriber line holds a whole /64).
 * Memory is bounded: past `maxKeys` the oldest keys are forgotten.
 */
import { isIP } from 'node:net';
import { unmapIPv4 } from '../core/net-address.js';

export type ThrottleKind = 'address' | 'account';

export interface ThrottleVerdict {
  by: ThrottleKind;
  retryAfterSeconds: number;
}

export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly limits: { perAddress: number; perAccount: number; windowMs: number; maxKeys?: number }) {}

  /** The key of a client address: the address, or its /64 for IPv6. */
  static addressKey(address: string): string {
    const a = unmapIPv4(address);
    if (isIP(a) !== 6) return `a:${a}`;
    const [head = '', tail = ''] = a.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = a.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
    return `a6:${groups
      .slice(0, 4)
      .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
      .join(':')}::/64`;
  }

  private static accountKey(username: string): string {
    return `u:${username.toLowerCase().slice(0, 64)}`;
  }

  private recent(key: string, now: number): number[] {
    const list = this.failures.get(key);
    if (!list) return [];
    const kept = list.filter((t) => t > now - this.limits.windowMs);
    if (kept.length === 0) this.failures.delete(key);
    else if (kept.length !== list.length) this.failures.set(key, kept);
    return kept;
  }

  /** Whether this attempt must wait, and how long; checked before the password is. */
  private keys(address: string, username: string) {
    return [
      ['address', LoginThrottle.addressKey(address), this.limits.perAddress],
      ['account', LoginThrottle.accountKey(username), this.limits.perAccount],
    ] as const;
  }

  check(address: string, username: string, now = Date.now()): ThrottleVerdict | undefined {
    for (const [kind, key, limit] of this.keys(address, username)) {
      const list = this.recent(key, now);
      if (list.length < limit) continue;
      // Free again when the oldest of the last `limit` failures leaves the window.
      return { by: kind, retryAfterSeconds: Math.max(1, Math.ceil((list[list.length - limit]! + this.limits.windowMs - now) / 1000)) };
    }
    return undefined;
  }

  /** Records a failure; returns which limits it has just reached (for the audit log, once per lock). */
  fail(address: string, username: string, now = Date.now()): ThrottleKind[] {
    const reached: ThrottleKind[] = [];
    for (const [kind, key, limit] of this.keys(address, username)) {
      const list = this.recent(key, now);
      list.push(now);
      // Only the newest `limit` failures matter for the verdict: older ones need not be kept.
      if (list.length > limit) list.splice(0, list.length - limit);
      this.failures.delete(key);
      this.failures.set(key, list);
      if (list.length === limit) reached.push(kind);
    }
    const max = this.limits.maxKeys ?? 100_000;
    for (const key of this.failures.keys()) {
      if (this.failures.size <= max) break;
      this.failures.delete(key);
    }
    return reached;
  }

  get size(): number {
    return this.failures.size;
  }
}
