/**
 * M4's own settings (under `measures.credential-misuse`): the trigger and
 * detector thresholds, the region map of address pools, the allow-list, the
 * NASes' Dynamic Authorization ports and secrets, the longest a suspension
 * may last, and dry-run (cases only, no action).
 */
import { z } from 'zod';
import { ipVersion as isIP } from '../../core/config.js';
import { DURATION_PATTERN } from '../../core/duration.js';

export const credentialMisuseSettings = z.object({
  dryRun: z.boolean().default(false),
  trigger: z
    .strictObject({
      serverRequestsPerMinute: z.number().int().min(1).default(600),
      accountRequestsPerMinute: z.number().int().min(1).default(10),
    })
    .prefault({}),
  burst: z
    .strictObject({
      accepts: z.number().int().min(2).default(5),
      withinSeconds: z.number().int().min(10).default(300),
      distinctPlaces: z.number().int().min(2).default(3),
    })
    .prefault({}),
  concurrent: z.strictObject({ maxSessions: z.number().int().min(1).default(1) }).prefault({}),
  travel: z
    .strictObject({
      minDistanceKm: z.number().min(1).default(300),
      maxSpeedKmh: z.number().min(1).default(300),
    })
    .prefault({}),
  regions: z
    .array(z.strictObject({ name: z.string().min(1), lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) }))
    .default([]),
  pools: z
    .array(z.strictObject({ prefix: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/), regions: z.array(z.string()).min(1) }))
    .default([]),
  allowList: z
    .array(z.strictObject({ account: z.string().min(1), reason: z.string().trim().min(1, 'say why this account is never acted on') }))
    .default([]),
  /** Where to send Disconnect-Requests, by NAS name (as in ingest.radius.clients). */
  nas: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        address: z.string().refine((h) => isIP(h) !== 0, 'an IPv4 or IPv6 address'),
        port: z.number().int().min(1).max(65535).default(3799),
        secret: z.string().min(1),
      }),
    )
    .default([]),
  /** A suspension lifts by this time at the latest (the declaration allows at most 30 days). */
  maxSuspension: z.string().regex(DURATION_PATTERN, 'a duration such as "7d"').default('7d'),
  analysisInterval: z.string().regex(DURATION_PATTERN, 'a duration such as "10s"').default('10s'),
  /** Memory for the last 15 minutes of authentications from the AAA: beyond it, the oldest are forgotten and counted. */
  maxHeldAuthMiB: z.number().int().min(1).max(4096).default(256),
});

export type CredentialMisuseSettings = z.output<typeof credentialMisuseSettings> & { enabled: boolean };
