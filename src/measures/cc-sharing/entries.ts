/**
 * The shared list. Each C&C candidate of M1 becomes an entry — IP, port,
 * protocol, dates, confidence — which an analyst approves (the default) or
 * which is shared at once when it is confirmed with a high score (policy
 * "auto"). Every change recipients can see is a new version of the entry's
 * STIX object, stored in the order added: that is what TAXII serves, and how
 * a withdrawal or an expiry reaches the recipient (`revoked: true`; removal
 * from the MISP and CSV feeds). An entry lives until its valid-until unless
 * M1 re-detects the endpoint; a revoked indicator is never revived — a new
 * detection after it gets a new entry and a new id.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { parseDuration } from '../../core/duration.js';
import type { AuditWriter } from '../../core/measure-state.js';
import type { StateStore } from '../../store/state/store.js';
import type { CandidateFeed } from '../../core/feeds.js';
import type { CcSharingSettings } from './settings.js';
import { identityOf, indicatorOf, type ShareableEntry } from './stix.js';
import { shareDb, type ShareTables } from './tables.js';
import { MamoriError } from '../../core/errors.js';

/** The collections of M2's TAXII API root. */
export const COLLECTIONS = {
  /** Mamori's C&C list: read by attested recipients. */
  cc: {
    id: '4c2f6a33-5e0b-5d1f-9a51-6d616d6f7269',
    alias: 'cc-indicators',
    title: 'C&C servers (IP address and port)',
    description:
      'C&C server candidates detected by this ISP: IP address, ' +
      'port, protocol, detection dates, validity, ' +
      'confidence. For cyber defence only.',
  },
  /** Where partners may POST their own indicators (if granted write). */
  submissions: {
    id: '7b1e0d52-2f4a-5c3e-8d44-6d616d6f7269',
    alias: 'partner-submissions',
    title: 'Partner submissions',
    description: 'Indicators (IP address and port) submitted by partners; reviewed before use.',
  },
} as const;
export type CollectionKey = keyof typeof COLLECTIONS;

export type EntryState = 'pending' | 'shared' | 'rejected' | 'revoked' | 'expired';

export interface Entry extends ShareableEntry {
  candidateId: string;
  state: EntryState;
  createdAt: string;
  stateChangedAt: string;
  stateChangedBy: string;
  stateReason: string | null;
}

export class EntryError extends MamoriError {
  static override readonly code = 'share-entry';
  static override readonly status = 409;
  constructor(message: string) {
    super(message);
  }
}

function fromRow(r: ShareTables['share_entries']): Entry {
  return {
    id: r.id,
    candidateId: r.candidate_id,
    address: r.address,
    port: r.port,
    proto: r.proto,
    firstDetected: r.first_detected,
    lastDetected: r.last_detected,
    validUntil: r.valid_until,
    confidence: r.confidence,
    state: r.state as EntryState,
    createdAt: r.created_at,
    stateChangedAt: r.state_changed_at,
    stateChangedBy: r.state_changed_by,
    stateReason: r.state_reason,
  };
}

export async function listEntries(store: StateStore, state?: EntryState): Promise<Entry[]> {
  let q = shareDb(store.db).selectFrom('share_entries').selectAll();
  if (state) q = q.where('state', '=', state);
  return (await q.orderBy('created_at').orderBy('id').execute()).map(fromRow);
}

export async function getEntry(store: StateStore, id: string): Promise<Entry | undefined> {
  const r = await shareDb(store.db).selectFrom('share_entries').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? fromRow(r) : undefined;
}

/** What the feeds (MISP, CSV, JSON) carry now: shared and still valid. */
export async function currentEntries(store: StateStore, now: Date): Promise<Entry[]> {
  return (
    await shareDb(store.db)
      .selectFrom('share_entries')
      .selectAll()
      .where('state', '=', 'shared')
      .where('valid_until', '>', now.toISOString())
      .orderBy('address')
      .orderBy('port')
      .execute()
  ).map(fromRow);
}

/**
 * Appends a version of an object to a collection. `date_added` strictly
 * increases, so that a client resuming from the last `date_added` it saw
 * never misses nor repeats an object.
 */
export async function addVersion(
  s: Kysely<ShareTables>,
  collection: CollectionKey,
  object: Record<string, unknown>,
  now: Date,
): Promise<void> {
  const last = await s.selectFrom('share_versions').select('date_added').orderBy('seq', 'desc').limit(1).executeTakeFirst();
  const t = Math.max(now.getTime(), last ? Date.parse(last.date_added) + 1 : 0);
  await s
    .insertInto('share_versions')
    .values({
      collection: COLLECTIONS[collection].id,
      object_id: String(object.id),
      modified: String(object.modified),
      date_added: new Date(t).toISOString(),
      object: JSON.stringify(object),
    })
    .execute();
}

async function identityIn(s: Kysely<ShareTables>, organisation: string, now: Date): Promise<string> {
  const identity = identityOf(organisation, now.toISOString());
  const have = await s.selectFrom('share_versions').select('object_id').where('object_id', '=', identity.id).executeTakeFirst();
  if (!have) await addVersion(s, 'cc', identity as unknown as Record<string, unknown>, now);
  return identity.id;
}

async function publish(s: Kysely<ShareTables>, e: Entry, organisation: string, now: Date, revoked: boolean): Promise<void> {
  const identity = await identityIn(s, organisation, now);
  await addVersion(s, 'cc', indicatorOf(e, identity, e.createdAt, now.toISOString(), revoked), now);
}

const confidenceOf = (score: number) => Math.max(0, Math.min(100, Math.round(score * 100)));
const plus = (iso: string, seconds: number) => new Date(Date.parse(iso) + seconds * 1000).toISOString();

export interface SyncSummary {
  created: number;
  shared: number;
  extended: number;
  revoked: number;
  rejected: number;
  expired: number;
}

/**
 * One maintenance pass: reads M1's candidates through the feed the broker
 * granted, creates and extends entries, revokes the withdrawn, expires the
 * stale. One transaction, one audit entry with the counts.
 */
export async function syncEntries(ctx: {
  audit: AuditWriter;
  feed: CandidateFeed;
  settings: CcSharingSettings;
  now: Date;
  actor: string;
}): Promise<SyncSummary> {
  const candidates = await ctx.feed.list();
  const validity = parseDuration(ctx.settings.validity);
  const now = ctx.now.toISOString();
  const org = ctx.settings.organisation.name;
  return ctx.audit.withAudit(
    (c: SyncSummary) => ({
      actor: ctx.actor,
      measure: 'cc-sharing',
      action: 'share.sync',
      object: 'dataset:shared-entries',
      counts: { ...c, candidates: candidates.length },
    }),
    async (tx) => {
      const s = shareDb(tx);
      const sum: SyncSummary = { created: 0, shared: 0, extended: 0, revoked: 0, rejected: 0, expired: 0 };
      const setState = async (e: Entry, state: EntryState, reason: string) => {
        await s
          .updateTable('share_entries')
          .set({ state, state_changed_at: now, state_changed_by: ctx.actor, state_reason: reason })
          .where('id', '=', e.id)
          .execute();
      };
      for (const c of candidates) {
        const row = await s
          .selectFrom('share_entries')
          .selectAll()
          .where('candidate_id', '=', c.id)
          .where('state', 'in', ['pending', 'shared'])
          .executeTakeFirst();
        const active = row ? fromRow(row) : undefined;
        if (c.status === 'withdrawn') {
          // An analyst found it a false positive: recipients must drop it.
          if (active?.state === 'shared') {
            await setState(active, 'revoked', 'candidate withdrawn as a false positive');
            await publish(s, active, org, ctx.now, true);
            sum.revoked++;
          } else if (active) {
            await setState(active, 'rejected', 'candidate withdrawn as a false positive');
            sum.rejected++;
          }
          continue;
        }
        if (c.status === 'expired') continue; // the entry runs out at its valid-until
        const validUntil = plus(c.lastDetected, validity);
        if (!active) {
          // Only what M1 saw after the last entry ended starts a new one: an expired or revoked indicator stays so.
          const ended = await s
            .selectFrom('share_entries')
            .select('state_changed_at')
            .where('candidate_id', '=', c.id)
            .orderBy('state_changed_at', 'desc')
            .limit(1)
            .executeTakeFirst();
          if (ended && c.lastDetected <= ended.state_changed_at) continue;
          if (validUntil <= now) continue;
          const auto = ctx.settings.policy.mode === 'auto' && c.status === 'confirmed' && c.score >= ctx.settings.policy.autoMinScore;
          const e: Entry = {
            id: `indicator--${randomUUID()}`,
            candidateId: c.id,
            address: c.address,
            port: c.port,
            proto: c.proto,
            firstDetected: c.firstDetected,
            lastDetected: c.lastDetected,
            validUntil,
            confidence: confidenceOf(c.score),
            state: auto ? 'shared' : 'pending',
            createdAt: now,
            stateChangedAt: now,
            stateChangedBy: ctx.actor,
            stateReason: auto ? `policy auto: confirmed, score ≥ ${ctx.settings.policy.autoMinScore}` : 'awaiting approval',
          };
          await s
            .insertInto('share_entries')
            .values({
              id: e.id,
              candidate_id: e.candidateId,
              address: e.address,
              port: e.port,
              proto: e.proto,
              first_detected: e.firstDetected,
              last_detected: e.lastDetected,
              valid_until: e.validUntil,
              confidence: e.confidence,
              state: e.state,
              created_at: e.createdAt,
              state_changed_at: e.stateChangedAt,
              state_changed_by: e.stateChangedBy,
              state_reason: e.stateReason,
            })
            .execute();
          sum.created++;
          if (auto) {
            await publish(s, e, org, ctx.now, false);
            sum.shared++;
          }
          continue;
        }
        if (c.lastDetected > active.lastDetected) {
          // Re-detected: the entry runs on, and recipients get the new valid-until.
          const e = { ...active, lastDetected: c.lastDetected, validUntil, confidence: confidenceOf(c.score) };
          await s
            .updateTable('share_entries')
            .set({ last_detected: e.lastDetected, valid_until: e.validUntil, confidence: e.confidence })
            .where('id', '=', e.id)
            .execute();
          if (e.state === 'shared') await publish(s, e, org, ctx.now, false);
          sum.extended++;
        }
      }
      // Stale entries: shared ones are revoked downstream, pending ones lapse unseen.
      for (const r of await s
        .selectFrom('share_entries')
        .selectAll()
        .where('state', 'in', ['pending', 'shared'])
        .where('valid_until', '<=', now)
        .execute()) {
        const e = fromRow(r);
        await setState(e, 'expired', 'not re-detected before valid-until');
        if (e.state === 'shared') await publish(s, e, org, ctx.now, true);
        sum.expired++;
      }
      return sum;
    },
  );
}

/** An analyst's decision on a pending entry; a shared one may be revoked by hand too. */
export async function decideEntry(
  store: StateStore,
  audit: AuditWriter,
  settings: CcSharingSettings,
  id: string,
  action: 'approve' | 'reject' | 'revoke',
  reason: string,
  actor: string,
  now = new Date(),
): Promise<Entry> {
  const e = await getEntry(store, id);
  if (!e) throw new EntryError(`no entry ${id}`);
  const allowed = { approve: ['pending'], reject: ['pending'], revoke: ['shared'] }[action];
  if (!allowed.includes(e.state))
    throw new EntryError(
      `entry ${id} is ${e.state}: it cannot be ${action === 'approve' ? 'approved' : action === 'reject' ? 'rejected' : 'revoked'}`,
    );
  if (action === 'approve' && e.validUntil <= now.toISOString())
    throw new EntryError(`entry ${id} is past its valid-until: there is nothing current to share`);
  const state: EntryState = action === 'approve' ? 'shared' : action === 'reject' ? 'rejected' : 'revoked';
  await audit.withAudit({ actor, measure: 'cc-sharing', action: `share.entry.${action}`, object: `entry:${id}` }, async (tx) => {
    const s = shareDb(tx);
    await s
      .updateTable('share_entries')
      .set({ state, state_changed_at: now.toISOString(), state_changed_by: actor, state_reason: reason })
      .where('id', '=', id)
      .execute();
    if (action !== 'reject') await publish(s, e, settings.organisation.name, now, action === 'revoke');
  });
  return (await getEntry(store, id))!;
}
