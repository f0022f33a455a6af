/**
 * The opt-out policy zone follows the subscribers who opted out wherever their addresses are: each open
 * session of an opted-out subscriber is an `rpz-client-ip` passthru for its IPv4 address (the shared
 * ClientAddressZone in src/dns, which M7's walled garden uses too). Publishing is the caller's: `flush()`
 * says when a new serial is due, well within the 60 s an opt-out may take.
 */
import { ClientAddressZone } from '../../dns/client-zone.js';

export class OptOutZone extends ClientAddressZone {
  /** The consent registry's view: who has opted out now. */
  setOptedOut(subscriber: string, optedOut: boolean): void {
    if (optedOut === this.isListed(subscriber)) return;
    this.set(subscriber, optedOut ? { kind: 'passthru' } : undefined);
  }
}
