/**
 * M7's own settings (under `measures.infected-host-alert`): the ISP's prefixes
 * (a reported address elsewhere is not a subscriber's), extra report sources,
 * the drop directory, the two stages' rules, reminders, when a case counts as
 * remediated, and what the notice says about opting out and where to ask.
 */
import { z } from 'zod';
import { pathSetting } from '../../core/config.js';
import { DURATION_PATTERN, parseDuration } from '../../core/duration.js';
import { PrefixSet } from '../../ingest/reports/values.js';
import { walledGardenReadiness, walledGardenSettings } from './garden-settings.js';

const duration = (example: string) => z.string().regex(DURATION_PATTERN, `a duration such as "${example}"`);
const text = z.strictObject({ ja: z.string().trim().min(1), en: z.string().trim().min(1) });

export const infectedHostAlertSettings = z.object({
  /** The ISP's prefixes: entries outside them are counted ("outside-prefixes") and go no further. */
  prefixes: z.array(z.string().min(3)).default([]),
  /** Sources besides the built-in ones (Shadowserver, IntelMQ, plain lists, DNSBL exports): who supplies them, what an entry means. */
  sources: z
    .array(
      z.strictObject({
        id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and "-"'),
        parser: z.enum(['shadowserver-csv', 'intelmq-jsonl', 'plain']),
        purpose: z.enum(['infection', 'blocklist']),
        supplier: text,
        meaning: text,
        accepts: z.array(z.string().min(1)).min(1),
        naiveTimesAreUtc: z.boolean().default(false),
      }),
    )
    .default([]),
  /** Reports dropped in `<dropDirectory>/<source id>/` are imported once and deleted (results stay in done/). */
  dropDirectory: pathSetting().optional(),
  dropInterval: duration('30s').default('30s'),
  /** How far in the future a reported time may be (clock differences) before it is refused. */
  futureTolerance: duration('10m').default('10m'),
  /** Sightings of one subscriber and family within this window are one case. */
  dedupeWindow: duration('30d').default('30d'),
  /** Stage 2: a subscriber who opted out is alerted only when one of these holds (the operator's declared condition). */
  stage2: z
    .strictObject({
      /** Families that burden the network (e.g. DDoS bots): alerted at once. */
      burdenFamilies: z.array(z.string().min(1)).default(['mirai', 'gafgyt', 'mozi', 'xorddos']),
      /** Seen on at least this many distinct days: the device keeps contacting C&C servers. 0: never on this ground. */
      repeatedDays: z.number().int().min(0).max(30).default(3),
    })
    .prefault({}),
  /** A reminder when the subscriber is still seen this long after the last notice; at most `maxReminders`. */
  reminders: z.strictObject({ after: duration('7d').default('7d'), max: z.number().int().min(0).max(5).default(2) }).prefault({}),
  /** A case is remediated when its subscriber has not been seen for this long (below the 30 days reported hosts are kept). */
  remediatedAfter: duration('14d').default('7d'),
  analysisInterval: duration('5m').default('5m'),
  /** Per-family remediation text for the notice; the operator maintains more through the API. */
  remediation: z.record(z.string(), text).default({}),
  notice: z
    .strictObject({
      optOut: z.string().min(1).default('会員サイト / member site'),
      support: z.string().min(1).default('サポートセンター / support centre'),
    })
    .prefault({}),
  /** The walled garden (garden-settings.ts): off unless enabled, and refused until its legal basis is confirmed. */
  walledGarden: walledGardenSettings,
});

export type InfectedHostAlertSettings = z.output<typeof infectedHostAlertSettings> & { enabled: boolean };

/** What must be configured before M7 may be enabled. */
export function infectedHostAlertReadiness(settings: Record<string, unknown>): string[] {
  const s = settings as Partial<InfectedHostAlertSettings>;
  const gaps: string[] = [];
  if (!s.prefixes || s.prefixes.length === 0)
    gaps.push('"measures.infected-host-alert.prefixes": list the ISP\'s prefixes (a reported address elsewhere is not a subscriber\'s)');
  if (!(s.prefixes ?? []).every(isPrefix))
    gaps.push('"measures.infected-host-alert.prefixes": each entry must be an IPv4 or IPv6 prefix such as 198.51.100.0/24');
  // An alert is deleted 30 days after its last sighting (report.host): it must be judged remediated before that.
  if (s.remediatedAfter && parseDuration(s.remediatedAfter) >= REPORT_HOST_DAYS * 86_400)
    gaps.push(`"measures.infected-host-alert.remediatedAfter" must be shorter than the ${REPORT_HOST_DAYS} days reported hosts are kept`);
  gaps.push(...walledGardenReadiness(s.walledGarden));
  return gaps;
}

const REPORT_HOST_DAYS = 30;

function isPrefix(p: string): boolean {
  try {
    return new PrefixSet([p]).size === 1;
  } catch {
    return false;
  }
}
