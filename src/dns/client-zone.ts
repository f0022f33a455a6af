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
import { addressInPrefix, RpzNameError, type ClientAction, type RpzZone } from './rpz.js';

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
    return [
      ...new Set([...this.sessions.values()].filter((s) => s.subscriber === subscriber && this.usable(s.address)).map((s) => s.address)),
    ];
  }

  /** The listed subscriber whose open session has this address (a client's source address; inside an IPv6 prefix), if any. */
  subscriberAt(address: string): string | undefined {
    for (const s of this.sessions.values()) {
      if (!this.listed.has(s.subscriber) || !this.usable(s.address)) continue;
      if (s.address === address || addressInPrefix(address, s.address)) return s.subscriber;
    }
    return undefined;
  }

  isListed(subscriber: string): boolean {
    return this.listed.has(subscriber);
  }

  /** Lists a subscriber (every address of theirs gets `action`), or unlists them with `undefined`. */
  set(subscriber: string, action: ClientAction | undefined): void {
    if (action === undefined) {
      if (!this.listed.delete(subscriber)) return;
      for (const address of this.addressesOf(subscriber)) this.zone.removeClient(address);
    } else {
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
      this.sessions.set(e.key, { subscriber: e.subscriber, address: e.address });
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
