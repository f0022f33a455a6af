/**
 * A policy zone of `rpz-client-ip` rules that follows chosen subscribers wherever their addresses are: each
 * open session of a listed subscriber is a rule for its address, added when the session starts or the
 * subscriber is listed, removed when it ends or they are unlisted. M3's opt-out zone lists opted-out
 * subscribers with passthru; M7's walled garden lists gardened subscribers with the notice page's addresses.
 * Changes are staged in the zone; `flush()` says whether a new serial should be published (the caller
 * publishes it — bump and NOTIFY — at most every few hundred milliseconds).
 *
 * Sessions come from the accounting feed; their shape is restated here so that src/dns needs nothing of
 * src/ingest.
 */
import { clientIpOwner, clientIpOwnerAt, RpzNameError, type ClientAction, type RpzZone } from './rpz.js';

/** A session event as the accounting feed gives it (src/ingest/radius/apply.ts SessionEvent). */
export type ClientSessionEvent =
  | { kind: 'begin'; key: string; subscriber: string; address: string; at: number }
  | { kind: 'touch' | 'finish'; key: string; at: number }
  | { kind: 'finish-all'; nas: string; at: number };

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const IPV6 = /^[0-9a-f:.]*:[0-9a-f:.]*(\/\d{1,3})?$/i;

export class ClientAddressZone {
  /** Open sessions by key: who, and which address (an address or, for IPv6, a prefix). */
  private readonly sessions = new Map<string, { subscriber: string; address: string }>();
  private readonly listed = new Map<string, ClientAction>();
  /**
   * The same sessions by subscriber, and (listed subscribers' only) by the rule owner of their address with the prefix
   * lengths in use: a page request or a listing touches one subscriber's sessions, not all of them (a million at a large ISP).
   */
  private readonly bySubscriber = new Map<string, string | string[]>();
  private readonly byOwner = new Map<string, string | Set<string>>();
  private readonly lengths = { 4: new Map<number, number>(), 6: new Map<number, number>() };
  private changed = false;
  /** Session addresses no rule could be written for, by reason (never logged: an address is secret). */
  readonly refused = { 'bad-address': 0 };

  /** `ipv6`: IPv6 sessions (addresses and delegated prefixes) get rules too; otherwise IPv4 only. */
  constructor(
    readonly zone: RpzZone,
    private readonly options: { ipv6?: boolean } = {},
  ) {}

  private usable(address: string): boolean {
    return IPV4.test(address) || (this.options.ipv6 === true && IPV6.test(address));
  }

  /** Addresses in open sessions of a subscriber that take a rule. */
  addressesOf(subscriber: string): string[] {
    const keys = this.bySubscriber.get(subscriber);
    const addresses = (typeof keys === 'string' ? [keys] : (keys ?? [])).map((k) => this.sessions.get(k)!.address);
    return [...new Set(addresses.filter((a) => this.usable(a)))];
  }

  /** The listed subscriber whose open session has this address (a client's source address; inside an IPv6 prefix), if any. */
  subscriberAt(address: string): string | undefined {
    const family = address.includes(':') ? 6 : 4;
    for (const len of this.lengths[family].keys()) {
      let owner: string;
      try {
        owner = family === 4 && len === 32 ? address : clientIpOwnerAt(address, len);
      } catch {
        return undefined; // not an address
      }
      const keys = this.byOwner.get(owner);
      for (const key of typeof keys === 'string' ? [keys] : (keys ?? [])) {
        const s = this.sessions.get(key)!;
        if (this.listed.has(s.subscriber) && this.usable(s.address)) return s.subscriber;
      }
    }
    return undefined;
  }

  /** A session's rule owner and prefix length, or undefined for an address no rule can take. */
  private ownerOf(address: string): { owner: string; family: 4 | 6; len: number } | undefined {
    // An IPv4 address (most sessions) is its own key: no owner to build.
    if (IPV4.test(address)) return address.split('.').every((o) => Number(o) <= 255) ? { owner: address, family: 4, len: 32 } : undefined;
    try {
      const owner = clientIpOwner(address);
      return { owner, family: address.includes(':') ? 6 : 4, len: Number(owner.slice(0, owner.indexOf('.'))) };
    } catch {
      return undefined;
    }
  }

  private index(key: string, subscriber: string, address: string, add: boolean): void {
    this.indexSubscriber(key, subscriber, add);
    // By address for listed subscribers only (the page looks for them alone): few entries, however many sessions.
    if (!add || this.listed.has(subscriber)) this.indexOwner(key, address, add);
  }

  private indexSubscriber(key: string, subscriber: string, add: boolean): void {
    // A subscriber's session keys: one (the usual case) as the key alone, more as a short array.
    const mine = this.bySubscriber.get(subscriber);
    if (add) {
      if (mine === undefined) this.bySubscriber.set(subscriber, key);
      else if (typeof mine === 'string') {
        if (mine !== key) this.bySubscriber.set(subscriber, [mine, key]);
      } else if (!mine.includes(key)) mine.push(key);
    } else if (mine === key) this.bySubscriber.delete(subscriber);
    else if (typeof mine === 'object') {
      const rest = mine.filter((k) => k !== key);
      if (rest.length === 1) this.bySubscriber.set(subscriber, rest[0]!);
      else this.bySubscriber.set(subscriber, rest);
    }
  }

  private indexOwner(key: string, address: string, add: boolean): void {
    const o = this.ownerOf(address);
    if (!o) return;
    // One session per owner (the usual case) is held as its key alone: a million sessions, a million small entries.
    const keys = this.byOwner.get(o.owner);
    const lengths = this.lengths[o.family];
    if (add) {
      if (keys === key || (typeof keys === 'object' && keys.has(key))) return;
      if (keys === undefined) this.byOwner.set(o.owner, key);
      else if (typeof keys === 'string') this.byOwner.set(o.owner, new Set([keys, key]));
      else keys.add(key);
      lengths.set(o.len, (lengths.get(o.len) ?? 0) + 1);
    } else if (keys === key || (typeof keys === 'object' && keys.delete(key))) {
      if (keys === key) this.byOwner.delete(o.owner);
      else if (typeof keys === 'object' && keys.size === 1) this.byOwner.set(o.owner, [...keys][0]!);
      const n = lengths.get(o.len)! - 1;
      if (n === 0) lengths.delete(o.len);
      else lengths.set(o.len, n);
    }
  }

  isListed(subscriber: string): boolean {
    return this.listed.has(subscriber);
  }

  /** Lists a subscriber (every address of theirs gets `action`), or unlists them with `undefined`. */
  set(subscriber: string, action: ClientAction | undefined): void {
    const keys = this.bySubscriber.get(subscriber);
    const mine = typeof keys === 'string' ? [keys] : (keys ?? []);
    if (action === undefined) {
      if (!this.listed.delete(subscriber)) return;
      for (const key of mine) this.indexOwner(key, this.sessions.get(key)!.address, false);
      for (const address of this.addressesOf(subscriber)) this.zone.removeClient(address);
    } else {
      if (!this.listed.has(subscriber)) for (const key of mine) this.indexOwner(key, this.sessions.get(key)!.address, true);
      this.listed.set(subscriber, action);
      for (const address of this.addressesOf(subscriber)) this.add(address, action);
    }
    this.changed = true;
  }

  /** Starts from the sessions open now (the feed's `current()`), then follows `onSession`. */
  seed(events: readonly ClientSessionEvent[]): void {
    for (const e of events) this.onSession(e);
  }

  /** Accounting as it arrives (the broker's accounting feed). */
  onSession(e: ClientSessionEvent): void {
    if (e.kind === 'begin') {
      const was = this.sessions.get(e.key);
      if (was) this.index(e.key, was.subscriber, was.address, false);
      this.sessions.set(e.key, { subscriber: e.subscriber, address: e.address });
      this.index(e.key, e.subscriber, e.address, true);
      const action = this.listed.get(e.subscriber);
      if (action && this.usable(e.address) && this.add(e.address, action)) this.changed = true;
    } else if (e.kind === 'finish') {
      this.end(e.key);
    } else if (e.kind === 'finish-all') {
      for (const key of [...this.sessions.keys()]) if (key.startsWith(`${e.nas}|`)) this.end(key);
    }
  }

  /** One session's rule; an address the zone cannot take (host bits set, not an address) is counted, not thrown. */
  private add(address: string, action: ClientAction): boolean {
    try {
      this.zone.client(address, action);
      return true;
    } catch (err) {
      if (!(err instanceof RpzNameError)) throw err;
      this.refused['bad-address']++;
      return false;
    }
  }

  private end(key: string): void {
    const s = this.sessions.get(key);
    if (!s) return;
    this.sessions.delete(key);
    this.index(key, s.subscriber, s.address, false);
    // The address may still be in use by another session of the same subscriber.
    if (this.listed.has(s.subscriber) && this.usable(s.address) && !this.addressesOf(s.subscriber).includes(s.address)) {
      this.zone.removeClient(s.address);
      this.changed = true;
    }
  }

  /** True once per batch of changes: time to publish a new serial. */
  flush(): boolean {
    const c = this.changed && this.zone.dirty;
    this.changed = false;
    return c;
  }
}
