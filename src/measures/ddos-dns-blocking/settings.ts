/**
 * M6's own settings (under `measures.ddos-dns-blocking`): where the dnstap
 * receiver listens, the policy zone and its primary, the detectors'
 * thresholds, review and automatic blocking, and the whitelist.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { DURATION_PATTERN } from '../../core/duration.js';

const address = z.string().refine((h) => isIP(h) !== 0, 'an IPv4 or IPv6 address');
const duration = (example: string) => z.string().regex(DURATION_PATTERN, `a duration such as "${example}"`);

export const ddosDnsBlockingSettings = z.object({
  dnstap: z.strictObject({
    /** Unix sockets for the resolvers' dnstap (BIND dnstap-output unix, Unbound dnstap-socket-path). */
    unix: z.array(z.string().min(1)).default([]),
    tcp: z.array(z.strictObject({ host: address, port: z.number().int().min(0).max(65535) })).default([]),
  }).prefault({}),
  primary: z.strictObject({
    host: address.default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8054),
  }).prefault({}),
  zone: z.string().regex(/^([a-z0-9-]+\.)+[a-z0-9-]+$/, 'a zone name such as "ddos.rpz.isp.example.jp"').default('ddos.rpz.mamori'),
  transferTo: z.array(address).default(['127.0.0.1', '::1']),
  notify: z.array(z.strictObject({ host: address, port: z.number().int().min(1).max(65535).default(53) })).default([]),
  tsig: z.array(z.strictObject({ name: z.string().min(1), secret: z.string().refine((s) => Buffer.from(s, 'base64').length >= 32, 'a base64 secret of at least 32 bytes') })).default([]),
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
    file: z.string().min(1).optional(),
  }).prefault({}),
});

export type DdosDnsBlockingSettings = z.output<typeof ddosDnsBlockingSettings>;
