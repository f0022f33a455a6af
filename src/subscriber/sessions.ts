/**
 * The IP-assignment index: which subscriber had an address at a time. IPv4
 * sessions live in parallel typed arrays sorted by (address, start) — 20
 * bytes a session, binary search per lookup — with recent sessions in a small
 * delta that is merged in when it grows; IPv6 prefixes (framed and delegated)
 * in a map by prefix. A session without a Stop ends `interimTimeout` after
 * its last update; address reuse is answered by the session that covers the
 * time; overlapping sessions answer with the latest start.
 */

export interface SessionInput {
  /** NAS and Acct-Session-Id: what Interim and Stop refer to. */
  key: string;
  subscriber: string;
  /** IPv4 address, or IPv6 prefix "2001:db8:1::/56". */
  address: string;
  /** Seconds since the epoch. */
  start: number;
}

export type LookupAnswer =
  | { found: true; subscriber: string; start: number; end: number | null }
  | { found: false; reason: 'no-session' | 'outside-retention' | 'port-needed' };

const OPEN = 0xffffffff;
/** The end of an assignment that holds until further notice (static lines): not subject to the interim timeout. */
export const UNTIL_FURTHER_NOTICE = 0xfffffffe;

/** Dotted-quad IPv4 to a number, by hand: it runs on every lookup. */
function v4(text: string): number | undefined {
  let value = 0,
    octet = 0,
    digits = 0,
    dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else if (c === 46 && digits > 0 && dots < 3) {
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return value * 256 + octet;
}

/** The 128 bits of an IPv6 address as a bigint (for prefix masks). */
function v6(text: string): bigint | undefined {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  if (tail === undefined && h.length !== 8) return undefined;
  if (h.length + t.length > 8 || [...h, ...t].some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return undefined;
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n);
}

const mask = (len: number) => (len === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - len)) - 1n));

/** Where an open session's row is (its end is written there at the Stop). */
type OpenRef =
  | { kind: 'base'; i: number }
  | { kind: 'delta'; i: number }
  // The prefix's text is kept while the session is open only (openSessions); closed rows hold none.
  | { kind: 'v6'; row: { end: number; seen: number; sub: number }; address: string };

export class SessionIndex {
  // Base: sorted, compact.
  private addr = new Uint32Array(0);
  private start = new Uint32Array(0);
  private end = new Uint32Array(0);
  private seen = new Uint32Array(0);
  private sub = new Uint32Array(0);
  private baseSize = 0;
  // Delta: recent IPv4 sessions, by address.
  private delta = new Map<number, number[]>();
  private deltaRows: Array<{ addr: number; start: number; end: number; seen: number; sub: number }> = [];
  // IPv6 prefixes by prefix length, then by masked network.
  private v6 = new Map<number, Map<bigint, Array<{ start: number; end: number; seen: number; sub: number }>>>();
  /** Open sessions by key: where their end is to be written. */
  private open = new Map<string, OpenRef>();
  private subscribers: string[] = [];
  private subscriberIds = new Map<string, number>();

  constructor(
    private readonly opts: {
      interimTimeoutSeconds: number;
      mergeAt?: number;
      /**
       * Told each span of time (seconds, inclusive) that a change made newly covered: a Start, an Interim or a Stop
       * that lengthens a session. What a lookup that found no session there may now answer; no address, no subscriber.
       */
      onCover?: (from: number, to: number) => void;
    } = { interimTimeoutSeconds: 3 * 3600 },
  ) {}

  /** The last update of an open session (where its effective end is counted from). */
  private seenOf(o: OpenRef): number {
    return o.kind === 'base' ? this.seen[o.i]! : o.kind === 'delta' ? this.deltaRows[o.i]!.seen : o.row.seen;
  }

  get size(): number {
    return (
      this.baseSize +
      this.deltaRows.length +
      [...this.v6.values()].reduce((a, m) => a + [...m.values()].reduce((b, r) => b + r.length, 0), 0)
    );
  }

  private subscriberId(s: string): number {
    let id = this.subscriberIds.get(s);
    if (id === undefined) {
      id = this.subscribers.length;
      this.subscribers.push(s);
      this.subscriberIds.set(s, id);
    }
    return id;
  }

  /** A Start (or an Interim for a session not seen before). Returns false for an address it cannot read. */
  begin(s: SessionInput): boolean {
    if (this.open.has(s.key)) {
      this.touch(s.key, s.start);
      return true;
    }
    const sub = this.subscriberId(s.subscriber);
    const a = v4(s.address);
    if (a !== undefined) {
      const i = this.deltaRows.push({ addr: a, start: s.start, end: OPEN, seen: s.start, sub }) - 1;
      const list = this.delta.get(a);
      if (list) list.push(i);
      else this.delta.set(a, [i]);
      this.open.set(s.key, { kind: 'delta', i });
      if (this.deltaRows.length >= (this.opts.mergeAt ?? 1_000_000)) this.merge();
      this.opts.onCover?.(s.start, s.start + this.opts.interimTimeoutSeconds);
      return true;
    }
    const [net, lenText] = s.address.split('/');
    // An IPv4 prefix (business lines, static blocks) is kept as its IPv4-mapped IPv6 prefix.
    const mapped = net !== undefined ? v4(net) : undefined;
    const len = mapped !== undefined ? 96 + Number(lenText ?? 32) : Number(lenText ?? 128);
    const n = mapped !== undefined ? (0xffffn << 32n) | BigInt(mapped) : net ? v6(net) : undefined;
    if (n === undefined || !(len >= 0 && len <= 128)) return false;
    const byNet = this.v6.get(len) ?? new Map();
    this.v6.set(len, byNet);
    const key = n & mask(len);
    const row = { start: s.start, end: OPEN, seen: s.start, sub };
    const rows = byNet.get(key);
    if (rows) rows.push(row);
    else byNet.set(key, [row]);
    this.open.set(s.key, { kind: 'v6', row, address: s.address });
    this.opts.onCover?.(s.start, s.start + this.opts.interimTimeoutSeconds);
    return true;
  }

  /** An Interim-Update: the session is still there at `at`. */
  touch(key: string, at: number): boolean {
    const o = this.open.get(key);
    if (!o) return false;
    const was = this.seenOf(o);
    if (at > was) this.opts.onCover?.(was + this.opts.interimTimeoutSeconds, at + this.opts.interimTimeoutSeconds);
    if (o.kind === 'base') this.seen[o.i] = Math.max(this.seen[o.i]!, at);
    else if (o.kind === 'delta') this.deltaRows[o.i]!.seen = Math.max(this.deltaRows[o.i]!.seen, at);
    else o.row.seen = Math.max(o.row.seen, at);
    return true;
  }

  /**
   * Every open session: key, subscriber and address — an IPv4 address, or an IPv6 (or IPv4) prefix as accounting gave it. A reader
   * takes what it supports (M3's opt-out zone IPv4 only; M7's walled garden IPv6 too).
   */
  openSessions(): Array<{ key: string; subscriber: string; address: string }> {
    const out: Array<{ key: string; subscriber: string; address: string }> = [];
    const text = (a: number) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
    for (const [key, o] of this.open) {
      if (o.kind === 'base') out.push({ key, subscriber: this.subscribers[this.sub[o.i]!]!, address: text(this.addr[o.i]!) });
      else if (o.kind === 'delta') {
        const r = this.deltaRows[o.i]!;
        out.push({ key, subscriber: this.subscribers[r.sub]!, address: text(r.addr) });
      } else out.push({ key, subscriber: this.subscribers[o.row.sub]!, address: o.address });
    }
    return out;
  }

  /** A Stop. */
  finish(key: string, at: number): boolean {
    const o = this.open.get(key);
    if (!o) return false;
    // A Stop later than the interim timeout had ended the session (a NAS's buffered accounting replayed) lengthens it.
    const was = this.seenOf(o) + this.opts.interimTimeoutSeconds;
    if (at > was) this.opts.onCover?.(was, at);
    if (o.kind === 'base') this.end[o.i] = at;
    else if (o.kind === 'delta') this.deltaRows[o.i]!.end = at;
    else o.row.end = at;
    this.open.delete(key);
    return true;
  }

  /** Accounting-On/Off: every open session whose key starts with `prefix` (the NAS) ends at `at`. */
  finishAll(prefix: string, at: number): number {
    let n = 0;
    for (const k of [...this.open.keys()]) if (k.startsWith(prefix) && this.finish(k, at)) n++;
    return n;
  }

  private effectiveEnd(end: number, seen: number): number {
    return end !== OPEN ? end : seen + this.opts.interimTimeoutSeconds;
  }

  /** Who had `address` at `t` (seconds)? IPv4 addresses or IPv6 addresses inside an assigned prefix. */
  lookup(address: string, t: number): LookupAnswer {
    // The best candidate so far, kept in locals: overlaps go to the session that started last.
    let bStart = -1,
      bEnd = 0,
      bSub = -1;
    const consider = (start: number, end: number, seen: number, sub: number) => {
      if (start <= t && t <= this.effectiveEnd(end, seen) && start > bStart) {
        bStart = start;
        bEnd = end;
        bSub = sub;
      }
    };
    const a = v4(address);
    if (a !== undefined) {
      // First base row with this address (inside its /24 when the directory is built), then its sessions.
      let lo = 0,
        hi = this.baseSize;
      if (this.directory.length > 0) {
        lo = this.directory[a >>> 8]!;
        hi = this.directory[(a >>> 8) + 1]!;
      }
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.addr[mid]! < a) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < this.baseSize && this.addr[i] === a; i++) consider(this.start[i]!, this.end[i]!, this.seen[i]!, this.sub[i]!);
      const recent = this.delta.get(a);
      if (recent)
        for (const i of recent) {
          const r = this.deltaRows[i]!;
          consider(r.start, r.end, r.seen, r.sub);
        }
      if (this.v6.size > 0) {
        const m = (0xffffn << 32n) | BigInt(a);
        for (const [len, byNet] of this.v6)
          if (len >= 96) for (const r of byNet.get(m & mask(len)) ?? []) consider(r.start, r.end, r.seen, r.sub);
      }
    } else {
      const n = v6(address);
      if (n === undefined) return { found: false, reason: 'no-session' };
      for (const [len, byNet] of this.v6) for (const r of byNet.get(n & mask(len)) ?? []) consider(r.start, r.end, r.seen, r.sub);
    }
    return bSub >= 0
      ? { found: true, subscriber: this.subscribers[bSub]!, start: bStart, end: bEnd === OPEN ? null : bEnd }
      : { found: false, reason: 'no-session' };
  }

  /**
   * Folds the delta into the sorted base: the arrays grow (by half) only when
   * full, and the two sorted runs merge in place from the back, so a merge
   * costs the rows after the first insertion point, not a copy of everything.
   */
  merge(): void {
    if (this.deltaRows.length === 0) return;
    const rows = this.deltaRows;
    const order = rows.map((_, i) => i).sort((x, y) => rows[x]!.addr - rows[y]!.addr || rows[x]!.start - rows[y]!.start);
    const n = this.baseSize + order.length;
    if (n > this.addr.length) {
      const cap = Math.max(n, Math.ceil(this.addr.length * 1.5), 1024);
      const grow = (a: Uint32Array) => {
        const b = new Uint32Array(cap);
        b.set(a.subarray(0, this.baseSize));
        return b;
      };
      this.addr = grow(this.addr);
      this.start = grow(this.start);
      this.end = grow(this.end);
      this.seen = grow(this.seen);
      this.sub = grow(this.sub);
    }
    // Only open sessions need their new position (for their Stop): keyed by old position.
    const openBase = new Map<number, string>();
    const openDelta = new Map<number, string>();
    for (const [key, o] of this.open) {
      if (o.kind === 'base') openBase.set(o.i, key);
      else if (o.kind === 'delta') openDelta.set(o.i, key);
    }
    const { addr, start, end, seen, sub } = this;
    let i = this.baseSize - 1,
      j = order.length - 1,
      k = n - 1;
    while (j >= 0) {
      const d = rows[order[j]!]!;
      if (i >= 0 && (addr[i]! > d.addr || (addr[i] === d.addr && start[i]! > d.start))) {
        addr[k] = addr[i]!;
        start[k] = start[i]!;
        end[k] = end[i]!;
        seen[k] = seen[i]!;
        sub[k] = sub[i]!;
        const key = openBase.get(i);
        if (key !== undefined) this.open.set(key, { kind: 'base', i: k });
        i--;
      } else {
        addr[k] = d.addr;
        start[k] = d.start;
        end[k] = d.end;
        seen[k] = d.seen;
        sub[k] = d.sub;
        const key = openDelta.get(order[j]!);
        if (key !== undefined) this.open.set(key, { kind: 'base', i: k });
        j--;
      }
      k--;
    }
    // Rows before the first insertion point did not move.
    this.baseSize = n;
    this.delta.clear();
    this.deltaRows = [];
    this.buildDirectory();
  }

  /** First row of each /24 (by the address's top 24 bits): a lookup's binary search stays inside one /24. */
  private directory = new Uint32Array(0);

  private buildDirectory(): void {
    if (this.baseSize < 65_536) {
      this.directory = new Uint32Array(0);
      return;
    }
    const dir = this.directory.length === (1 << 24) + 1 ? this.directory : new Uint32Array((1 << 24) + 1);
    let row = 0;
    for (let bucket = 0; bucket <= 1 << 24; bucket++) {
      while (row < this.baseSize && this.addr[row]! >>> 8 < bucket) row++;
      dir[bucket] = row;
    }
    this.directory = dir;
  }

  /** Forgets IPv4 and IPv6 sessions that ended before `before` (retention); open ones stay. */
  forget(before: number): number {
    this.merge();
    let k = 0;
    const openBase = new Map<number, string>();
    for (const [key, o] of this.open) if (o.kind === 'base') openBase.set(o.i, key);
    for (let i = 0; i < this.baseSize; i++) {
      if (this.effectiveEnd(this.end[i]!, this.seen[i]!) < before && this.end[i] !== OPEN) continue;
      this.addr[k] = this.addr[i]!;
      this.start[k] = this.start[i]!;
      this.end[k] = this.end[i]!;
      this.seen[k] = this.seen[i]!;
      this.sub[k] = this.sub[i]!;
      const key = openBase.get(i);
      if (key !== undefined) this.open.set(key, { kind: 'base', i: k });
      k++;
    }
    let dropped = this.baseSize - k;
    this.baseSize = k;
    this.buildDirectory();
    for (const byNet of this.v6.values()) {
      for (const [net, rows] of byNet) {
        const keep = rows.filter((r) => r.end === OPEN || r.end >= before);
        dropped += rows.length - keep.length;
        if (keep.length === 0) byNet.delete(net);
        else byNet.set(net, keep);
      }
    }
    return dropped;
  }

  /** Bytes held by the typed arrays (the bulk of the index). */
  typedBytes(): number {
    return this.addr.byteLength + this.start.byteLength + this.end.byteLength + this.seen.byteLength + this.sub.byteLength;
  }
}
