/** Address text in the canonical form (RFC 5952), the same as Node's sockets report. */
export function formatIPv6(buf: Uint8Array, p: number): string {
  const groups: number[] = [];
  for (let k = 0; k < 16; k += 2) groups.push((buf[p + k]! << 8) | buf[p + k + 1]!);
  // The longest run of two or more zero groups becomes "::" (the first such run on a tie).
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Orders two 16-byte addresses (network order), for range checks without string games. */
export function compareAddressBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
