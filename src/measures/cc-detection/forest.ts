/**
 * A random forest for M1's endpoint classification: CART trees (Gini) on
 * bootstrap samples with a random subset of features per split, seeded so a
 * model is reproducible from its data and seed. Each node keeps its sample
 * count and positive rate, which gives per-prediction feature contributions
 * (the change in positive rate along the decision path, averaged over trees)
 * for the plain-words explanation of every candidate. Out-of-bag predictions
 * give honest scores for calibration and for choosing the threshold.
 */
import { rng } from '../../core/random.js';

export interface ForestOptions {
  trees: number;
  maxDepth: number;
  minLeaf: number;
  /** Features tried per split (default √features). */
  featuresPerSplit?: number;
  seed: number;
}

interface Node {
  /** Positive rate of the training samples that reached this node. */
  p: number;
  n: number;
  feature: number; // -1 for a leaf
  threshold: number;
  left?: Node;
  right?: Node;
}

export interface ForestModel {
  version: 1;
  options: ForestOptions;
  featureNames: string[];
  trees: Node[];
}

function gini(pos: number, n: number): number {
  if (n === 0) return 0;
  const p = pos / n;
  return 2 * p * (1 - p);
}

function buildTree(X: number[][], y: number[], idx: number[], depth: number, opts: Required<ForestOptions>, r: () => number): Node {
  let pos = 0;
  for (const i of idx) pos += y[i]!;
  const node: Node = { p: pos / idx.length, n: idx.length, feature: -1, threshold: 0 };
  if (depth >= opts.maxDepth || idx.length < 2 * opts.minLeaf || pos === 0 || pos === idx.length) return node;
  const nFeatures = X[0]!.length;
  // Random feature subset for this split.
  const order = Array.from({ length: nFeatures }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  let best = { gain: 0, feature: -1, threshold: 0 };
  const parent = gini(pos, idx.length);
  for (const f of order.slice(0, opts.featuresPerSplit)) {
    const sorted = [...idx].sort((a, b) => X[a]![f]! - X[b]![f]!);
    let leftPos = 0;
    for (let k = 0; k < sorted.length - 1; k++) {
      leftPos += y[sorted[k]!]!;
      const v = X[sorted[k]!]![f]!;
      const next = X[sorted[k + 1]!]![f]!;
      if (v === next) continue;
      const nl = k + 1;
      const nr = sorted.length - nl;
      if (nl < opts.minLeaf || nr < opts.minLeaf) continue;
      const impurity = (nl * gini(leftPos, nl) + nr * gini(pos - leftPos, nr)) / sorted.length;
      const gain = parent - impurity;
      if (gain > best.gain) best = { gain, feature: f, threshold: (v + next) / 2 };
    }
  }
  if (best.feature < 0) return node;
  const left = idx.filter((i) => X[i]![best.feature]! < best.threshold);
  const right = idx.filter((i) => X[i]![best.feature]! >= best.threshold);
  node.feature = best.feature;
  node.threshold = best.threshold;
  node.left = buildTree(X, y, left, depth + 1, opts, r);
  node.right = buildTree(X, y, right, depth + 1, opts, r);
  return node;
}

export interface Trained {
  model: ForestModel;
  oob: number[];
}

/** Trains the forest; also returns out-of-bag scores (NaN where a sample was in every bag). */
export function trainForest(X: number[][], y: number[], featureNames: string[], options: ForestOptions): Trained {
  if (X.length === 0) throw new Error('no training samples');
  if (X.length !== y.length) throw new Error('samples and labels differ in number');
  if (!y.includes(1) || !y.includes(0)) throw new Error('training needs both positive and negative samples');
  const opts: Required<ForestOptions> = { featuresPerSplit: Math.max(1, Math.round(Math.sqrt(featureNames.length))), ...options };
  const r = rng(opts.seed);
  const trees: Node[] = [];
  const oobSum = new Float64Array(X.length);
  const oobCount = new Uint32Array(X.length);
  for (let t = 0; t < opts.trees; t++) {
    const inBag = new Uint8Array(X.length);
    const idx = Array.from({ length: X.length }, () => {
      const i = Math.floor(r() * X.length);
      inBag[i] = 1;
      return i;
    });
    const tree = buildTree(X, y, idx, 0, opts, r);
    trees.push(tree);
    for (let i = 0; i < X.length; i++)
      if (!inBag[i]) {
        oobSum[i] = oobSum[i]! + leaf(tree, X[i]!).p;
        oobCount[i] = oobCount[i]! + 1;
      }
  }
  const oob = Array.from(oobSum, (s, i) => (oobCount[i] ? s / oobCount[i]! : Number.NaN));
  return { model: { version: 1, options: opts, featureNames, trees }, oob };
}

function leaf(node: Node, x: number[]): Node {
  let n = node;
  while (n.feature >= 0) n = x[n.feature]! < n.threshold ? n.left! : n.right!;
  return n;
}

export function predict(model: ForestModel, x: number[]): number {
  let s = 0;
  for (const t of model.trees) s += leaf(t, x).p;
  return s / model.trees.length;
}

/**
 * Score = bias + Σ contributions, exactly: each tree's leaf value is its root's
 * positive rate plus the changes along the path, credited to the split feature.
 */
export function contributions(model: ForestModel, x: number[]): { bias: number; byFeature: number[] } {
  const byFeature = new Array<number>(model.featureNames.length).fill(0);
  let bias = 0;
  for (const t of model.trees) {
    bias += t.p;
    let n = t;
    while (n.feature >= 0) {
      const next = x[n.feature]! < n.threshold ? n.left! : n.right!;
      byFeature[n.feature]! += next.p - n.p;
      n = next;
    }
  }
  const k = model.trees.length;
  return { bias: bias / k, byFeature: byFeature.map((v) => v / k) };
}
