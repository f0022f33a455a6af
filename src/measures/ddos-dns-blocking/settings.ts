/**
 * M6's own settings (under `measures.ddos-dns-blocking`): where the dnstap
 * receiver listens, the policy zone and its primary, the detectors'
 * thresholds, review and automatic blocking, and the whitelist.
 */
import { z } from 'zod';
import { pathSetting } from '../../core/config.js';
import { DURATION_PATTERN } from '../../core/duration.js';
import { ipAddress as address, servingSettings, zoneName } from '../../dns/serving-settings.js';
const duration = (example: string) => z.string().regex(DURATION_PATTERN, `a duration such as "${example}"`);

export const ddosDnsBlockingSettings = z.object({
  dnstap: z.strictObject({
    /** Unix sockets for the resolvers' dnstap (BIND dnstap-output unix, Unbound dnstap-socket-path). */
    unix: z.array(pathSetting()).default([]),
    tcp: z.array(z.strictObject({ host: address, port: z.number().int().min(0).max(65535) })).default([]),
  }).prefault({}),
  ...servingSettings(8054, 300),
  zone: zoneName.default('ddos.rpz.mamori'),
  detection: z.strictObject({
    interval: duration('5s').default('5s'),
    minDistinctNames: z.number().int().min(10).default(200),
    baselineFactor: z.number().min(2).default(10),
    minFailureShare: z.number().min(0).max(1).default(0.5),
    minRandomness: z.number().min(0).max(1).default(0.55),
    amplificationMinSize: z.number().int().min(512).default(1200),
    amplificationMinCount: z.number().int().min(10).default(500),
  }).prefault({}),
  /** Automatic blocking without review: off by default; only above minConfidence, for ttl at a time. */
  autoBlock: z.strictObject({
    enabled: z.boolean().default(false),
    minConfidence: z.number().min(0.5).max(1).default(0.9),
    ttl: duration('10m').default('10m'),
  }).prefault({}),
  /** A rule ends when its attack has been quiet this long. */
  quietAfter: duration('5m').default('5m'),
  /** A rejected candidate is not queued again for this long. */
  rejectFor: duration('1h').default('1h'),
  /** Legitimate domains, never blocked: the operator's list and a popularity list file (one domain a line, or "rank,domain" as Tranco's CSV). */
  whitelist: z.strictObject({
    domains: z.array(z.string().min(1)).default([]),
    file: pathSetting().optional(),
  }).prefault({}),
});

export type DdosDnsBlockingSettings = z.output<typeof ddosDnsBlockingSettings>;
