/**
 * Response Policy Zones as Mamori publishes them to the ISP's resolvers
 * (draft-vixie-dnsop-dns-rpz): a blocked FQDN and its subdomains become
 * `name.<zone>` and `*.name.<zone>` CNAME `.` (NXDOMAIN) or CNAME to a walled
 * garden; an opted-out subscriber's address becomes
 * `<prefix>.<reversed address>.rpz-client-ip.<zone>` CNAME `rpz-passthru.`.
 * Zones are strict: a name that is not a valid DNS name, or would fall outside
 * the zone, is refused with its reason; one bad entry never breaks a zone.
 */
import { MamoriError } from '../core/errors.js';

export interface RpzRecord {
  name: string;
  type: 'CNAME';
  data: string;
}

export class RpzNameError extends MamoriError {
  static override readonly code = 'dns-name';
  static override readonly status = 400;
}

const LABEL = /^(?:\*|[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)$/;

/** A lowercase FQDN without the trailing dot, checked label by label; throws with the reason. */
export function canonicalName(text: string): string {
  const name = text.trim().toLowerCase().replace(/\.$/, '');
  if (name.length === 0) throw new RpzNameError('empty name');
  if (name.length > 253) throw new RpzNameError(`"${name.slice(0, 40)}…" is longer than 253 characters`);
  for (const label of name.split('.')) {
    if (!LABEL.test(label))
      throw new RpzNameError(`"${name}": label "${label}" is not a DNS label (letters, digits, "-", "_", 1–63 characters)`);
  }
  if (name.split('.').slice(1).includes('*')) throw new RpzNameError(`"${name}": a wildcard may only be the first label`);
  return name;
}

export type BlockAction = { kind: 'nxdomain' } | { kind: 'nodata' } | { kind: 'walled-garden'; target: string };

/** What one serial changed: the records removed and added (for IXFR, RFC 1995). */
export interface ZoneDiff {
  from: number;
  to: number;
  removed: RpzRecord[];
  added: RpzRecord[];
}

const JOURNAL_VERSIONS = 1000;

/**
 * A policy zone. Changes are staged and become visible together, as one new
 * serial, at `bump()` — so what a secondary transfers at a serial is exactly
 * that version, and the journal can say what each version changed.
 */
export class RpzZone {
  readonly origin: string;
  private readonly records = new Map<string, RpzRecord>();
  /** Staged changes by owner: a record to set, or null to delete. */
  private staged = new Map<string, RpzRecord | null>();
  private readonly journal: ZoneDiff[] = [];

  constructor(
    origin: string,
    private serialValue = 1,
  ) {
    this.origin = canonicalName(origin);
  }

  get serial(): number {
    return this.serialValue;
  }

  /** Whether changes wait for the next `bump()`. */
  get dirty(): boolean {
    return this.staged.size > 0;
  }

  /** Publishes the staged changes as one version: the serial goes up and the journal keeps the diff. */
  bump(): number {
    const removed: RpzRecord[] = [];
    const added: RpzRecord[] = [];
    for (const [owner, next] of this.staged) {
      const old = this.records.get(owner);
      if (next && old && old.data === next.data) continue;
      if (old) {
        removed.push(old);
        this.records.delete(owner);
      }
      if (next) {
        added.push(next);
        this.records.set(owner, next);
      }
    }
    this.staged = new Map();
    const from = this.serialValue;
    this.serialValue = (this.serialValue % 0xffffffff) + 1;
    this.journal.push({ from, to: this.serialValue, removed, added });
    if (this.journal.length > JOURNAL_VERSIONS) this.journal.shift();
    return this.serialValue;
  }

  /** The diffs from `serial` to now, or undefined when the journal does not reach back that far (then: AXFR). */
  diffsSince(serial: number): ZoneDiff[] | undefined {
    if (serial === this.serialValue) return [];
    const i = this.journal.findIndex((d) => d.from === serial);
    return i < 0 ? undefined : this.journal.slice(i);
  }

  private put(r: RpzRecord): void {
    this.staged.set(r.name, r);
  }

  private drop(owner: string): boolean {
    const present = this.staged.has(owner) ? this.staged.get(owner) !== null : this.records.has(owner);
    if (present) this.staged.set(owner, null);
    return present;
  }

  private owner(relative: string): string {
    const owner = `${relative}.${this.origin}`;
    if (owner.length > 253) throw new RpzNameError(`"${relative}" is too long to fit under ${this.origin}`);
    return owner;
  }

  /** Blocks a name and every name under it. Returns the owners written. */
  block(fqdn: string, action: BlockAction = { kind: 'nxdomain' }): string[] {
    const name = canonicalName(fqdn);
    if (name.startsWith('*.')) throw new RpzNameError(`"${name}": list the domain; its subdomains are blocked with it`);
    const data = action.kind === 'nxdomain' ? '.' : action.kind === 'nodata' ? '*.' : canonicalName(action.target);
    const owners = [this.owner(name), this.owner(`*.${name}`)];
    for (const o of owners) this.put({ name: o, type: 'CNAME', data });
    return owners;
  }

  unblock(fqdn: string): boolean {
    const name = canonicalName(fqdn);
    const a = this.drop(this.owner(name));
    const b = this.drop(this.owner(`*.${name}`));
    return a || b;
  }

  /**
   * Blocks every name under a domain, but not the domain itself: the rule for
   * a random-subdomain attack. Exact names passed with `passthruName` win over
   * this wildcard (RPZ: an exact QNAME match beats a wildcard in the same zone).
   */
  blockUnder(domain: string, action: BlockAction = { kind: 'nxdomain' }): string {
    const name = canonicalName(domain);
    const data = action.kind === 'nxdomain' ? '.' : action.kind === 'nodata' ? '*.' : canonicalName(action.target);
    const owner = this.owner(`*.${name}`);
    this.put({ name: owner, type: 'CNAME', data });
    return owner;
  }

  /** Blocks one exact name, not the names under it (a name abused for amplification). */
  blockExact(fqdn: string, action: BlockAction = { kind: 'nxdomain' }): string {
    const data = action.kind === 'nxdomain' ? '.' : action.kind === 'nodata' ? '*.' : canonicalName(action.target);
    const owner = this.owner(canonicalName(fqdn));
    this.put({ name: owner, type: 'CNAME', data });
    return owner;
  }

  /** Lets one exact name through (an exception to a wildcard rule). */
  passthruName(fqdn: string): string {
    const owner = this.owner(canonicalName(fqdn));
    this.put({ name: owner, type: 'CNAME', data: 'rpz-passthru.' });
    return owner;
  }

  /** Removes the rule of one owner name relative to the zone (`*.victim.example`, `www.victim.example`). */
  removeRule(relative: string): boolean {
    return this.drop(this.owner(relative.toLowerCase().replace(/\.$/, '')));
  }

  /** Lets an opted-out subscriber's address (IPv4 /32 or an IPv4 prefix) through every policy. */
  passthruClient(address: string, prefixLength = 32): string {
    const o = address.split('.').map(Number);
    if (o.length !== 4 || o.some((x) => !Number.isInteger(x) || x < 0 || x > 255) || !(prefixLength >= 1 && prefixLength <= 32))
      throw new RpzNameError(`"${address}/${prefixLength}" is not an IPv4 address or prefix`);
    const owner = this.owner(`${prefixLength}.${[...o].reverse().join('.')}.rpz-client-ip`);
    this.put({ name: owner, type: 'CNAME', data: 'rpz-passthru.' });
    return owner;
  }

  removeClient(address: string, prefixLength = 32): boolean {
    const o = address.split('.').map(Number);
    return this.drop(this.owner(`${prefixLength}.${[...o].reverse().join('.')}.rpz-client-ip`));
  }

  /** Every published record, sorted by owner (AXFR needs no order, but stable output is kinder to diffs). */
  list(): RpzRecord[] {
    return [...this.records.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get size(): number {
    return this.records.size;
  }

  lookup(name: string): RpzRecord | undefined {
    return this.records.get(name.toLowerCase().replace(/\.$/, ''));
  }
}
