/**
 * The walled garden's settings (`measures.infected-host-alert.walledGarden`): off unless `enabled`, and even
 * then refused at start until `basisConfirmedBy` names who confirmed its legal basis — the source documents
 * clear warning screens before malware sites under comprehensive consent, not the redirection of all of one
 * subscriber's name resolution (docs/en/infected-host-alert.md, "Walled garden").
 */
import { z } from 'zod';
import { DURATION_PATTERN, parseDuration } from '../../core/duration.js';
import { canonicalName } from '../../dns/rpz.js';

const duration = (example: string) => z.string().regex(DURATION_PATTERN, `a duration such as "${example}"`);
const ipv4 = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/, 'an IPv4 address such as 192.0.2.80');
const ipv6 = z.string().regex(/^[0-9a-fA-F:]*:[0-9a-fA-F:.]*$/, 'an IPv6 address such as 2001:db8::80');
/** A DNS name in canonical form (lowercase, no trailing dot), or the reason it is not one. */
const dnsName = (what: string) =>
  z.string().transform((text, ctx) => {
    try {
      const name = canonicalName(text);
      if (name.startsWith('*.')) throw new Error(`"${name}": list the domain without "*."; the names under it are ${what} with it`);
      return name;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

/** The longest a garden may last, as the option declares it (index.ts maxActionDuration). */
export const GARDEN_MAX = '14d';

export const walledGardenSettings = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** Who confirmed the legal basis, and where it is written (e.g. "legal dept., memo 2026-12-01"); recorded at every start. */
    basisConfirmedBy: z.string().trim().min(1).max(200).optional(),
    /** The policy zone resolvers transfer (list it first in their response-policy). */
    zone: z.string().min(3).default('garden.rpz.mamori'),
    /** The notice page's addresses: what every name resolves to for a gardened subscriber. */
    address: z.strictObject({ ipv4: z.array(ipv4).default([]), ipv6: z.array(ipv6).default([]) }).prefault({}),
    /** Where the page listens: in production the garden address, port 80. */
    listen: z.strictObject({ host: z.string().min(1).optional(), port: z.number().int().min(0).max(65535).default(80) }).prefault({}),
    /** A garden ends by itself after this long (and at once on remediation, opt-out, release or when M7 stops). */
    duration: duration('72h').default('72h'),
    /** Self-releases per case; after them the page names the support desk and has no button. */
    maxReleases: z.number().int().min(0).max(10).default(2),
    /** Gardened when the device is still seen after this many notices (the first notice and reminders). */
    afterNotices: z.number().int().min(1).max(6).default(2),
    /** Families gardened right after the first notice (e.g. DDoS bots that burden the network). */
    families: z.array(z.string().min(1)).default([]),
    /**
     * Names a gardened subscriber still resolves normally, each with every name under it (antivirus vendors', OS
     * updates, the ISP's support pages). The hosts of `notice.optOut` and `notice.support`, when they are http(s)
     * URLs, are added. A name another policy zone blocks (M3's C&C zone) is refused at start and withdrawn while
     * blocked: the allow zone comes first in the resolvers' order and would lift that block for every subscriber.
     */
    allow: z.array(dnsName('allowed')).max(1000).default([]),
    /** The policy zone of the allowed names (passthru), listed BEFORE the garden zone; default `<first label>-allow.<rest of zone>`. */
    allowZone: dnsName('allowed').optional(),
  })
  .prefault({});

export type WalledGardenSettings = z.output<typeof walledGardenSettings>;

/** The allow zone's name: `allowZone`, or the garden zone's first label with "-allow" (a sibling: the primary refuses nested zones). */
export function allowZoneOf(g: Pick<WalledGardenSettings, 'zone' | 'allowZone'>): string {
  if (g.allowZone) return g.allowZone;
  const zone = canonicalName(g.zone);
  const i = zone.indexOf('.');
  return i < 0 ? `${zone}-allow` : `${zone.slice(0, i)}-allow${zone.slice(i)}`;
}

/** The names the allow zone lets through: `allow`, and the hosts of the opt-out and support addresses when they are web addresses. */
export function allowedNames(g: Pick<WalledGardenSettings, 'allow'>, notice: { optOut?: string; support?: string }): string[] {
  const hosts: string[] = [];
  for (const text of [notice.optOut, notice.support]) {
    if (!text || !/^https?:\/\//i.test(text.trim())) continue;
    try {
      hosts.push(canonicalName(new URL(text.trim()).hostname));
    } catch {
      // An address the notice shows as text (a URL with an IP literal, say) is no name to let through.
    }
  }
  return [...new Set([...g.allow, ...hosts])].sort();
}

/** What must be set before M7 may run with the garden on. */
export function walledGardenReadiness(g: Partial<WalledGardenSettings> | undefined): string[] {
  if (!g?.enabled) return [];
  const key = '"measures.infected-host-alert.walledGarden';
  const gaps: string[] = [];
  if (!g.basisConfirmedBy)
    gaps.push(
      `${key}.basisConfirmedBy": the source documents do not state a legal basis for redirecting a subscriber's name ` +
        'resolution (only warning screens before malware sites, under comprehensive consent); name who confirmed the basis ' +
        "(the operator's counsel) and where, after the garden's clause is in the contract terms",
    );
  if ((g.address?.ipv4.length ?? 0) + (g.address?.ipv6.length ?? 0) === 0)
    gaps.push(`${key}.address": give the notice page's address (ipv4 and/or ipv6) that gardened subscribers are sent to`);
  if (!g.listen?.host) gaps.push(`${key}.listen.host": the address the notice page listens on (the garden address, port 80)`);
  if (g.zone) {
    try {
      const allow = allowZoneOf({ zone: g.zone, allowZone: g.allowZone });
      const zone = canonicalName(g.zone);
      if (allow === zone || allow.endsWith(`.${zone}`) || zone.endsWith(`.${allow}`))
        gaps.push(
          `${key}.allowZone": "${allow}" must be a zone of its own, not ${zone} nor inside or around it (the primary serves each apart)`,
        );
    } catch (err) {
      gaps.push(`${key}.zone": ${(err as Error).message}`);
    }
  }
  if (g.duration && parseDuration(g.duration) > parseDuration(GARDEN_MAX))
    gaps.push(`${key}.duration": at most ${GARDEN_MAX}, the longest the declaration allows`);
  return gaps;
}
