/**
 * Response Policy Zones as Mamori publishes them to the ISP's resolvers
 * (draft-vixie-dnsop-dns-rpz): a blocked FQDN and its subdomains become
 * `name.<zone>` and `*.name.<zone>` CNAME `.` (NXDOMAIN) or CNAME to a walled
 * garden; an opted-out subscriber's address becomes
 * `<prefix>.<reversed address>.rpz-client-ip.<zone>` CNAME `rpz-passthru.`; a walled-garden subscriber's
 * address becomes the same owner with local data, A/AAAA of the notice page (Unbound 1.17 applies a client-IP
 * trigger only with local data, not with a CNAME: test/interop/walled-garden-resolvers.test.ts).
 * Zones are strict: a name that is not a valid DNS name, or would fall outside
 * the zone, is refused with its reason; one bad entry never breaks a zone.
 */
import { MamoriError } from '../core/errors.js';

export interface RpzRecord {
  name: string;
  type: 'CNAME' | 'A' | 'AAAA';
  data: string;
}

/** What an `rpz-client-ip` owner answers: let the client through every policy, or local data (the garden page's addresses). */
export type ClientAction = { kind: 'passthru' } | { kind: 'local-data'; a: readonly string[]; aaaa: readonly string[] };

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
  /** Published records by owner: one CNAME, or local data (several A/AAAA). */
  private readonly records = new Map<string, RpzRecord[]>();
  /** Staged changes by owner: the records to set, or null to delete. */
  private staged = new Map<string, RpzRecord[] | null>();
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
    const same = (a: RpzRecord[], b: RpzRecord[]) =>
      a.length === b.length && a.every((r, i) => r.type === b[i]!.type && r.data === b[i]!.data);
    for (const [owner, next] of this.staged) {
      const old = this.records.get(owner);
      if (next && old && same(old, next)) continue;
      if (old) {
        removed.push(...old);
        this.records.delete(owner);
      }
      if (next) {
        added.push(...next);
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
    this.staged.set(r.name, [r]);
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

  /**
   * Lets a name and every name under it through (`name` and `*.name` CNAME `rpz-passthru.`): the walled garden's
   * allow-list, in a zone the resolvers list before the garden's. Returns the owners written.
   */
  passthru(fqdn: string): string[] {
    const name = canonicalName(fqdn);
    if (name.startsWith('*.')) throw new RpzNameError(`"${name}": list the domain; its subdomains are let through with it`);
    const owners = [this.owner(name), this.owner(`*.${name}`)];
    for (const o of owners) this.put({ name: o, type: 'CNAME', data: 'rpz-passthru.' });
    return owners;
  }

  /** Removes what `passthru` (or `block`) wrote for a name: the name and its wildcard. */
  unpassthru(fqdn: string): boolean {
    return this.unblock(fqdn);
  }

  /**
   * Of `names` (canonical, each standing for itself and every name under it), those a QNAME rule of this zone
   * other than passthru acts on: a rule at the name or under it, or a wildcard above it. Client-IP, IP and NS
   * triggers are not names asked and are skipped. One pass over the zone, a few set look-ups per rule.
   */
  qnameRulesOver(names: readonly string[]): string[] {
    const wanted = new Set(names);
    const above = new Map<string, string[]>();
    for (const n of names) for (let a = parentOf(n); a !== undefined; a = parentOf(a)) above.set(a, [...(above.get(a) ?? []), n]);
    const hit = new Set<string>();
    const suffix = `.${this.origin}`;
    for (const [owner, rrs] of this.records) {
      if (rrs.every((r) => r.type === 'CNAME' && r.data === 'rpz-passthru.')) continue;
      const relative = owner.slice(0, -suffix.length);
      if (/(^|\.)rpz-(client-ip|ip|nsdname|nsip)(\.|$)/.test(relative)) continue;
      const wild = relative.startsWith('*.');
      const base = wild ? relative.slice(2) : relative;
      // The rule's name is one of `names` or under one of them ...
      for (let a: string | undefined = base; a !== undefined; a = parentOf(a)) if (wanted.has(a)) hit.add(a);
      // ... or a wildcard above one of them.
      if (wild) for (const n of above.get(base) ?? []) hit.add(n);
    }
    return names.filter((n) => hit.has(n));
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

  /** Lets an opted-out subscriber's address (IPv4 or IPv6, an address or a prefix) through every policy. */
  passthruClient(address: string, prefixLength?: number): string {
    return this.client(address, { kind: 'passthru' }, prefixLength);
  }

  /**
   * Sets what a client address (or prefix) gets: passthru, or local data — every name it asks answered with
   * these addresses (the walled garden's notice page). Local data needs at least one address.
   */
  client(address: string, action: ClientAction, prefixLength?: number): string {
    const owner = this.owner(clientIpOwner(address, prefixLength));
    if (action.kind === 'passthru') {
      this.put({ name: owner, type: 'CNAME', data: 'rpz-passthru.' });
      return owner;
    }
    const set: RpzRecord[] = [
      ...[...new Set(action.a)].sort().map((a): RpzRecord => ({ name: owner, type: 'A', data: checkedAddress(a, 4) })),
      ...[...new Set(action.aaaa)].sort().map((a): RpzRecord => ({ name: owner, type: 'AAAA', data: checkedAddress(a, 6) })),
    ];
    if (set.length === 0) throw new RpzNameError('local data needs at least one address (A or AAAA)');
    this.staged.set(owner, set);
    return owner;
  }

  removeClient(address: string, prefixLength?: number): boolean {
    return this.drop(this.owner(clientIpOwner(address, prefixLength)));
  }

  /** Every published record, sorted by owner (AXFR needs no order, but stable output is kinder to diffs). */
  list(): RpzRecord[] {
    return [...this.records.values()].flat().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Owners with a rule. */
  get size(): number {
    return this.records.size;
  }

  /** The rule of an owner name: one CNAME, or its local data. */
  lookup(name: string): RpzRecord[] {
    return this.records.get(name.toLowerCase().replace(/\.$/, '')) ?? [];
  }
}

/** The name one label up, or undefined for a one-label name. */
function parentOf(name: string): string | undefined {
  const i = name.indexOf('.');
  return i < 0 ? undefined : name.slice(i + 1);
}

/** An IPv4 (dotted quad) or IPv6 address in its canonical text, or the error naming it. */
function checkedAddress(text: string, family: 4 | 6): string {
  const got = isIP(text);
  if (got !== family) throw new RpzNameError(`"${text}" is not an IPv${family} address`);
  return family === 4
    ? text
    : ipv6Groups(text)
        .map((g) => g.toString(16))
        .join(':')
        .replace(/(^|:)0(:0)+(:|$)/, '::');
}

/** The 8 groups of an IPv6 address (an embedded IPv4 tail included). */
function ipv6Groups(text: string): number[] {
  let t = text.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (v4) {
    const o = v4[1]!.split('.').map(Number);
    t = `${t.slice(0, -v4[1]!.length)}${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head, tail] = t.includes('::') ? t.split('::') : [t, undefined];
  const h = head ? head.split(':') : [];
  const tl = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - tl.length).fill('0'), ...tl];
  return groups.map((g) => parseInt(g, 16));
}

/**
 * The owner of an `rpz-client-ip` trigger, relative to the zone (draft-vixie-dnsop-dns-rpz §4.1.1): the prefix
 * length, then the address reversed — IPv4 octet by octet (`32.2.0.0.127`); IPv6 group by group in hex without
 * leading zeros, the longest run of two or more zero groups written `zz` (`128.1.zz.db8.2001` for 2001:db8::1).
 * An address alone is a /32 or /128; `address/length` and `prefixLength` give a prefix (its host bits must be zero).
 */
export function clientIpOwner(address: string, prefixLength?: number): string {
  const [text, slash] = address.trim().split('/') as [string, string | undefined];
  const family = isIP(text);
  if (family === 0) throw new RpzNameError(`"${address}" is not an IPv4 or IPv6 address or prefix`);
  const max = family === 4 ? 32 : 128;
  const len = prefixLength ?? (slash === undefined ? max : Number(slash));
  if (!Number.isInteger(len) || len < 1 || len > max)
    throw new RpzNameError(`"${address}": prefix length ${prefixLength ?? slash} is not between 1 and ${max}`);
  if (family === 4) {
    const o = text.split('.').map(Number);
    const value = ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
    if (len < 32 && value % 2 ** (32 - len) !== 0) throw new RpzNameError(`"${address}": host bits set beyond /${len}`);
    return `${len}.${[...o].reverse().join('.')}.rpz-client-ip`;
  }
  const g = ipv6Groups(text);
  for (let bit = len; bit < 128; bit++) {
    if ((g[bit >> 4]! >> (15 - (bit & 15))) & 1) throw new RpzNameError(`"${address}": host bits set beyond /${len}`);
  }
  // The longest run of zero groups (two or more; the first of equal runs) becomes "zz".
  let best = { at: -1, n: 1 };
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > best.n) best = { at: i, n: j - i };
    i = j;
  }
  const labels = g.map((x) => x.toString(16));
  if (best.at >= 0) labels.splice(best.at, best.n, 'zz');
  return `${len}.${labels.reverse().join('.')}.rpz-client-ip`;
}

/** 4 or 6 for an address in text, 0 otherwise (without node:net: measures use this module). */
function isIP(text: string): 0 | 4 | 6 {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) return text.split('.').every((o) => Number(o) <= 255 && String(Number(o)) === o) ? 4 : 0;
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(':')) return 0;
  try {
    new URL(`http://[${text}]/`);
    return 6;
  } catch {
    return 0;
  }
}

/** Whether an address (IPv4 or IPv6) lies in `prefix` ("address/length", or an address: equal). */
export function addressInPrefix(address: string, prefix: string): boolean {
  const [base, slash] = prefix.split('/') as [string, string | undefined];
  const family = isIP(base);
  if (family === 0 || isIP(address) !== family) return false;
  if (slash === undefined) return family === 4 ? address === base : ipv6Groups(address).join(':') === ipv6Groups(base).join(':');
  const len = Number(slash);
  const bits = (groups: number[], width: number) =>
    groups
      .map((g) => g.toString(2).padStart(width, '0'))
      .join('')
      .slice(0, len);
  return family === 4
    ? bits(address.split('.').map(Number), 8) === bits(base.split('.').map(Number), 8)
    : bits(ipv6Groups(address), 16) === bits(ipv6Groups(base), 16);
}

/**
 * The owner (as clientIpOwner) of the `len`-bit prefix that holds `address`, its host bits cleared: finds a client's rule
 * from the source address of a request without scanning every rule.
 */
export function clientIpOwnerAt(address: string, len: number): string {
  const family = isIP(address);
  if (family === 4) {
    const o = address.split('.').map(Number);
    const value = ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
    const net = len >= 32 ? value : len <= 0 ? 0 : value - (value % 2 ** (32 - len));
    return clientIpOwner(`${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}`, len);
  }
  if (family === 0) throw new RpzNameError(`"${address}" is not an IPv4 or IPv6 address`);
  const g = ipv6Groups(address);
  for (let bit = Math.max(0, len); bit < 128; bit++) g[bit >> 4]! &= ~(1 << (15 - (bit & 15)));
  return clientIpOwner(g.map((x) => x.toString(16)).join(':'), len);
}
