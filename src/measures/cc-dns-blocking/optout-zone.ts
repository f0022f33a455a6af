/**
 * The opt-out policy zone follows the subscribers who opted out wherever
 * their addresses are: each open session of an opted-out subscriber is an
 * `rpz-client-ip` passthru for its address, added when the session starts or
 * the subscriber opts out, removed when it ends or they opt back in. Changes
 * are staged in the zone; `flush()` says whether a new serial should be
 * published (the caller publishes it — bump and NOTIFY — at most every few
 * hundred milliseconds, well within the 60 s an opt-out may take).
 */
import type { SessionEvent } from '../../ingest/radius/apply.js';
import type { RpzZone } from '../../dns/rpz.js';

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export class OptOutZone {
  /** Open sessions by key: who, and which address. */
  private readonly sessions = new Map<string, { subscriber: string; address: string }>();
  private readonly optedOut = new Set<string>();
  private changed = false;

  constructor(readonly zone: RpzZone) {}

  /** Addresses in the zone now for a subscriber (IPv4 sessions: the client-IP trigger takes addresses). */
  private addressesOf(subscriber: string): string[] {
    return [...this.sessions.values()].filter((s) => s.subscriber === subscriber && IPV4.test(s.address)).map((s) => s.address);
  }

  /** The consent registry's view: who has opted out now. */
  setOptedOut(subscriber: string, optedOut: boolean): void {
    if (optedOut === this.optedOut.has(subscriber)) return;
    if (optedOut) this.optedOut.add(subscriber);
    else this.optedOut.delete(subscriber);
    for (const address of this.addressesOf(subscriber)) {
      if (optedOut) this.zone.passthruClient(address);
      else this.zone.removeClient(address);
      this.changed = true;
    }
  }

  /** Starts from the sessions open now (the feed's `current()`), then follows `onSession`. */
  seed(events: readonly SessionEvent[]): void {
    for (const e of events) this.onSession(e);
  }

  /** Accounting as it arrives (the broker's accounting feed). */
  onSession(e: SessionEvent): void {
    if (e.kind === 'begin') {
      this.sessions.set(e.key, { subscriber: e.subscriber, address: e.address });
      if (this.optedOut.has(e.subscriber) && IPV4.test(e.address)) {
        this.zone.passthruClient(e.address);
        this.changed = true;
      }
    } else if (e.kind === 'finish') {
      this.end(e.key);
    } else if (e.kind === 'finish-all') {
      for (const key of [...this.sessions.keys()]) if (key.startsWith(`${e.nas}|`)) this.end(key);
    }
  }

  private end(key: string): void {
    const s = this.sessions.get(key);
    if (!s) return;
    this.sessions.delete(key);
    // The address may still be in use by another session of the same subscriber.
    if (this.optedOut.has(s.subscriber) && IPV4.test(s.address) && !this.addressesOf(s.subscriber).includes(s.address)) {
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
