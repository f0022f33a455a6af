/**
 * M6's own settings (under `measures.ddos-dns-blocking`): where the dnstap
 * receiver listens, the policy zone (served by the core's RPZ primary), the detectors'
 * thresholds, review and automatic blocking, and the whitelist.
 */
import { z } from 'zod';
import { ipVersion as isIP, pathSetting } from '../../core/config.js';
import { DURATION_PATTERN } from '../../core/duration.js';
import { ipAddress as address, zoneName, zoneRefresh } from '../../dns/serving-settings.js';
const duration = (example: string) => z.string().regex(DURATION_PATTERN, `a duration such as "${example}"`);
const addressOrPrefix = z.string().refine((v) => {
  const [a, len, extra] = v.split('/');
  if (extra !== undefined || isIP(a!) === 0) return false;
  return len === undefined || (/^\d{1,3}$/.test(len) && Number(len) <= (isIP(a!) === 4 ? 32 : 128));
}, 'an IPv4 or IPv6 address, or a prefix such as "192.0.2.0/28"');

export const ddosDnsBlockingSettings = z.object({
  dnstap: z
    .strictObject({
      /** Unix sockets for the resolvers' dnstap (BIND dnstap-output unix, Unbound dnstap-socket-path). */
      unix: z.array(pathSetting()).default([]),
      /** The resolvers' group (bind, unbound): besides Mamori's own user, only it may connect to the unix sockets (mode 0660). */
      unixGroup: z.union([z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a group name such as "bind"'), z.number().int().min(0)]).optional(),
      tcp: z.array(z.strictObject({ host: address, port: z.number().int().min(0).max(65535) })).default([]),
      /** Resolver addresses or prefixes that may connect over TCP; every other connection is closed at once and counted. */
      allow: z.array(addressOrPrefix).default(['127.0.0.1', '::1']),
      /** TLS on the TCP listeners (PEM files): resolvers must present a client certificate signed by `ca` (Unbound's dnstap-tls). */
      tls: z.strictObject({ cert: pathSetting(), key: pathSetting(), ca: pathSetting() }).optional(),
      maxConnectionsPerSource: z.number().int().min(1).max(64).default(4),
      /** From connect to START (TLS and Frame Streams handshakes). */
      handshakeTimeout: duration('10s').default('10s'),
      /** A connection with nothing received for this long is closed (resolvers reconnect by themselves). */
      idleTimeout: duration('5m').default('5m'),
      /** How far an event's time may be ahead of or behind its arrival: outside, it is dropped and counted (clock-skew). */
      maxClockSkew: z.strictObject({ ahead: duration('1m').default('1m'), behind: duration('10m').default('10m') }).prefault({}),
    })
    .prefault({}),
  /** SOA refresh of M6's zone, seconds: rules come and go within minutes. */
  refresh: zoneRefresh(300),
  zone: zoneName.default('ddos.rpz.mamori'),
  detection: z
    .strictObject({
      interval: duration('5s').default('5s'),
      minDistinctNames: z.number().int().min(10).default(200),
      baselineFactor: z.number().min(2).default(10),
      minFailureShare: z.number().min(0).max(1).default(0.5),
      minRandomness: z.number().min(0).max(1).default(0.55),
      /** A zone is judged only after this much of its own normal traffic (or of watching its parent); baselines persist across restarts. */
      warmUp: duration('30s').default('30s'),
      /** Answers at least this many times the query's size are amplified (the factor, not an absolute size). */
      amplificationMinFactor: z.number().min(2).default(10),
      /** An optional floor in bytes besides the factor (0: the factor alone). */
      amplificationMinSize: z.number().int().min(0).default(0),
      amplificationMinCount: z.number().int().min(10).default(500),
    })
    .prefault({}),
  /**
   * Names that resolved in normal times a random-subdomain rule lets through, most popular first. Beyond the
   * bound the less popular ones are blocked with the attack while the rule is active (each decision says how many).
   */
  maxExceptions: z.number().int().min(0).max(5000).default(200),
  /** Automatic blocking without review: off by default; only above minConfidence, for ttl at a time. */
  autoBlock: z
    .strictObject({
      enabled: z.boolean().default(false),
      minConfidence: z.number().min(0.5).max(1).default(0.9),
      ttl: duration('10m').default('10m'),
    })
    .prefault({}),
  /** A rule ends when its attack has been quiet this long. */
  quietAfter: duration('5m').default('5m'),
  /** A rejected candidate is not queued again for this long. */
  rejectFor: duration('1h').default('1h'),
  /**
   * Legitimate domains, never blocked: the operator's list and a popularity list file (one domain a line, or "rank,domain" as Tranco's
   * CSV).
   */
  whitelist: z
    .strictObject({
      domains: z.array(z.string().min(1)).default([]),
      file: pathSetting().optional(),
    })
    .prefault({}),
});

export type DdosDnsBlockingSettings = z.output<typeof ddosDnsBlockingSettings>;
