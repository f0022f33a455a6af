/**
 * Behind CGNAT a public address is shared: only the source port says which
 * subscriber's inside address it was. Two sources of that mapping:
 *
 * - deterministic NAT (RFC 7422): each inside address owns a fixed port
 *   range of a fixed outside address, computed from the configuration — no
 *   log at all;
 * - port-block allocation logs: "at T, inside I got ports P1–P2 of outside O"
 *   and its release, in the CSV documented in docs/en/subscribers.md.
 *
 * `inside(outside, port, t)` answers with the inside address, which the
 * session index then turns into a subscriber.
 */
import { z } from 'zod';
import { MamoriError } from '../core/errors.js';
import { deterministicNatSchema } from '../core/config.js';

export type DeterministicNat = z.output<typeof deterministicNatSchema>;
export { deterministicNatSchema };

function ipv4(text: string): number {
  const o = text.split('.').map(Number);
  if (o.length !== 4 || o.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`"${text}" is not an IPv4 address`);
  return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
}
const text = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
function prefix(p: string): { base: number; size: number } {
  const [a, l] = p.split('/');
  const len = Number(l);
  if (!(len >= 0 && len <= 32)) throw new Error(`"${p}" has no prefix length 0–32`);
  const size = 2 ** (32 - len);
  return { base: ipv4(a!) - (ipv4(a!) % size), size };
}

/** RFC 7422-style mapping, both ways. */
export class DeterministicMap {
  private readonly inside: { base: number; size: number };
  private readonly outside: { base: number; size: number };
  private readonly perOutside: number;

  constructor(private readonly c: DeterministicNat) {
    this.inside = prefix(c.insidePrefix);
    this.outside = prefix(c.outsidePrefix);
    this.perOutside = Math.floor((65_536 - c.firstPort) / c.portsPerSubscriber);
    if (this.perOutside < 1) throw new Error('portsPerSubscriber leaves no room above firstPort');
    if (this.outside.size * this.perOutside < this.inside.size) {
      throw new Error(
        `${c.outsidePrefix} with ${c.portsPerSubscriber} ports ` +
          `each serves ${this.outside.size * this.perOutside} ` +
          (`inside addresses, fewer than the ${this.inside.size} ` + `of ${c.insidePrefix}`),
      );
    }
  }

  covers(outside: string): boolean {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(outside)) return false;
    const o = ipv4(outside);
    return o >= this.outside.base && o < this.outside.base + this.outside.size;
  }

  /** The inside address that owns `port` of `outside`, if any. */
  toInside(outside: string, port: number): string | undefined {
    if (!this.covers(outside) || port < this.c.firstPort || port > 65_535) return undefined;
    const slot = Math.floor((port - this.c.firstPort) / this.c.portsPerSubscriber);
    if (slot >= this.perOutside) return undefined;
    const i = (ipv4(outside) - this.outside.base) * this.perOutside + slot;
    return i < this.inside.size ? text(this.inside.base + i) : undefined;
  }

  toOutside(inside: string): { address: string; firstPort: number; lastPort: number } {
    const i = ipv4(inside) - this.inside.base;
    if (i < 0 || i >= this.inside.size) throw new Error(`${inside} is not inside ${this.c.insidePrefix}`);
    const first = this.c.firstPort + (i % this.perOutside) * this.c.portsPerSubscriber;
    return {
      address: text(this.outside.base + Math.floor(i / this.perOutside)),
      firstPort: first,
      lastPort: first + this.c.portsPerSubscriber - 1,
    };
  }
}

export interface PortBlock {
  outside: string;
  firstPort: number;
  lastPort: number;
  inside: string;
  start: number;
  end: number | null;
}

export class PortBlockError extends MamoriError {
  static override readonly code = 'port-block';
  static override readonly status = 400;
}

/**
 * One line of the port-block log CSV:
 * `time,event,inside,outside,first_port,last_port` with event allocate|release
 * and time in RFC 3339 or epoch seconds.
 */
export function parsePortBlockLine(
  line: string,
): { at: number; event: 'allocate' | 'release'; inside: string; outside: string; firstPort: number; lastPort: number } | string {
  const f = line.split(',').map((x) => x.trim());
  if (f.length !== 6) return `expected 6 fields (time,event,inside,outside,first_port,last_port), found ${f.length}`;
  const [time, event, inside, outside, first, last] = f as [string, string, string, string, string, string];
  const at = /^\d{9,11}$/.test(time) ? Number(time) : Date.parse(time) / 1000;
  if (!Number.isFinite(at)) return `"${time}" is not a time`;
  if (event !== 'allocate' && event !== 'release') return `event "${event}" is not allocate or release`;
  try {
    ipv4(inside);
    ipv4(outside);
  } catch (err) {
    return (err as Error).message;
  }
  const a = Number(first),
    b = Number(last);
  if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b > 65_535 || a > b) return `ports ${first}–${last} are not a port range`;
  return { at: Math.floor(at), event, inside, outside, firstPort: a, lastPort: b };
}

/** Allocated port blocks by outside address, in time order. */
export class PortBlocks {
  private readonly byOutside = new Map<string, PortBlock[]>();

  add(b: PortBlock): void {
    const list = this.byOutside.get(b.outside);
    if (list) list.push(b);
    else this.byOutside.set(b.outside, [b]);
  }

  /** A release closes the open block of that inside address and port range. */
  release(outside: string, inside: string, firstPort: number, at: number): boolean {
    const b = (this.byOutside.get(outside) ?? []).find((x) => x.inside === inside && x.firstPort === firstPort && x.end === null);
    if (!b) return false;
    b.end = at;
    return true;
  }

  covers(outside: string): boolean {
    return this.byOutside.has(outside);
  }

  toInside(outside: string, port: number, t: number): string | undefined {
    let best: PortBlock | undefined;
    for (const b of this.byOutside.get(outside) ?? []) {
      if (port >= b.firstPort && port <= b.lastPort && b.start <= t && (b.end === null || t <= b.end) && (!best || b.start > best.start))
        best = b;
    }
    return best?.inside;
  }

  forget(before: number): number {
    let n = 0;
    for (const [o, list] of this.byOutside) {
      const keep = list.filter((b) => b.end === null || b.end >= before);
      n += list.length - keep.length;
      if (keep.length === 0) this.byOutside.delete(o);
      else this.byOutside.set(o, keep);
    }
    return n;
  }
}
