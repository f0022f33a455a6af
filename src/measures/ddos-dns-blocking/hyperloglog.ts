/**
 * A small HyperLogLog (Flajolet et al. 2007) for "how many different names
 * under this domain in this interval": 256 one-byte registers (about 6.5%
 * standard error), so a domain costs 256 bytes however many names it sees.
 * The hash is FNV-1a over the name's UTF-16 code units, finished with
 * MurmurHash3's fmix32 so that similar names spread over all registers.
 */
const M = 256;
const ALPHA = 0.7213 / (1 + 1.079 / M);

export function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class HyperLogLog {
  readonly registers = new Uint8Array(M);

  add(hash: number): void {
    const index = hash >>> 24;
    // Rank of the first 1 bit in the remaining 24 bits (1…25).
    const rank = Math.min(Math.clz32((hash << 8) | 0x80) + 1, 25);
    if (rank > this.registers[index]!) this.registers[index] = rank;
  }

  estimate(): number {
    let sum = 0;
    let zeros = 0;
    for (let i = 0; i < M; i++) {
      const r = this.registers[i]!;
      sum += 2 ** -r;
      if (r === 0) zeros++;
    }
    const e = (ALPHA * M * M) / sum;
    // Small range: linear counting is better while registers are still empty.
    if (e <= 2.5 * M && zeros > 0) return M * Math.log(M / zeros);
    return e;
  }

  clear(): void {
    this.registers.fill(0);
  }
}
