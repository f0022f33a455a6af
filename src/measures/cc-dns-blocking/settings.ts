/**
 * M3's own settings (under `measures.cc-dns-blocking`): where the RPZ primary
 * listens, who may transfer and gets NOTIFY, the TSIG keys, the zone names,
 * what a blocked name answers, and how long an imported entry stays valid.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { DURATION_PATTERN } from '../../core/duration.js';

const address = z.string().refine((h) => isIP(h) !== 0, 'an IPv4 or IPv6 address');
const keyName = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, 'a key name such as "mamori-xfr" (lower case)');
const zoneName = z.string().regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a zone name such as "cc.rpz.example.jp" (lower case, no trailing dot)');

export const ccDnsBlockingSettings = z.object({
  primary: z.strictObject({
    host: address.default('127.0.0.1'),
    /** 53 needs root or CAP_NET_BIND_SERVICE; resolvers can transfer from any port. */
    port: z.number().int().min(0).max(65535).default(8053),
    /** SOA refresh, seconds: how often secondaries check without a NOTIFY. */
    refresh: z.number().int().min(30).max(86_400).default(3600),
  }).prefault({}),
  /** Resolver addresses allowed to transfer the policy zones. */
  transferTo: z.array(address).default(['127.0.0.1', '::1']),
  /** Resolvers to NOTIFY on every change (they then ask for IXFR). */
  notify: z.array(z.strictObject({ host: address, port: z.number().int().min(1).max(65535).default(53) })).default([]),
  /** TSIG (HMAC-SHA256) keys for transfers: name and base64 secret of at least 32 bytes. */
  tsig: z.array(z.strictObject({
    name: keyName,
    secret: z.string().refine((s) => Buffer.from(s, 'base64').length >= 32, 'a base64 secret of at least 32 bytes (openssl rand -base64 32)'),
  })).default([]),
  zones: z.strictObject({
    cc: zoneName.default('cc.rpz.mamori'),
    optOut: zoneName.default('optout.rpz.mamori'),
  }).prefault({}),
  /** What a blocked name answers: NXDOMAIN, or a walled-garden host (CNAME) that explains the block. */
  action: z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('nxdomain') }),
    z.strictObject({ kind: z.literal('walled-garden'), target: zoneName }),
  ]).default({ kind: 'nxdomain' }),
  /**
   * The opt-out alternative through the AAA: resolvers without the policy zones, handed to
   * opted-out subscribers at connection time (RADIUS reply attributes via rlm_rest).
   */
  unfilteredResolvers: z.strictObject({
    ipv4: z.array(z.string().refine((h) => isIP(h) === 4, 'an IPv4 address')).max(2).default([]),
    ipv6: z.array(z.string().refine((h) => isIP(h) === 6, 'an IPv6 address')).max(2).default([]),
  }).prefault({}),
  /**
   * The resolvers' logs of what they blocked (BIND: category rpz to a file; Unbound: rpz-log
   * with log-queries off): counted per day and listed name, and each blocked subscriber told
   * once a day (case kind cc-blocking).
   */
  resolverLogs: z.array(z.strictObject({
    name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'a resolver name: letters, digits, ".", "_" or "-"'),
    path: z.string().min(1),
    format: z.enum(['bind', 'unbound']),
  })).default([]),
  /** What the individual notice says besides its template: where to opt out, whom to ask, what to do. */
  notice: z.strictObject({
    optOut: z.string().default(''),
    support: z.string().default(''),
    deviceAdvice: z.string().default(''),
    unfilteredResolver: z.string().default(''),
  }).prefault({}),
  /** How long an imported or analyst entry blocks unless told otherwise. */
  defaultValidity: z.string().regex(DURATION_PATTERN, 'a duration such as "90d"').default('90d'),
});

export type CcDnsBlockingSettings = z.output<typeof ccDnsBlockingSettings>;
