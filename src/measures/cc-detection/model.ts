/**
 * M1's model around the forest: the feature vector, calibration of scores
 * (isotonic, fitted on out-of-bag scores), the threshold chosen for a target
 * precision, evaluation metrics, and each score's explanation in plain words.
 */
import type { EndpointFeatures } from './features.js';
import { contributions, predict, trainForest, type ForestModel, type ForestOptions } from './forest.js';

/** The features the model sees, in order; a log scale where magnitudes span decades. */
export const MODEL_FEATURES: Array<{ name: string; of: (f: EndpointFeatures) => number; ja: string; en: string }> = [
  { name: 'log_clients', of: (f) => Math.log10(1 + f.clients), ja: '接続元の数', en: 'number of subscriber clients' },
  { name: 'flows_per_client', of: (f) => Math.log10(1 + f.flowsPerClient), ja: 'クライアントあたりの接続回数', en: 'contacts per client' },
  {
    name: 'periodic_share',
    of: (f) => f.periodicShare,
    ja: '周期的に接続するクライアントの割合',
    en: 'share of clients contacting it periodically',
  },
  { name: 'log_period', of: (f) => Math.log10(1 + f.periodSeconds), ja: '接続の周期', en: 'period of the contacts' },
  {
    name: 'gap_dispersion',
    of: (f) => Math.min(5, f.gapDispersion),
    ja: '接続間隔のばらつき',
    en: 'dispersion of the gaps between contacts',
  },
  { name: 'beacon_score', of: (f) => f.beaconScore, ja: 'ビーコン性のスコア', en: 'beacon score' },
  { name: 'bytes_cv', of: (f) => Math.min(10, f.bytesCv), ja: '通信量のばらつき', en: 'variation of bytes per flow' },
  { name: 'packets_cv', of: (f) => Math.min(10, f.packetsCv), ja: 'パケット数のばらつき', en: 'variation of packets per flow' },
  { name: 'log_bytes', of: (f) => Math.log10(1 + f.meanBytesPerFlow), ja: 'フローあたりの通信量', en: 'bytes per flow' },
  { name: 'duration_median', of: (f) => Math.log10(1 + f.medianDurationSeconds), ja: 'フローの継続時間', en: 'flow duration' },
  { name: 'hours_active', of: (f) => f.hoursActive, ja: '活動している時間帯の数', en: 'hours with activity' },
  { name: 'client_growth', of: (f) => f.clientGrowth, ja: '接続元の増加', en: 'growth of the client set' },
  { name: 'failed_share', of: (f) => f.failedShare, ja: '失敗した TCP 接続の割合', en: 'share of failed TCP attempts' },
  { name: 'port_rarity', of: (f) => f.portRarity, ja: 'ポート番号の珍しさ', en: 'rarity of the port' },
  { name: 'log_return_ratio', of: (f) => Math.log10(1 + f.returnRatio), ja: '戻りの通信量の比', en: 'ratio of bytes returned' },
  {
    name: 'farm_siblings',
    of: (f) => Math.log10(1 + f.farmSiblings),
    ja: '同じネットワークで同じ周期を持つ他のサーバの数',
    en: 'other servers of the same network with the same rhythm',
  },
  { name: 'udp', of: (f) => (f.proto === 17 ? 1 : 0), ja: 'UDP であること', en: 'being UDP' },
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
  version: 1;
  trainedAt: string;
  samples: number;
  positives: number;
  forest: ForestModel;
  calibration: Calibration;
  threshold: number;
  targetPrecision: number;
}

export function trainModel(features: EndpointFeatures[], labels: number[], options: ForestOptions & { targetPrecision: number }): M1Model {
  const X = features.map(vector);
  const { model: forest, oob } = trainForest(
    X,
    labels,
    MODEL_FEATURES.map((f) => f.name),
    options,
  );
  const calibration = fitIsotonic(oob, labels);
  const calibrated = oob.map((s) => (Number.isNaN(s) ? Number.NaN : calibrate(calibration, s)));
  const threshold = thresholdFor(calibrated, labels, options.targetPrecision);
  return {
    version: 1,
    trainedAt: new Date().toISOString(),
    samples: X.length,
    positives: labels.filter(Boolean).length,
    forest,
    calibration,
    threshold,
    targetPrecision: options.targetPrecision,
  };
}

export function score(model: M1Model, f: EndpointFeatures): number {
  return calibrate(model.calibration, predict(model.forest, vector(f)));
}

/** The features that pushed this endpoint's score up most, in plain words. */
export function explain(
  model: M1Model,
  f: EndpointFeatures,
  top = 3,
): Array<{ feature: string; contribution: number; ja: string; en: string }> {
  const c = contributions(model.forest, vector(f));
  return c.byFeature
    .map((v, i) => ({ i, v }))
    .filter((x) => x.v > 0)
    .sort((a, b) => b.v - a.v)
    .slice(0, top)
    .map(({ i, v }) => {
      const m = MODEL_FEATURES[i]!;
      return {
        feature: m.name,
        contribution: v,
        ja: `${m.ja}（${MODEL_FEATURES[i]!.of(f).toFixed(2)}）が C&C らしさを ${(v * 100).toFixed(0)} ポイント押し上げた`,
        en: `${m.en} (${MODEL_FEATURES[i]!.of(f).toFixed(2)}) raised the score by ${(v * 100).toFixed(0)} points`,
      };
    });
}
