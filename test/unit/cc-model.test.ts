import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contributions, predict, trainForest } from '../../src/measures/cc-detection/forest.js';
import { calibrate, confusion, fitIsotonic, prAuc, thresholdFor } from '../../src/measures/cc-detection/model.js';

function data(seed: number, n: number): { X: number[][]; y: number[] } {
  let s = seed;
  const r = () => (s = (s * 1664525 + 1013904223) >>> 0) / 4294967296;
  const X: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = r(),
      b = r(),
      noise = r();
    X.push([a, b, noise]);
    y.push(a > 0.6 && b < 0.5 ? 1 : 0); // depends on features 0 and 1, never on 2
  }
  return { X, y };
}

describe('random forest', () => {
  it('learns a rule it can be checked against, on held-out data', () => {
    const train = data(1, 600);
    const test = data(2, 300);
    const { model } = trainForest(train.X, train.y, ['a', 'b', 'noise'], { trees: 30, maxDepth: 6, minLeaf: 2, seed: 7 });
    const scores = test.X.map((x) => predict(model, x));
    const c = confusion(scores, test.y, 0.5);
    assert.ok((c.tp + c.tn) / test.y.length > 0.95, JSON.stringify(c));
    assert.ok(prAuc(scores, test.y) > 0.95);
  });

  it('is reproducible from its seed, and differs with another', () => {
    const d = data(3, 200);
    const a = JSON.stringify(trainForest(d.X, d.y, ['a', 'b', 'c'], { trees: 5, maxDepth: 4, minLeaf: 2, seed: 1 }).model);
    const b = JSON.stringify(trainForest(d.X, d.y, ['a', 'b', 'c'], { trees: 5, maxDepth: 4, minLeaf: 2, seed: 1 }).model);
    const c = JSON.stringify(trainForest(d.X, d.y, ['a', 'b', 'c'], { trees: 5, maxDepth: 4, minLeaf: 2, seed: 2 }).model);
    assert.equal(a, b);
    assert.notEqual(a, c);
  });

  it('explains each score exactly: bias + contributions = score, and the noise feature barely counts', () => {
    const d = data(4, 500);
    const { model } = trainForest(d.X, d.y, ['a', 'b', 'noise'], { trees: 20, maxDepth: 6, minLeaf: 2, seed: 3 });
    const x = [0.9, 0.1, 0.5];
    const c = contributions(model, x);
    assert.ok(Math.abs(c.bias + c.byFeature.reduce((s, v) => s + v, 0) - predict(model, x)) < 1e-9);
    assert.ok(c.byFeature[0]! > 0.1 && c.byFeature[1]! > 0.1, JSON.stringify(c.byFeature));
    assert.ok(Math.abs(c.byFeature[2]!) < 0.1, JSON.stringify(c.byFeature));
  });

  it('refuses training data it cannot learn from', () => {
    assert.throws(() => trainForest([], [], ['a'], { trees: 1, maxDepth: 1, minLeaf: 1, seed: 1 }), /no training samples/);
    assert.throws(
      () => trainForest([[1], [2]], [0, 0], ['a'], { trees: 1, maxDepth: 1, minLeaf: 1, seed: 1 }),
      /both positive and negative/,
    );
  });
});

describe('calibration, threshold and metrics', () => {
  it('isotonic calibration is monotone and matches observed rates', () => {
    const c = fitIsotonic([0.1, 0.2, 0.3, 0.4, 0.8, 0.9], [0, 1, 0, 0, 1, 1]);
    const probs = [0, 0.15, 0.25, 0.5, 0.85, 1].map((s) => calibrate(c, s));
    for (let i = 1; i < probs.length; i++) assert.ok(probs[i]! >= probs[i - 1]!);
    assert.equal(calibrate(c, 0.95), 1);
  });

  it('picks the lowest threshold that reaches the target precision', () => {
    const scores = [0.1, 0.2, 0.6, 0.7, 0.8, 0.9];
    const labels = [0, 1, 0, 1, 1, 1];
    assert.equal(thresholdFor(scores, labels, 1), 0.7);
    assert.equal(thresholdFor(scores, labels, 0.6), 0.1);
  });

  it('computes average precision', () => {
    assert.equal(prAuc([0.9, 0.8, 0.1], [1, 1, 0]), 1);
    assert.equal(prAuc([0.9, 0.8, 0.1], [0, 1, 1]), (1 / 2 + 2 / 3) / 2);
  });
});
