/**
 * What partners send M2: STIX 2.1 indicators (pushed to the writable TAXII
 * collection, or pulled from theirs), reduced at the door to what the 4th
 * summary lets a list hold — address or prefix, port, protocol, validity,
 * confidence — with provenance (which source, when). A new version of an
 * indicator replaces the old; a revoked one is kept as revoked, so that its
 * withdrawal is known; expiry is honoured by readers (valid_until).
 */
import type { MeasureState } from '../../core/measure-state.js';
import { endpointsOfPattern } from '../../core/stix/endpoints.js';
import { parsePrefix } from '../../share/labels.js';
import { shareDb } from './tables.js';

export interface ReceiveResult {
  successes: Array<{ id: string; version: string }>;
  failures: Array<{ id: string; message: string }>;
}

const STIX_ID = /^indicator--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const DEFAULT_VALIDITY_MS = 30 * 86_400_000;

interface Reduced {
  id: string;
  version: string;
  rows: Array<{ address: string; port: number | null; proto: number | null }>;
  validFrom: string;
  validUntil: string;
  confidence: number | null;
  revoked: boolean;
}

/** One object checked and reduced; a string says why it was refused. */
export function reduceIndicator(o: unknown): Reduced | string {
  if (!o || typeof o !== 'object' || Array.isArray(o)) return 'not a STIX object';
  const x = o as Record<string, unknown>;
  if (x.type !== 'indicator') return `type ${JSON.stringify(x.type)} is not accepted here (only indicator)`;
  if (typeof x.id !== 'string' || !STIX_ID.test(x.id)) return 'id is not an indicator identifier';
  if (x.spec_version !== '2.1') return 'spec_version must be "2.1"';
  for (const k of ['created', 'modified', 'valid_from'] as const)
    if (typeof x[k] !== 'string' || !TIMESTAMP.test(x[k] as string)) return `${k} is missing or not a STIX timestamp`;
  if (x.valid_until !== undefined && (typeof x.valid_until !== 'string' || !TIMESTAMP.test(x.valid_until)))
    return 'valid_until is not a STIX timestamp';
  if (x.pattern_type !== 'stix' || typeof x.pattern !== 'string') return 'only STIX patterns are accepted';
  if (x.confidence !== undefined && !(Number.isInteger(x.confidence) && (x.confidence as number) >= 0 && (x.confidence as number) <= 100))
    return 'confidence must be a whole number 0–100';
  const from = Date.parse(x.valid_from as string);
  const until = x.valid_until ? Date.parse(x.valid_until as string) : from + DEFAULT_VALIDITY_MS;
  if (!(until > from)) return 'valid_until must be after valid_from';
  const endpoints = endpointsOfPattern(x.pattern);
  if (typeof endpoints === 'string') return endpoints;
  const rows = [];
  for (const e of endpoints) {
    const p = parsePrefix(e.prefix);
    if (typeof p === 'string') return p;
    rows.push({
      address: p.prefixLength === (p.address.includes(':') ? 128 : 32) ? p.address : `${p.address}/${p.prefixLength}`,
      port: e.port,
      proto: e.protocol === 'tcp' ? 6 : e.protocol === 'udp' ? 17 : null,
    });
  }
  return {
    id: x.id,
    version: x.modified as string,
    rows,
    validFrom: new Date(from).toISOString(),
    validUntil: new Date(until).toISOString(),
    confidence: (x.confidence as number | undefined) ?? null,
    revoked: x.revoked === true,
  };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Stores the acceptable objects of one delivery under `source`, `sliceObjects` at a time: each slice is
 * checked, reduced and written in one transaction with its audit entry, and the event loop turns
 * between slices, so a large envelope never stalls the other listeners (API, DNS primary, RADIUS). A
 * source holds at most `maxPerSource` indicators; objects past that are refused one by one.
 */
export async function receiveObjects(
  own: MeasureState,
  req: {
    source: string;
    kind: string;
    objects: unknown[];
    actor: string;
    collection?: string;
    now?: Date;
    sliceObjects?: number;
    maxPerSource?: number;
  },
): Promise<ReceiveResult> {
  const now = (req.now ?? new Date()).toISOString();
  const result: ReceiveResult = { successes: [], failures: [] };
  const slice = req.sliceObjects ?? 200;
  const max = req.maxPerSource ?? Number.MAX_SAFE_INTEGER;
  for (let from = 0; from === 0 || from < req.objects.length; from += slice) {
    if (from > 0) await turn();
    const accepted: Reduced[] = [];
    const failed: ReceiveResult['failures'] = [];
    req.objects.slice(from, from + slice).forEach((o, k) => {
      const r = reduceIndicator(o);
      const given = (o as { id?: unknown })?.id;
      const id = typeof given === 'string' ? given.slice(0, 300) : `object #${from + k + 1}`;
      if (typeof r === 'string') failed.push({ id, message: r });
      else accepted.push(r);
    });
    const stored: ReceiveResult['successes'] = [];
    const record = () => ({
      actor: req.actor,
      measure: 'cc-sharing',
      action: 'share.receive',
      object: 'dataset:inbound-indicators',
      counts: { accepted: stored.length, refused: failed.length },
    });
    await own.audit.withAudit(record, async (tx) => {
      stored.length = 0;
      const s = shareDb(tx);
      const existing = await s.selectFrom('share_inbound_sources').select('name').where('name', '=', req.source).executeTakeFirst();
      if (!existing) {
        await s
          .insertInto('share_inbound_sources')
          .values({ name: req.source, kind: req.kind, received_at: now, received_by: req.actor, entries: 0, skipped: 0, cursor: null })
          .execute();
      }
      const count = async () =>
        Number(
          (
            await s
              .selectFrom('share_inbound')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .where('source', '=', req.source)
              .executeTakeFirstOrThrow()
          ).n,
        );
      let held = await count();
      for (const r of accepted) {
        // What this source says now about this indicator replaces what it said before.
        const gone = await s.deleteFrom('share_inbound').where('source', '=', req.source).where('stix_id', '=', r.id).executeTakeFirst();
        held -= Number(gone.numDeletedRows);
        if (held + r.rows.length > max) {
          failed.push({ id: r.id, message: `this source holds the most indicators allowed (${max}); withdraw some first` });
          continue;
        }
        for (const row of r.rows) {
          const ins = await s
            .insertInto('share_inbound')
            .values({
              source: req.source,
              stix_id: r.id,
              address: row.address,
              port: row.port,
              proto: row.proto,
              valid_from: r.validFrom,
              valid_until: r.validUntil,
              confidence: r.confidence,
              revoked: r.revoked ? 1 : 0,
              received_at: now,
            })
            .onConflict((oc) => oc.doNothing())
            .executeTakeFirst();
          held += Number(ins.numInsertedOrUpdatedRows ?? 0n);
        }
        stored.push({ id: r.id, version: r.version });
      }
      await s
        .updateTable('share_inbound_sources')
        .set({ received_at: now, received_by: req.actor, entries: await count(), skipped: failed.length })
        .where('name', '=', req.source)
        .execute();
    });
    result.successes.push(...stored);
    result.failures.push(...failed);
  }
  return result;
}
