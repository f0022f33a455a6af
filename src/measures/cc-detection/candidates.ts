/**
 * C&C candidates: (address, port, protocol) with their lifecycle —
 * new → confirmed (analyst) → expired when not re-detected for a while →
 * withdrawn (false positive, never raised again by detection). Evidence is
 * aggregates, scores and the explanation only: no subscriber address, no flow.
 */
import { createHash } from 'node:crypto';
import type { Kysely, Migration } from 'kysely';
import type { AuditWriter } from '../../core/measure-state.js';
import type { Dataset } from '../../core/datasets.js';
import { tablesOf, type StateDb } from '../../store/state/tables.js';
import type { StateStore } from '../../store/state/store.js';
import type { CandidateFeed, PublishedCandidate } from '../../core/feeds.js';
import type { EndpointFeatures } from './features.js';
import { MamoriError } from '../../core/errors.js';
import type { UntypedDb } from '../../store/state/untyped.js';

export type CandidateStatus = PublishedCandidate['status'];

export type CandidateTables = {
  cc_candidates: {
    id: string;
    address: string;
    port: number;
    proto: number;
    status: string;
    score: number;
    first_detected: string;
    last_detected: string;
    detections: number;
    /** JSON: the endpoint's aggregate features and the explanation in ja/en. */
    evidence: string;
    status_changed_at: string;
    status_changed_by: string;
    status_reason: string | null;
  };
};

export const CANDIDATE_TABLES = ['cc_candidates'] as const;

export const candidateMigrations: Record<string, Migration> = {
  '0101_cc-detection_candidates': {
    async up(db: UntypedDb) {
      await db.schema
        .createTable('cc_candidates')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('port', 'integer', (c) => c.notNull())
        .addColumn('proto', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('score', 'real', (c) => c.notNull())
        .addColumn('first_detected', 'text', (c) => c.notNull())
        .addColumn('last_detected', 'text', (c) => c.notNull())
        .addColumn('detections', 'integer', (c) => c.notNull())
        .addColumn('evidence', 'text', (c) => c.notNull())
        .addColumn('status_changed_at', 'text', (c) => c.notNull())
        .addColumn('status_changed_by', 'text', (c) => c.notNull())
        .addColumn('status_reason', 'text')
        .execute();
      await db.schema.createIndex('cc_candidates_status').on('cc_candidates').column('status').execute();
    },
  },
};

/** Candidates live 90 days (M1's retention for cc.candidate) after their last detection. */
export const CANDIDATE_DATASET: Dataset = {
  name: 'cc-candidates',
  store: 'state',
  table: 'cc_candidates',
  timeColumn: 'last_detected',
  items: ['cc.candidate'],
  owner: 'cc-detection',
};

export interface Candidate {
  id: string;
  address: string;
  port: number;
  proto: number;
  status: CandidateStatus;
  score: number;
  firstDetected: string;
  lastDetected: string;
  detections: number;
  evidence: CandidateEvidence;
  statusChangedAt: string;
  statusChangedBy: string;
  statusReason: string | null;
}

/** Aggregates only: never a subscriber address, never a flow. */
export interface CandidateEvidence {
  features: Partial<Omit<EndpointFeatures, 'address' | 'port' | 'proto'>>;
  explanation: Array<{ feature: string; ja: string; en: string; direction?: 'raised' | 'lowered' }>;
  /** One line an analyst can repeat to a partner, in raw units. */
  summary?: { ja: string; en: string };
  /** log10 of the likelihood ratio (profile models): how much more C&C-like than this ISP's traffic. */
  evidence?: number;
  /** Rank of the endpoint among all scored endpoints of the run (1 = most suspicious), and how many were scored. */
  rank?: number;
  scored?: number;
  modelVersion?: number;
}

export class CandidateError extends MamoriError {
  static override readonly code = 'cc-candidate';
  static override readonly status = 409;
  constructor(message: string) {
    super(message);
  }
}

function db(d: StateDb): Kysely<CandidateTables> {
  return tablesOf<CandidateTables>(d);
}

/** A stable opaque id: references in the audit log and URLs never spell the address. */
export function candidateId(address: string, port: number, proto: number): string {
  return `c-${createHash('sha256').update(`${address}|${port}|${proto}`).digest('hex').slice(0, 16)}`;
}

function fromRow(r: CandidateTables['cc_candidates']): Candidate {
  return {
    id: r.id,
    address: r.address,
    port: r.port,
    proto: r.proto,
    status: r.status as CandidateStatus,
    score: r.score,
    firstDetected: r.first_detected,
    lastDetected: r.last_detected,
    detections: r.detections,
    evidence: JSON.parse(r.evidence) as Candidate['evidence'],
    statusChangedAt: r.status_changed_at,
    statusChangedBy: r.status_changed_by,
    statusReason: r.status_reason,
  };
}

export interface Detection {
  features: Pick<EndpointFeatures, 'address' | 'port' | 'proto'> & Partial<EndpointFeatures>;
  score: number;
  explanation: CandidateEvidence['explanation'];
  summary?: CandidateEvidence['summary'];
  evidence?: number;
  rank?: number;
  scored?: number;
  modelVersion?: number;
}

export interface RunSummary {
  detected: number;
  created: number;
  redetected: number;
  stillWithdrawn: number;
  expired: number;
}

/**
 * Applies one detection run: creates or refreshes candidates, leaves withdrawn
 * ones withdrawn (counting that they were seen again), and expires those not
 * detected since `expireBefore`. One transaction, one audit entry.
 */
export async function applyDetections(
  store: StateStore,
  audit: AuditWriter,
  detections: readonly Detection[],
  at: Date,
  expireBefore: Date,
  actor: string,
): Promise<RunSummary> {
  const now = at.toISOString();
  return audit.withAudit(
    (s: RunSummary) => ({ actor, measure: 'cc-detection', action: 'cc.detect', object: 'dataset:cc-candidates', counts: { ...s } }),
    async (tx) => {
      const c = db(tx);
      const summary: RunSummary = { detected: detections.length, created: 0, redetected: 0, stillWithdrawn: 0, expired: 0 };
      for (const d of detections) {
        const { address, port, proto, ...features } = d.features;
        const id = candidateId(address, port, proto);
        const extra = { summary: d.summary, evidence: d.evidence, rank: d.rank, scored: d.scored, modelVersion: d.modelVersion };
        const evidence = JSON.stringify({
          features,
          explanation: d.explanation,
          ...Object.fromEntries(Object.entries(extra).filter(([, v]) => v !== undefined)),
        });
        const existing = await c.selectFrom('cc_candidates').selectAll().where('id', '=', id).executeTakeFirst();
        if (!existing) {
          await c
            .insertInto('cc_candidates')
            .values({
              id,
              address,
              port,
              proto,
              status: 'new',
              score: d.score,
              first_detected: now,
              last_detected: now,
              detections: 1,
              evidence,
              status_changed_at: now,
              status_changed_by: actor,
              status_reason: null,
            })
            .execute();
          summary.created += 1;
          continue;
        }
        const status = existing.status === 'expired' ? 'new' : existing.status;
        if (existing.status === 'withdrawn') summary.stillWithdrawn += 1;
        else summary.redetected += 1;
        await c
          .updateTable('cc_candidates')
          .set({
            score: d.score,
            last_detected: now,
            detections: existing.detections + 1,
            evidence,
            status,
            ...(status !== existing.status ? { status_changed_at: now, status_changed_by: actor, status_reason: 'detected again' } : {}),
          })
          .where('id', '=', id)
          .execute();
      }
      const expired = await c
        .updateTable('cc_candidates')
        .set({ status: 'expired', status_changed_at: now, status_changed_by: actor, status_reason: 'not detected again in time' })
        .where('status', 'in', ['new', 'confirmed'])
        .where('last_detected', '<', expireBefore.toISOString())
        .executeTakeFirst();
      summary.expired = Number(expired.numUpdatedRows);
      return summary;
    },
  );
}

export async function listCandidates(store: StateStore, status?: CandidateStatus): Promise<Candidate[]> {
  let q = db(store.db).selectFrom('cc_candidates').selectAll();
  if (status) q = q.where('status', '=', status);
  // Ranked: score, then the strength of the evidence (profile models), then the id for a stable order.
  return (await q.orderBy('score', 'desc').orderBy('id').execute())
    .map(fromRow)
    .sort(
      (a, b) =>
        b.score - a.score ||
        (b.evidence.evidence ?? 0) - (a.evidence.evidence ?? 0) ||
        (a.evidence.rank ?? Infinity) - (b.evidence.rank ?? Infinity) ||
        a.id.localeCompare(b.id),
    );
}

export async function getCandidate(store: StateStore, id: string): Promise<Candidate | undefined> {
  const r = await db(store.db).selectFrom('cc_candidates').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? fromRow(r) : undefined;
}

const TRANSITIONS: Record<'confirm' | 'withdraw', { to: CandidateStatus; from: CandidateStatus[] }> = {
  confirm: { to: 'confirmed', from: ['new'] },
  withdraw: { to: 'withdrawn', from: ['new', 'confirmed', 'expired'] },
};

/** An analyst's decision, with the reason an auditor will read. */
export async function decide(
  store: StateStore,
  audit: AuditWriter,
  id: string,
  action: 'confirm' | 'withdraw',
  reason: string,
  actor: string,
): Promise<Candidate> {
  if (reason.trim().length === 0) throw new CandidateError('give a reason for the decision');
  const t = TRANSITIONS[action];
  await audit.withAudit({ actor, measure: 'cc-detection', action: `cc.candidate.${action}`, object: `candidate:${id}` }, async (tx) => {
    const c = db(tx);
    const row = await c.selectFrom('cc_candidates').select('status').where('id', '=', id).executeTakeFirst();
    if (!row) throw new CandidateError(`no candidate ${id}`);
    if (!t.from.includes(row.status as CandidateStatus)) throw new CandidateError(`a ${row.status} candidate cannot be ${t.to}`);
    await c
      .updateTable('cc_candidates')
      .set({ status: t.to, status_changed_at: new Date().toISOString(), status_changed_by: actor, status_reason: reason.trim() })
      .where('id', '=', id)
      .execute();
  });
  return (await getCandidate(store, id))!;
}

export type { CandidateFeed, PublishedCandidate };

export function candidateFeed(store: StateStore): CandidateFeed {
  return {
    async list() {
      const rows = await db(store.db)
        .selectFrom('cc_candidates')
        .select(['id', 'address', 'port', 'proto', 'status', 'score', 'first_detected', 'last_detected', 'status_changed_at'])
        .orderBy('id')
        .execute();
      return rows.map((r) => ({
        id: r.id,
        address: r.address,
        port: r.port,
        proto: r.proto,
        status: r.status as CandidateStatus,
        score: r.score,
        firstDetected: r.first_detected,
        lastDetected: r.last_detected,
        statusChangedAt: r.status_changed_at,
      }));
    },
  };
}
