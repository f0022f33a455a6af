/**
 * M1's operating threshold: which scored endpoints become candidates. By default it comes from a
 * false-candidate budget the operator sets (1 per 1,000 subscribers active in the window), turned into a
 * threshold on the profile's evidence for each window, without labels:
 *
 * - The evidence is a log10 likelihood ratio, P(features | C&C) ÷ P(features | this ISP), the benign side
 *   learnt from the window itself. For any likelihood ratio, a benign endpoint reaches 10^e or more with
 *   probability at most 10^−e (Markov's inequality: its mean under the benign side is 1; Royall's universal
 *   bound). Among n scored endpoints, at most n × 10^−e benign ones are then expected at or above evidence e;
 *   the threshold is the e where that equals the budget: e = log10(n ÷ budget).
 * - A floor: never below the evidence that offsets the prior odds (log10((1 − prior) ÷ prior), 3.0 at one
 *   C&C in 1,000 scored endpoints). Below it even the untempered model finds an endpoint more likely benign
 *   than C&C, so a quiet window, a small one or a generous budget raises nothing from noise.
 * - The fixed score threshold stays available (`rule: fixed`), and a forest, which has no likelihood ratio,
 *   keeps its own threshold (chosen for a target precision on its training data). Each run states which
 *   rule gave its threshold, and why, in Japanese and English.
 *
 * The bound assumes that the likelihood ratio is a true one. The features are not independent (hence the
 * profile's tempered score), so it is checked on real traffic (BENCHMARKS.md), not taken on trust.
 */
import { probability, type ProfileModel } from './profile.js';
import { kindOf, type AnyModel } from './training.js';

export interface ThresholdSetting {
  /** budget: from the false-candidate budget (default); fixed: a score threshold. */
  rule: 'budget' | 'fixed';
  falseCandidatesPer1000Subscribers: number;
  /** With rule fixed: candidates score at least this (default: the model's own threshold, 0.5 for the profile). */
  fixedScore?: number | undefined;
}

export const DEFAULT_THRESHOLD: ThresholdSetting = { rule: 'budget', falseCandidatesPer1000Subscribers: 1 };

export interface OperatingThreshold {
  /** budget: the budget set it; floor: the floor was higher; fixed: the setting's score; model: the forest's own. */
  rule: 'budget' | 'floor' | 'fixed' | 'model';
  /** Candidates: evidence at or above this (null: the rule is a score). */
  evidence: number | null;
  /** The threshold as a score (for evidence rules: the score at that evidence), as lists show it. */
  score: number;
  /** Subscribers active in the window, and endpoints the model scored. */
  subscribers: number;
  scored: number;
  /** False candidates the budget allows in this window (budget × subscribers ÷ 1,000); null without a budget. */
  allowed: number | null;
  /** At most this many benign endpoints are expected at or above the threshold (n × 10^−evidence). */
  expectedFalseAtMost: number | null;
  floor: number | null;
  reason: { ja: string; en: string };
}

/** The evidence at which the untempered likelihood ratio offsets the prior odds of one C&C endpoint. */
export function evidenceFloor(model: ProfileModel): number {
  return Math.log10((1 - model.prior) / model.prior);
}

const n0 = (x: number) => Math.round(x).toLocaleString('en');
const n2 = (x: number) => (x >= 10 ? x.toFixed(1) : x.toFixed(2));

/** The threshold of one window: its scored endpoints, its active subscribers, the operator's setting. */
export function operatingThreshold(
  model: AnyModel,
  window: { scored: number; subscribers: number },
  setting: ThresholdSetting = DEFAULT_THRESHOLD,
): OperatingThreshold {
  const { scored, subscribers } = window;
  const base = { subscribers, scored, allowed: null, expectedFalseAtMost: null, floor: null, evidence: null };
  if (setting.rule === 'fixed' || kindOf(model) !== 'profile') {
    const fixed = setting.rule === 'fixed';
    const score = fixed ? (setting.fixedScore ?? model.threshold) : model.threshold;
    const s = score.toFixed(3);
    const reason = fixed
      ? {
          ja: `運用しきい値はスコア ${s}（設定 operatingThreshold.rule: fixed による固定値）`,
          en: `operating threshold: score ${s}, fixed in the settings (operatingThreshold.rule: fixed)`,
        }
      : {
          ja:
            `運用しきい値はスコア ${s}（フォレストモデル自身のしきい値。誤検知予算による決め方は尤度比を要し、` +
            'フォレストにはないため使わない）',
          en:
            `operating threshold: score ${s}, the forest model's own (the false-candidate budget needs a likelihood ratio, ` +
            'which a forest has not)',
        };
    return { ...base, rule: fixed ? 'fixed' : 'model', score, reason };
  }
  const profile = model as ProfileModel;
  const per1000 = setting.falseCandidatesPer1000Subscribers;
  const allowed = (per1000 * subscribers) / 1000;
  const floor = evidenceFloor(profile);
  // No endpoint or no subscriber: nothing to bound, and nothing will be a candidate; the floor stands (finite, for JSON).
  const bound = scored > 0 && allowed > 0 ? Math.log10(scored / allowed) : -Infinity;
  const evidence = Math.max(bound, floor);
  const rule = bound >= floor ? 'budget' : 'floor';
  const expectedFalseAtMost = scored * Math.pow(10, -evidence);
  const score = probability(profile, evidence);
  const budgetEn =
    `budget ${per1000} false candidate${per1000 === 1 ? '' : 's'} per 1,000 subscribers × ${n0(subscribers)} active ` +
    `= ${n2(allowed)} in this window`;
  const budgetJa = `誤検知予算は加入者 1,000 人あたり ${per1000} 件 × 稼働加入者 ${n0(subscribers)} 人 = この時間窓で ${n2(allowed)} 件`;
  const boundEn =
    `a benign endpoint reaches evidence e with probability at most 10^−e, so at most ${n0(scored)} scored endpoints × ` +
    `10^−${evidence.toFixed(2)} = ${n2(expectedFalseAtMost)} false candidates are expected`;
  const boundJa =
    `良性の宛先が証拠 e 以上になる確率は 10^−e 以下なので、スコア対象 ${n0(scored)} 件 × 10^−${evidence.toFixed(2)} = ` +
    `誤検知は多くとも ${n2(expectedFalseAtMost)} 件と見込まれる`;
  const oneIn = n0(1 / profile.prior);
  const floorEn = `the floor, evidence ${floor.toFixed(2)}, where the likelihood ratio offsets the prior (1 C&C in ${oneIn})`;
  const floorJa = `下限は証拠 ${floor.toFixed(2)}（尤度比が事前確率 ${oneIn} 件に 1 件を打ち消す値）`;
  const head = `operating threshold: evidence ${evidence.toFixed(2)} (score ${score.toFixed(3)})`;
  const headJa = `運用しきい値は証拠 ${evidence.toFixed(2)}（スコア ${score.toFixed(3)}）`;
  const reason =
    rule === 'budget'
      ? {
          ja: `${headJa}：${budgetJa}。${boundJa}。${floorJa}はこれより低い`,
          en: `${head}, from the false-candidate ${budgetEn}; ${boundEn} (${floorEn}, is lower)`,
        }
      : {
          ja:
            `${headJa}：${floorJa}。${budgetJa}で、予算だけなら` +
            `${Number.isFinite(bound) ? `証拠 ${bound.toFixed(2)} まで下げられる` : 'いくらでも下げられる（スコア対象なし）'}が、` +
            `下限を下回る宛先は候補にしない。${boundJa}`,
          en:
            `${head}: ${floorEn}; the false-candidate ${budgetEn} alone would allow ` +
            `${Number.isFinite(bound) ? `evidence ${bound.toFixed(2)}` : 'anything (no endpoint scored)'}, ` +
            `but nothing under the floor is a candidate; ${boundEn}`,
        };
  return { ...base, rule, evidence, score, allowed, expectedFalseAtMost, floor, reason };
}

/** Whether a scored endpoint is a candidate under the threshold (endpoints the model did not score never are). */
export function admits(t: OperatingThreshold, r: { score: number; evidence?: number | undefined }): boolean {
  if (r.score <= 0) return false;
  return t.evidence === null ? r.score >= t.score : r.evidence !== undefined && r.evidence >= t.evidence;
}
