/**
 * An ISP made of real traffic, for M1's evaluation: real benign days (Zeek
 * conn logs of real hosts, with the Internet's attacks on them) replicated
 * over many subscribers, and real infections (the infected host's traffic,
 * C&C sessions included) mixed into a few of them. Seeded: the same captures
 * and seed give the same flows.
 *
 * So that the background is not N copies of one host, every subscriber is its
 * own variation (docs/en/cc-detection.md, "Evaluation on real traffic"):
 * - a primary day (one of the benign days) and a few services of another day;
 * - a subset of each day's services, and of their connections;
 * - its own time shift of each day (the day wraps around the window);
 * - its own volumes (payload bytes scaled by a per-subscriber and a
 *   per-service factor; a SYN stays a SYN);
 * - its own long tail: a service the host met only once or twice that day
 *   (a site, not a service) goes, for most subscribers, to an address of its
 *   own in the same /16, and a frequent service goes, for some, to one of a
 *   few addresses of its /24 (a farm) and for a few to an address of their
 *   own (their cloud machine): real fan-in is long-tailed;
 * - its own share of the Internet's scans of the host, from their real
 *   scanners with other source ports;
 * - its own address in place of the host's.
 * Only traffic that leaves a home is kept (no private, link-local, multicast
 * or broadcast destinations: a router at the ISP's edge never sees it).
 */
import { isIP } from 'node:net';
import { rng } from '../core/random.js';
import type { SimFlow } from './isp.js';
import { historyFlags, isLocalOnly, type ZeekConn, type ZeekLog } from './zeek-conn.js';

const DAY = 86_400_000;

export interface EndpointKey {
  address: string;
  port: number;
  proto: number;
}

export const endpointKey = (e: EndpointKey) => `${e.address}|${e.port}|${e.proto}`;

export interface Infection {
  /** A name for reports, e.g. the capture's file name. */
  name: string;
  log: ZeekLog;
  /** The C&C endpoints of this infection (from its labels or named by the evaluator). */
  c2: EndpointKey[];
}

export interface RealIspConfig {
  seed: number;
  subscribers: number;
  /** Start of the 24-hour window the days are laid over. */
  start: Date;
  benignDays: ZeekLog[];
  infections: Infection[];
  /** Subscribers infected by each infection (distinct subscribers). */
  infectedPerFamily: number;
}

export type RealTruth = 'cc' | 'infection-other' | 'benign';

export interface RealIsp {
  flows(): Generator<SimFlow>;
  /** What an endpoint is: a C&C of an infection, other traffic of an infected host (not scored), or benign. */
  truthOf(e: EndpointKey): { truth: RealTruth; family?: string };
  /** Subscriber indices infected, per infection name (for the report; never an input of M1). */
  infected: Map<string, number[]>;
  subscriberPrefixes: string[];
  /** The replicated hosts and how much of each capture was used. */
  hosts: Array<{ file: string; host: string; connections: number; outbound: number; inbound: number }>;
}

/** The host a capture is about: the address in the most connections (or the one that reaches the C&C most). */
export function captureHost(log: ZeekLog, c2?: EndpointKey[]): string {
  const n = new Map<string, number>();
  const wanted = c2 ? new Set(c2.map(endpointKey)) : undefined;
  for (const c of log.conns) {
    if (wanted) {
      if (wanted.has(endpointKey({ address: c.respH, port: c.respP, proto: c.proto }))) n.set(c.origH, (n.get(c.origH) ?? 0) + 1);
      continue;
    }
    n.set(c.origH, (n.get(c.origH) ?? 0) + 1);
    n.set(c.respH, (n.get(c.respH) ?? 0) + 1);
  }
  let best = '';
  let most = -1;
  for (const [a, k] of n)
    if (k > most || (k === most && a < best)) {
      best = a;
      most = k;
    }
  if (!best) throw new Error(`${log.file}: no host found${c2 ? ' that reaches the C&C endpoints' : ''}`);
  return best;
}

const SCAN_LIKE = /scan|attack|ddos|flood|spam|brute/i;
const CC_LIKE = /c&c|\bcc\b|c2|command|heartbeat/i;

/**
 * C&C endpoints from a labelled capture: endpoints of connections labelled
 * malicious, from a host of the capture to a public address; when some
 * labels name C&C, only those; never scans or attacks.
 */
export function labelledC2(log: ZeekLog): EndpointKey[] {
  const bad = log.conns.filter((c) => /malicious/i.test(c.label ?? '') && !SCAN_LIKE.test(c.detailedLabel ?? '') && !isLocalOnly(c.respH));
  const named = bad.filter((c) => CC_LIKE.test(c.detailedLabel ?? ''));
  const use = named.length > 0 ? named : bad;
  const seen = new Map<string, EndpointKey>();
  for (const c of use) {
    const e = { address: c.respH, port: c.respP, proto: c.proto };
    seen.set(endpointKey(e), e);
  }
  return [...seen.values()];
}

// ---- addresses ----

function v4num(a: string): number {
  return a.split('.').reduce((n, o) => ((n << 8) | Number(o)) >>> 0, 0);
}

function v4text(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function v6bytes(a: string): Uint8Array {
  const out = new Uint8Array(16);
  const [head, tail] = a.includes('::') ? (a.split('::') as [string, string]) : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => {
    const v = parseInt(g || '0', 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 255;
  });
  return out;
}

function v6text(b: Uint8Array): string {
  const g = Array.from({ length: 8 }, (_, i) => ((b[i * 2]! << 8) | b[i * 2 + 1]!).toString(16));
  return new URL(`http://[${g.join(':')}]`).hostname.slice(1, -1);
}

/** FNV-1a, for stable per-key choices independent of iteration order. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Another address of the same network: `bits` low bits replaced from `key`
 * (IPv4: 16 = same /16, 8 = same /24; IPv6: the /48 or the /64 kept).
 */
function sibling(address: string, bits: 8 | 16, key: string, avoid: Set<string>): string {
  for (let k = 0; k < 8; k++) {
    const h = hash(`${key}#${k}`);
    let out: string;
    if (isIP(address) === 4) {
      const mask = bits === 16 ? 0xffff : 0xff;
      out = v4text(((v4num(address) & ~mask) | (h & mask)) >>> 0);
    } else {
      const b = v6bytes(address);
      const from = bits === 16 ? 6 : 8;
      for (let i = from; i < 16; i++) b[i] = hash(`${key}#${k}#${i}`) & 255;
      out = v6text(b);
    }
    if (!avoid.has(out) && !isLocalOnly(out)) return out;
  }
  return address;
}

// ---- the population ----

interface Prepared {
  file: string;
  host: string;
  t0: number;
  outbound: ZeekConn[];
  inbound: ZeekConn[];
  /** Connections per outbound service that day: few means a site, many a service. */
  perService: Map<string, number>;
}

const serviceOf = (c: ZeekConn) => `${c.respH}|${c.respP}|${c.proto}`;

/** The same connection seen from the other side (Zeek names as originator whoever it saw first). */
function flipped(c: ZeekConn): ZeekConn {
  const swap = [...c.history].map((ch) => (ch === ch.toUpperCase() ? ch.toLowerCase() : ch.toUpperCase())).join('');
  return {
    ...c,
    origH: c.respH,
    origP: c.respP,
    respH: c.origH,
    respP: c.origP,
    origPkts: c.respPkts,
    origIpBytes: c.respIpBytes,
    respPkts: c.origPkts,
    respIpBytes: c.origIpBytes,
    history: swap,
  };
}

function prepare(log: ZeekLog, host: string): Prepared {
  const outbound = log.conns.filter((c) => c.origH === host && !isLocalOnly(c.respH) && c.respH !== host);
  const services = new Set(outbound.map(serviceOf));
  const inbound: ZeekConn[] = [];
  for (const c of log.conns) {
    if (c.respH !== host || isLocalOnly(c.origH) || c.origH === host) continue;
    // A service's packets seen first (mid-stream): the host's own connection, not one to it.
    const back = flipped(c);
    if (services.has(serviceOf(back))) outbound.push(back);
    else inbound.push(c);
  }
  const perService = new Map<string, number>();
  for (const c of outbound) perService.set(serviceOf(c), (perService.get(serviceOf(c)) ?? 0) + 1);
  const t0 = Math.min(...log.conns.map((c) => c.ts));
  return { file: log.file, host, t0, outbound, inbound, perService };
}

function subscriberV4(i: number): number {
  return ((10 << 24) + 256 + i) >>> 0;
}

function subscriberV6(i: number): Uint8Array {
  const b = new Uint8Array(16);
  b.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, (i >> 8) & 255, i & 255]);
  b[15] = 1;
  return b;
}

/** Normal deviate (Box–Muller) from a uniform source. */
function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(Math.max(1e-12, r()))) * Math.cos(2 * Math.PI * r());
}

export function buildRealIsp(config: RealIspConfig): RealIsp {
  if (config.benignDays.length === 0) throw new Error('at least one benign day is needed');
  if (config.subscribers < 1) throw new Error('at least one subscriber is needed');
  const days = config.benignDays.map((log) => prepare(log, captureHost(log)));
  const infections = config.infections.map((inf) => ({ inf, p: prepare(inf.log, captureHost(inf.log, inf.c2)) }));
  const r = rng(config.seed);
  const c2Keys = new Map<string, string>();
  for (const { inf } of infections) for (const e of inf.c2) c2Keys.set(endpointKey(e), inf.name);
  const c2Addresses = new Set([...c2Keys.keys()].map((k) => k.split('|')[0]!));

  // Infected subscribers: distinct, drawn from the seed.
  const infected = new Map<string, number[]>();
  const taken = new Set<number>();
  const want = Math.min(config.infectedPerFamily, Math.floor(config.subscribers / Math.max(1, infections.length)));
  for (const { inf } of infections) {
    const list: number[] = [];
    while (list.length < want) {
      const i = Math.floor(r() * config.subscribers);
      if (!taken.has(i)) {
        taken.add(i);
        list.push(i);
      }
    }
    infected.set(
      inf.name,
      list.sort((a, b) => a - b),
    );
  }

  // Other traffic of infected hosts (DGA look-ups, parked domains…): neither C&C nor the benign background.
  const benignEndpoints = new Set<string>();
  for (const d of days) for (const c of d.outbound) benignEndpoints.add(serviceOf(c));
  const infectionOther = new Map<string, string>();
  for (const { inf, p } of infections) {
    for (const c of p.outbound) {
      const k = serviceOf(c);
      if (!c2Keys.has(k) && !benignEndpoints.has(k) && !/benign/i.test(c.label ?? '')) infectionOther.set(k, inf.name);
    }
  }
  const seeds = Array.from({ length: config.subscribers }, () => Math.floor(r() * 2 ** 31));
  const offsets = new Map<string, number>();
  for (const { inf, p } of infections) {
    const span = Math.max(...p.outbound.map((c) => c.ts + c.duration), p.t0) - p.t0;
    for (const i of infected.get(inf.name)!) offsets.set(`${inf.name}#${i}`, r() * Math.max(0, DAY - span * 1000));
  }
  const start = config.start.getTime();

  function* flowsOf(c: ZeekConn, at: number, src: string, dst: string, sport: number, volume: number, i: number): Generator<SimFlow> {
    const v6 = isIP(src) === 6 || isIP(dst) === 6;
    const addr = (a: string, mine: boolean) => (mine ? (v6 ? subscriberV6(i) : subscriberV4(i)) : v6 ? v6bytes(a) : v4num(a));
    const scale = (bytes: number, packets: number) => {
      // Headers stay headers: only what is above ~40 bytes a packet scales.
      const payload = Math.max(0, bytes - packets * 40);
      return payload > 0 ? Math.round(packets * 40 + payload * volume) : bytes;
    };
    const end = at + Math.round(c.duration * 1000);
    const icmp = c.proto === 1 || c.proto === 58;
    const dport = icmp ? ((c.origP & 255) << 8) | (c.respP & 255) : c.respP;
    const sp = icmp ? 0 : sport;
    const mk = (from: string, to: string, fromMine: boolean, s: number, d: number, packets: number, bytes: number, flags: number) => {
      const a = addr(from, fromMine);
      const b = addr(to, !fromMine);
      const f: SimFlow = {
        startMs: at,
        endMs: end,
        src: 0,
        dst: 0,
        sport: s,
        dport: d,
        proto: c.proto,
        bytes,
        packets,
        tcpFlags: c.proto === 6 ? flags : 0,
      };
      if (v6) f.v6 = { src: a as Uint8Array, dst: b as Uint8Array };
      else {
        f.src = a as number;
        f.dst = b as number;
      }
      return f;
    };
    const outbound = src === 'me';
    const [osrc, odst] = outbound ? ['me', dst] : [src, 'me'];
    if (c.origPkts > 0) {
      const bytes = Math.max(c.origPkts * 28, scale(c.origIpBytes, c.origPkts));
      yield mk(osrc, odst, outbound, sp, dport, c.origPkts, bytes, historyFlags(c.history, 'orig', c.origPkts));
    }
    if (c.respPkts > 0) {
      const bytes = Math.max(c.respPkts * 28, scale(c.respIpBytes, c.respPkts));
      yield mk(odst, osrc, !outbound, icmp ? 0 : dport, sp, c.respPkts, bytes, historyFlags(c.history, 'resp', c.respPkts));
    }
  }

  function* subscriber(i: number): Generator<SimFlow> {
    const rs = rng(seeds[i]!);
    const primary = Math.floor(rs() * days.length);
    const keepPrimary = 0.5 + rs() * 0.5;
    const keepOther = rs() * 0.3;
    const keepConn = 0.6 + rs() * 0.4;
    const volume = Math.exp(normal(rs) * 0.5);
    const portBase = 1024 + Math.floor(rs() * 50_000);
    for (let d = 0; d < days.length; d++) {
      const day = days[d]!;
      const keepService = d === primary ? keepPrimary : keepOther;
      const shift = rs() * DAY;
      const services = new Map<string, { keep: boolean; dst: (a: string) => string; volume: number }>();
      const place = (ts: number) => start + (((((ts - day.t0) * 1000 + shift) % DAY) + DAY) % DAY);
      for (const c of day.outbound) {
        const k = serviceOf(c);
        let s = services.get(k);
        if (!s) {
          const n = day.perService.get(k)!;
          const keep = rs() < keepService;
          const u = rs();
          // A site met once or twice: most subscribers have their own; a service: some use another server of
          // its farm, a few their own (their cloud machine, their NAS).
          const fresh = n <= 2 ? u < 0.7 : u < 0.05;
          const farm = n > 2 && u >= 0.05 && u < 0.3;
          const dst = fresh
            ? (a: string) => sibling(a, 16, `${config.seed}|${i}|${k}`, c2Addresses)
            : farm
              ? (a: string) => sibling(a, 8, `${config.seed}|${k}|${Math.floor(rs() * 8)}`, c2Addresses)
              : (a: string) => a;
          const fixed = fresh || farm ? dst(c.respH) : c.respH;
          s = { keep, dst: () => fixed, volume: volume * Math.exp(normal(rs) * 0.3) };
          services.set(k, s);
        }
        if (!s.keep || rs() >= keepConn) continue;
        const sport = c.origP >= 1024 ? 1024 + ((c.origP + portBase) % 64_000) : c.origP;
        yield* flowsOf(c, place(c.ts), 'me', s.dst(c.respH), sport, s.volume, i);
      }
      // The Internet's scans of this host reach this subscriber too (a share of them, other source ports).
      const keepScan = d === primary ? 0.3 : 0.05;
      for (const c of day.inbound) {
        if (rs() >= keepScan) continue;
        const sport = c.origP >= 1024 ? 1024 + Math.floor(rs() * 64_000) : c.origP;
        yield* inboundFlows(c, place(c.ts), sport, i);
      }
    }
    for (const { inf, p } of infections) {
      if (!infected.get(inf.name)!.includes(i)) continue;
      const offset = offsets.get(`${inf.name}#${i}`)!;
      for (const c of p.outbound) {
        const at = start + offset + (c.ts - p.t0) * 1000;
        if (at >= start + DAY) continue;
        yield* flowsOf(c, Math.floor(at), 'me', c.respH, c.origP, 1, i);
      }
      for (const c of p.inbound) {
        const at = start + offset + (c.ts - p.t0) * 1000;
        if (at < start + DAY) yield* inboundFlows(c, Math.floor(at), c.origP, i);
      }
    }
  }

  function* inboundFlows(c: ZeekConn, at: number, sport: number, i: number): Generator<SimFlow> {
    // From the scanner's view: it is the originator; the subscriber answers (or not).
    const swapped: ZeekConn = { ...c, origP: sport };
    for (const f of flowsOf(swapped, at, c.origH, 'me', sport, 1, i)) yield f;
  }

  return {
    flows: function* () {
      for (let i = 0; i < config.subscribers; i++) yield* subscriber(i);
    },
    truthOf(e) {
      const k = endpointKey(e);
      const cc = c2Keys.get(k);
      if (cc) return { truth: 'cc', family: cc };
      const other = infectionOther.get(k);
      if (other) return { truth: 'infection-other', family: other };
      return { truth: 'benign' };
    },
    infected,
    subscriberPrefixes: ['10.0.0.0/8', '2001:db8::/32'],
    hosts: [...days, ...infections.map((x) => x.p)].map((p) => ({
      file: p.file,
      host: p.host,
      connections: p.outbound.length + p.inbound.length,
      outbound: p.outbound.length,
      inbound: p.inbound.length,
    })),
  };
}
