/**
 * M1's model versions and how they are made. Version 0 is the built-in
 * profile (profile.ts): it needs no labels and is what detection uses until
 * an operator promotes another version. New versions come from the ISP's own
 * window — labelled by the reputation labels valid in it and by analysts'
 * decisions (confirmed = C&C, withdrawn = benign), everything else unknown —
 * or from an evaluation run (`mamori cc eval --save-model`, then
 * `mamori cc models import`). A version is used only once promoted, and a
 * version that says it is unfit (too few labels, no threshold reaching the
 * target precision) cannot be promoted. Every version keeps its seed, window,
 * label sources, notes and threshold, so any candidate can be traced to the
 * model that raised it and the model can be rebuilt.
 */
import type { Kysely, Migration } from 'kysely';
import type { AuditWriter } from '../../core/measure-state.js';
import type { PurposeBoundAnalytics } from '../../core/capabilities.js';
import { addressBytes, compareAddressBytes, prefixBounds } from '../../ingest/address.js';
import { tablesOf, type StateDb } from '../../store/state/tables.js';
import type { StateStore } from '../../store/state/store.js';
import { listCandidates } from './candidates.js';
import { extractFeatures, type EndpointFeatures, type Scope } from './features.js';
import { labelsValidAt, labelSources } from './label-store.js';
import { trainModel, type M1Model } from './model.js';
import { MamoriError } from '../../core/errors.js';
import { defaultProfile, learnProfile, type ProfileModel } from './profile.js';
import type { UntypedDb } from '../../store/state/untyped.js';

/** A forest learns interactions, and needs many labels for that; below this it is refused. */
export const MIN_FOREST_POSITIVES = 20;

export type AnyModel = ProfileModel | M1Model;

export const kindOf = (m: AnyModel): 'profile' | 'forest' => ('kind' in m && m.kind === 'profile' ? 'profile' : 'forest');

/** Why a model must not be used (empty: fit for use). */
export function unfit(m: AnyModel): string[] {
  if (kindOf(m) === 'profile') return [];
  const f = m as M1Model;
  const out: string[] = [];
  if (f.positives < MIN_FOREST_POSITIVES) {
    out.push(`trained on ${f.positives} labelled C&C endpoints (a forest needs ${MIN_FOREST_POSITIVES})`);
  }
  if (f.threshold >= 1) out.push(`no threshold reaches precision ${f.targetPrecision} on its out-of-bag scores`);
  return out;
}

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
    kind: string;
    source: string;
    notes: string;
    promoted_at: string | null;
    promoted_by: string | null;
  };
};

export type RunTables = {
  cc_runs: {
    at: string;
    actor: string;
    window_from: string;
    window_to: string;
    model_version: number;
    endpoints: number;
    detected: number;
    flows_deleted: number;
  };
};

export const MODEL_TABLES = ['cc_models', 'cc_runs'] as const;

export const modelMigrations: Record<string, Migration> = {
  '0102_cc-detection_models': {
    async up(db: UntypedDb) {
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
  '0103_cc-detection_model-kinds': {
    async up(db: UntypedDb) {
      await db.schema
        .alterTable('cc_models')
        .addColumn('kind', 'text', (c) => c.notNull().defaultTo('forest'))
        .execute();
      await db.schema
        .alterTable('cc_models')
        .addColumn('source', 'text', (c) => c.notNull().defaultTo('train'))
        .execute();
      await db.schema
        .alterTable('cc_models')
        .addColumn('notes', 'text', (c) => c.notNull().defaultTo('[]'))
        .execute();
      await db.schema.alterTable('cc_models').addColumn('promoted_at', 'text').execute();
      await db.schema.alterTable('cc_models').addColumn('promoted_by', 'text').execute();
      // Each detection run's window: flows are deleted after analysis only where a run analysed them.
      await db.schema
        .createTable('cc_runs')
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('window_from', 'text', (c) => c.notNull())
        .addColumn('window_to', 'text', (c) => c.notNull())
        .addColumn('model_version', 'integer', (c) => c.notNull())
        .addColumn('endpoints', 'integer', (c) => c.notNull())
        .addColumn('detected', 'integer', (c) => c.notNull())
        .addColumn('flows_deleted', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('cc_runs_at').on('cc_runs').column('at').execute();
    },
  },
};

function db(d: StateDb): Kysely<ModelTables & RunTables> {
  return tablesOf<ModelTables & RunTables>(d);
}

export class TrainingError extends MamoriError {
  static override readonly code = 'training';
  static override readonly status = 409;
  constructor(message: string) {
    super(message);
  }
}

/**
 * 1 for endpoints a valid label or a confirmation names, 0 for those an analyst withdrew (whatever a
 * list says), null for the rest: not known to be anything (positive-unlabelled).
 */
export async function labelEndpoints(state: StateStore, features: EndpointFeatures[], at: Date): Promise<Array<0 | 1 | null>> {
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
      : null;
  });
}

export interface TrainRequest {
  flows: PurposeBoundAnalytics;
  state: StateStore;
  audit: AuditWriter;
  scope: Scope;
  from: Date;
  to: Date;
  /** 'profile' (default): the built-in profile updated by the labels; 'forest': a random forest (needs many labels). */
  kind?: 'profile' | 'forest';
  seed: number;
  trees: number;
  targetPrecision: number;
  actor: string;
}

export interface StoredModel {
  version: number;
  model: AnyModel;
  notes: string[];
}

/** Stores a new version (not promoted), audited. */
export async function storeModel(
  state: StateStore,
  audit: AuditWriter,
  model: AnyModel,
  meta: {
    actor: string;
    seed: number;
    from: Date;
    to: Date;
    source: 'train' | 'eval' | 'import';
    notes: string[];
    labelSources?: Array<{ name: string; sha256: string; importedAt: string }>;
  },
): Promise<StoredModel> {
  const kind = kindOf(model);
  const samples = kind === 'forest' ? (model as M1Model).samples : 0;
  const positives = kind === 'forest' ? (model as M1Model).positives : (model as ProfileModel).labelled.positives;
  const notes = [...meta.notes, ...unfit(model).map((u) => `unfit for use: ${u}`)];
  const action = meta.source === 'train' ? 'cc.model.train' : 'cc.model.import';
  const version = await audit.withAudit(
    (v: number) => ({ actor: meta.actor, measure: 'cc-detection', action, object: `model:${v}`, counts: { samples, positives } }),
    async (tx) => {
      const m = db(tx);
      const last = await m.selectFrom('cc_models').select('version').orderBy('version', 'desc').limit(1).executeTakeFirst();
      const v = (last?.version ?? 0) + 1;
      await m
        .insertInto('cc_models')
        .values({
          version: v,
          trained_at: new Date().toISOString(),
          trained_by: meta.actor,
          seed: meta.seed,
          samples,
          positives,
          threshold: model.threshold,
          window_from: meta.from.toISOString(),
          window_to: meta.to.toISOString(),
          label_sources: JSON.stringify(meta.labelSources ?? []),
          model: JSON.stringify(model),
          kind,
          source: meta.source,
          notes: JSON.stringify(notes),
          promoted_at: null,
          promoted_by: null,
        })
        .execute();
      return v;
    },
  );
  return { version, model, notes };
}

export async function trainOnWindow(req: TrainRequest): Promise<StoredModel> {
  const features = await extractFeatures(req.flows, req.scope, req.from, req.to);
  if (features.length === 0) throw new TrainingError('no endpoints in the window: nothing to learn from');
  const labels = await labelEndpoints(req.state, features, req.to);
  const positives = labels.filter((l) => l === 1).length;
  const kind = req.kind ?? 'profile';
  let model: AnyModel;
  if (kind === 'forest') {
    if (positives < MIN_FOREST_POSITIVES) {
      const need = `a forest needs at least ${MIN_FOREST_POSITIVES}`;
      throw new TrainingError(
        `only ${positives} endpoints in the window are labelled C&C: ${need}; ` +
          'train a profile model (the default) instead, or import more labels',
      );
    }
    // The forest is fitted to labelled versus the rest; its calibration is corrected positive-unlabelled (model.ts).
    model = trainModel(
      features,
      labels.map((l) => (l === 1 ? 1 : 0)),
      { trees: req.trees, maxDepth: 12, minLeaf: 3, seed: req.seed, targetPrecision: req.targetPrecision, positiveUnlabelled: true },
    );
  } else {
    if (positives === 0) {
      throw new TrainingError(
        'no endpoint in the window is labelled C&C: nothing to learn (the built-in profile needs no training); ' +
          'import reputation lists or confirm candidates first',
      );
    }
    model = learnProfile(defaultProfile(), [{ features, labels }]);
  }
  const sources = (await labelSources(req.state)).map((s) => ({ name: s.name, sha256: s.file_sha256, importedAt: s.imported_at }));
  const notes =
    kind === 'profile'
      ? (model as ProfileModel).notes
      : [`forest of ${req.trees} trees on ${features.length} endpoints, ${positives} labelled C&C`];
  return storeModel(req.state, req.audit, model, {
    actor: req.actor,
    seed: req.seed,
    from: req.from,
    to: req.to,
    source: 'train',
    notes,
    labelSources: sources,
  });
}

/** The model detection uses: the most recently promoted version, else the built-in profile (version 0). */
export async function activeModel(state: StateStore): Promise<{ version: number; model: AnyModel }> {
  const r = await db(state.db)
    .selectFrom('cc_models')
    .select(['version', 'model'])
    .where('promoted_at', 'is not', null)
    .orderBy('promoted_at', 'desc')
    .orderBy('version', 'desc')
    .limit(1)
    .executeTakeFirst();
  return r ? { version: r.version, model: JSON.parse(r.model) as AnyModel } : { version: 0, model: defaultProfile() };
}

export async function latestModel(state: StateStore): Promise<{ version: number; model: AnyModel } | undefined> {
  const r = await db(state.db).selectFrom('cc_models').select(['version', 'model']).orderBy('version', 'desc').limit(1).executeTakeFirst();
  return r ? { version: r.version, model: JSON.parse(r.model) as AnyModel } : undefined;
}

export async function getModel(state: StateStore, version: number): Promise<AnyModel | undefined> {
  if (version === 0) return defaultProfile();
  const r = await db(state.db).selectFrom('cc_models').select('model').where('version', '=', version).executeTakeFirst();
  return r ? (JSON.parse(r.model) as AnyModel) : undefined;
}

/** Makes a version the one detection uses (0: back to the built-in profile). Refuses a version that says it is unfit. */
export async function promoteModel(state: StateStore, audit: AuditWriter, version: number, actor: string): Promise<void> {
  await audit.withAudit({ actor, measure: 'cc-detection', action: 'cc.model.promote', object: `model:${version}` }, async (tx) => {
    const m = db(tx);
    if (version === 0) {
      await m.updateTable('cc_models').set({ promoted_at: null, promoted_by: null }).where('promoted_at', 'is not', null).execute();
      return;
    }
    const r = await m.selectFrom('cc_models').select('model').where('version', '=', version).executeTakeFirst();
    if (!r) throw new TrainingError(`no model version ${version}`);
    const why = unfit(JSON.parse(r.model) as AnyModel);
    if (why.length > 0) throw new TrainingError(`model version ${version} is unfit for use: ${why.join('; ')}`);
    await m
      .updateTable('cc_models')
      .set({ promoted_at: new Date().toISOString(), promoted_by: actor })
      .where('version', '=', version)
      .execute();
  });
}

export interface ModelVersion {
  version: number;
  kind: 'profile' | 'forest';
  source: string;
  trainedAt: string;
  trainedBy: string;
  seed: number;
  samples: number;
  positives: number;
  threshold: number;
  windowFrom: string;
  windowTo: string;
  labelSources: Array<{ name: string; sha256: string; importedAt: string }>;
  notes: string[];
  promotedAt: string | null;
  promotedBy: string | null;
  active: boolean;
}

/** The versions, newest first, without the models themselves; version 0 (built-in) last. */
export async function listModels(state: StateStore): Promise<ModelVersion[]> {
  const rows = await db(state.db)
    .selectFrom('cc_models')
    .select([
      'version',
      'kind',
      'source',
      'trained_at',
      'trained_by',
      'seed',
      'samples',
      'positives',
      'threshold',
      'window_from',
      'window_to',
      'label_sources',
      'notes',
      'promoted_at',
      'promoted_by',
    ])
    .orderBy('version', 'desc')
    .execute();
  const active = (await activeModel(state)).version;
  const builtIn = defaultProfile();
  return [
    ...rows.map((r) => ({
      version: r.version,
      kind: r.kind as 'profile' | 'forest',
      source: r.source,
      trainedAt: r.trained_at,
      trainedBy: r.trained_by,
      seed: r.seed,
      samples: r.samples,
      positives: r.positives,
      threshold: r.threshold,
      windowFrom: r.window_from,
      windowTo: r.window_to,
      labelSources: JSON.parse(r.label_sources) as ModelVersion['labelSources'],
      notes: JSON.parse(r.notes) as string[],
      promotedAt: r.promoted_at,
      promotedBy: r.promoted_by,
      active: r.version === active,
    })),
    {
      version: 0,
      kind: 'profile',
      source: 'built-in',
      trainedAt: '',
      trainedBy: '',
      seed: 0,
      samples: 0,
      positives: 0,
      threshold: builtIn.threshold,
      windowFrom: '',
      windowTo: '',
      labelSources: [],
      notes: builtIn.notes,
      promotedAt: null,
      promotedBy: null,
      active: active === 0,
    },
  ];
}

/** Records a detection run's window (deletion after analysis is bounded by what runs analysed). */
export async function recordRun(state: StateDb, run: RunTables['cc_runs']): Promise<void> {
  await db(state).insertInto('cc_runs').values(run).execute();
}

/** The windows detection runs have analysed, merged, oldest first. */
export async function analysedWindows(state: StateStore): Promise<Array<{ from: Date; to: Date }>> {
  const rows = await db(state.db).selectFrom('cc_runs').select(['window_from', 'window_to']).orderBy('window_from').execute();
  const out: Array<{ from: Date; to: Date }> = [];
  for (const r of rows) {
    const from = new Date(r.window_from);
    const to = new Date(r.window_to);
    const last = out[out.length - 1];
    if (last && from <= last.to) {
      if (to > last.to) last.to = to;
    } else out.push({ from, to });
  }
  return out;
}

// ---- models made elsewhere (an evaluation run) ----

export interface ModelFile {
  format: 'mamori-cc-model';
  version: 1;
  createdAt: string;
  /** What made it, e.g. "mamori cc eval --real …", with the run's figures. */
  origin: { command: string; figures: string[] };
  model: AnyModel;
}

export function modelFile(model: AnyModel, origin: ModelFile['origin']): ModelFile {
  return { format: 'mamori-cc-model', version: 1, createdAt: new Date().toISOString(), origin, model };
}

/** Stores a model file written by `mamori cc eval --save-model` as a new version (not used until promoted). */
export async function importModelFile(
  state: StateStore,
  audit: AuditWriter,
  file: { name: string; bytes: Buffer },
  actor: string,
): Promise<StoredModel> {
  const text = file.bytes.toString('utf8');
  if (text.includes('\uFFFD')) throw new TrainingError(`${file.name} is not UTF-8 text`);
  const mf = parseModelFile(text, file.name);
  return storeModel(state, audit, mf.model, {
    actor,
    seed: 0,
    from: new Date(0),
    to: new Date(0),
    source: 'eval',
    notes: [`made by: ${mf.origin.command} (${mf.createdAt})`, ...mf.origin.figures, ...('notes' in mf.model ? mf.model.notes : [])],
  });
}

/** Checks a model file enough that a broken or foreign file is refused whole, with the reason. */
export function parseModelFile(text: string, file: string): ModelFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new TrainingError(`${file} is not JSON: ${(err as Error).message}`);
  }
  const d = doc as Partial<ModelFile>;
  if (d?.format !== 'mamori-cc-model' || d.version !== 1)
    throw new TrainingError(`${file} is not a Mamori M1 model file (format "mamori-cc-model", version 1)`);
  const m = d.model as
    | {
        kind?: string;
        threshold?: unknown;
        c2?: Record<string, unknown>;
        prior?: unknown;
        temper?: unknown;
        forest?: { trees?: unknown };
        calibration?: unknown;
      }
    | undefined;
  if (!m || typeof m.threshold !== 'number' || !(m.threshold > 0 && m.threshold <= 1))
    throw new TrainingError(`${file}: the model has no threshold in (0, 1]`);
  if (m.kind === 'profile') {
    const base = defaultProfile();
    for (const [name, p] of Object.entries(base.c2)) {
      const got = m.c2?.[name];
      // A file written before a feature existed: the written profile stands in for it.
      if (got === undefined && m.c2 !== undefined) continue;
      if (!Array.isArray(got) || got.length !== p.length || got.some((x: unknown) => typeof x !== 'number' || !(x > 0 && x < 1))) {
        throw new TrainingError(`${file}: the profile's "${name}" must be ${p.length} probabilities in (0, 1)`);
      }
    }
    const { prior, temper } = m;
    if (!(typeof prior === 'number' && prior > 0 && prior < 1) || !(typeof temper === 'number' && temper > 0 && temper <= 1)) {
      throw new TrainingError(`${file}: prior must be in (0, 1) and temper in (0, 1]`);
    }
  } else if (!m.forest || !Array.isArray(m.forest.trees) || !m.calibration) {
    throw new TrainingError(`${file}: neither a profile nor a forest model`);
  }
  if (!d.origin || typeof d.origin.command !== 'string' || !Array.isArray(d.origin.figures))
    throw new TrainingError(`${file}: no origin (the command and figures that made it)`);
  return d as ModelFile;
}
