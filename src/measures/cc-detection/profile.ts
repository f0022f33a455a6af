/**
 * M1's default scorer, usable on day one with nothing but flows and prefixes:
 * for each endpoint, how much more common its behaviour is among C&C servers
 * than in this ISP's own traffic (a likelihood ratio per feature, in raw units).
 *
 * - The benign side is learnt from the window itself: the share of the ISP's
 *   endpoints in each bin of each feature. Nearly every endpoint an ISP's
 *   subscribers reach is benign, so the population is the benign model (what
 *   is common here is normal here) — no labels needed.
 * - The C&C side is a written profile (C2_PROFILE below, with its reasons in
 *   docs/en/cc-detection.md): how C&C endpoints are distributed over the same
 *   bins. Labels (reputation lists matching endpoints in the window,
 *   analysts' confirmations) update it, positive-unlabelled: the labelled
 *   endpoints move the profile; the unlabelled ones are never taken for benign
 *   ones, they are the population.
 * - Evidence = Σ log10(P(bin | C&C) ÷ P(bin | this ISP)). The score is a
 *   probability: at the stated prior (one C&C endpoint in 1,000 scored ones)
 *   with the evidence tempered (the features are not independent), or, once
 *   enough labels exist, fitted to them (Elkan–Noto).
 * Each term is a sentence with the raw value; a term is said to raise the
 * score only when its ratio is above 1, to lower it when below.
 */
import { MAX_GROUP, type EndpointFeatures } from './features.js';

export interface Term {
  feature: string;
  /** The raw value the term is about (null: not applicable to this endpoint). */
  value: number | null;
  bin: number;
  /** log10 of the likelihood ratio: > 0 points to C&C, < 0 to a benign service. */
  log10Ratio: number;
}

interface FeatureSpec {
  name: string;
  value(f: EndpointFeatures): number | null;
  /** Upper bounds (exclusive) of the bins; the last is Infinity. */
  edges: number[];
  /** P(bin | C&C): the written profile. */
  c2: number[];
  say(f: EndpointFeatures, v: number): { ja: string; en: string };
}

const pct = (x: number) => (x >= 0.995 ? '100' : x < 0.001 ? (x === 0 ? '0' : '< 0.1') : (x * 100).toFixed(x < 0.1 ? 1 : 0));
const num = (x: number) => (x >= 100 ? Math.round(x).toLocaleString('en') : x >= 10 ? x.toFixed(0) : x.toFixed(1));
const proto = (p: number) => (p === 6 ? 'tcp' : p === 17 ? 'udp' : String(p));
const share = (n: number, f: EndpointFeatures) => n / Math.max(1, f.subscribers);
const perDay = (f: EndpointFeatures) => (f.flowsPerClient * 24) / Math.max(1e-9, f.windowHours);
const perHour = (f: EndpointFeatures) => f.flowsPerClient / Math.max(1, f.clientHours);

/**
 * The features and the C&C profile. Bins are in raw units; reasons for each
 * profile are in docs/en/cc-detection.md ("The C&C profile"). The profile is
 * the same for every ISP; what each ISP's own traffic looks like is learnt.
 */
export const C2_PROFILE: readonly FeatureSpec[] = [
  {
    name: 'contacts_per_day',
    value: perDay,
    edges: [2, 6, 24, 100, 1000, Infinity],
    c2: [0.02, 0.08, 0.2, 0.3, 0.3, 0.1],
    say: (_f, v) => ({ ja: `加入者 1 人あたり 1 日 ${num(v)} 回の接続`, en: `${num(v)} contacts a day per subscriber` }),
  },
  {
    name: 'contacts_per_hour',
    value: perHour,
    edges: [2, 10, 60, 600, Infinity],
    c2: [0.25, 0.25, 0.25, 0.2, 0.05],
    say: (_f, v) => ({ ja: `接続した時間帯 1 時間あたり ${num(v)} 回`, en: `${num(v)} contacts in each hour a subscriber was active` }),
  },
  {
    // UDP without an answer is common and says little (P2P probes, NTP or STUN through filters): TCP only.
    name: 'syn_only',
    value: (f) => (f.proto === 6 ? f.failedShare : null),
    edges: [0.5, 0.9, Infinity],
    c2: [0.7, 0.1, 0.2],
    say: (_f, v) => ({
      ja: `TCP 接続の ${pct(v)} % がハンドシェイクを完了していない（拒否または無応答）`,
      en: `${pct(v)} % of TCP attempts never completed a handshake (refused or unanswered)`,
    }),
  },
  {
    name: 'port_reach',
    value: (f) => share(f.portOtherClients + f.clients, f),
    edges: [0.005, 0.02, 0.1, Infinity],
    c2: [0.3, 0.1, 0.1, 0.5],
    say: (f) => {
      const port = `${f.port}/${proto(f.proto)}`;
      const used = pct(share(f.portOtherClients + f.clients, f));
      return f.portOtherClients === 0
        ? { ja: `ポート ${port} はこの宛先の接続元以外の加入者が使っていない`, en: `port ${port} seen from no other subscriber` }
        : { ja: `ポート ${port} を使う加入者は全体の ${used} %`, en: `port ${port} used by ${used} % of subscribers` };
    },
  },
  {
    name: 'net_others',
    value: (f) => share(f.netOtherClients, f),
    edges: [1e-9, 0.005, 0.02, 0.1, Infinity],
    c2: [0.6, 0.15, 0.1, 0.1, 0.05],
    say: (f, v) =>
      f.netOtherClients === 0
        ? {
            ja: '同じネットワーク（/24、IPv6 は /48）の同じポートの他のサーバに接続する加入者はいない',
            en: 'no subscriber reaches another server of its network (/24, IPv6 /48) on this port',
          }
        : {
            ja: `同じネットワークの同じポートの他の ${f.netOtherEndpoints} 台のサーバに加入者の ${pct(v)} % が接続している`,
            en: `${pct(v)} % of subscribers reach ${f.netOtherEndpoints} other servers of its network on this port`,
          },
  },
  {
    // Novelty against this ISP's own population: C&C servers often sit on hosting no one else here uses; benign
    // long-tail sites mostly sit in networks (clouds, CDNs, hosters) that other subscribers reach for other things.
    name: 'network_novelty',
    value: (f) => f.wideNetOtherClients / Math.max(1, f.subscribers - f.clients),
    edges: [1e-9, 0.01, 0.05, Infinity],
    c2: [0.4, 0.15, 0.15, 0.3],
    say: (f, v) => {
      const n = f.wideNetOtherClients.toLocaleString('en');
      return f.wideNetOtherClients === 0
        ? {
            ja: 'この宛先の接続元以外に、そのネットワーク（/16、IPv6 は /32）のどのサーバにも接続する加入者はいない',
            en: 'no other subscriber reaches any server of its network (/16, IPv6 /32)',
          }
        : {
            ja: `そのネットワーク（/16、IPv6 は /32）には他の加入者 ${n} 人（${pct(v)} %）が接続`,
            en: `${n} other subscribers (${pct(v)} %) reach servers of its network (/16, IPv6 /32)`,
          };
    },
  },
  {
    name: 'popularity',
    value: (f) => share(f.clients, f),
    edges: [0.005, 0.02, 0.1, Infinity],
    c2: [0.8, 0.15, 0.045, 0.005],
    say: (f, v) => {
      const [n, of] = [f.clients.toLocaleString('en'), f.subscribers.toLocaleString('en')];
      return { ja: `加入者 ${of} 人中 ${n} 人（${pct(v)} %）が接続`, en: `reached by ${n} of ${of} subscribers (${pct(v)} %)` };
    },
  },
  {
    name: 'beacon',
    value: (f) => f.beaconScore,
    edges: [0.3, 0.6, 0.8, Infinity],
    c2: [0.2, 0.3, 0.25, 0.25],
    say: (_f, v) => ({
      ja: `接続間隔の規則性（RITA 型ビーコンスコア ${v.toFixed(2)}）`,
      en: `regularity of the contacts (RITA-style beacon score ${v.toFixed(2)})`,
    }),
  },
  {
    name: 'return_ratio',
    value: (f) => (f.proto === 6 && f.failedShare >= 0.9 ? null : f.returnRatio),
    edges: [0.5, 2, 10, Infinity],
    c2: [0.3, 0.45, 0.17, 0.08],
    say: (_f, v) => {
      const r = v < 10 ? v.toFixed(2) : num(v);
      return { ja: `送った 1 バイトに対して ${r} バイトの応答`, en: `${r} bytes back for each byte sent` };
    },
  },
  {
    name: 'bytes_cv',
    value: (f) => f.bytesCv,
    edges: [0.1, 0.5, 1, Infinity],
    c2: [0.35, 0.35, 0.2, 0.1],
    say: (f, v) => ({
      ja: `1 回あたりの送信量 ${num(f.meanBytesPerFlow)} バイト、ばらつき ${pct(v)} %（変動係数）`,
      en: `${num(f.meanBytesPerFlow)} bytes sent per contact, varying by ${pct(v)} % (coefficient of variation)`,
    }),
  },
  {
    // Only for 2–64 clients (a single client's own habits are no group; big sets are never compared).
    name: 'shared_clients',
    value: (f) => (f.clients >= 2 && f.clients <= MAX_GROUP ? f.sharedClientNetworks : null),
    edges: [1, Infinity],
    c2: [0.7, 0.3],
    say: (f, v) =>
      v === 0
        ? {
            ja: `この宛先に接続する加入者 ${f.clients} 人と同じ顔ぶれが接続する、他のネットワークのサーバはない`,
            en: `no server of another network is reached by exactly the same ${f.clients} subscribers`,
          }
        : {
            ja: `この宛先に接続する加入者 ${f.clients} 人と全く同じ顔ぶれ（他の加入者はいない）が、他の ${v} のネットワークのサーバにも接続している`,
            en: `exactly the same ${f.clients} subscribers, and no other, also reach servers in ${v} other network${v === 1 ? '' : 's'}`,
          },
  },
  {
    name: 'scanning_clients',
    value: (f) => f.scanningClients / Math.max(1, f.clients),
    edges: [1e-9, Infinity],
    c2: [0.85, 0.15],
    say: (f) => ({
      ja: `接続元 ${f.clients} 人中 ${f.scanningClients} 人がスキャンをしている（応答のない宛先 32 以上）`,
      en: `${f.scanningClients} of its ${f.clients} clients are scanning (32 or more unanswered addresses)`,
    }),
  },
];

export interface ProfileModel {
  kind: 'profile';
  version: 1;
  /** Endpoints contacted fewer times in the window are not scored: too little to defend as a C&C. */
  minContacts: number;
  /** Share of scored endpoints expected to be C&C, before any evidence. */
  prior: number;
  /** Evidence is multiplied by this before the prior is applied: the features are not independent. */
  temper: number;
  /** P(bin | C&C) per feature: the written profile, or the profile updated by labels. */
  c2: Record<string, number[]>;
  /** Pseudo-count of the written profile when labels update it. */
  profileWeight: number;
  labelled: { positives: number; benign: number };
  /** Fitted to labels (positive-unlabelled) when there are enough: score = min(1, σ(a·evidence + b) ÷ c). */
  calibration: { a: number; b: number; c: number; positives: number } | null;
  /** Candidates: score at or above this. */
  threshold: number;
  notes: string[];
}

/** Needed before labels may replace the default calibration. */
export const MIN_CALIBRATION_POSITIVES = 10;

export function defaultProfile(): ProfileModel {
  return {
    kind: 'profile',
    version: 1,
    minContacts: 10,
    prior: 0.001,
    temper: 0.5,
    c2: Object.fromEntries(C2_PROFILE.map((s) => [s.name, [...s.c2]])),
    profileWeight: 20,
    labelled: { positives: 0, benign: 0 },
    calibration: null,
    threshold: 0.5,
    notes: ["built-in profile: no labels used; benign behaviour learnt from each window's own traffic"],
  };
}

function binOf(v: number, edges: number[]): number {
  for (let i = 0; i < edges.length; i++) if (v < edges[i]!) return i;
  return edges.length - 1;
}

/** Scored at all: TCP or UDP, and contacted at least minContacts times in the window. */
export function eligible(model: ProfileModel, f: EndpointFeatures): boolean {
  return (f.proto === 6 || f.proto === 17) && f.flows >= model.minContacts;
}

/** Share of the population in each bin (Laplace-smoothed), leaving out endpoints known to be C&C. */
export type Population = Record<string, number[]>;

export function populationOf(
  features: readonly EndpointFeatures[],
  model: ProfileModel,
  knownC2?: (f: EndpointFeatures) => boolean,
): Population {
  const out: Population = {};
  for (const s of C2_PROFILE) {
    const counts = s.edges.map(() => 1);
    for (const f of features) {
      if (!eligible(model, f) || knownC2?.(f)) continue;
      const v = s.value(f);
      if (v !== null && Number.isFinite(v)) counts[binOf(v, s.edges)]! += 1;
    }
    const total = counts.reduce((a, b) => a + b, 0);
    out[s.name] = counts.map((c) => c / total);
  }
  return out;
}

/** P(bin | C&C) of a feature; a model saved before the feature existed uses the written profile for it. */
function c2Of(model: ProfileModel, s: FeatureSpec): readonly number[] {
  const p = model.c2[s.name];
  return p && p.length === s.c2.length ? p : s.c2;
}

export function terms(model: ProfileModel, population: Population, f: EndpointFeatures): Term[] {
  return C2_PROFILE.map((s) => {
    const v = s.value(f);
    if (v === null || !Number.isFinite(v)) return { feature: s.name, value: null, bin: -1, log10Ratio: 0 };
    const bin = binOf(v, s.edges);
    return { feature: s.name, value: v, bin, log10Ratio: Math.log10(c2Of(model, s)[bin]! / population[s.name]![bin]!) };
  });
}

export const evidenceOf = (ts: readonly Term[]) => ts.reduce((a, t) => a + t.log10Ratio, 0);

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** The probability that the endpoint is a C&C server, from its evidence. */
export function probability(model: ProfileModel, evidence: number): number {
  if (model.calibration) {
    const { a, b, c } = model.calibration;
    return Math.min(1, sigmoid(a * evidence + b) / c);
  }
  const logit = Math.log(model.prior / (1 - model.prior)) + model.temper * evidence * Math.LN10;
  return sigmoid(logit);
}

export interface Explanation {
  feature: string;
  direction: 'raised' | 'lowered';
  ja: string;
  en: string;
}

/**
 * The terms that moved the score by at least a factor of 2, strongest first, as
 * sentences with raw values: up to `up` that raised it and `down` that lowered it.
 */
export function explainTerms(f: EndpointFeatures, ts: readonly Term[], up = 4, down = 2): Explanation[] {
  const by = new Map(C2_PROFILE.map((s) => [s.name, s]));
  const strong = ts.filter((t) => t.value !== null && Math.abs(t.log10Ratio) >= Math.log10(2));
  const line = (t: Term): Explanation => {
    const s = by.get(t.feature)!.say(f, t.value!);
    const factor = Math.pow(10, Math.abs(t.log10Ratio));
    const times = factor >= 100 ? Math.round(factor).toLocaleString('en') : factor.toFixed(factor >= 10 ? 0 : 1);
    return t.log10Ratio > 0
      ? {
          feature: t.feature,
          direction: 'raised',
          ja: `${s.ja}：C&C ではこの ISP の通信より ${times} 倍多い（スコアを押し上げた）`,
          en: `${s.en}: ${times}× more common among C&C servers than in this ISP's traffic (raised the score)`,
        }
      : {
          feature: t.feature,
          direction: 'lowered',
          ja: `${s.ja}：C&C ではこの ISP の通信より ${times} 分の 1（スコアを押し下げた）`,
          en: `${s.en}: ${times}× less common among C&C servers than in this ISP's traffic (lowered the score)`,
        };
  };
  const raised = strong
    .filter((t) => t.log10Ratio > 0)
    .sort((a, b) => b.log10Ratio - a.log10Ratio)
    .slice(0, up);
  const lowered = strong
    .filter((t) => t.log10Ratio < 0)
    .sort((a, b) => a.log10Ratio - b.log10Ratio)
    .slice(0, down);
  return [...raised, ...lowered].map(line);
}

/** One line an analyst can repeat to a partner: who, how often, how it failed, which port. */
export function summary(f: EndpointFeatures): { ja: string; en: string } {
  const en: string[] = [`${num(perDay(f) * f.clients)} contacts a day from ${f.clients} subscriber${f.clients === 1 ? '' : 's'}`];
  const ja: string[] = [`加入者 ${f.clients} 人から 1 日 ${num(perDay(f) * f.clients)} 回の接続`];
  if (f.proto === 6 && f.failedShare >= 0.5) {
    en.push(`${pct(f.failedShare)} % SYN-only`);
    ja.push(`${pct(f.failedShare)} % が SYN のみ`);
  }
  if (f.portOtherClients === 0) {
    en.push(`port ${f.port} seen nowhere else`);
    ja.push(`ポート ${f.port} は他で使われていない`);
  } else {
    en.push(`port ${f.port}/${proto(f.proto)}`);
    ja.push(`ポート ${f.port}/${proto(f.proto)}`);
  }
  if (f.wideNetOtherClients === 0) {
    en.push('a network (/16) no other subscriber reaches');
    ja.push('他の加入者が接続しないネットワーク（/16）');
  }
  if (f.beaconScore >= 0.8) {
    en.push(`regular (beacon score ${f.beaconScore.toFixed(2)})`);
    ja.push(`規則的（ビーコンスコア ${f.beaconScore.toFixed(2)}）`);
  }
  if (f.clients >= 2 && f.clients <= MAX_GROUP && f.sharedClientNetworks > 0) {
    const n = f.sharedClientNetworks;
    en.push(`the same ${f.clients} subscribers alone also reach ${n} other network${n === 1 ? '' : 's'}`);
    ja.push(`同じ加入者 ${f.clients} 人だけが他の ${n} のネットワークにも接続`);
  }
  if (f.scanningClients > 0) {
    en.push(`${f.scanningClients} clients scanning`);
    ja.push(`接続元 ${f.scanningClients} 人がスキャン中`);
  }
  return { ja: ja.join('、'), en: en.join(', ') };
}

export interface Scored {
  features: EndpointFeatures;
  eligible: boolean;
  evidence: number;
  score: number;
  terms: Term[];
}

/** Scores every endpoint of a window against that window's own population; ineligible ones score 0. */
export function scoreWindow(
  model: ProfileModel,
  features: readonly EndpointFeatures[],
  knownC2?: (f: EndpointFeatures) => boolean,
): Scored[] {
  const population = populationOf(features, model, knownC2);
  return features.map((f) => {
    if (!eligible(model, f)) return { features: f, eligible: false, evidence: 0, score: 0, terms: [] };
    const ts = terms(model, population, f);
    const evidence = evidenceOf(ts);
    return { features: f, eligible: true, evidence, score: probability(model, evidence), terms: ts };
  });
}

// ---- learning from labels (positive-unlabelled) ----

/**
 * Logistic regression of y on one variable, by Newton's method (bounded iterations), with a ridge on
 * the slope: a handful of labels that separate perfectly must not make the scores a step function.
 */
function logistic1d(x: number[], y: number[], weights: number[], ridge = 1): { a: number; b: number } {
  let a = 0;
  let b = 0;
  for (let it = 0; it < 50; it++) {
    let ga = 0,
      gb = 0,
      haa = 0,
      hab = 0,
      hbb = 0;
    for (let i = 0; i < x.length; i++) {
      const p = sigmoid(a * x[i]! + b);
      const w = weights[i]!;
      const r = (y[i]! - p) * w;
      const h = p * (1 - p) * w;
      ga += r * x[i]!;
      gb += r;
      haa += h * x[i]! * x[i]!;
      hab += h * x[i]!;
      hbb += h;
    }
    ga -= ridge * a;
    haa += ridge;
    hbb += 1e-6;
    const det = haa * hbb - hab * hab;
    if (Math.abs(det) < 1e-12) break;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    a += da;
    b += db;
    if (Math.abs(da) + Math.abs(db) < 1e-9) break;
  }
  return { a, b };
}

export interface LabelledWindow {
  features: readonly EndpointFeatures[];
  /** 1: C&C (a valid reputation label or an analyst's confirmation); 0: benign (an analyst withdrew it); null: not known. */
  labels: ReadonlyArray<0 | 1 | null>;
}

/**
 * A new profile from labelled windows, positive-unlabelled: the C&C side is the
 * written profile plus the labelled C&C endpoints (the profile counts as
 * `profileWeight` endpoints); the benign side stays each window's population,
 * without its labelled C&C. Calibration is fitted only with at least
 * MIN_CALIBRATION_POSITIVES labelled C&C endpoints; otherwise the model says
 * so in its notes and keeps the default calibration.
 */
export function learnProfile(base: ProfileModel, windows: readonly LabelledWindow[]): ProfileModel {
  const model: ProfileModel = { ...base, c2: { ...base.c2 }, notes: [] };
  const posCounts: Record<string, number[]> = Object.fromEntries(C2_PROFILE.map((s) => [s.name, s.edges.map(() => 0)]));
  let positives = 0;
  let benign = 0;
  const evidence: Array<{ e: number; y: 0 | 1 | null }> = [];
  // The population stays whole, labelled endpoints included, as detection will see it: calibration is
  // fitted on the evidence detection will compute.
  const scoredWindows = windows.map((w) => ({ w, population: populationOf(w.features, base) }));
  for (const { w } of scoredWindows) {
    w.features.forEach((f, i) => {
      if (!eligible(base, f)) return;
      if (w.labels[i] === 1) {
        positives += 1;
        for (const s of C2_PROFILE) {
          const v = s.value(f);
          if (v !== null && Number.isFinite(v)) posCounts[s.name]![binOf(v, s.edges)]! += 1;
        }
      } else if (w.labels[i] === 0) benign += 1;
    });
  }
  for (const s of C2_PROFILE) {
    const prior = c2Of(base, s);
    const counts = posCounts[s.name]!;
    const n = counts.reduce((a, b) => a + b, 0);
    model.c2[s.name] = prior.map((p, b) => (p * base.profileWeight + counts[b]!) / (base.profileWeight + n));
  }
  model.labelled = { positives, benign };
  if (positives === 0) {
    model.calibration = null;
    model.notes.push(
      'no labelled C&C endpoint with enough contacts in the window(s): ' + 'the written profile and the default calibration are used',
    );
    return model;
  }
  const endpoints = `${positives} labelled C&C endpoint${positives === 1 ? '' : 's'}`;
  model.notes.push(`C&C profile updated by ${endpoints} (the written profile counts as ${base.profileWeight})`);
  if (positives < MIN_CALIBRATION_POSITIVES) {
    model.calibration = null;
    model.notes.push(
      `only ${endpoints} (< ${MIN_CALIBRATION_POSITIVES}): too few to calibrate scores; ` +
        `the default calibration (prior ${base.prior}, evidence × ${base.temper}) stays`,
    );
    return model;
  }
  for (const { w, population } of scoredWindows) {
    w.features.forEach((f, i) => {
      if (!eligible(base, f)) return;
      evidence.push({ e: evidenceOf(terms(model, population, f)), y: w.labels[i] ?? null });
    });
  }
  // Elkan & Noto: g = P(labelled | evidence) fitted on labelled vs. the rest (analyst-withdrawn ones
  // weigh as known benign); c = mean g over the labelled; P(C&C | evidence) = g ÷ c.
  const x = evidence.map((p) => p.e);
  const y = evidence.map((p) => (p.y === 1 ? 1 : 0));
  const wts = evidence.map((p) => (p.y === 0 ? 5 : 1));
  const { a, b } = logistic1d(x, y, wts);
  const labelledG = evidence.filter((p) => p.y === 1).map((p) => sigmoid(a * p.e + b));
  const c = Math.max(1e-6, labelledG.reduce((s, g) => s + g, 0) / labelledG.length);
  model.calibration = { a, b, c, positives };
  model.notes.push(`scores calibrated on ${positives} labelled C&C endpoints, positive-unlabelled (label frequency c = ${c.toFixed(3)})`);
  return model;
}
