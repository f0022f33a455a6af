/**
 * M3's own settings (under `measures.cc-dns-blocking`): the zone names and their
 * SOA refresh (the core's RPZ primary serves them: the configuration's `rpz`
 * section), what a blocked name answers, and how long an imported entry stays valid.
 */
import { z } from 'zod';
import { ipVersion as isIP, pathSetting } from '../../core/config.js';
import { DURATION_PATTERN } from '../../core/duration.js';
import { zoneName, zoneRefresh } from '../../dns/serving-settings.js';

export const ccDnsBlockingSettings = z.object({
  /** SOA refresh of M3's zones, seconds: how often resolvers check without a NOTIFY. */
  refresh: zoneRefresh(3600),
  zones: z
    .strictObject({
      cc: zoneName.default('cc.rpz.mamori'),
      optOut: zoneName.default('optout.rpz.mamori'),
    })
    .prefault({}),
  /** What a blocked name answers: NXDOMAIN, or a walled-garden host (CNAME) that explains the block. */
  action: z
    .discriminatedUnion('kind', [
      z.strictObject({ kind: z.literal('nxdomain') }),
      z.strictObject({ kind: z.literal('walled-garden'), target: zoneName }),
    ])
    .default({ kind: 'nxdomain' }),
  /**
   * The opt-out alternative through the AAA: resolvers without the policy zones, handed to
   * opted-out subscribers at connection time (RADIUS reply attributes via rlm_rest).
   */
  unfilteredResolvers: z
    .strictObject({
      ipv4: z
        .array(z.string().refine((h) => isIP(h) === 4, 'an IPv4 address'))
        .max(2)
        .default([]),
      ipv6: z
        .array(z.string().refine((h) => isIP(h) === 6, 'an IPv6 address'))
        .max(2)
        .default([]),
    })
    .prefault({}),
  /**
   * The resolvers' logs of what they blocked (BIND: category rpz to a file; Unbound: rpz-log
   * with log-queries off): counted per day and listed name, and each blocked subscriber told
   * once a day (case kind cc-blocking).
   */
  resolverLogs: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'a resolver name: letters, digits, ".", "_" or "-"'),
        path: pathSetting(),
        format: z.enum(['bind', 'unbound']),
      }),
    )
    .default([]),
  /** What the individual notice says besides its template: where to opt out, whom to ask, what to do. */
  notice: z
    .strictObject({
      optOut: z.string().default(''),
      support: z.string().default(''),
      deviceAdvice: z.string().default(''),
      unfilteredResolver: z.string().default(''),
    })
    .prefault({}),
  /** How long an imported or analyst entry blocks unless told otherwise. */
  defaultValidity: z.string().regex(DURATION_PATTERN, 'a duration such as "90d"').default('90d'),
});

export type CcDnsBlockingSettings = z.output<typeof ccDnsBlockingSettings>;
