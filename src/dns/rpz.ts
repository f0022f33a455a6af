/**
 * Response Policy Zones as Mamori publishes them to the ISP's resolvers
 * (draft-vixie-dnsop-dns-rpz): a blocked FQDN and its subdomains become
 * `name.<zone>` and `*.name.<zone>` CNAME `.` (NXDOMAIN) or CNAME to a walled
 * garden; an opted-out subscriber's address becomes
 * `<prefix>.<reversed address>.rpz-client-ip.<zone>` CNAME `rpz-passthru.`.
 * Zones are strict: a name that is not a valid DNS name, or would fall outside
 * the zone, is refused with its reason; one bad entry never breaks a zone.
 */

export interface RpzRecord { name: string; type: 'CNAME'; data: string }

export class RpzNameError extends Error {}

const LABEL = /^(?:\*|[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)$/;

/** A lowercase FQDN without the trailing dot, checked label by label; throws with the reason. */
export function canonicalName(text: string): string {
  const name = text.trim().toLowerCase().replace(/\.$/, '');
  if (name.length === 0) throw new RpzNameError('empty name');
  if (name.length > 253) throw new RpzNameError(`"${name.slice(0, 40)}…" is longer than 253 characters`);
  for (const label of name.split('.')) {
    if (!LABEL.test(label)) throw new RpzNameError(`"${name}": label "${label}" is not a DNS label (letters, digits, "-", "_", 1–63 characters)`);
  }
  if (name.split('.').slice(1).includes('*')) throw new RpzNameError(`"${name}": a wildcard may only be the first label`);
  return name;
}

export type BlockAction = { kind: 'nxdomain' } | { kind: 'nodata' } | { kind: 'walled-garden'; target: string };

export class RpzZone {
  readonly origin: string;
  private readonly records = new Map<string, RpzRecord>();

  constructor(origin: string, private serialValue = 1) {
    this.origin = canonicalName(origin);
  }

  get serial(): number { return this.serialValue; }

  /** Serials always increase (RFC 1982 arithmetic is not needed while we only add 1 from the stored value). */
  bump(): number {
    this.serialValue = (this.serialValue % 0xffffffff) + 1;
    return this.serialValue;
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
    for (const o of owners) this.records.set(o, { name: o, type: 'CNAME', data });
    return owners;
  }

  unblock(fqdn: string): boolean {
    const name = canonicalName(fqdn);
    const a = this.records.delete(this.owner(name));
    const b = this.records.delete(this.owner(`*.${name}`));
    return a || b;
  }

  /** Lets an opted-out subscriber's address (IPv4 /32 or an IPv4 prefix) through every policy. */
  passthruClient(address: string, prefixLength = 32): string {
    const o = address.split('.').map(Number);
    if (o.length !== 4 || o.some((x) => !Number.isInteger(x) || x < 0 || x > 255) || !(prefixLength >= 1 && prefixLength <= 32)) throw new RpzNameError(`"${address}/${prefixLength}" is not an IPv4 address or prefix`);
    const owner = this.owner(`${prefixLength}.${[...o].reverse().join('.')}.rpz-client-ip`);
    this.records.set(owner, { name: owner, type: 'CNAME', data: 'rpz-passthru.' });
    return owner;
  }

  removeClient(address: string, prefixLength = 32): boolean {
    const o = address.split('.').map(Number);
    return this.records.delete(this.owner(`${prefixLength}.${[...o].reverse().join('.')}.rpz-client-ip`));
  }

  /** Every record, sorted by owner (canonical order is not required by AXFR, but stable output is kinder to diffs). */
  list(): RpzRecord[] {
    return [...this.records.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get size(): number { return this.records.size; }

  lookup(name: string): RpzRecord | undefined {
    return this.records.get(name.toLowerCase().replace(/\.$/, ''));
  }
}
