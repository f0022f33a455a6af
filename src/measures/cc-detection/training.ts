/**
 * Training M1 on the ISP's own traffic: features over a window, labelled by
 * the reputation labels valid in that window and by analysts' decisions
 * (confirmed = C&C, withdrawn = not), everything else as "not known to be
 * C&C". Each trained model is stored with a version number, its seed, its
 * data and its threshold, so that any candidate can be traced to the model
 * that raised it and the model can be rebuilt.
 */
import type { Kysely, Migration } from 'kysely';
import type { AuditWriter } from '../../core/measure-state.js';
import type { PurposeBoundAnalytics } from '../../core/capabilities.js';
import { addressBytes, compareAddressBytes, prefixBounds } from '../../ingest/address.js';
import { type StateDb, type StateStore, tablesOf } from '../../store/state/store.js';
import { listCandidates } from './candidates.js';
import { extractFeatures, type EndpointFeatures, type Scope } from './features.js';
import { labelsValidAt, labelSources } from './label-store.js';
import { trainModel, type M1Model } from './model.js';
import { MamoriError } from '../../core/errors.js';

export type ModelTables = {
  cc_models: {
    version: number;
    trained_at: string;
    trained_by: string;
    seed: number;
    samples: number;
    positives: number;
    threshold: number;
    window_from: string;
    window_to: string;
    label_sources: string;
    model: string;
  };
};

export const MODEL_TABLES = ['cc_models'] as const;

export const modelMigrations: Record<string, Migration> = {
  '0102_cc-detection_models': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('cc_models')
        .addColumn('version', 'integer', (c) => c.primaryKey())
        .addColumn('trained_at', 'text', (c) => c.notNull())
        .addColumn('trained_by', 'text', (c) => c.notNull())
        .addColumn('seed', 'integer', (c) => c.notNull())
        .addColumn('samples', 'integer', (c) => c.notNull())
        .addColumn('positives', 'integer', (c) => c.notNull())
        .addColumn('threshold', 'real', (c) => c.notNull())
        .addColumn('window_from', 'text', (c) => c.notNull())
        .addColumn('window_to', 'text', (c) => c.notNull())
        .addColumn('label_sources', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .execute();
    },
  },
};

function db(d: StateDb): Kysely<ModelTables> {
  return tablesOf<ModelTables>(d);
}

export class TrainingError extends MamoriError {
  static override readonly code = 'training';
  static override readonly status = 409;
  constructor(message: string) {
    super(message);
  }
}

/** 1 for endpoints a valid label or a confirmation names, 0 otherwise; withdrawn ones are 0 whatever a list says. */
export async function labelEndpoints(state: StateStore, features: EndpointFeatures[], at: Date): Promise<number[]> {
  const labels = (await labelsValidAt(state, at)).map((l) => {
    const [lo, hi] = prefixBounds(l.address, l.prefixLength);
    return { lo, hi, port: l.port };
  });
  const decided = new Map(
    (await listCandidates(state))
      .filter((c) => c.status === 'confirmed' || c.status === 'withdrawn')
      .map((c) => [`${c.address}|${c.port}|${c.proto}`, c.status]),
  );
  return features.map((f) => {
    const d = decided.get(`${f.address}|${f.port}|${f.proto}`);
    if (d) return d === 'confirmed' ? 1 : 0;
    const a = addressBytes(f.address);
    return labels.some(
      (l) => (l.port === null || l.port === f.port) && compareAddressBytes(a, l.lo) >= 0 && compareAddressBytes(a, l.hi) <= 0,
    )
      ? 1
      : 0;
  });
}

export interface TrainRequest {
  flows: PurposeBoundAnalytics;
  state: StateStore;
  audit: AuditWriter;
  scope: Scope;
  from: Date;
  to: Date;
  seed: number;
  trees: number;
  targetPrecision: number;
  actor: string;
}

export async function trainOnWindow(req: TrainRequest): Promise<{ version: number; model: M1Model }> {
  const features = await extractFeatures(req.flows, req.scope, req.from, req.to);
  if (features.length === 0) throw new TrainingError('no endpoints in the window: nothing to learn from');
  const labels = await labelEndpoints(req.state, features, req.to);
  const positives = labels.filter(Boolean).length;
  if (positives < 3)
    throw new TrainingError(
      `only ${positives} endpoints in the window are labelled C&C (need at least 3): import reputation lists or confirm candidates first`,
    );
  const model = trainModel(features, labels, {
    trees: req.trees,
    maxDepth: 12,
    minLeaf: 3,
    seed: req.seed,
    targetPrecision: req.targetPrecision,
  });
  const sources = (await labelSources(req.state)).map((s) => ({ name: s.name, sha256: s.file_sha256, importedAt: s.imported_at }));
  const version = await req.audit.withAudit(
    (v: number) => ({
      actor: req.actor,
      measure: 'cc-detection',
      action: 'cc.model.train',
      object: `model:${v}`,
      counts: { samples: model.samples, positives: model.positives },
    }),
    async (tx) => {
      const m = db(tx);
      const last = await m.selectFrom('cc_models').select('version').orderBy('version', 'desc').limit(1).executeTakeFirst();
      const v = (last?.version ?? 0) + 1;
      await m
        .insertInto('cc_models')
        .values({
          version: v,
          trained_at: model.trainedAt,
          trained_by: req.actor,
          seed: req.seed,
          samples: model.samples,
          positives: model.positives,
          threshold: model.threshold,
          window_from: req.from.toISOString(),
          window_to: req.to.toISOString(),
          label_sources: JSON.stringify(sources),
          model: JSON.stringify(model),
        })
        .execute();
      return v;
    },
  );
  return { version, model };
}

export async function latestModel(state: StateStore): Promise<{ version: number; model: M1Model } | undefined> {
  const r = await db(state.db).selectFrom('cc_models').select(['version', 'model']).orderBy('version', 'desc').limit(1).executeTakeFirst();
  return r ? { version: r.version, model: JSON.parse(r.model) as M1Model } : undefined;
}

export interface ModelVersion {
  version: number;
  trainedAt: string;
  trainedBy: string;
  seed: number;
  samples: number;
  positives: number;
  threshold: number;
  windowFrom: string;
  windowTo: string;
  labelSources: Array<{ name: string; sha256: string; importedAt: string }>;
}

/** The versions, newest first, without the trees themselves. */
export async function listModels(state: StateStore): Promise<ModelVersion[]> {
  const rows = await db(state.db)
    .selectFrom('cc_models')
    .select([
      'version',
      'trained_at',
      'trained_by',
      'seed',
      'samples',
      'positives',
      'threshold',
      'window_from',
      'window_to',
      'label_sources',
    ])
    .orderBy('version', 'desc')
    .execute();
  return rows.map((r) => ({
    version: r.version,
    trainedAt: r.trained_at,
    trainedBy: r.trained_by,
    seed: r.seed,
    samples: r.samples,
    positives: r.positives,
    threshold: r.threshold,
    windowFrom: r.window_from,
    windowTo: r.window_to,
    labelSources: JSON.parse(r.label_sources) as ModelVersion['labelSources'],
  }));
}
