/**
 * `mamori cc eval` end to end on a small synthetic ISP: train on two scenarios,
 * score a held-out one (other seed, other families), baselines beside it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluateM1 } from '../../src/app/evaluate-m1.js';

describe('M1 evaluation', () => {
  it('scores held-out botnets above both baselines, with the threshold chosen for the target precision', async () => {
    const r = await evaluateM1({
      subscribers: 150,
      hours: 8,
      trainSeeds: [1, 2],
      testSeeds: [101],
      targetPrecision: 0.95,
      minClients: 10,
      trees: 30,
      seed: 42,
      rate: 60_000,
    });
    assert.ok(r.trainPositives >= 10, `only ${r.trainPositives} positives to learn from`);
    const s = r.scenarios[0]!;
    assert.ok(s.positives >= 3, `only ${s.positives} held-out C&C endpoints`);
    assert.ok(s.model.prAuc > s.beacon.prAuc && s.model.prAuc > s.fanIn.prAuc, JSON.stringify(s));
    assert.ok(s.model.prAuc >= 0.8, `PR-AUC ${s.model.prAuc}`);
    assert.equal(s.model.confusion.tp + s.model.confusion.fn, s.positives);
    assert.equal(s.model.confusion.tp + s.model.confusion.fp + s.model.confusion.fn + s.model.confusion.tn, s.endpoints);
  });
});
