/**
 * Address arithmetic shared by the inlet and the measures: text to the 16
 * network-order bytes ClickHouse stores (IPv4 mapped to ::ffff:a.b.c.d),
 * back to text, ordering, and the bounds of a prefix.
 */

/** Address text in the canonical form (RFC 5952), the same as Node's sockets report. */
export function formatIPv6(buf: Uint8Array, p: number): string {
  const groups: number[] = [];
  for (let k = 0; k < 16; k += 2) groups.push((buf[p + k]! << 8) | buf[p + k + 1]!);
  // The longest run of two or more zero groups becomes "::" (the first such run on a tie).
  let bestStart = -1,
    bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/**
 * An IPv6 prefix as text with the bits beyond its length cleared ("2001:db8:1::/56"): those bits are not part of the
 * prefix (RFC 3162, RFC 4818), yet a NAS may send them. From the attribute's bytes (RADIUS) or from text (a detail file).
 */
export function ipv6PrefixText(bytes: Uint8Array, len: number): string {
  const b = Uint8Array.from(bytes.subarray(0, 16));
  for (let bit = len; bit < 128; bit++) b[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return `${formatIPv6(b, 0)}/${len}`;
}

/** The same from "address/length" text; undefined when it is not an IPv6 prefix. */
export function maskIpv6Prefix(text: string): string | undefined {
  const m = /^([0-9a-f:]*:[0-9a-f:]*)\/(\d{1,3})$/i.exec(text.trim());
  if (!m || Number(m[2]) > 128) return undefined;
  const [head, tail, more] = m[1]!.split('::');
  const groups = [...(head ? head.split(':') : []), ...(tail ? tail.split(':') : [])];
  if (
    more !== undefined ||
    groups.some((g) => !/^[0-9a-f]{1,4}$/i.test(g)) ||
    (tail === undefined ? groups.length !== 8 : groups.length > 7)
  )
    return undefined;
  return ipv6PrefixText(addressBytes(m[1]!), Number(m[2]));
}

/** Orders two 16-byte addresses (network order), for range checks without string games. */
export function compareAddressBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** 16 bytes of an address in network order, IPv4 as ::ffff:a.b.c.d (how ClickHouse stores IPv6). */
export function addressBytes(text: string): Uint8Array {
  const out = new Uint8Array(16);
  if (!text.includes(':')) {
    out[10] = 0xff;
    out[11] = 0xff;
    text.split('.').forEach((o, i) => {
      out[12 + i] = Number(o);
    });
    return out;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups.
  const last = (t.length ? t : h)[(t.length ? t : h).length - 1] ?? '';
  const v4tail = last.includes('.') ? last.split('.').map(Number) : undefined;
  if (v4tail) (t.length ? t : h).pop();
  const groups = [...h, ...Array(8 - h.length - t.length - (v4tail ? 2 : 0)).fill('0'), ...t];
  groups.forEach((g, i) => {
    const v = parseInt(g || '0', 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 255;
  });
  if (v4tail)
    v4tail.forEach((o, i) => {
      out[12 + i] = o;
    });
  return out;
}

/** First and last address of a prefix, as 16 bytes (an IPv4 prefix length counts within ::ffff:0:0/96). */
export function prefixBounds(address: string, prefixLength: number): [Uint8Array, Uint8Array] {
  const lo = addressBytes(address);
  const bits = (address.includes(':') ? 0 : 96) + prefixLength;
  const hi = Uint8Array.from(lo);
  for (let b = bits; b < 128; b++) {
    lo[b >> 3] = lo[b >> 3]! & ~(0x80 >> (b & 7));
    hi[b >> 3] = hi[b >> 3]! | (0x80 >> (b & 7));
  }
  return [lo, hi];
}
