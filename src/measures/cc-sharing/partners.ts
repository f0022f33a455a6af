/**
 * Partners' lists into M2: polling their TAXII 2.1 collections (paging with
 * `next`, resuming from the last `date_added` seen, page by page so that an
 * interrupted poll resumes where it stopped), and importing their files (MISP
 * event, Feodo-style CSV, IP list, STIX bundle) — whole or not at all. What
 * comes in is reduced to endpoints with validity and provenance (inbound.ts),
 * and offered, merged with Mamori's own list but with who said what, to the
 * measures that may block by consent (the `indicator-feed` capability).
 */
import type { OperatorFile } from '../../core/cli.js';
import { z } from 'zod';
import { pathSetting } from '../../core/config.js';
import { DURATION_PATTERN } from '../../core/duration.js';
import type { MeasureState } from '../../core/measure-state.js';
import type { StateStore } from '../../store/state/store.js';
import { LabelImportError, parseLabels, parsePrefix, type Label, type LabelFormat } from '../../share/labels.js';
import { receiveObjects } from './inbound.js';
import { shareDb } from './tables.js';
import { PartnerError } from '../../share/errors.js';
import type { Sharer } from '../../share/sharer.js';

export const partnerSchema = z.strictObject({
  /** Provenance name: letters, digits, "-" and "_". */
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/i, 'letters, digits, "-" or "_" (1–64)'),
  /** taxii: a TAXII 2.1 collection; misp-feed: a MISP feed (manifest.json and one file per event). */
  kind: z.enum(['taxii', 'misp-feed']).default('taxii'),
  /** The collection (https://taxii.partner.example/api1/collections/ID/) or the feed's base (https://…/feeds/misp/). */
  url: z.string().regex(/^https:\/\/[^\s/]+\/\S*$/, 'an https:// URL'),
  token: z.string().optional(),
  user: z.string().optional(),
  password: z.string().optional(),
  /** PEM file of the partner's CA or self-signed certificate, when it is not in the system store. */
  caFile: pathSetting().optional(),
  interval: z.string().regex(DURATION_PATTERN, 'a duration such as "1h"').default('1h'),
  limit: z.number().int().min(1).max(10_000).default(1000),
});
export type Partner = z.output<typeof partnerSchema>;

/** A partner did not answer, or answered something unusable (the sharer's error: one class for both). */
export { PartnerError };

const MAX_PAGE_BYTES = 64 * 1024 * 1024;
const MAX_PAGES = 10_000;
const TAXII = 'application/taxii+json;version=2.1';

/** One page from a partner, through the core's HTTPS client (the sharer). */
async function get(
  sharer: Sharer,
  url: URL,
  partner: Partner,
  caFile: string | undefined,
  accept = TAXII,
): Promise<{ status: number; type: string; lastAdded?: string; body: string }> {
  const headers: Record<string, string> = { accept };
  if (partner.token) headers.authorization = `Bearer ${partner.token}`;
  else if (partner.user !== undefined)
    headers.authorization = `Basic ${Buffer.from(`${partner.user}:${partner.password ?? ''}`).toString('base64')}`;
  const r = await sharer.fetch(url, { headers, caFile, maxBytes: MAX_PAGE_BYTES, timeoutMs: 60_000, who: partner.name });
  const lastAdded = r.headers['x-taxii-date-added-last'];
  return {
    status: r.status,
    type: String(r.headers['content-type'] ?? ''),
    ...(typeof lastAdded === 'string' ? { lastAdded } : {}),
    body: r.body,
  };
}

export interface PollSummary {
  pages: number;
  accepted: number;
  refused: number;
  cursor: string | null;
}

/** One poll of a partner: its TAXII collection from the cursor of the last poll, or its MISP feed. */
/** How much one source may hold, and how many objects are stored between turns of the event loop. */
export interface InboundLimits {
  sliceObjects?: number;
  maxPerSource?: number;
}

export async function pollPartner(
  own: MeasureState,
  sharer: Sharer,
  partner: Partner,
  actor: string,
  limits: InboundLimits = {},
): Promise<PollSummary> {
  return partner.kind === 'misp-feed' ? pollMispFeed(own, sharer, partner, actor, limits) : pollTaxii(own, sharer, partner, actor, limits);
}

async function pollTaxii(own: MeasureState, sharer: Sharer, partner: Partner, actor: string, limits: InboundLimits): Promise<PollSummary> {
  const source = `partner:${partner.name}`;
  const ca = partner.caFile;
  const s = shareDb(own.store.db);
  const row = await s.selectFrom('share_inbound_sources').select('cursor').where('name', '=', source).executeTakeFirst();
  let cursor = row?.cursor ?? null;
  const sum: PollSummary = { pages: 0, accepted: 0, refused: 0, cursor };
  const base = new URL(`${partner.url.replace(/\/?$/, '/')}objects/`);
  let next: string | undefined;
  const addedAfter = cursor;
  for (;;) {
    if (sum.pages >= MAX_PAGES)
      throw new PartnerError(`${partner.name}: more than ${MAX_PAGES} pages in one poll; the rest comes next time`);
    const url = new URL(base);
    url.searchParams.set('limit', String(partner.limit));
    if (addedAfter) url.searchParams.set('added_after', addedAfter);
    if (next) url.searchParams.set('next', next);
    const res = await get(sharer, url, partner, ca);
    if (res.status !== 200) throw new PartnerError(`${partner.name} answered HTTP ${res.status}: ${res.body.slice(0, 200)}`);
    if (!/^application\/taxii\+json/i.test(res.type))
      throw new PartnerError(`${partner.name} answered ${res.type || 'no content type'}, not a TAXII envelope`);
    let env: { more?: unknown; next?: unknown; objects?: unknown };
    try {
      env = JSON.parse(res.body) as typeof env;
    } catch {
      throw new PartnerError(`${partner.name} sent a page that is not JSON`);
    }
    if (!env || typeof env !== 'object' || (env.objects !== undefined && !Array.isArray(env.objects)))
      throw new PartnerError(`${partner.name} sent something that is not a TAXII envelope`);
    const objects = (env.objects ?? []) as unknown[];
    const r = await receiveObjects(own, { source, kind: 'taxii-poll', objects, actor, ...limits });
    sum.pages += 1;
    sum.accepted += r.successes.length;
    sum.refused += r.failures.length;
    if (res.lastAdded && !Number.isNaN(Date.parse(res.lastAdded)) && (!cursor || res.lastAdded > cursor)) {
      cursor = res.lastAdded;
      // The page is stored: a poll interrupted after this resumes from here.
      await own.store.writeTransaction((tx) =>
        shareDb(tx).updateTable('share_inbound_sources').set({ cursor }).where('name', '=', source).execute(),
      );
    }
    if (env.more !== true) break;
    if (typeof env.next !== 'string' || env.next.length === 0 || env.next.length > 1000)
      throw new PartnerError(`${partner.name} said more but gave no usable next`);
    next = env.next;
  }
  sum.cursor = cursor;
  return sum;
}

/**
 * A MISP feed is a snapshot: when its manifest changes, every event is fetched
 * again and the source's entries are replaced whole, in one transaction — an
 * attribute gone from the feed is gone here too.
 */
async function pollMispFeed(
  own: MeasureState,
  sharer: Sharer,
  partner: Partner,
  actor: string,
  limits: InboundLimits,
): Promise<PollSummary> {
  const source = `partner:${partner.name}`;
  const ca = partner.caFile;
  const base = partner.url.replace(/\/?$/, '/');
  const fetchJson = async (file: string): Promise<unknown> => {
    const res = await get(sharer, new URL(file, base), partner, ca, 'application/json');
    if (res.status !== 200) throw new PartnerError(`${partner.name} answered HTTP ${res.status} for ${file}`);
    try {
      return JSON.parse(res.body);
    } catch {
      throw new PartnerError(`${partner.name}: ${file} is not JSON`);
    }
  };
  const manifest = await fetchJson('manifest.json');
  if (!manifest || typeof manifest !== 'object' || Array.isArray(manifest))
    throw new PartnerError(`${partner.name}: manifest.json is not a MISP feed manifest`);
  const events = Object.entries(manifest as Record<string, { timestamp?: unknown }>);
  if (events.some(([uuid]) => !/^[0-9a-f-]{36}$/i.test(uuid)))
    throw new PartnerError(`${partner.name}: manifest.json names an event that is not a UUID`);
  const version = String(events.reduce((t, [, e]) => Math.max(t, Number(e?.timestamp) || 0), 0));
  const s = shareDb(own.store.db);
  const row = await s.selectFrom('share_inbound_sources').select('cursor').where('name', '=', source).executeTakeFirst();
  if (row?.cursor === version && events.length > 0) return { pages: 1, accepted: 0, refused: 0, cursor: version };
  const now = new Date();
  const labels: Array<Label & { event: string }> = [];
  let refused = 0;
  for (const [uuid] of events) {
    const parsed = parseMispEvent(JSON.stringify(await fetchJson(`${uuid}.json`)), now, 30);
    labels.push(...parsed.labels.map((l) => ({ ...l, event: uuid })));
    refused += parsed.skipped.length;
  }
  // A source holds a bounded number of indicators: the rest are refused and counted.
  const kept = labels.slice(0, limits.maxPerSource ?? labels.length);
  refused += labels.length - kept.length;
  const ids = kept.map((l, i) => ({ ...l, id: `misp:${l.event}:${i + 1}` }));
  await replaceSource(own, { source, kind: 'misp-feed', actor, labels: ids, skipped: refused, cursor: version, now });
  return { pages: events.length + 1, accepted: kept.length, refused, cursor: version };
}

/** Replaces everything a source said, in one transaction with its audit entry. */
async function replaceSource(
  own: MeasureState,
  req: {
    source: string;
    kind: string;
    actor: string;
    labels: Array<Label & { id: string }>;
    skipped: number;
    cursor: string | null;
    now: Date;
  },
): Promise<void> {
  const received = req.now.toISOString();
  await own.audit.withAudit(
    {
      actor: req.actor,
      measure: 'cc-sharing',
      action: 'share.import',
      object: 'dataset:inbound-indicators',
      counts: { entries: req.labels.length, skipped: req.skipped },
    },
    async (tx) => {
      const s = shareDb(tx);
      await s.deleteFrom('share_inbound').where('source', '=', req.source).execute();
      await s.deleteFrom('share_inbound_sources').where('name', '=', req.source).execute();
      await s
        .insertInto('share_inbound_sources')
        .values({
          name: req.source,
          kind: req.kind,
          received_at: received,
          received_by: req.actor,
          entries: req.labels.length,
          skipped: req.skipped,
          cursor: req.cursor,
        })
        .execute();
      for (const l of req.labels) {
        const address = l.prefixLength === (l.address.includes(':') ? 128 : 32) ? l.address : `${l.address}/${l.prefixLength}`;
        await s
          .insertInto('share_inbound')
          .values({
            source: req.source,
            stix_id: l.id,
            address,
            port: l.port,
            proto: l.protocol === 'tcp' ? 6 : l.protocol === 'udp' ? 17 : null,
            valid_from: l.validFrom,
            valid_until: l.validUntil,
            confidence: null,
            revoked: 0,
            received_at: received,
          })
          .onConflict((oc) => oc.doNothing())
          .execute();
      }
    },
  );
}

export type FileFormat = LabelFormat | 'misp';

/** A MISP event (or a feed's event file): its ip-dst and ip-dst|port attributes, as labels valid for `validityDays`. */
export function parseMispEvent(
  text: string,
  now: Date,
  validityDays: number,
): { labels: Label[]; skipped: Array<{ line: number; reason: string }> } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new LabelImportError(`not JSON: ${(err as Error).message}`);
  }
  const event = (doc as { Event?: { Attribute?: unknown } })?.Event;
  if (!event || !Array.isArray(event.Attribute)) throw new LabelImportError('not a MISP event (expected {"Event": {"Attribute": [...]}})');
  const labels: Label[] = [];
  const skipped: Array<{ line: number; reason: string }> = [];
  const until = new Date(now.getTime() + validityDays * 86_400_000).toISOString();
  (event.Attribute as Array<Record<string, unknown>>).forEach((a, i) => {
    const line = i + 1; // the attribute's position in the event
    if ((a?.type !== 'ip-dst' && a?.type !== 'ip-dst|port') || typeof a.value !== 'string') {
      skipped.push({ line, reason: `attribute type ${JSON.stringify(a?.type)} is not a C&C endpoint` });
      return;
    }
    const [ip, portText] = a.type === 'ip-dst|port' ? a.value.split('|') : [a.value, undefined];
    const port = portText === undefined ? null : Number(portText);
    if (port !== null && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
      skipped.push({ line, reason: `port "${portText}" is not a port` });
      return;
    }
    const p = parsePrefix(ip ?? '');
    if (typeof p === 'string') {
      skipped.push({ line, reason: p });
      return;
    }
    const seen =
      typeof a.first_seen === 'string' && !Number.isNaN(Date.parse(a.first_seen))
        ? new Date(a.first_seen).toISOString()
        : now.toISOString();
    labels.push({
      address: p.address,
      prefixLength: p.prefixLength,
      port,
      protocol: null,
      validFrom: seen < until ? seen : now.toISOString(),
      validUntil: until,
      malware: null,
    });
  });
  return { labels, skipped };
}

/** Imports a partner's file as the whole of that source: the previous import of the same source is replaced. */
export async function importPartnerFile(
  own: MeasureState,
  req: { file: OperatorFile; format: FileFormat; source: string; validityDays: number; actor: string; now?: Date },
): Promise<{ entries: number; skipped: Array<{ line: number; reason: string }> }> {
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/i.test(req.source))
    throw new LabelImportError(`source name "${req.source}" is not allowed: letters, digits, "-" or "_" (1–64)`);
  const text = req.file.bytes.toString('utf8');
  if (text.includes('\uFFFD')) throw new LabelImportError(`${req.file.name} is not UTF-8 text`);
  const now = req.now ?? new Date();
  const parsed =
    req.format === 'misp'
      ? parseMispEvent(text, now, req.validityDays)
      : parseLabels(req.format, text, { validityDays: req.validityDays, now });
  await replaceSource(own, {
    source: `file:${req.source}`,
    kind: `file-${req.format}`,
    actor: req.actor,
    labels: parsed.labels.map((l, i) => ({ ...l, id: `line-${i + 1}` })),
    skipped: parsed.skipped.length,
    cursor: null,
    now,
  });
  return { entries: parsed.labels.length, skipped: parsed.skipped };
}

/** What partners sent, per source (a partner's collection or an imported file): counts, when, by whom, where a poll resumes. */
export async function inboundSources(
  store: StateStore,
): Promise<
  Array<{ name: string; kind: string; entries: number; skipped: number; receivedAt: string; receivedBy: string; cursor: string | null }>
> {
  const rows = await shareDb(store.db).selectFrom('share_inbound_sources').selectAll().orderBy('name').execute();
  return rows.map((r) => ({
    name: r.name,
    kind: r.kind,
    entries: r.entries,
    skipped: r.skipped,
    receivedAt: r.received_at,
    receivedBy: r.received_by,
    cursor: r.cursor,
  }));
}

export interface FeedIndicator {
  address: string;
  port: number | null;
  proto: number | null;
  validUntil: string;
  /** Who said so: "own" for Mamori's shared entries, else the partner source, each with its own validity. */
  sources: Array<{ source: string; validUntil: string; confidence: number | null }>;
}

/**
 * The merged list for consent-based blocking: Mamori's shared entries and every
 * partner's current, unrevoked indicators, one row per endpoint, with every source.
 */
export function indicatorFeed(store: StateStore): { list(now?: Date): Promise<FeedIndicator[]> } {
  return {
    async list(now = new Date()) {
      const t = now.toISOString();
      const s = shareDb(store.db);
      const own = await s
        .selectFrom('share_entries')
        .select(['address', 'port', 'proto', 'valid_until', 'confidence'])
        .where('state', '=', 'shared')
        .where('valid_until', '>', t)
        .execute();
      const theirs = await s
        .selectFrom('share_inbound')
        .select(['source', 'address', 'port', 'proto', 'valid_until', 'confidence'])
        .where('revoked', '=', 0)
        .where('valid_from', '<=', t)
        .where('valid_until', '>', t)
        .execute();
      const merged = new Map<string, FeedIndicator>();
      const add = (
        source: string,
        r: { address: string; port: number | null; proto: number | null; valid_until: string; confidence: number | null },
      ) => {
        const key = `${r.address}|${r.port ?? ''}|${r.proto ?? ''}`;
        const e = merged.get(key) ?? { address: r.address, port: r.port, proto: r.proto, validUntil: r.valid_until, sources: [] };
        if (r.valid_until > e.validUntil) e.validUntil = r.valid_until;
        if (!e.sources.some((x) => x.source === source)) e.sources.push({ source, validUntil: r.valid_until, confidence: r.confidence });
        merged.set(key, e);
      };
      for (const r of own) add('own', r);
      for (const r of theirs) add(r.source, r);
      return [...merged.values()].sort((a, b) => a.address.localeCompare(b.address) || (a.port ?? 0) - (b.port ?? 0));
    },
  };
}
