/**
 * M1's forest model (for ISPs with many labels, and for the synthetic
 * evaluation): the feature vector, calibration of scores (isotonic, fitted on
 * out-of-bag scores, corrected positive-unlabelled when the labels are only
 * those known), the threshold chosen for a target precision, evaluation
 * metrics, and each score's explanation with raw values. The default model
 * needs no labels at all: profile.ts.
 */
import type { EndpointFeatures } from './features.js';
import { contributions, predict, trainForest, type ForestModel, type ForestOptions } from './forest.js';

/**
 * The features the forest sees, in order; a log scale where magnitudes span decades. `raw` is what an
 * explanation shows; `towardsCc` is the direction in which a value points to C&C (+1: higher, −1:
 * lower, 0: neither), so an explanation never says that a value pointing to a benign service raised the score.
 */
export const MODEL_FEATURES: Array<{
  name: string;
  of: (f: EndpointFeatures) => number;
  raw: (f: EndpointFeatures) => string;
  towardsCc: 1 | -1 | 0;
  ja: string;
  en: string;
}> = [
  {
    name: 'log_clients',
    of: (f) => Math.log10(1 + f.clients),
    raw: (f) => `${f.clients}`,
    towardsCc: 0,
    ja: '接続元の数',
    en: 'subscriber clients',
  },
  {
    name: 'flows_per_client',
    of: (f) => Math.log10(1 + f.flowsPerClient),
    raw: (f) => f.flowsPerClient.toFixed(0),
    towardsCc: 1,
    ja: 'クライアントあたりの接続回数',
    en: 'contacts per client',
  },
  {
    name: 'periodic_share',
    of: (f) => f.periodicShare,
    raw: (f) => `${(f.periodicShare * 100).toFixed(0)} %`,
    towardsCc: 1,
    ja: '周期的に接続するクライアントの割合',
    en: 'share of clients contacting it periodically',
  },
  {
    name: 'log_period',
    of: (f) => Math.log10(1 + f.periodSeconds),
    raw: (f) => `${f.periodSeconds.toFixed(0)} s`,
    towardsCc: 0,
    ja: '接続の周期',
    en: 'period of the contacts',
  },
  {
    name: 'gap_dispersion',
    of: (f) => Math.min(5, f.gapDispersion),
    raw: (f) => f.gapDispersion.toFixed(2),
    towardsCc: -1,
    ja: '接続間隔のばらつき',
    en: 'dispersion of the gaps between contacts',
  },
  {
    name: 'beacon_score',
    of: (f) => f.beaconScore,
    raw: (f) => f.beaconScore.toFixed(2),
    towardsCc: 1,
    ja: 'ビーコン性のスコア',
    en: 'beacon score',
  },
  {
    name: 'bytes_cv',
    of: (f) => Math.min(10, f.bytesCv),
    raw: (f) => `${(f.bytesCv * 100).toFixed(0)} %`,
    towardsCc: -1,
    ja: '通信量のばらつき',
    en: 'variation of bytes per flow',
  },
  {
    name: 'packets_cv',
    of: (f) => Math.min(10, f.packetsCv),
    raw: (f) => `${(f.packetsCv * 100).toFixed(0)} %`,
    towardsCc: -1,
    ja: 'パケット数のばらつき',
    en: 'variation of packets per flow',
  },
  {
    name: 'log_bytes',
    of: (f) => Math.log10(1 + f.meanBytesPerFlow),
    raw: (f) => `${f.meanBytesPerFlow.toFixed(0)} bytes`,
    towardsCc: 0,
    ja: 'フローあたりの通信量',
    en: 'bytes per flow',
  },
  {
    name: 'duration_median',
    of: (f) => Math.log10(1 + f.medianDurationSeconds),
    raw: (f) => `${f.medianDurationSeconds.toFixed(1)} s`,
    towardsCc: 0,
    ja: 'フローの継続時間',
    en: 'flow duration',
  },
  {
    name: 'hours_active',
    of: (f) => f.hoursActive,
    raw: (f) => `${f.hoursActive} h`,
    towardsCc: 0,
    ja: '活動している時間帯の数',
    en: 'hours with activity',
  },
  {
    name: 'client_growth',
    of: (f) => f.clientGrowth,
    raw: (f) => `${(f.clientGrowth * 100).toFixed(0)} %`,
    towardsCc: 1,
    ja: '接続元の増加',
    en: 'growth of the client set',
  },
  {
    name: 'failed_share',
    of: (f) => f.failedShare,
    raw: (f) => `${(f.failedShare * 100).toFixed(0)} %`,
    towardsCc: 1,
    ja: '失敗した TCP 接続の割合',
    en: 'share of failed TCP attempts',
  },
  {
    name: 'port_rarity',
    of: (f) => f.portRarity,
    raw: (f) => `port ${f.port}`,
    towardsCc: 1,
    ja: 'ポート番号の珍しさ',
    en: 'rarity of the port',
  },
  {
    name: 'log_return_ratio',
    of: (f) => Math.log10(1 + f.returnRatio),
    raw: (f) => f.returnRatio.toFixed(2),
    towardsCc: -1,
    ja: '戻りの通信量の比',
    en: 'bytes returned per byte sent',
  },
  {
    name: 'farm_siblings',
    of: (f) => Math.log10(1 + f.farmSiblings),
    raw: (f) => `${f.farmSiblings}`,
    towardsCc: -1,
    ja: '同じネットワークで同じ周期を持つ他のサーバの数',
    en: 'other servers of the same network with the same rhythm',
  },
  {
    name: 'udp',
    of: (f) => (f.proto === 17 ? 1 : 0),
    raw: (f) => (f.proto === 17 ? 'UDP' : 'TCP'),
    towardsCc: 0,
    ja: 'プロトコル',
    en: 'protocol',
  },
];

export function vector(f: EndpointFeatures): number[] {
  return MODEL_FEATURES.map((m) => m.of(f));
}

/** Isotonic regression by pool-adjacent-violators: a monotone map from score to probability. */
export interface Calibration {
  scores: number[];
  probabilities: number[];
}

export function fitIsotonic(scores: number[], labels: number[]): Calibration {
  const pairs = scores
    .map((s, i) => [s, labels[i]!] as const)
    .filter(([s]) => !Number.isNaN(s))
    .sort((a, b) => a[0] - b[0]);
  const blocks: Array<{ lo: number; hi: number; sum: number; n: number }> = [];
  for (const [s, y] of pairs) {
    blocks.push({ lo: s, hi: s, sum: y, n: 1 });
    while (
      blocks.length > 1 &&
      blocks[blocks.length - 2]!.sum / blocks[blocks.length - 2]!.n > blocks[blocks.length - 1]!.sum / blocks[blocks.length - 1]!.n
    ) {
      const b = blocks.pop()!;
      const a = blocks[blocks.length - 1]!;
      a.hi = b.hi;
      a.sum += b.sum;
      a.n += b.n;
    }
  }
  return { scores: blocks.map((b) => b.hi), probabilities: blocks.map((b) => b.sum / b.n) };
}

export function calibrate(c: Calibration, score: number): number {
  if (c.scores.length === 0) return score;
  for (let i = 0; i < c.scores.length; i++) if (score <= c.scores[i]!) return c.probabilities[i]!;
  return c.probabilities[c.probabilities.length - 1]!;
}

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export function confusion(scores: number[], labels: number[], threshold: number): Confusion {
  const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
  scores.forEach((s, i) => {
    const p = s >= threshold;
    if (labels[i]) {
      if (p) c.tp++;
      else c.fn++;
    } else if (p) c.fp++;
    else c.tn++;
  });
  return c;
}

export const precisionOf = (c: Confusion) => (c.tp + c.fp === 0 ? 1 : c.tp / (c.tp + c.fp));
export const recallOf = (c: Confusion) => (c.tp + c.fn === 0 ? 1 : c.tp / (c.tp + c.fn));

/** Area under the precision–recall curve (average precision, ties broken pessimistically). */
export function prAuc(scores: number[], labels: number[]): number {
  const positives = labels.filter(Boolean).length;
  if (positives === 0) return Number.NaN;
  const order = scores.map((s, i) => [s, labels[i]!] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  let tp = 0,
    ap = 0;
  order.forEach(([, y], k) => {
    if (y) {
      tp += 1;
      ap += tp / (k + 1);
    }
  });
  return ap / positives;
}

/** The lowest threshold whose precision reaches the target (most recall); 1 if none does. */
export function thresholdFor(scores: number[], labels: number[], targetPrecision: number): number {
  const candidates = [...new Set(scores.filter((s) => !Number.isNaN(s)))].sort((a, b) => a - b);
  for (const t of candidates) if (precisionOf(confusion(scores, labels, t)) >= targetPrecision) return t;
  return 1;
}

export interface M1Model {
  kind?: 'forest';
  version: 1;
  trainedAt: string;
  samples: number;
  positives: number;
  forest: ForestModel;
  calibration: Calibration;
  threshold: number;
  targetPrecision: number;
  /** Median of each feature over the training data: where "pointing to C&C" starts, for explanations. */
  medians?: number[];
  /** Positive-unlabelled: share of C&C endpoints that carry a label (Elkan–Noto c); scores are divided by it. */
  labelFrequency?: number;
}

export function trainModel(
  features: EndpointFeatures[],
  labels: number[],
  options: ForestOptions & { targetPrecision: number; positiveUnlabelled?: boolean },
): M1Model {
  const X = features.map(vector);
  const { model: forest, oob } = trainForest(
    X,
    labels,
    MODEL_FEATURES.map((f) => f.name),
    options,
  );
  // Positive-unlabelled (Elkan & Noto): the forest estimates P(labelled | x); P(C&C | x) = that ÷ c,
  // c = the mean out-of-bag score of the labelled endpoints. With complete labels, c is left at 1.
  const pos = oob.filter((s, i) => labels[i] && !Number.isNaN(s));
  const c = options.positiveUnlabelled && pos.length > 0 ? Math.max(1e-6, pos.reduce((a, b) => a + b, 0) / pos.length) : 1;
  const adjusted = oob.map((s) => (Number.isNaN(s) ? s : Math.min(1, s / c)));
  const calibration = fitIsotonic(adjusted, labels);
  const calibrated = adjusted.map((s) => (Number.isNaN(s) ? Number.NaN : calibrate(calibration, s)));
  const threshold = thresholdFor(calibrated, labels, options.targetPrecision);
  const medians = MODEL_FEATURES.map((_, k) => {
    const v = X.map((x) => x[k]!).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)] ?? 0;
  });
  return {
    kind: 'forest',
    version: 1,
    trainedAt: new Date().toISOString(),
    samples: X.length,
    positives: labels.filter(Boolean).length,
    forest,
    calibration,
    threshold,
    targetPrecision: options.targetPrecision,
    medians,
    labelFrequency: c,
  };
}

export function score(model: M1Model, f: EndpointFeatures): number {
  return calibrate(model.calibration, Math.min(1, predict(model.forest, vector(f)) / (model.labelFrequency ?? 1)));
}

/**
 * The features that pushed this endpoint's score up most, with their raw values. A feature is named
 * only if its contribution is positive and its value lies on the C&C side of the training median
 * (for features with a direction): a value that points to a benign service is never said to raise it.
 */
export function explain(
  model: M1Model,
  f: EndpointFeatures,
  top = 3,
): Array<{ feature: string; contribution: number; ja: string; en: string }> {
  const x = vector(f);
  const c = contributions(model.forest, x);
  return c.byFeature
    .map((v, i) => ({ i, v }))
    .filter(({ i, v }) => {
      const m = MODEL_FEATURES[i]!;
      const median = model.medians?.[i];
      return v > 0 && (m.towardsCc === 0 || median === undefined || (x[i]! - median) * m.towardsCc > 0);
    })
    .sort((a, b) => b.v - a.v)
    .slice(0, top)
    .map(({ i, v }) => {
      const m = MODEL_FEATURES[i]!;
      const raw = m.raw(f);
      return {
        feature: m.name,
        contribution: v,
        ja: `${m.ja}（${raw}）が C&C らしさを ${(v * 100).toFixed(0)} ポイント押し上げた`,
        en: `${m.en} (${raw}) raised the score by ${(v * 100).toFixed(0)} points`,
      };
    });
}
