/**
 * M2's TAXII 2.1 server (OASIS TAXII 2.1, §4–§5) and its flat feeds, on the
 * core's sharing listener (the sharer: src/share/sharer.ts), over TLS only. Recipients authenticate with HTTP
 * Basic or a bearer token; an attestation that has lapsed, a disabled
 * recipient or a channel not granted is refused (403) and audited; every
 * delivery is audited with its count.
 *
 *   GET  /taxii2/                                   discovery
 *   GET  /mamori/                                   API root
 *   GET  /mamori/collections/[{id}/]                collections
 *   GET  /mamori/collections/{id}/objects/          added_after, limit, next, match[id|type|version|spec_version]
 *   POST /mamori/collections/{id}/objects/          writable collections: partners' indicators → status 202
 *   GET  /mamori/collections/{id}/objects/{oid}/[versions/]
 *   GET  /mamori/collections/{id}/manifest/
 *   GET  /mamori/status/{id}/
 *   GET  /feeds/cc.csv  /feeds/cc.json              flat feeds (channel "csv")
 *   GET  /feeds/misp/manifest.json|hashes.csv|{uuid}.json   MISP feed (channel "misp")
 *
 * The flat feeds carry the C&C collection: they need the same read right on it as TAXII. Pushes are
 * limited per recipient (envelopes a minute, bytes an hour) and stored in slices (inbound.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { FastifyInstance, FastifyReply, FastifyRequest } from '../../core/http.js';
import type { Logger } from '../../core/logger.js';
import type { MeasureState } from '../../core/measure-state.js';
import { COLLECTIONS, currentEntries, type CollectionKey } from './entries.js';
import { csvFeed, jsonFeed, mispFeed } from './feeds.js';
import { receiveObjects, type ReceiveResult } from './inbound.js';
import { authenticate, mayRead, mayWrite, type Channel, type Recipient } from './recipients.js';
import type { CcSharingSettings } from './settings.js';
import { shareDb, type ShareTables } from './tables.js';
import { MamoriError } from '../../core/errors.js';
import type { Sharer } from '../../share/sharer.js';

export const TAXII_MEDIA_TYPE = 'application/taxii+json;version=2.1';
export const STIX_MEDIA_TYPE = 'application/stix+json;version=2.1';
const API_ROOT = 'mamori';

declare module 'fastify' {
  interface FastifyRequest {
    recipient?: Recipient;
  }
}

class TaxiiError extends MamoriError {
  static override readonly code = 'taxii';
  static override readonly status = 400;
  constructor(
    status: number,
    readonly title: string,
    description: string,
  ) {
    super(description, { status });
  }
}

const collectionById = (id: string): CollectionKey | undefined =>
  (Object.keys(COLLECTIONS) as CollectionKey[]).find((k) => COLLECTIONS[k].id === id || COLLECTIONS[k].alias === id);

/** The filters of §3.5, parsed strictly: a bad value is a 400 naming it. */
interface Filters {
  addedAfter?: string;
  limit: number;
  afterSeq: number;
  ids?: string[];
  types?: string[];
  versions: 'last' | 'first' | 'all' | string[];
  specVersions?: string[];
}

function parseFilters(query: Record<string, string | undefined>, collectionId: string, maxPage: number): Filters {
  const f: Filters = { limit: maxPage, afterSeq: 0, versions: 'last' };
  for (const key of Object.keys(query)) {
    if (!['added_after', 'limit', 'next', 'match[id]', 'match[type]', 'match[version]', 'match[spec_version]'].includes(key))
      throw new TaxiiError(400, 'Unknown parameter', `"${key}" is not a TAXII 2.1 filter of this endpoint`);
  }
  if (query.added_after !== undefined) {
    const t = Date.parse(query.added_after);
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(query.added_after) || Number.isNaN(t))
      throw new TaxiiError(400, 'Bad added_after', 'added_after must be a timestamp such as 2026-11-24T00:00:00.000Z');
    f.addedAfter = query.added_after;
  }
  if (query.limit !== undefined) {
    if (!/^[1-9]\d{0,6}$/.test(query.limit)) throw new TaxiiError(400, 'Bad limit', 'limit must be a positive whole number');
    f.limit = Math.min(maxPage, Number(query.limit));
  }
  if (query.next !== undefined) f.afterSeq = decodeNext(query.next, collectionId);
  const list = (v: string | undefined) =>
    v === undefined
      ? undefined
      : v
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean);
  f.ids = list(query['match[id]']);
  f.types = list(query['match[type]']);
  f.specVersions = list(query['match[spec_version]']);
  const versions = list(query['match[version]']);
  if (versions) {
    if (versions.length === 1 && ['last', 'first', 'all'].includes(versions[0]!)) f.versions = versions[0] as 'last' | 'first' | 'all';
    else if (versions.every((v) => !Number.isNaN(Date.parse(v)))) f.versions = versions.map((v) => new Date(v).toISOString());
    else throw new TaxiiError(400, 'Bad match[version]', 'match[version] takes last, first, all or timestamps');
  }
  return f;
}

export function encodeNext(collectionId: string, seq: number): string {
  return Buffer.from(`${collectionId}|${seq}`).toString('base64url');
}

function decodeNext(token: string, collectionId: string): number {
  const m = /^([0-9a-f-]{36})\|(\d{1,15})$/.exec(/^[A-Za-z0-9_-]{1,100}$/.test(token) ? Buffer.from(token, 'base64url').toString() : '');
  if (!m || m[1] !== collectionId) throw new TaxiiError(400, 'Bad next', 'the next token is not one this server gave for this collection');
  return Number(m[2]);
}

type VersionRow = Pick<ShareTables['share_versions'], 'object_id' | 'modified' | 'date_added' | 'object'> & { seq: number };

/** One page of object versions in the order they were added. */
async function versionsPage(
  s: Kysely<ShareTables>,
  collectionId: string,
  f: Filters,
  objectId?: string,
): Promise<{ rows: VersionRow[]; more: boolean }> {
  let q = s
    .selectFrom('share_versions as v')
    .select(['v.seq', 'v.object_id', 'v.modified', 'v.date_added', 'v.object'])
    .where('v.collection', '=', collectionId)
    .where('v.seq', '>', f.afterSeq);
  if (objectId) q = q.where('v.object_id', '=', objectId);
  if (f.addedAfter) q = q.where('v.date_added', '>', new Date(f.addedAfter).toISOString());
  if (f.ids) q = q.where('v.object_id', 'in', f.ids);
  if (f.types) {
    const types = f.types;
    q = q.where((eb) => eb.or(types.map((t) => eb('v.object_id', 'like', `${t.replace(/[%_]/g, '')}--%`))));
  }
  if (f.specVersions && !f.specVersions.includes('2.1')) return { rows: [], more: false };
  if (f.versions === 'last' || f.versions === 'first') {
    const pick = f.versions;
    q = q.where('v.seq', '=', (eb) =>
      eb
        .selectFrom('share_versions as w')
        .select((w) => (pick === 'last' ? w.fn.max('w.seq') : w.fn.min('w.seq')).as('s'))
        .whereRef('w.collection', '=', 'v.collection')
        .whereRef('w.object_id', '=', 'v.object_id'),
    );
  } else if (Array.isArray(f.versions)) {
    q = q.where('v.modified', 'in', f.versions);
  }
  const rows = (await q
    .orderBy('v.seq')
    .limit(f.limit + 1)
    .execute()) as VersionRow[];
  return { rows: rows.slice(0, f.limit), more: rows.length > f.limit };
}

export interface TaxiiServer {
  readonly url: string;
  readonly selfSigned: boolean;
  close(): Promise<void>;
}

export async function startTaxii(ctx: {
  own: MeasureState;
  settings: CcSharingSettings;
  logger: Logger;
  sharer: Sharer;
}): Promise<TaxiiServer> {
  const { own, settings } = ctx;
  const store = own.store;
  const statuses = new Map<string, Status>();
  let listenerUrl = '';
  const setup = async (app: FastifyInstance): Promise<void> => {
    // The media type exactly as TAXII 2.1 spells it (a string or object body would have it rewritten).
    const send = (reply: FastifyReply, status: number, body: unknown, type = TAXII_MEDIA_TYPE) =>
      reply
        .code(status)
        .header('content-type', type)
        .send(Buffer.from(JSON.stringify(body)));

    app.addContentTypeParser(['application/taxii+json', 'application/json'], { parseAs: 'string' }, (_req, body, done) => {
      try {
        done(null, JSON.parse(body as string));
      } catch (err) {
        done(new TaxiiError(400, 'Malformed JSON', `the body is not JSON: ${(err as Error).message}`), undefined);
      }
    });

    app.setErrorHandler((err: Error & { statusCode?: number }, _request, reply) => {
      const status =
        err instanceof TaxiiError ? err.status : err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      const title =
        err instanceof TaxiiError
          ? err.title
          : status === 413
            ? 'Request too large'
            : status === 415
              ? 'Unsupported media type'
              : status === 500
                ? 'Server error'
                : 'Bad request';
      if (status === 500) ctx.logger.error({ event: 'taxii.error', err: { type: err.name, message: err.message } }, 'TAXII request failed');
      return send(reply, status, {
        title,
        description: status === 500 ? 'the server could not answer; see its log' : err.message,
        http_status: String(status),
      });
    });
    app.setNotFoundHandler((_request, reply) =>
      send(reply, 404, { title: 'Not found', description: 'no such TAXII endpoint or feed', http_status: '404' }),
    );

    const channelOf = (url: string): Channel => (url.startsWith('/feeds/misp/') ? 'misp' : url.startsWith('/feeds/') ? 'csv' : 'taxii');
    app.addHook('onRequest', async (request, reply) => {
      const channel = channelOf(request.url);
      if (channel === 'taxii') {
        const accept = request.headers.accept;
        if (accept && !/application\/taxii\+json(\s*;\s*version=2\.1)?\s*(,|$)|\*\/\*/.test(accept)) {
          throw new TaxiiError(406, 'Not acceptable', `this server answers only ${TAXII_MEDIA_TYPE}`);
        }
      }
      const auth = await authenticate(store, request.headers.authorization, channel);
      if (!auth.ok) {
        if (auth.recipientId)
          await own.audit.append({
            actor: `recipient:${auth.recipientId}`,
            measure: 'cc-sharing',
            action: 'share.access',
            object: `channel:${channel}`,
            outcome: 'refused',
            counts: null,
          });
        const status = auth.reason === 'no-credentials' || auth.reason === 'unknown' || auth.reason === 'revoked' ? 401 : 403;
        const why = {
          'no-credentials': 'credentials are required (HTTP Basic or a bearer token)',
          unknown: 'the credentials are not valid',
          revoked: 'the credential was revoked',
          disabled: 'the recipient is disabled',
          'attestation-lapsed': "the recipient's information-management attestation has lapsed; renew it with the ISP",
          'not-yet-attested': "the recipient's attestation has not started",
          'channel-not-allowed': `the recipient may not use the ${channel} channel`,
        }[auth.reason];
        if (status === 401) reply.header('WWW-Authenticate', 'Basic realm="mamori", Bearer realm="mamori"');
        return send(
          reply,
          status,
          channel === 'taxii'
            ? { title: status === 401 ? 'Unauthorized' : 'Forbidden', description: why, http_status: String(status) }
            : { error: why },
          channel === 'taxii' ? TAXII_MEDIA_TYPE : 'application/json',
        );
      }
      request.recipient = auth.recipient;
    });

    // Feeds are the C&C collection in other formats: the same read right as TAXII (a recipient that may
    // only write partner submissions gets nothing from them).
    const feedRight = async (request: FastifyRequest, reply: FastifyReply): Promise<boolean> => {
      const r = request.recipient!;
      if (mayRead(r, COLLECTIONS.cc.alias)) return true;
      const [actor, object] = [`recipient:${r.id}`, `collection:${COLLECTIONS.cc.alias}`];
      await own.audit.append({ actor, measure: 'cc-sharing', action: 'share.access', object, outcome: 'refused', counts: null });
      const error = `the recipient may not read ${COLLECTIONS.cc.alias}, which the feeds carry`;
      await reply.code(403).type('application/json').send({ error });
      return false;
    };

    // Per recipient: the times and sizes of recent pushes (bounded: one entry a request, an hour at most).
    const pushes = new Map<string, Array<{ t: number; bytes: number }>>();
    const refusedNoted = new Map<string, number>();
    const pushAllowed = async (request: FastifyRequest, reply: FastifyReply): Promise<boolean> => {
      const r = request.recipient!;
      const now = Date.now();
      const bytes = Number(request.headers['content-length'] ?? 0) || 0;
      const recent = (pushes.get(r.id) ?? []).filter((p) => p.t > now - 3_600_000);
      const lastMinute = recent.filter((p) => p.t > now - 60_000);
      const limits = settings.taxii.push;
      const hourBytes = recent.reduce((n, p) => n + p.bytes, 0);
      let why: string | undefined;
      let retry = 0;
      if (lastMinute.length >= limits.perMinute) {
        why = `at most ${limits.perMinute} envelopes a minute`;
        retry = Math.ceil((lastMinute[lastMinute.length - limits.perMinute]!.t + 60_000 - now) / 1000);
      } else if (hourBytes + bytes > limits.bytesPerHour) {
        why = `at most ${limits.bytesPerHour} bytes an hour (${hourBytes} sent)`;
        retry = Math.ceil((recent[0]!.t + 3_600_000 - now) / 1000);
      }
      pushes.set(r.id, recent);
      if (!why) {
        recent.push({ t: now, bytes });
        return true;
      }
      // One audit entry a minute per recipient at most: a client that keeps retrying does not flood the log.
      if ((refusedNoted.get(r.id) ?? 0) < now - 60_000) {
        refusedNoted.set(r.id, now);
        const [actor, object] = [`recipient:${r.id}`, 'dataset:inbound-indicators'];
        await own.audit.append({ actor, measure: 'cc-sharing', action: 'share.receive', object, outcome: 'refused', counts: { bytes } });
      }
      reply.header('retry-after', String(Math.max(1, retry)));
      await send(reply, 429, { title: 'Too many requests', description: `push limit reached: ${why}`, http_status: '429' });
      return false;
    };

    const delivered = async (request: FastifyRequest, object: string, n: number) => {
      await own.audit.append({
        actor: `recipient:${request.recipient!.id}`,
        measure: 'cc-sharing',
        action: 'share.deliver',
        object,
        counts: { objects: n },
      });
    };
    // The configured public URL, else the listener's own address: never the request's Host header, which
    // a client (or anyone in the path) chooses, and which would send other recipients elsewhere.
    const base = () => (settings.taxii.publicUrl ?? listenerUrl).replace(/\/+$/, '');
    const collectionFor = (request: FastifyRequest, id: string, need: 'read' | 'write'): CollectionKey => {
      const key = collectionById(id);
      const r = request.recipient!;
      // A collection the recipient has no right on is not there for them.
      if (!key || !(mayRead(r, COLLECTIONS[key].alias) || mayWrite(r, COLLECTIONS[key].alias)))
        throw new TaxiiError(404, 'Not found', `no collection ${id}`);
      if (need === 'read' && !mayRead(r, COLLECTIONS[key].alias))
        throw new TaxiiError(403, 'Forbidden', 'this collection is not readable for you');
      if (need === 'write' && !mayWrite(r, COLLECTIONS[key].alias))
        throw new TaxiiError(403, 'Forbidden', 'this collection is not writable for you');
      return key;
    };
    const collectionResource = (r: Recipient, key: CollectionKey) => ({
      id: COLLECTIONS[key].id,
      title: COLLECTIONS[key].title,
      description: COLLECTIONS[key].description,
      alias: COLLECTIONS[key].alias,
      can_read: mayRead(r, COLLECTIONS[key].alias),
      can_write: mayWrite(r, COLLECTIONS[key].alias),
      media_types: [STIX_MEDIA_TYPE],
    });
    const pageHeaders = (reply: FastifyReply, rows: VersionRow[]) => {
      if (rows.length > 0)
        reply.header('X-TAXII-Date-Added-First', rows[0]!.date_added).header('X-TAXII-Date-Added-Last', rows[rows.length - 1]!.date_added);
    };
    const query = (request: FastifyRequest) => request.query as Record<string, string | undefined>;

    app.get('/taxii2/', async (_request, reply) =>
      send(reply, 200, {
        title: `${settings.organisation.name} — Mamori TAXII`,
        description: 'C&C server indicators (IP address and port only), for cyber defence by attested recipients.',
        default: `${base()}/${API_ROOT}/`,
        api_roots: [`${base()}/${API_ROOT}/`],
      }),
    );

    app.get(`/${API_ROOT}/`, async (_request, reply) =>
      send(reply, 200, {
        title: 'C&C servers',
        description: 'IP address, port and protocol of C&C servers detected by this ISP.',
        versions: [TAXII_MEDIA_TYPE],
        max_content_length: settings.taxii.maxContentLength,
      }),
    );

    app.get(`/${API_ROOT}/collections/`, async (request, reply) => {
      const r = request.recipient!;
      const visible = (Object.keys(COLLECTIONS) as CollectionKey[]).filter(
        (k) => mayRead(r, COLLECTIONS[k].alias) || mayWrite(r, COLLECTIONS[k].alias),
      );
      return send(reply, 200, visible.length > 0 ? { collections: visible.map((k) => collectionResource(r, k)) } : {});
    });

    app.get<{ Params: { cid: string } }>(`/${API_ROOT}/collections/:cid/`, async (request, reply) =>
      send(reply, 200, collectionResource(request.recipient!, collectionFor(request, request.params.cid, 'read'))),
    );

    // The objects and the manifest of a collection page alike; they differ in what each version becomes.
    const pageRoute =
      (what: 'collection' | 'manifest', item: (r: VersionRow) => unknown) =>
      async (request: FastifyRequest<{ Params: { cid: string } }>, reply: FastifyReply) => {
        const key = collectionFor(request, request.params.cid, 'read');
        const cid = COLLECTIONS[key].id;
        const { rows, more } = await versionsPage(shareDb(store.db), cid, parseFilters(query(request), cid, settings.taxii.maxPage));
        await delivered(request, `${what}:${COLLECTIONS[key].alias}`, rows.length);
        pageHeaders(reply, rows);
        return send(reply, 200, {
          more,
          ...(more ? { next: encodeNext(cid, rows[rows.length - 1]!.seq) } : {}),
          ...(rows.length > 0 ? { objects: rows.map(item) } : {}),
        });
      };
    app.get<{ Params: { cid: string } }>(
      `/${API_ROOT}/collections/:cid/objects/`,
      pageRoute('collection', (r) => JSON.parse(r.object) as unknown),
    );
    app.get<{ Params: { cid: string } }>(
      `/${API_ROOT}/collections/:cid/manifest/`,
      pageRoute('manifest', (r) => ({ id: r.object_id, date_added: r.date_added, version: r.modified, media_type: STIX_MEDIA_TYPE })),
    );

    const objectRoute = async (
      request: FastifyRequest<{ Params: { cid: string; oid: string } }>,
      reply: FastifyReply,
      versionsOnly: boolean,
    ) => {
      const key = collectionFor(request, request.params.cid, 'read');
      const cid = COLLECTIONS[key].id;
      const oid = request.params.oid;
      if (!/^[a-z0-9-]{3,250}--[0-9a-f-]{36}$/.test(oid)) throw new TaxiiError(400, 'Bad object id', `"${oid}" is not a STIX identifier`);
      const q = query(request);
      const f = parseFilters(versionsOnly ? { ...q, 'match[version]': q['match[version]'] ?? 'all' } : q, cid, settings.taxii.maxPage);
      const exists = await shareDb(store.db)
        .selectFrom('share_versions')
        .select('seq')
        .where('collection', '=', cid)
        .where('object_id', '=', oid)
        .limit(1)
        .executeTakeFirst();
      if (!exists) throw new TaxiiError(404, 'Not found', `no object ${oid} in this collection`);
      const { rows, more } = await versionsPage(shareDb(store.db), cid, f, oid);
      await delivered(request, `collection:${COLLECTIONS[key].alias}`, rows.length);
      pageHeaders(reply, rows);
      const next = more ? { next: encodeNext(cid, rows[rows.length - 1]!.seq) } : {};
      if (versionsOnly) return send(reply, 200, { more, ...next, ...(rows.length > 0 ? { versions: rows.map((r) => r.modified) } : {}) });
      return send(reply, 200, { more, ...next, ...(rows.length > 0 ? { objects: rows.map((r) => JSON.parse(r.object) as unknown) } : {}) });
    };
    app.get<{ Params: { cid: string; oid: string } }>(`/${API_ROOT}/collections/:cid/objects/:oid/`, (request, reply) =>
      objectRoute(request, reply, false),
    );
    app.get<{ Params: { cid: string; oid: string } }>(`/${API_ROOT}/collections/:cid/objects/:oid/versions/`, (request, reply) =>
      objectRoute(request, reply, true),
    );

    app.post<{ Params: { cid: string } }>(
      `/${API_ROOT}/collections/:cid/objects/`,
      {
        // Checked before the body is read: a recipient over its limits costs no parsing.
        preParsing: async (request, reply) => {
          if (!(await pushAllowed(request, reply))) return reply;
        },
      },
      async (request, reply) => {
        const type = request.headers['content-type'] ?? '';
        if (!/^application\/taxii\+json\s*;\s*version=2\.1\s*$/i.test(type))
          throw new TaxiiError(415, 'Unsupported media type', `POST a TAXII envelope as ${TAXII_MEDIA_TYPE}`);
        const key = collectionFor(request, request.params.cid, 'write');
        const body = request.body as { objects?: unknown } | null;
        if (!body || typeof body !== 'object' || !Array.isArray(body.objects))
          throw new TaxiiError(400, 'Not an envelope', 'expected {"objects": [...]}');
        const r = request.recipient!;
        const result = await receiveObjects(own, {
          source: `taxii:${r.name}`,
          kind: 'taxii-push',
          objects: body.objects,
          actor: `recipient:${r.id}`,
          collection: COLLECTIONS[key].alias,
          sliceObjects: settings.taxii.push.sliceObjects,
          maxPerSource: settings.taxii.push.maxIndicatorsPerSource,
        });
        const status: Status = { id: randomUUID(), requestTimestamp: new Date().toISOString(), recipient: r.id, ...result };
        statuses.set(status.id, status);
        // Status resources are kept for the last thousand requests.
        if (statuses.size > 1000) statuses.delete(statuses.keys().next().value!);
        return send(reply, 202, statusResource(status));
      },
    );

    app.get<{ Params: { sid: string } }>(`/${API_ROOT}/status/:sid/`, async (request, reply) => {
      const s = statuses.get(request.params.sid);
      if (!s || s.recipient !== request.recipient!.id) throw new TaxiiError(404, 'Not found', `no status ${request.params.sid}`);
      return send(reply, 200, statusResource(s));
    });

    app.get('/feeds/cc.csv', async (request, reply) => {
      if (!(await feedRight(request, reply))) return reply;
      const entries = await currentEntries(store, new Date());
      await delivered(request, 'feed:csv', entries.length);
      return reply.type('text/csv; charset=utf-8').send(csvFeed(entries));
    });
    app.get('/feeds/cc.json', async (request, reply) => {
      if (!(await feedRight(request, reply))) return reply;
      const entries = await currentEntries(store, new Date());
      await delivered(request, 'feed:json', entries.length);
      return reply.type('application/json').send(jsonFeed(entries));
    });
    app.get<{ Params: { file: string } }>('/feeds/misp/:file', async (request, reply) => {
      if (!(await feedRight(request, reply))) return reply;
      const entries = await currentEntries(store, new Date());
      const feed = mispFeed(entries, settings.organisation.name, new Date());
      const file = request.params.file;
      if (file === 'manifest.json') {
        await delivered(request, 'feed:misp-manifest', 1);
        return reply.type('application/json').send(feed.manifest);
      }
      if (file === 'hashes.csv') {
        await delivered(request, 'feed:misp-hashes', entries.length);
        return reply.type('text/csv').send(feed.hashesCsv);
      }
      if (file === `${feed.eventUuid}.json`) {
        await delivered(request, 'feed:misp-event', entries.length);
        return reply.type('application/json').send(feed.event);
      }
      return reply
        .code(404)
        .type('application/json')
        .send({ error: `no feed file ${file}` });
    });
  };

  const served = await ctx.sharer.serve(
    {
      host: settings.taxii.host,
      port: settings.taxii.port,
      tls: { certFile: settings.taxii.certFile, keyFile: settings.taxii.keyFile, setting: 'measures.cc-sharing.taxii' },
      bodyLimit: settings.taxii.maxContentLength,
    },
    setup,
  );
  listenerUrl = served.url;
  return served;
}

type Status = ReceiveResult & { id: string; requestTimestamp: string; recipient: string };

function statusResource(s: Status) {
  return {
    id: s.id,
    status: 'complete',
    request_timestamp: s.requestTimestamp,
    total_count: s.successes.length + s.failures.length,
    success_count: s.successes.length,
    failure_count: s.failures.length,
    pending_count: 0,
    ...(s.successes.length > 0 ? { successes: s.successes.map((x) => ({ id: x.id, version: x.version })) } : {}),
    ...(s.failures.length > 0 ? { failures: s.failures.map((x) => ({ id: x.id, message: x.message })) } : {}),
  };
}
