/**
 * M1's own settings (under `measures.cc-detection` in the configuration):
 * whose traffic is analysed (subscriber prefixes), what is never a candidate
 * (the ISP's infrastructure, an allow-list with reasons), and the window.
 */
import { z } from 'zod';
import { DURATION_PATTERN } from '../../core/duration.js';
import { parsePrefix } from '../../share/labels.js';

const prefix = z.string().superRefine((v, ctx) => {
  const p = parsePrefix(v);
  if (typeof p === 'string') ctx.addIssue({ code: 'custom', message: p });
});

/** "198.51.100.7", "198.51.100.7:443", "[2001:db8::1]:443", "198.51.100.0/24", "2001:db8::/32". */
export function parseEndpoint(text: string): { prefix: string; prefixLength: number; port: number | null } | string {
  const v6port = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  const v4port = /^([0-9.]+(?:\/\d{1,2})?)(?::(\d{1,5}))?$/.exec(text);
  const [addr, port] = v6port ? [v6port[1]!, v6port[2]] : v4port ? [v4port[1]!, v4port[2]] : [text, undefined];
  const p = parsePrefix(addr);
  if (typeof p === 'string') return p;
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return `port ${port} is not a port`;
  return { prefix: p.address, prefixLength: p.prefixLength, port: port === undefined ? null : Number(port) };
}

const endpoint = z.string().superRefine((v, ctx) => {
  const p = parseEndpoint(v);
  if (typeof p === 'string') ctx.addIssue({ code: 'custom', message: `${p} (write an address, a prefix, "a.b.c.d:port" or "[v6]:port")` });
});

export const ccDetectionSettings = z.object({
  scope: z
    .strictObject({
      /** The ISP's subscribers: flows from these are analysed, towards everything else. */
      subscriberPrefixes: z.array(prefix).default([]),
      /** The ISP's own servers and networks: never candidates. */
      infrastructurePrefixes: z.array(prefix).default([]),
      /** Endpoints never to report, each with the reason an auditor will read. */
      allowList: z.array(z.strictObject({ endpoint, reason: z.string().trim().min(1, 'say why this endpoint is allowed') })).default([]),
    })
    .prefault({}),
  /** The rolling window of flows each run analyses. */
  window: z.string().regex(DURATION_PATTERN, 'a duration such as "24h"').default('24h'),
  runInterval: z.string().regex(DURATION_PATTERN, 'a duration such as "1h"').default('1h'),
  /** A candidate not re-detected for this long expires. */
  candidateExpiry: z.string().regex(DURATION_PATTERN, 'a duration such as "14d"').default('14d'),
  /**
   * Which scored endpoints become candidates (threshold.ts): by default from a budget of false candidates per
   * 1,000 subscribers active in the window; `rule: fixed` keeps a fixed score (the model's own unless `fixedScore`).
   */
  operatingThreshold: z
    .strictObject({
      rule: z.enum(['budget', 'fixed']).default('budget'),
      falseCandidatesPer1000Subscribers: z
        .number()
        .gt(0, 'a budget above 0 (false candidates per 1,000 subscribers)')
        .max(1000, 'at most 1,000 per 1,000 subscribers')
        .default(1),
      fixedScore: z.number().gt(0, 'a score in (0, 1]').max(1, 'a score in (0, 1]').optional(),
    })
    .prefault({}),
});

export type CcDetectionSettings = z.output<typeof ccDetectionSettings> & { enabled: boolean };
