/**
 * M1 on real traffic (BENCHMARKS.md): the evaluation of `mamori cc eval --real`
 * at 1,000 subscribers with three and with one infected subscriber per family,
 * and the hold-outs (one infected subscriber each) — each benign day alone as
 * the background, each infection alone — with both baselines in every run.
 * The built-in profile is scored with no C&C label given.
 *
 * Candidates are chosen as detection chooses them: the operating threshold from the false-candidate budget
 * (1 per 1,000 subscribers), stated for every run.
 *
 *   node dist/bench/cc-real.js [subscribers=1000] [seeds=1,2,3] [rate=40000] [only runs whose name contains this]
 */
import { join } from 'node:path';
import { evaluateReal, type RealEvalReport } from '../src/app/evaluate-real.js';

const subscribers = Number(process.argv[2] ?? 1000);
const seeds = (process.argv[3] ?? '1,2,3').split(',').map(Number);
const rate = Number(process.argv[4] ?? 40_000);
const only = process.argv[5];
const DIR = join(new URL('../../', import.meta.url).pathname, '../shared/data/c2-real');
const c2 = [
  { address: '23.253.126.58', port: 80, proto: 6 },
  { address: '104.239.157.210', port: 80, proto: 6 },
];
const fmt = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(3));

// One infected subscriber per family is the hard case (no group of subscribers for any C&C to share: the single host's
// own evidence must carry it), so the hold-outs are run with one; three per family is the case with a group.
const runs: Array<{ name: string; benignDays?: string[]; families?: string[]; infected: number; seeds: number[] }> = [
  { name: 'both days, both infections, 3 infected each', infected: 3, seeds },
  { name: 'both days, both infections, 1 infected each', infected: 1, seeds },
  { name: 'hold-out background: day 1 only, 1 infected each', benignDays: ['normal-40-day1'], infected: 1, seeds: [seeds[0]!] },
  { name: 'hold-out background: day 2 only, 1 infected each', benignDays: ['normal-42-day2'], infected: 1, seeds: [seeds[0]!] },
  { name: 'hold-out family: RemcosRAT alone, 1 infected', families: ['remcosrat'], infected: 1, seeds: [seeds[0]!] },
  { name: 'hold-out family: Simda alone, 1 infected', families: ['simda'], infected: 1, seeds: [seeds[0]!] },
];

console.log(`M1 on real traffic: ${subscribers} subscribers, ${DIR}\n`);
console.log(
  '| run | seed | endpoints | method | PR-AUC (all C&C) | PR-AUC per family | C&C ranks | TP | FP ' + '| false per 1,000 subscribers |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
const tops: Array<{ name: string; seed: number; r: RealEvalReport }> = [];
const thresholds: string[] = [];
for (const run of runs.filter((x) => only === undefined || x.name.includes(only))) {
  for (const seed of run.seeds) {
    const t0 = performance.now();
    const r = await evaluateReal({
      dir: DIR,
      c2,
      subscribers,
      infectedPerFamily: run.infected,
      seed,
      rate,
      ...(run.benignDays ? { benignDays: run.benignDays } : {}),
      ...(run.families ? { families: run.families } : {}),
    });
    for (const m of r.methods) {
      const families = m.perFamily.map((f) => `${f.family.replace(/-ctu.*$/, '')} ${fmt(f.prAuc)}`).join(', ');
      const ranks = m.ranks
        .map((x) => `${x.endpoint.replace(/\/tcp$/, '')} ${x.rank}${m === r.methods[0] ? ` (${fmt(x.score)})` : ''}`)
        .join(', ');
      console.log(
        `| ${run.name} | ${seed} | ${r.endpoints} | ${m.name} | ${fmt(m.prAuc)} | ${families} | ${ranks} | ${m.tp} | ${m.fp} ` +
          `| ${m.falsePer1000Subscribers.toFixed(2)} |`,
      );
    }
    const g = r.sharedGroup;
    process.stderr.write(
      `${run.name}, seed ${seed}: ${r.records} records, ${((performance.now() - t0) / 1000).toFixed(0)} s; ` +
        `shared group: ${g.cc} of ${r.positives} C&C, ${g.benign} of ${g.eligibleBenign} benign endpoints with 10+ contacts\n`,
    );
    if (seed === seeds[0] && !run.benignDays && !run.families) tops.push({ name: run.name, seed, r });
    const op = r.methods[0]!.operating;
    if (op) thresholds.push(`${run.name}, seed ${seed}: ${op.reason.en}`);
    // Where the C&C endpoints scored against the first benign endpoint: the margin an unseen capture would have.
    const firstBenign = r.top.find((t) => t.truth === 'benign');
    if (firstBenign) {
      const e = firstBenign.evidence?.toFixed(2) ?? 'n/a';
      process.stderr.write(`  first benign endpoint: rank ${firstBenign.rank}, score ${fmt(firstBenign.score)}, evidence ${e}\n`);
    }
  }
}
console.log('\nOperating thresholds (Mamori):');
for (const t of thresholds) console.log(`- ${t}`);
for (const { name, seed, r } of tops) {
  console.log(`\nTop 5 of "${name}", seed ${seed} (no label given):`);
  for (const t of r.top.slice(0, 5)) {
    const truth = `${t.truth}${t.family ? ` ${t.family}` : ''}`;
    console.log(`${t.rank}. ${t.endpoint} [${truth}] score ${fmt(t.score)} (evidence ${t.evidence?.toFixed(1)}): ${t.summary}`);
    for (const e of t.explanation) console.log(`   - ${e}`);
  }
}
