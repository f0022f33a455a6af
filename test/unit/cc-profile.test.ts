/**
 * M1's built-in profile: judged against the window's own population, scores
 * with spread, explanations in raw units that never say a benign-pointing
 * value raised the score, and labels that update it only as far as they go.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EndpointFeatures } from '../../src/measures/cc-detection/features.js';
import { explain, trainModel } from '../../src/measures/cc-detection/model.js';
import {
  type Scored,
  defaultProfile,
  explainTerms,
  learnProfile,
  MIN_CALIBRATION_POSITIVES,
  probability,
  scoreWindow,
  summary,
} from '../../src/measures/cc-detection/profile.js';
import { rng } from '../../src/core/random.js';
import { modelFile, parseModelFile, type AnyModel } from '../../src/measures/cc-detection/training.js';
import { ccDetectionSettings } from '../../src/measures/cc-detection/settings.js';
import {
  admits,
  DEFAULT_THRESHOLD,
  evidenceFloor,
  operatingThreshold,
  type OperatingThreshold,
} from '../../src/measures/cc-detection/threshold.js';

const BASE: EndpointFeatures = {
  address: '198.51.100.1',
  port: 443,
  proto: 6,
  clients: 1,
  flows: 12,
  flowsPerClient: 12,
  periodicShare: 0,
  periodSeconds: 0,
  gapDispersion: 1.2,
  beaconScore: 0.2,
  bytesCv: 0.8,
  packetsCv: 0.6,
  meanBytesPerFlow: 2400,
  medianDurationSeconds: 3,
  p90DurationSeconds: 30,
  hoursActive: 4,
  clientHours: 4,
  firstSeenHours: 2,
  clientGrowth: 0,
  failedShare: 0,
  portRarity: 0,
  returnRatio: 6,
  farmSiblings: 0,
  portOtherClients: 900,
  sharedClientNetworks: 0,
  netOtherClients: 200,
  netOtherEndpoints: 12,
  wideNetOtherClients: 400,
  scanningClients: 0,
  sentBytesPerClient: 28_800,
  subscribers: 1000,
  windowHours: 24,
};

/** A population of ordinary endpoints: web sites and services of varied reach, mostly on 443. */
function population(n: number, seed: number): EndpointFeatures[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const clients = Math.max(1, Math.floor(Math.exp(r() * 5)));
    const perClient = 10 + Math.floor(r() * 60);
    return {
      ...BASE,
      address: `198.51.${100 + (i >> 8)}.${i & 255}`,
      port: r() < 0.85 ? 443 : 80,
      clients,
      flows: clients * perClient,
      flowsPerClient: perClient,
      beaconScore: r() * 0.8,
      bytesCv: 0.2 + r() * 1.5,
      returnRatio: 0.5 + r() * 30,
      clientHours: 1 + Math.floor(r() * 12),
      netOtherClients: Math.floor(r() * 400),
      portOtherClients: 800 + Math.floor(r() * 200),
      meanBytesPerFlow: 500 + r() * 5000,
    };
  });
}

// A RAT whose server refuses: 3 subscribers, 719 attempts each in one hour, SYN only, a port nobody else uses.
const REFUSING: EndpointFeatures = {
  ...BASE,
  address: '203.0.113.35',
  port: 5888,
  clients: 3,
  flows: 2157,
  flowsPerClient: 719,
  clientHours: 1,
  failedShare: 1,
  beaconScore: 0.67,
  bytesCv: 0.04,
  meanBytesPerFlow: 101,
  returnRatio: 0.8,
  portOtherClients: 0,
  netOtherClients: 0,
  netOtherEndpoints: 0,
};

describe("M1 profile: judged against the ISP's own population", () => {
  const pop = population(2000, 1);
  const scored = scoreWindow(defaultProfile(), [...pop, REFUSING]);
  const rat = scored[scored.length - 1]!;

  it('ranks a refusing C&C far above the ordinary endpoints, without any label', () => {
    const above = scored.filter((s) => s.evidence >= rat.evidence).length;
    assert.equal(above, 1);
    assert.ok(rat.score >= defaultProfile().threshold, `score ${rat.score}`);
    assert.equal(
      scored.filter((s) => s !== rat && s.score >= defaultProfile().threshold).length,
      0,
      'no ordinary endpoint reaches the threshold',
    );
  });

  it('gives scores with spread: probabilities that rise with the evidence and are not all 1', () => {
    const model = defaultProfile();
    const ps = [-2, 0, 2, 4, 6, 8, 10].map((e) => probability(model, e));
    for (let i = 1; i < ps.length; i++) assert.ok(ps[i]! > ps[i - 1]!, JSON.stringify(ps));
    assert.ok(ps[ps.length - 1]! < 1 && ps[0]! > 0);
    const distinct = new Set(scored.filter((s) => s.eligible).map((s) => s.evidence.toFixed(3)));
    assert.ok(distinct.size > 50, `${distinct.size} distinct levels of evidence`);
    assert.ok(rat.score < 1, 'even the strongest case is not certain');
  });

  it('does not score endpoints with too few contacts, or that are neither TCP nor UDP', () => {
    const few = scoreWindow(defaultProfile(), [
      ...pop,
      { ...REFUSING, flows: 9, flowsPerClient: 3 },
      { ...REFUSING, proto: 1, address: '203.0.113.9' },
    ]);
    assert.deepEqual(
      few.slice(-2).map((s) => [s.eligible, s.score]),
      [
        [false, 0],
        [false, 0],
      ],
    );
  });

  it('explains in raw units, Japanese and English', () => {
    const text = explainTerms(rat.features, rat.terms, 10);
    const en = text.map((t) => t.en).join('\n');
    assert.match(en, /100 % of TCP attempts never completed a handshake/);
    assert.match(en, /port 5888\/tcp seen from no other subscriber/);
    assert.match(en, /719 contacts in each hour a subscriber was active/);
    assert.ok(text.every((t) => /[ぁ-んァ-ヶ一-龠]/.test(t.ja)));
    assert.doesNotMatch(en, /\(\d\.\d\d\)/, 'no log-scale value in parentheses');
    assert.deepEqual(summary(rat.features), {
      en: '2,157 contacts a day from 3 subscribers, 100 % SYN-only, port 5888 seen nowhere else',
      ja: '加入者 3 人から 1 日 2,157 回の接続、100 % が SYN のみ、ポート 5888 は他で使われていない',
    });
  });

  it('never says that a value pointing to a benign service raised the score', () => {
    for (const s of scored.filter((x) => x.eligible)) {
      for (const e of explainTerms(s.features, s.terms, 10, 10)) {
        const term = s.terms.find((t) => t.feature === e.feature)!;
        if (e.direction === 'raised') {
          assert.ok(term.log10Ratio > 0);
          assert.match(e.en, /raised the score/);
        } else {
          assert.ok(term.log10Ratio < 0);
          assert.match(e.en, /lowered the score/);
        }
      }
    }
  });

  it('takes a group of subscribers shared with another network as evidence, and one subscriber as no group', () => {
    const polled = { ...REFUSING, failedShare: 0, port: 80, portOtherClients: 900, returnRatio: 0.8, clientHours: 2 };
    const group = { ...polled, sharedClientNetworks: 1 };
    const alone = { ...polled, clients: 1, flows: 719, sharedClientNetworks: 0 };
    const [g, p, a] = scoreWindow(defaultProfile(), [...pop, group, polled, alone]).slice(-3);
    const term = (s: typeof g) => s!.terms.find((t) => t.feature === 'shared_clients')!;
    assert.ok(term(g).log10Ratio > 1, `shared group: ${term(g).log10Ratio}`);
    assert.ok(term(p).log10Ratio < 0, 'a group of 3 found nowhere else points (slightly) to benign');
    assert.deepEqual([term(a).value, term(a).log10Ratio], [null, 0]);
    assert.ok(g!.evidence > p!.evidence);
    const said = explainTerms(g!.features, g!.terms, 10).find((e) => e.feature === 'shared_clients')!;
    assert.equal(said.direction, 'raised');
    assert.match(said.en, /^exactly the same 3 subscribers, and no other, also reach servers in 1 other network: /);
    assert.match(
      said.ja,
      /^この宛先に接続する加入者 3 人と全く同じ顔ぶれ（他の加入者はいない）が、他の 1 のネットワークのサーバにも接続している：/,
    );
    assert.match(summary(g!.features).en, /the same 3 subscribers alone also reach 1 other network$/);
  });

  it('reads a profile saved before the shared-group term: the written profile stands in for it', () => {
    const old = defaultProfile();
    delete old.c2.shared_clients;
    const file = parseModelFile(JSON.stringify(modelFile(old, { command: 'mamori cc eval --real DIR', figures: [] })), 'old.json');
    const group = { ...REFUSING, sharedClientNetworks: 2 };
    const [a, b] = [file.model as typeof old, defaultProfile()].map((m) => scoreWindow(m, [...pop, group]).at(-1)!);
    assert.deepEqual(a!.terms, b!.terms);
    assert.equal(learnProfile(old, [{ features: [...pop, group], labels: [...pop.map(() => null), 1] }]).c2.shared_clients!.length, 2);
  });

  it('judges against this ISP: a port nobody uses here is evidence, a port everybody uses is not', () => {
    // The same endpoint behaviour on 8883: where 8883 is everyone's port (a popular service), it is not rare.
    const common = { ...REFUSING, port: 8883, portOtherClients: 700 };
    const ts = scoreWindow(defaultProfile(), [...pop, common]).at(-1)!.terms;
    assert.ok(ts.find((t) => t.feature === 'port_reach')!.log10Ratio < 0.2);
  });

  it("judges novelty against this ISP's own population: a network no other subscriber reaches is evidence", () => {
    // One subscriber polling a web port: the same behaviour in a network everybody reaches and in one nobody else does.
    const polled = { ...REFUSING, clients: 1, flows: 103, flowsPerClient: 103, failedShare: 0, port: 80, portOtherClients: 900 };
    const novel = { ...polled, address: '203.0.113.58', wideNetOtherClients: 0 };
    const [known, alone] = scoreWindow(defaultProfile(), [...pop, polled, novel]).slice(-2);
    const term = (s: typeof known) => s!.terms.find((t) => t.feature === 'network_novelty')!;
    assert.ok(term(alone).log10Ratio > 1, `novel network: ${term(alone).log10Ratio}`);
    assert.ok(term(known).log10Ratio < 0, 'a network 40 % of the subscribers reach points to benign');
    assert.ok(alone!.evidence > known!.evidence + 1);
    const said = (s: typeof known) => explainTerms(s!.features, s!.terms, 10, 10).find((e) => e.feature === 'network_novelty')!;
    assert.equal(said(alone).direction, 'raised');
    assert.match(said(alone).en, /^no other subscriber reaches any server of its network \(\/16, IPv6 \/32\): .* \(raised the score\)$/);
    assert.match(said(alone).ja, /^この宛先の接続元以外に、そのネットワーク（\/16、IPv6 は \/32）のどのサーバにも接続する加入者はいない：/);
    assert.equal(said(known).direction, 'lowered');
    assert.match(said(known).en, /^400 other subscribers \(40 %\) reach servers of its network \(\/16, IPv6 \/32\): .*lowered the score/);
    assert.match(summary(alone!.features).en, /, a network \(\/16\) no other subscriber reaches$/);
    assert.doesNotMatch(summary(known!.features).en, /no other subscriber/);
  });
});

describe('M1 profile: labels, positive-unlabelled', () => {
  const pop = population(1500, 2);
  const c2 = (i: number): EndpointFeatures => ({
    ...BASE,
    address: `203.0.113.${i}`,
    port: 8000 + i,
    clients: 2,
    flows: 400,
    flowsPerClient: 200,
    clientHours: 20,
    beaconScore: 0.85,
    bytesCv: 0.05,
    returnRatio: 1,
    portOtherClients: 0,
    netOtherClients: 0,
    netOtherEndpoints: 0,
    meanBytesPerFlow: 300,
  });

  it('with few labels: updates the profile a little, keeps the default calibration, and says so', () => {
    const labelled = [c2(1), c2(2), c2(3)];
    const m = learnProfile(defaultProfile(), [{ features: [...pop, ...labelled], labels: [...pop.map(() => null), 1, 1, 1] }]);
    assert.equal(m.calibration, null);
    assert.equal(m.labelled.positives, 3);
    assert.ok(
      m.notes.some((n) => n.includes(`only 3 labelled C&C endpoints (< ${MIN_CALIBRATION_POSITIVES}): too few to calibrate`)),
      m.notes.join('; '),
    );
    // 3 labels against a written profile worth 20: the profile moves, not jumps.
    const before = defaultProfile().c2.contacts_per_day!;
    const after = m.c2.contacts_per_day!;
    assert.ok(Math.abs(after[4]! - before[4]!) < 0.15 && after[4]! > before[4]!);
  });

  it('with enough labels: calibrates on them without taking the unlabelled for benign', () => {
    const labelled = Array.from({ length: 12 }, (_, i) => c2(i + 1));
    // An unlabelled C&C among the population (no list knows it yet).
    const unknown = c2(99);
    const features = [...pop, ...labelled, unknown];
    const m = learnProfile(defaultProfile(), [{ features, labels: [...pop.map(() => null), ...labelled.map(() => 1 as const), null] }]);
    assert.ok(m.calibration, m.notes.join('; '));
    assert.ok(m.calibration.c > 0 && m.calibration.c <= 1);
    const scored = scoreWindow(m, features);
    const u = scored.at(-1)!;
    assert.ok(u.score >= m.threshold, `the unlabelled C&C scores ${u.score}`);
    const benignAbove = scored.slice(0, pop.length).filter((s) => s.score >= m.threshold).length;
    assert.ok(benignAbove <= 2, `${benignAbove} ordinary endpoints above the threshold`);
  });
});

describe('M1 forest explanations', () => {
  it('show raw values, never a log-scale number, and never a benign-pointing value as raising the score', () => {
    const pop = population(400, 3);
    const pos = Array.from({ length: 30 }, (_, i) => ({
      ...REFUSING,
      address: `203.0.113.${i}`,
      flowsPerClient: 500 + i * 10,
      beaconScore: 0.9,
    }));
    const model = trainModel([...pop, ...pos], [...pop.map(() => 0), ...pos.map(() => 1)], {
      trees: 20,
      maxDepth: 6,
      minLeaf: 2,
      seed: 1,
      targetPrecision: 0.9,
    });
    const irregular = { ...REFUSING, gapDispersion: 3, beaconScore: 0.1, flowsPerClient: 711 };
    const text = explain(model, irregular, 10);
    assert.ok(text.length > 0);
    for (const t of text) {
      assert.doesNotMatch(t.en, /contacts per client \(2\.\d+\)/, 'no log value');
      assert.ok(!/dispersion of the gaps|beacon score/.test(t.en), `a benign-pointing value said to raise the score: ${t.en}`);
    }
    assert.ok(
      text.some((t) => /contacts per client \(711\)/.test(t.en)),
      JSON.stringify(text),
    );
  });
});

describe('M1 operating threshold: from a false-candidate budget, without labels', () => {
  const model = defaultProfile();
  const admitted = (t: OperatingThreshold, s: readonly Scored[]) => s.filter((x) => admits(t, x));
  const thresholdOf = (s: readonly Scored[]) =>
    operatingThreshold(model, { scored: s.filter((x) => x.eligible).length, subscribers: 1000 }, DEFAULT_THRESHOLD);
  const near = (a: number, b: number) => Math.abs(a - b) < 1e-9;

  it('turns the budget into evidence log10(scored ÷ allowed), and says so with its figures', () => {
    const t = operatingThreshold(model, { scored: 3000, subscribers: 1000 });
    assert.equal(t.rule, 'budget');
    assert.ok(near(t.evidence!, Math.log10(3000)), String(t.evidence));
    assert.equal(t.allowed, 1);
    assert.ok(near(t.expectedFalseAtMost!, 1));
    assert.ok(near(t.score, probability(model, t.evidence!)));
    assert.match(
      t.reason.en,
      new RegExp(
        '^operating threshold: evidence 3\\.48 \\(score 0\\.\\d{3}\\), from the false-candidate budget 1 false candidate ' +
          'per 1,000 subscribers × 1,000 active = 1\\.00 in this window; .*3,000 scored endpoints × 10\\^−3\\.48 = 1\\.00 false',
      ),
    );
    assert.match(t.reason.ja, /^運用しきい値は証拠 3\.48.*誤検知予算は加入者 1,000 人あたり 1 件 × 稼働加入者 1,000 人/);
    // An endpoint with the evidence of one host's six minutes of check-ins (4.4): a candidate under the budget, not at score 0.5.
    const weak = { score: probability(model, 4.4), evidence: 4.4 };
    assert.equal(admits(t, weak), true);
    assert.equal(
      admits(operatingThreshold(model, { scored: 3000, subscribers: 1000 }, { ...DEFAULT_THRESHOLD, rule: 'fixed' }), weak),
      false,
    );
    assert.equal(admits(t, { score: probability(model, 3.4), evidence: 3.4 }), false);
    // Twice the subscribers allow twice the false candidates; a ten times larger budget, ten times.
    const big = operatingThreshold(model, { scored: 100_000, subscribers: 1000 });
    const twice = operatingThreshold(model, { scored: 100_000, subscribers: 2000 });
    const generous = operatingThreshold(
      model,
      { scored: 100_000, subscribers: 1000 },
      { rule: 'budget', falseCandidatesPer1000Subscribers: 10 },
    );
    assert.ok(near(big.evidence! - twice.evidence!, Math.log10(2)));
    assert.ok(near(big.evidence! - generous.evidence!, 1));
  });

  it('never goes under the floor: a small window or a generous budget raises nothing from noise', () => {
    assert.ok(near(evidenceFloor(model), Math.log10(999)));
    const small = operatingThreshold(model, { scored: 20, subscribers: 1000 });
    assert.equal(small.rule, 'floor');
    assert.ok(near(small.evidence!, evidenceFloor(model)));
    assert.match(
      small.reason.en,
      /: the floor, evidence 3\.00, .* alone would allow evidence 1\.30, but nothing under the floor is a candidate/,
    );
    const generous = operatingThreshold(
      model,
      { scored: 3000, subscribers: 1000 },
      { rule: 'budget', falseCandidatesPer1000Subscribers: 1000 },
    );
    assert.deepEqual([generous.rule, generous.allowed], ['floor', 1000]);
    // A quiet window of 20 ordinary endpoints and a budget of 1 in 1: the budget alone would admit nearly all of it.
    const quiet = scoreWindow(model, population(20, 31));
    const t = operatingThreshold(model, { scored: 20, subscribers: 1000 }, { rule: 'budget', falseCandidatesPer1000Subscribers: 1000 });
    assert.equal(admitted(t, quiet).length, 0);
  });

  it('is well defined on an empty window: no endpoint, no subscriber, no candidate, nothing infinite', () => {
    const t = operatingThreshold(model, { scored: 0, subscribers: 0 });
    assert.deepEqual([t.rule, t.allowed, t.expectedFalseAtMost], ['floor', 0, 0]);
    assert.deepEqual(JSON.parse(JSON.stringify(t)), t, 'an infinite number would not survive JSON');
    assert.match(t.reason.en, /alone would allow anything \(no endpoint scored\)/);
    assert.equal(admits(t, { score: 0, evidence: 0 }), false);
    assert.deepEqual(admitted(t, scoreWindow(model, [])), []);
  });

  it('keeps an all-benign window within its budget, however many endpoints it scores', () => {
    for (const [n, seed] of [
      [500, 11],
      [3000, 12],
      [10_000, 13],
    ] as const) {
      const s = scoreWindow(model, population(n, seed));
      const t = thresholdOf(s);
      assert.ok(admitted(t, s).length <= t.allowed!, `${n} endpoints: ${admitted(t, s).length} false candidates, ${t.allowed} allowed`);
    }
  });

  it('where many endpoints are novel and C&C-like, learns that from the window: the budget holds, the refusing C&C stays', () => {
    const r = rng(21);
    // 900 of 3,001 endpoints: one subscriber each, polling a web port of a network no one else reaches, small regular messages.
    const novel = Array.from({ length: 900 }, (_, i): EndpointFeatures => {
      const flows = 20 + Math.floor(r() * 200);
      return {
        ...BASE,
        address: `192.0.${2 + (i >> 8)}.${i & 255}`,
        port: r() < 0.5 ? 80 : 443,
        flows,
        flowsPerClient: flows,
        clientHours: 1 + Math.floor(r() * 3),
        beaconScore: 0.6 + r() * 0.35,
        bytesCv: 0.03 + r() * 0.1,
        returnRatio: 0.6 + r(),
        netOtherClients: 0,
        netOtherEndpoints: 0,
        wideNetOtherClients: 0,
      };
    });
    const s = scoreWindow(model, [...population(2100, 22), ...novel, REFUSING]);
    const t = thresholdOf(s);
    const got = admitted(t, s);
    assert.ok(
      got.some((x) => x.features === REFUSING),
      `the refusing C&C: evidence ${s.at(-1)!.evidence}`,
    );
    const wrong = got.filter((x) => x.features !== REFUSING).length;
    assert.ok(wrong <= t.allowed!, `${wrong} false candidates, ${t.allowed} allowed`);
    const novelty = s[2100]!.terms.find((x) => x.feature === 'network_novelty')!;
    assert.ok(novelty.log10Ratio < 0.3, `novelty is common here, so it says little: ${novelty.log10Ratio}`);
  });

  it('keeps the fixed score as a setting, and a forest its own threshold', () => {
    const win = { scored: 3000, subscribers: 1000 };
    const fixed = operatingThreshold(model, win, { ...DEFAULT_THRESHOLD, rule: 'fixed' });
    assert.deepEqual([fixed.rule, fixed.score, fixed.evidence], ['fixed', 0.5, null]);
    assert.match(fixed.reason.en, /^operating threshold: score 0\.500, fixed in the settings/);
    assert.equal(admits(fixed, { score: 0.49, evidence: 9 }), false);
    assert.equal(admits(fixed, { score: 0.5 }), true);
    assert.equal(operatingThreshold(model, win, { ...DEFAULT_THRESHOLD, rule: 'fixed', fixedScore: 0.2 }).score, 0.2);
    const forest = { kind: 'forest', threshold: 0.8 } as unknown as AnyModel;
    const t = operatingThreshold(forest, win);
    assert.deepEqual([t.rule, t.score, t.evidence], ['model', 0.8, null]);
    assert.match(t.reason.en, /the forest model's own/);
    assert.equal(admits(t, { score: 0.81 }), true);
  });

  it("is one of M1's settings: the budget by default, fixed on request, a bad budget refused by name", () => {
    assert.deepEqual(ccDetectionSettings.parse({}).operatingThreshold, { rule: 'budget', falseCandidatesPer1000Subscribers: 1 });
    assert.deepEqual(ccDetectionSettings.parse({ operatingThreshold: { rule: 'fixed', fixedScore: 0.4 } }).operatingThreshold, {
      rule: 'fixed',
      falseCandidatesPer1000Subscribers: 1,
      fixedScore: 0.4,
    });
    const bad = ccDetectionSettings.safeParse({ operatingThreshold: { falseCandidatesPer1000Subscribers: 0 } });
    assert.equal(bad.success, false);
    assert.deepEqual(bad.error!.issues[0]!.path, ['operatingThreshold', 'falseCandidatesPer1000Subscribers']);
    assert.match(bad.error!.issues[0]!.message, /a budget above 0/);
  });
});
