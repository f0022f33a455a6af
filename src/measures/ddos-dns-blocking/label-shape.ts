/**
 * The shape of the labels below a zone, as a short signature: what legitimate
 * high-cardinality zones have in common and attacks do not. A DNSBL or a
 * reverse-IP lookup (`4.3.2.1.bl.example`) is `d.d.d.d`, a hash lookup
 * (`<md5>.hash.example`) `h32`, a CDN's machine-made hostnames `m16-`.
 * Signatures are learnt from normal time (zone-tree.ts); only "structured"
 * ones — digits, single characters, long hex or long mixed labels — can be
 * learnt as legitimate: words (what dictionary attacks use) and short mixed
 * labels never are.
 */

/** One label's shape: d (decimal ≤ 3 digits), dN (longer decimal), c (one character), hN (hex ≥ 8), mN (mixed ≥ 8), w (other). */
export function labelShape(label: string): string {
  const n = label.length;
  if (n === 1) return 'c';
  if (/^[0-9]+$/.test(label)) return n <= 3 ? 'd' : `d${n}`;
  const hyphen = label.includes('-') ? '-' : '';
  if (n >= 8 && /^[0-9a-f]+$/.test(label) && /[0-9]/.test(label) && /[a-f]/.test(label)) return `h${n}`;
  if (n >= 8 && /[0-9]/.test(label) && /[a-z]/.test(label)) return `m${n}${hyphen}`;
  return 'w';
}

const MAX_LABELS = 4;

/** The signature of the part of `qname` below `zone` (qname must end with `.zone`): at most 4 label shapes, then `+N`. */
export function shapeBelow(qname: string, zone: string): string {
  const below = qname.slice(0, qname.length - zone.length - 1).split('.');
  const head = below.slice(0, MAX_LABELS).map(labelShape).join('.');
  return below.length > MAX_LABELS ? `${head}+${below.length - MAX_LABELS}` : head;
}

/** Whether a signature may be learnt as a legitimate high-cardinality pattern (no word-like or short mixed label in it). */
export function learnableShape(signature: string): boolean {
  return signature.split(/[.+]/).every((s) => s !== 'w' && s !== '');
}

/**
 * Patterns known before anything is learnt, for zones that appear after the
 * warm-up: reverse-IP style (IPv4 octets, IPv6 nibbles) and hash lookups
 * (MD5, SHA-1, SHA-256 hex). Such a zone waits for its own warm-up.
 */
export const SEEDED_LEGITIMATE_SHAPES: readonly string[] = ['d.d.d.d', 'c.c.c.c+28', 'h32', 'h40', 'h64'];
