/**
 * How much M1's novelty term owes to the replication (BENCHMARKS.md): the replicated background puts every benign
 * endpoint in a network (/16) other subscribers reach, so no benign endpoint is "novel" there, while a real ISP has
 * some (one subscriber's site on a small hoster). This takes one real-traffic window (one infected subscriber per
 * family, no label given) and makes a share of the benign endpoints with 1–2 clients novel, then scores the window
 * again with the built-in profile: the population learns the new share, and the C&C endpoints must still rank.
 *
 *   node dist/bench/cc-real-stress.js [subscribers=1000] [seed=1] [rate=30000]
 */
import { join } from 'node:path';
import { evaluateReal } from '../src/app/evaluate-real.js';
import { rng } from '../src/core/random.js';
import { prAuc } from '../src/measures/cc-detection/model.js';
import { defaultProfile, scoreWindow } from '../src/measures/cc-detection/profile.js';
import { admits, operatingThreshold } from '../src/measures/cc-detection/threshold.js';

const subscribers = Number(process.argv[2] ?? 1000);
const seed = Number(process.argv[3] ?? 1);
const rate = Number(process.argv[4] ?? 30_000);
const DIR = join(new URL('../../', import.meta.url).pathname, '../shared/data/c2-real');
const c2 = [
  { address: '23.253.126.58', port: 80, proto: 6 },
  { address: '104.239.157.210', port: 80, proto: 6 },
];
const r = await evaluateReal({ dir: DIR, c2, subscribers, infectedPerFamily: 1, seed, rate, keepWindow: true });
const { features, truth } = r.window!;
const model = defaultProfile();
console.log(`one window: ${subscribers} subscribers, seed ${seed}, one infected subscriber per family, no label given\n`);
console.log(
  '| benign 1–2-client endpoints made novel | novel benign endpoints scored | PR-AUC | C&C ranks (score) ' +
    '| operating threshold (evidence, rule) | C&C candidates | false candidates |',
);
console.log('|---|---|---|---|---|---|---|');
for (const share of [0, 0.01, 0.02, 0.05, 0.1]) {
  const pick = rng(7);
  const changed = features.map((f, i) =>
    truth[i]!.truth === 'benign' && f.clients <= 2 && pick() < share ? { ...f, wideNetOtherClients: 0 } : f,
  );
  const scored = scoreWindow(model, changed);
  // The threshold detection would choose for this window (the default budget: 1 per 1,000 subscribers).
  const op = operatingThreshold(model, { scored: scored.filter((x) => x.eligible).length, subscribers: features[0]?.subscribers ?? 0 });
  const rows = scored
    .map((s, i) => ({ s, t: truth[i]!.truth }))
    .filter((x) => x.t !== 'infection-other')
    .sort((a, b) => b.s.score - a.s.score || b.s.evidence - a.s.evidence);
  const y = rows.map((x) => (x.t === 'cc' ? 1 : 0));
  const ap = prAuc(
    rows.map((_, i) => rows.length - i),
    y,
  );
  const ranks = rows.flatMap((x, i) => (x.t === 'cc' ? [`${i + 1} (${x.s.score.toFixed(3)})`] : []));
  const novel = rows.filter((x) => x.t === 'benign' && x.s.eligible && x.s.features.wideNetOtherClients === 0).length;
  const fp = rows.filter((x) => x.t === 'benign' && admits(op, x.s)).length;
  const tp = rows.filter((x) => x.t === 'cc' && admits(op, x.s)).length;
  const at = `${op.evidence?.toFixed(2)}, ${op.rule}`;
  console.log(`| ${(share * 100).toFixed(0)} % | ${novel} | ${ap.toFixed(3)} | ${ranks.join(', ')} | ${at} | ${tp} | ${fp} |`);
}
