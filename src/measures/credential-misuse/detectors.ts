/**
 * M4's trigger and detectors, as pure functions over the recent
 * authentication and accounting events of the AAA. The 2nd summary allows the
 * analysis only once the authentication server sees an anomaly: the trigger
 * watches request rates (per server, per ID); only then do the detectors look
 * at the IDs involved:
 *
 * - burst: many accepted logins for one ID in a short time from several NASes
 *   or calling stations (a router retrying a wrong password from one place is
 *   not misuse; a NAS reboot re-authenticates each ID once);
 * - concurrent: more simultaneous sessions than the plan allows (dual-stack
 *   addresses of one session count once);
 * - impossible travel: consecutive sessions of one ID in regions farther apart
 *   than anyone travels in the time between (a pool spanning regions counts at
 *   its nearest; a move of house takes days, not minutes).
 *
 * Each finding explains itself in Japanese and English.
 */
import type { AuthEvent } from '../../ingest/radius/auth-gate.js';

export type { AuthEvent };
export interface SessionStart {
  account: string;
  at: number;
  session: string;
  address: string;
  nas: string;
}
export interface SessionStop {
  account: string;
  at: number;
  session: string;
}

export interface Region {
  name: string;
  lat: number;
  lon: number;
}
export interface Pool {
  prefix: string;
  regions: string[];
}

export interface DetectorSettings {
  trigger: { serverRequestsPerMinute: number; accountRequestsPerMinute: number };
  burst: { accepts: number; withinSeconds: number; distinctPlaces: number };
  concurrent: { maxSessions: number };
  travel: { minDistanceKm: number; maxSpeedKmh: number };
  regions: Region[];
  pools: Pool[];
  /** Accounts never acted on (roaming, wholesale), each with a reason. */
  allowList: Array<{ account: string; reason: string }>;
}

export interface Finding {
  account: string;
  detector: 'burst' | 'concurrent' | 'travel';
  at: number;
  /** The NAS and session to disconnect, when there is one. */
  target?: { nas: string; session: string; address: string } | undefined;
  ja: string;
  en: string;
}

const toRad = (d: number) => (d * Math.PI) / 180;
/** Great-circle distance in km. */
export function distanceKm(a: Region, b: Region): number {
  const h =
    Math.sin(toRad(b.lat - a.lat) / 2) ** 2 + Math.cos(toRad(a.lat)) * Math.cos(toRad(b.lat)) * Math.sin(toRad(b.lon - a.lon) / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(h)));
}

function v4(text: string): number | undefined {
  const o = text.split('.').map(Number);
  return o.length === 4 && o.every((x) => Number.isInteger(x) && x >= 0 && x <= 255)
    ? ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0
    : undefined;
}

/** The regions an address's pool serves (several when a pool spans regions). */
export function regionsOf(address: string, s: DetectorSettings): Region[] {
  const a = v4(address);
  if (a === undefined) return [];
  for (const p of s.pools) {
    const [net, len] = p.prefix.split('/');
    const n = v4(net!);
    const size = 2 ** (32 - Number(len));
    if (n !== undefined && a >= n - (n % size) && a < n - (n % size) + size)
      return p.regions.map((r) => s.regions.find((x) => x.name === r)).filter((r): r is Region => r !== undefined);
  }
  return [];
}

/** The trigger: is the authentication server seeing an anomaly now? Returns the accounts to analyse, or none. */
export function trigger(
  events: readonly AuthEvent[],
  now: number,
  s: DetectorSettings,
): { fired: boolean; reason?: string; accounts: string[] } {
  const recent = events.filter((e) => e.at > now - 60 && e.at <= now && e.result !== 'reject');
  const perAccount = new Map<string, number>();
  for (const e of events)
    if (e.at > now - 60 && e.at <= now && e.result === 'request') perAccount.set(e.account, (perAccount.get(e.account) ?? 0) + 1);
  const hot = [...perAccount].filter(([, n]) => n >= s.trigger.accountRequestsPerMinute).map(([a]) => a);
  const serverRate = events.filter((e) => e.at > now - 60 && e.at <= now && e.result === 'request').length;
  if (serverRate >= s.trigger.serverRequestsPerMinute) {
    // The whole server is busy: analyse every account seen in the last minute.
    return {
      fired: true,
      reason: `${serverRate} authentication requests in the last minute`,
      accounts: [...new Set(recent.map((e) => e.account))],
    };
  }
  if (hot.length > 0)
    return {
      fired: true,
      reason: `${hot.length} IDs with ≥ ${s.trigger.accountRequestsPerMinute} requests in the last minute`,
      accounts: hot,
    };
  return { fired: false, accounts: [] };
}

export interface History {
  auth: readonly AuthEvent[];
  starts: readonly SessionStart[];
  stops: readonly SessionStop[];
}

/** Runs every detector for one account at `now`. */
export function detect(account: string, h: History, now: number, s: DetectorSettings): Finding[] {
  if (s.allowList.some((x) => x.account === account)) return [];
  const findings: Finding[] = [];
  const auth = h.auth.filter((e) => e.account === account && e.at <= now);
  const starts = h.starts.filter((e) => e.account === account && e.at <= now).sort((a, b) => a.at - b.at);
  const stopped = new Set(h.stops.filter((e) => e.account === account && e.at <= now).map((e) => e.session));
  // Dual-stack: extra addresses of one session ("id#1") are the same session.
  const sessionOf = (id: string) => id.replace(/#\d+$/, '');
  const open = new Map<string, SessionStart>();
  for (const st of starts)
    if (!stopped.has(st.session) && !stopped.has(sessionOf(st.session))) {
      if (!open.has(sessionOf(st.session))) open.set(sessionOf(st.session), st);
    }
  const latest = [...open.values()].sort((a, b) => b.at - a.at)[0];
  const target = latest ? { nas: latest.nas, session: sessionOf(latest.session), address: latest.address } : undefined;

  const accepts = auth.filter((e) => e.result === 'accept' && e.at > now - s.burst.withinSeconds);
  const places = new Set(accepts.map((e) => `${e.nas}|${e.station ?? ''}`));
  if (accepts.length >= s.burst.accepts && places.size >= s.burst.distinctPlaces) {
    findings.push({
      account,
      detector: 'burst',
      at: now,
      target,
      ja: `${s.burst.withinSeconds} 秒間に ${accepts.length} 回の認証成功が、${places.size} か所の接続点から記録されました`,
      en: `${accepts.length} successful logins within ${s.burst.withinSeconds} s from ${places.size} different access points`,
    });
  }

  if (open.size > s.concurrent.maxSessions) {
    findings.push({
      account,
      detector: 'concurrent',
      at: now,
      target,
      ja: `同時に ${open.size} 本のセッションがあります（契約上の上限 ${s.concurrent.maxSessions}）`,
      en: `${open.size} simultaneous sessions (the plan allows ${s.concurrent.maxSessions})`,
    });
  }

  for (let i = 1; i < starts.length; i++) {
    const a = starts[i - 1]!,
      b = starts[i]!;
    if (sessionOf(a.session) === sessionOf(b.session)) continue;
    const ra = regionsOf(a.address, s),
      rb = regionsOf(b.address, s);
    if (ra.length === 0 || rb.length === 0) continue;
    // Pools that span regions: the nearest pair, to give the subscriber the benefit of the doubt.
    const km = Math.min(...ra.flatMap((x) => rb.map((y) => distanceKm(x, y))));
    const hours = Math.max(1 / 3600, (b.at - a.at) / 3600);
    if (km >= s.travel.minDistanceKm && km / hours > s.travel.maxSpeedKmh) {
      const from = ra.map((r) => r.name).join('/'),
        to = rb.map((r) => r.name).join('/');
      findings.push({
        account,
        detector: 'travel',
        at: b.at,
        target,
        ja: `${Math.round((b.at - a.at) / 60)} 分の間に ${from} から ${to}（約 ${Math.round(km)} km）へ接続地域が移動しました`,
        en:
          `the connecting region moved from ${from} to ${to} ` +
          `(about ${Math.round(km)} km) within ${Math.round((b.at - a.at) / 60)} minutes`,
      });
      break;
    }
  }
  return findings;
}
