/**
 * The cell-level rules every report format shares: what an address, a port, a
 * time and a family label may be, which addresses are the ISP's own (a prefix
 * set) and a bounded memory of the entries already seen in one report.
 * Written for speed (a daily report has millions of rows): no regular
 * expression runs on the common path.
 */
import { isIP } from 'node:net';
import { addressBytes, compareAddressBytes, formatIPv6, prefixBounds } from '../address.js';

// ---- addresses ----

/** Dotted-quad IPv4 to its 32-bit value, strictly (no leading zeros, no spaces); -1 if it is not one. */
export function ipv4Value(s: string): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots += 1;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1; // a leading zero ("01") reads as octal in some tools: refused
      octet = octet * 10 + (c - 48);
      digits += 1;
      if (octet > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

export interface ParsedAddress {
  /** Canonical text: dotted quad, or RFC 5952 for IPv6 (an IPv4-mapped IPv6 address becomes its IPv4). */
  text: string;
  version: 4 | 6;
  /** IPv4 as a 32-bit value (for the prefix check); -1 for IPv6. */
  v4: number;
  /** IPv6 as 16 bytes; undefined for IPv4. */
  v6?: Uint8Array;
}

/** An address as reports write it; undefined when it is not one (zone ids such as fe80::1%eth0 are refused too). */
export function parseAddress(raw: string): ParsedAddress | undefined {
  const s = raw.length > 0 && (raw.charCodeAt(0) === 32 || raw.charCodeAt(raw.length - 1) === 32) ? raw.trim() : raw;
  const v4 = ipv4Value(s);
  if (v4 >= 0) return { text: s, version: 4, v4 };
  if (s.length > 45 || s.includes('%') || isIP(s) !== 6) return undefined;
  const bytes = addressBytes(s);
  let mapped = bytes[10] === 0xff && bytes[11] === 0xff;
  for (let i = 0; mapped && i < 10; i++) mapped = bytes[i] === 0;
  if (mapped) {
    const v = ((bytes[12]! << 24) >>> 0) + (bytes[13]! << 16) + (bytes[14]! << 8) + bytes[15]!;
    return { text: `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`, version: 4, v4: v };
  }
  return { text: formatIPv6(bytes, 0), version: 6, v4: -1, v6: bytes };
}

// ---- the ISP's prefixes ----

/**
 * The prefixes whose addresses are the ISP's subscribers'. Membership is a
 * binary search over merged ranges (IPv4 as numbers, IPv6 as 16 bytes), so a
 * few thousand prefixes cost the same per row as a few.
 */
export class PrefixSet {
  private readonly v4: Array<[number, number]> = [];
  private readonly v6: Array<[Uint8Array, Uint8Array]> = [];
  readonly size: number;

  /** Throws naming the first entry that is not a prefix ("192.0.2.0/24", "2001:db8::/32"; host bits must be zero). */
  constructor(prefixes: readonly string[]) {
    const v4: Array<[number, number]> = [];
    const v6: Array<[Uint8Array, Uint8Array]> = [];
    for (const p of prefixes) {
      const [addr, len, extra] = p.trim().split('/');
      const version = addr === undefined || extra !== undefined ? 0 : isIP(addr);
      const max = version === 4 ? 32 : 128;
      const n = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : -1;
      if (version === 0 || n < 0 || n > max) throw new Error(`"${p}" is not an IPv4 or IPv6 prefix`);
      const [lo, hi] = prefixBounds(addr!, n);
      if (compareAddressBytes(lo, addressBytes(addr!)) !== 0) throw new Error(`"${p}" has host bits set`);
      if (version === 4) v4.push([word(lo), word(hi)]);
      else v6.push([lo, hi]);
    }
    v4.sort((a, b) => a[0] - b[0]);
    for (const r of v4) {
      const last = this.v4[this.v4.length - 1];
      if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
      else this.v4.push([r[0], r[1]]);
    }
    v6.sort((a, b) => compareAddressBytes(a[0], b[0]));
    for (const r of v6) {
      const last = this.v6[this.v6.length - 1];
      if (last && compareAddressBytes(r[0], last[1]) <= 0) {
        if (compareAddressBytes(r[1], last[1]) > 0) last[1] = r[1];
      } else this.v6.push([r[0], r[1]]);
    }
    this.size = prefixes.length;
  }

  has(a: ParsedAddress): boolean {
    if (a.version === 4) {
      const r = this.v4;
      let lo = 0;
      let hi = r.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const [first, last] = r[mid]!;
        if (a.v4 < first) hi = mid - 1;
        else if (a.v4 > last) lo = mid + 1;
        else return true;
      }
      return false;
    }
    const r = this.v6;
    let lo = 0;
    let hi = r.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [first, last] = r[mid]!;
      if (compareAddressBytes(a.v6!, first) < 0) hi = mid - 1;
      else if (compareAddressBytes(a.v6!, last) > 0) lo = mid + 1;
      else return true;
    }
    return false;
  }
}

/** The IPv4 part (last 4 bytes) of a 16-byte ::ffff:a.b.c.d address as a number. */
function word(b: Uint8Array): number {
  return ((b[12]! << 24) >>> 0) + (b[13]! << 16) + (b[14]! << 8) + b[15]!;
}

// ---- ports ----

/** A port cell: undefined when empty or 0 (reports write 0 for "unknown"), -1 when it is not 1–65535. */
export function parsePort(raw: unknown): number | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw === 'number') return Number.isInteger(raw) && raw >= 0 && raw <= 65535 ? raw || undefined : -1;
  if (typeof raw !== 'string' || raw.length > 5) return -1;
  let v = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v > 65535 ? -1 : v || undefined;
}

// ---- times ----

/** A time that is not one, or that names no time zone (and the source does not declare one). */
export const BAD_TIME = -1;
export const NO_ZONE = -2;

const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v;
}

/**
 * "YYYY-MM-DD hh:mm[:ss[.fff…]]" with "T" or a space, then a zone: "Z", "UTC",
 * "+hh:mm", "+hhmm" or "+hh" (a space before it is allowed). Without a zone
 * the time is UTC only when `naiveIsUtc` (a source that documents it, such as
 * Shadowserver: "timestamp … in UTC+0"); otherwise NO_ZONE. `epochSeconds`
 * also allows a number of seconds since 1970 (plain lists). A date alone is
 * BAD_TIME: it names no moment a session can be matched at. Returns UTC ms.
 */
export function parseTime(raw: unknown, naiveIsUtc: boolean, epochSeconds = false): number {
  if (typeof raw === 'number') return epochSeconds && Number.isFinite(raw) && raw > 0 ? Math.round(raw * 1000) : BAD_TIME;
  if (typeof raw !== 'string' || raw.length < 16 || raw.length > 40) {
    if (epochSeconds && typeof raw === 'string' && /^\d{9,10}(\.\d{1,6})?$/.test(raw)) return Math.round(Number(raw) * 1000);
    return BAD_TIME;
  }
  const s = raw;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const sep = s.charCodeAt(10);
  if (year < 1970 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59) return BAD_TIME;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || (sep !== 84 && sep !== 32) || s.charCodeAt(13) !== 58) return BAD_TIME;
  if (day > DAYS[month - 1]! || (month === 2 && day === 29 && (year % 4 !== 0 || (year % 100 === 0 && year % 400 !== 0)))) return BAD_TIME;
  let i = 16;
  let second = 0;
  let ms = 0;
  if (s.charCodeAt(i) === 58) {
    second = digits(s, i + 1, 2);
    if (second < 0 || second > 59) return BAD_TIME;
    i += 3;
    if (s.charCodeAt(i) === 46 || s.charCodeAt(i) === 44) {
      let j = i + 1;
      let scale = 100;
      while (j < s.length && s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 57) {
        ms += (s.charCodeAt(j) - 48) * scale;
        scale /= 10;
        j++;
      }
      if (j === i + 1) return BAD_TIME;
      ms = Math.floor(ms);
      i = j;
    }
  }
  if (s.charCodeAt(i) === 32) i++;
  let offsetMin = 0;
  const rest = s.length - i;
  if (rest === 0) {
    if (s.charCodeAt(s.length - 1) === 32) return BAD_TIME;
    if (!naiveIsUtc) return NO_ZONE;
  } else if (rest === 1 && (s[i] === 'Z' || s[i] === 'z')) {
    // UTC
  } else if (rest === 3 && s.slice(i) === 'UTC') {
    // UTC
  } else if (s[i] === '+' || s[i] === '-') {
    const sign = s[i] === '+' ? 1 : -1;
    const hh = digits(s, i + 1, 2);
    const colon = rest === 6 && s.charCodeAt(i + 3) === 58;
    const mm = rest === 3 ? 0 : rest === 5 ? digits(s, i + 3, 2) : colon ? digits(s, i + 4, 2) : -1;
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || (rest !== 3 && rest !== 5 && !colon)) return BAD_TIME;
    offsetMin = sign * (hh * 60 + mm);
  } else return BAD_TIME;
  return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMin * 60_000;
}

// ---- labels (family, list names, feed names) ----

const LABEL_MAX = 64;

/**
 * A family or list name as a case key and as notice text: lower case, letters,
 * digits and . _ + : / - only (anything else becomes "-"), at most 64
 * characters; undefined when nothing is left.
 */
export function normaliseLabel(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const t = raw.trim().toLowerCase();
  if (t.length === 0) return undefined;
  let out = '';
  for (let i = 0; i < t.length && out.length < LABEL_MAX; i++) {
    const c = t.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 46 || c === 95 || c === 43 || c === 58 || c === 47 || c === 45;
    out += ok ? t[i] : out.endsWith('-') ? '' : '-';
  }
  out = out.replace(/^-+|-+$/g, '');
  return out.length > 0 ? out : undefined;
}

// ---- duplicates ----

/**
 * Remembers the entries of one report to refuse repeats, in bounded memory: two
 * generations of open-addressed 53-bit fingerprints in typed arrays. When the
 * current generation is half full it becomes the old one and the older is
 * forgotten, so at least `slots / 2` most recent distinct entries are always
 * remembered. A repeat further apart than that is not caught here (`forgotten`
 * counts the fingerprints dropped); the measure's case deduplication still
 * merges it. Two different entries share a fingerprint with probability about
 * n / 2^53 per row (n remembered): about one in 10^10 at a million.
 */
export class BoundedDedupe {
  private current: Float64Array;
  private old: Float64Array;
  private count = 0;
  private readonly mask: number;
  forgotten = 0;

  constructor(readonly slots = 1 << 20) {
    if (!Number.isInteger(Math.log2(slots)) || slots < 16) throw new Error('dedupe slots must be a power of two ≥ 16');
    this.current = new Float64Array(slots);
    this.old = new Float64Array(slots);
    this.mask = slots - 1;
  }

  /** True if `key` was seen (within the window); otherwise remembers it. */
  seen(key: string): boolean {
    const h = fingerprint(key);
    if (this.find(this.current, h) || this.find(this.old, h)) return true;
    if (this.count >= this.slots >> 1) {
      const t = this.old;
      this.old = this.current;
      this.current = t;
      this.current.fill(0);
      this.forgotten += this.count;
      this.count = 0;
    }
    let i = h & this.mask;
    while (this.current[i] !== 0) i = (i + 1) & this.mask;
    this.current[i] = h;
    this.count += 1;
    return false;
  }

  private find(table: Float64Array, h: number): boolean {
    let i = h & this.mask;
    for (;;) {
      const v = table[i]!;
      if (v === 0) return false;
      if (v === h) return true;
      i = (i + 1) & this.mask;
    }
  }
}

/** Two 32-bit FNV-1a style lanes with different seeds, combined to a non-zero 53-bit number. */
function fingerprint(s: string): number {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a ^= a >>> 16;
  a = Math.imul(a, 0x85ebca6b);
  a ^= a >>> 13;
  return (b & 0x1fffff) * 0x100000000 + (a >>> 0) || 1;
}
