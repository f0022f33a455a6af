/**
 * A synthetic ISP, seeded and documented (docs/en/simulate.md): subscribers
 * browsing a heavy-tailed Internet with CDNs and clouds of enormous fan-in,
 * the benign periodic services that are the hard false positives of C&C
 * detection (NTP, update checks, push keep-alives, IoT heartbeats, VPN
 * keep-alives, telemetry), and botnet families with their own periods,
 * jitter, schedules, ports and fan-in — some on cloud addresses next to
 * benign servers, one that moves mid-run. The ground truth comes out with it.
 *
 * Addresses: subscribers in 10.0.0.0/8; "the Internet" in 198.18.0.0/15, the
 * range reserved for benchmarking (RFC 2544), so nothing here names a real host.
 */
import { rng } from '../core/random.js';

export { rng };

export interface Family {
  name: string;
  periodSeconds: number;
  /** Uniform jitter, as a fraction of the period. */
  jitter: number;
  port: number;
  proto: 6 | 17;
  clients: number;
  /** Hours of the day (UTC) when the bots call home; all hours if absent. */
  activeHours?: readonly [number, number];
  /** Placed inside the cloud range, next to benign cloud servers. */
  onCloud?: boolean;
  /** Moves to a new address halfway through the run. */
  moves?: boolean;
  bytes: number;
}

export const DEFAULT_FAMILIES: readonly Family[] = [
  { name: 'beacon-http', periodSeconds: 60, jitter: 0.1, port: 80, proto: 6, clients: 30, bytes: 420 },
  {
    name: 'office-hours',
    periodSeconds: 900,
    jitter: 0.2,
    port: 443,
    proto: 6,
    clients: 200,
    activeHours: [9, 18],
    onCloud: true,
    bytes: 1200,
  },
  { name: 'high-port', periodSeconds: 30, jitter: 0.05, port: 31337, proto: 6, clients: 8, bytes: 180 },
  { name: 'mass-8080', periodSeconds: 3600, jitter: 0.3, port: 8080, proto: 6, clients: 5000, onCloud: true, bytes: 900 },
  { name: 'mover', periodSeconds: 120, jitter: 0.15, port: 443, proto: 6, clients: 60, moves: true, bytes: 640 },
  { name: 'udp-p2p', periodSeconds: 300, jitter: 0.25, port: 53535, proto: 17, clients: 15, bytes: 96 },
];

/**
 * Families held out from training, for evaluation: different periods, jitter,
 * ports and fan-in than DEFAULT_FAMILIES, so a model is scored on botnets it
 * has never seen.
 */
export const HELD_OUT_FAMILIES: readonly Family[] = [
  { name: 'slow-beacon', periodSeconds: 1800, jitter: 0.1, port: 443, proto: 6, clients: 120, onCloud: true, bytes: 700 },
  { name: 'night-shift', periodSeconds: 240, jitter: 0.12, port: 8443, proto: 6, clients: 40, activeHours: [0, 8], bytes: 350 },
  { name: 'fast-udp', periodSeconds: 45, jitter: 0.08, port: 40000, proto: 17, clients: 25, bytes: 120 },
  { name: 'big-botnet', periodSeconds: 600, jitter: 0.2, port: 80, proto: 6, clients: 1500, bytes: 520 },
  { name: 'small-mover', periodSeconds: 90, jitter: 0.1, port: 9001, proto: 6, clients: 12, moves: true, bytes: 260 },
];

/**
 * Training families drawn at random from a seed: periods from 20 s to 2 h
 * (log-uniform), jitter up to ±30%, common and rare ports, TCP and UDP, 5 to
 * 2,000 victims, some on office hours or at night, some on the cloud, some
 * moving. A model trained on these has seen many shapes of botnet, none of
 * them the held-out ones.
 */
export function randomFamilies(seed: number, count: number): Family[] {
  const r = rng(seed ^ 0x5eed);
  const ports = [80, 443, 8080, 8443, 4444, 1604, 2222, 5555, 6667, 7777, 9999, 31337, 50000 + Math.floor(r() * 10000)];
  return Array.from({ length: count }, (_, i) => {
    const schedule = r();
    return {
      name: `trained-${seed}-${i}`,
      periodSeconds: Math.round(20 * Math.pow(360, r())),
      jitter: Math.round(r() * 30) / 100,
      port: ports[Math.floor(r() * ports.length)]!,
      proto: r() < 0.8 ? 6 : 17,
      clients: Math.round(5 * Math.pow(400, r())),
      ...(schedule < 0.15 ? { activeHours: [9, 18] as const } : schedule < 0.25 ? { activeHours: [0, 7] as const } : {}),
      ...(r() < 0.3 ? { onCloud: true } : {}),
      ...(r() < 0.15 ? { moves: true } : {}),
      bytes: 100 + Math.floor(r() * 1500),
    };
  });
}

export interface SimulationConfig {
  seed: number;
  subscribers: number;
  hours: number;
  start: Date;
  families: readonly Family[];
}

export interface SimFlow {
  startMs: number;
  endMs: number;
  /** Addresses as 32-bit numbers (IPv4). */
  src: number;
  dst: number;
  sport: number;
  dport: number;
  proto: number;
  bytes: number;
  packets: number;
  tcpFlags: number;
  /** IPv6 addresses (16 bytes each); when present, src and dst are ignored. */
  v6?: { src: Uint8Array; dst: Uint8Array };
}

export type Truth = 'cc' | 'benign-periodic' | 'benign';

export interface TruthEntry {
  address: string;
  port: number;
  proto: number;
  truth: Truth;
  family: string;
  clients: number;
  from: string;
  until: string;
}

const SUBSCRIBER_BASE = (10 << 24) >>> 0;
const INTERNET_BASE = ((198 << 24) | (18 << 16)) >>> 0; // 198.18.0.0/15
const CLOUD_BASE = (INTERNET_BASE + (1 << 16)) >>> 0; // 198.19.0.0/16: the "cloud"

export function ipText(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

interface Periodic {
  name: string;
  truth: Truth;
  dsts: number[];
  port: number;
  proto: 6 | 17;
  period: number;
  jitter: number;
  share: number;
  bytes: number;
  packets: number;
  activeHours?: readonly [number, number];
  moves?: boolean;
  clients?: number;
}

/** The benign periodic services: the false positives a detector must not raise. */
function benignPeriodic(r: () => number): Periodic[] {
  const pick = (n: number, base: number, spread: number) => Array.from({ length: n }, () => (base + Math.floor(r() * spread)) >>> 0);
  return [
    {
      name: 'ntp',
      truth: 'benign-periodic',
      dsts: pick(4, INTERNET_BASE + 0x0100, 256),
      port: 123,
      proto: 17,
      period: 1024,
      jitter: 0,
      share: 0.5,
      bytes: 76,
      packets: 1,
    },
    {
      name: 'os-update',
      truth: 'benign-periodic',
      dsts: pick(5, CLOUD_BASE + 0x0200, 256),
      port: 443,
      proto: 6,
      period: 4 * 3600,
      jitter: 0.1,
      share: 0.8,
      bytes: 2400,
      packets: 12,
    },
    {
      name: 'push-keepalive',
      truth: 'benign-periodic',
      dsts: pick(20, CLOUD_BASE + 0x0300, 256),
      port: 5223,
      proto: 6,
      period: 25 * 60,
      jitter: 0.03,
      share: 0.6,
      bytes: 180,
      packets: 3,
    },
    {
      name: 'iot-heartbeat',
      truth: 'benign-periodic',
      dsts: pick(3, CLOUD_BASE + 0x0400, 256),
      port: 8883,
      proto: 6,
      period: 120,
      jitter: 0.02,
      share: 0.15,
      bytes: 210,
      packets: 4,
    },
    {
      name: 'vpn-keepalive',
      truth: 'benign-periodic',
      dsts: pick(2, INTERNET_BASE + 0x0500, 256),
      port: 4500,
      proto: 17,
      period: 20,
      jitter: 0.01,
      share: 0.01,
      bytes: 60,
      packets: 1,
    },
    {
      name: 'telemetry',
      truth: 'benign-periodic',
      dsts: pick(6, CLOUD_BASE + 0x0600, 256),
      port: 443,
      proto: 6,
      period: 600,
      jitter: 0.1,
      share: 0.4,
      bytes: 950,
      packets: 6,
    },
  ];
}

export interface Simulation {
  flows(): Generator<SimFlow>;
  truth: TruthEntry[];
}

/**
 * Builds the scenario. Flows come out per source, not in time order: the
 * collector and the features do not need order, and memory stays small.
 */
export function simulateIsp(config: SimulationConfig): Simulation {
  const r = rng(config.seed);
  const t0 = config.start.getTime();
  const t1 = t0 + config.hours * 3_600_000;
  const subs = config.subscribers;
  const sub = (i: number) => (SUBSCRIBER_BASE + 256 + i) >>> 0;
  const services: Periodic[] = benignPeriodic(r);
  const used = new Set<number>(services.flatMap((s) => s.dsts));
  const fresh = (base: number, spread: number) => {
    for (;;) {
      const a = (base + Math.floor(r() * spread)) >>> 0;
      if (!used.has(a)) {
        used.add(a);
        return a;
      }
    }
  };
  for (const f of config.families) {
    const dst = f.onCloud ? fresh(CLOUD_BASE + 0x0200, 0x0600) : fresh(INTERNET_BASE + 0x8000, 0x8000);
    const moved = f.moves ? fresh(INTERNET_BASE + 0x8000, 0x8000) : undefined;
    services.push({
      name: f.name,
      truth: 'cc',
      dsts: moved !== undefined ? [dst, moved] : [dst],
      port: f.port,
      proto: f.proto,
      period: f.periodSeconds,
      jitter: f.jitter,
      share: 0,
      clients: Math.min(f.clients, subs),
      bytes: f.bytes,
      packets: Math.max(1, Math.round(f.bytes / 150)),
      ...(f.activeHours ? { activeHours: f.activeHours } : {}),
      ...(f.moves ? { moves: true } : {}),
    });
  }
  // Heavy-tailed destinations: Zipf over 20,000 sites, the top ones on CDNs.
  const sites = Array.from({ length: 20_000 }, (_, i) => ({
    dst: i < 50 ? fresh(INTERNET_BASE + 0x1000, 0x1000) : fresh(INTERNET_BASE + 0x2000, 0x6000),
    port: r() < 0.85 ? 443 : 80,
  }));
  const zipf = sites.map((_, i) => 1 / Math.pow(i + 1, 1.1));
  const cum: number[] = [];
  zipf.reduce((a, w, i) => (cum[i] = a + w), 0);
  const total = cum[cum.length - 1]!;
  const pickSite = (x: number) => {
    let lo = 0,
      hi = cum.length - 1;
    const v = x * total;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    return sites[lo]!;
  };

  // Which subscribers use which service: a fixed share, or a fixed number for botnets.
  const members = services.map((s) => {
    const set: number[] = [];
    if (s.clients !== undefined) {
      const start = Math.floor(r() * subs);
      for (let k = 0; k < s.clients; k++) set.push((start + k * 7) % subs);
    } else for (let i = 0; i < subs; i++) if (r() < s.share) set.push(i);
    return [...new Set(set)];
  });
  const seeds = services.map(() => Math.floor(r() * 2 ** 31));
  const browseSeed = Math.floor(r() * 2 ** 31);

  const truth: TruthEntry[] = [];
  services.forEach((s, k) => {
    s.dsts.forEach((dst, j) => {
      const from = s.moves ? (j === 0 ? t0 : (t0 + t1) / 2) : t0;
      const until = s.moves ? (j === 0 ? (t0 + t1) / 2 : t1) : t1;
      truth.push({
        address: ipText(dst),
        port: s.port,
        proto: s.proto,
        truth: s.truth,
        family: s.name,
        clients: members[k]!.length,
        from: new Date(from).toISOString(),
        until: new Date(until).toISOString(),
      });
    });
  });

  function* flows(): Generator<SimFlow> {
    for (let k = 0; k < services.length; k++) {
      const s = services[k]!;
      const rr = rng(seeds[k]!);
      for (const i of members[k]!) {
        const dstIdx = s.moves ? 0 : Math.floor(rr() * s.dsts.length);
        const sport = 1024 + Math.floor(rr() * 60000);
        for (let t = t0 + rr() * s.period * 1000; t < t1; t += s.period * 1000 * (1 + (rr() - 0.5) * 2 * s.jitter)) {
          if (s.activeHours) {
            const h = new Date(t).getUTCHours();
            if (h < s.activeHours[0] || h >= s.activeHours[1]) continue;
          }
          const dst = s.moves && t >= (t0 + t1) / 2 ? s.dsts[1]! : s.dsts[dstIdx]!;
          const bytes = Math.max(40, Math.round(s.bytes * (0.95 + rr() * 0.1)));
          yield {
            startMs: Math.floor(t),
            endMs: Math.floor(t + 50 + rr() * 400),
            src: sub(i),
            dst,
            sport,
            dport: s.port,
            proto: s.proto,
            bytes,
            packets: s.packets,
            tcpFlags: s.proto === 6 ? 0x1b : 0,
          };
        }
      }
    }
    // Browsing: sessions in waking hours, each a burst of flows to Zipf-popular sites, with answers.
    const rb = rng(browseSeed);
    for (let i = 0; i < subs; i++) {
      const sessions = Math.floor(rb() * 12 * (config.hours / 24)) + 1;
      for (let n = 0; n < sessions; n++) {
        let t = t0 + rb() * (t1 - t0);
        const h = new Date(t).getUTCHours();
        if (h >= 1 && h < 7 && rb() < 0.8) t -= 6 * 3_600_000 * rb(); // fewer at night
        if (t < t0) t = t0 + rb() * 3_600_000;
        const visits = 1 + Math.floor(-Math.log(Math.max(1e-9, rb())) * 8);
        for (let v = 0; v < visits; v++) {
          const site = pickSite(rb());
          const st = Math.floor(t + v * (500 + rb() * 20_000));
          if (st >= t1) break;
          const up = 300 + Math.floor(rb() * 1500);
          const down = Math.floor(2000 / Math.max(0.0005, rb()));
          const dur = 100 + Math.floor(rb() * 30_000);
          const sport = 1024 + Math.floor(rb() * 60000);
          yield {
            startMs: st,
            endMs: st + dur,
            src: sub(i),
            dst: site.dst,
            sport,
            dport: site.port,
            proto: 6,
            bytes: up,
            packets: 3 + Math.floor(up / 500),
            tcpFlags: 0x1b,
          };
          yield {
            startMs: st,
            endMs: st + dur,
            src: site.dst,
            dst: sub(i),
            sport: site.port,
            dport: sport,
            proto: 6,
            bytes: down,
            packets: 2 + Math.floor(down / 1400),
            tcpFlags: 0x1b,
          };
        }
      }
    }
  }

  return { flows, truth };
}
