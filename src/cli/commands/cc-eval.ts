/**
 * `mamori cc eval`: M1's evaluation on simulated scenarios. It builds whole throwaway instances
 * (src/app/evaluate-m1.ts), so it lives with the CLI rather than in M1's folder.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { evaluateM1 } from '../../app/evaluate-m1.js';

export function ccEvalCommand(cc: Command): void {
  const list = (v: string) => {
    const out = v.split(',').map((x) => Number(x.trim()));
    if (out.some((x) => !Number.isInteger(x) || x < 0)) throw new InvalidArgumentError('a comma-separated list of whole numbers');
    return out;
  };
  const whole = (min: number, max: number) => (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`a whole number from ${min} to ${max}`);
    return n;
  };
  cc.command('eval')
    .description(
      'train on simulated scenarios and score held-out ones ' +
        '(other seeds, other botnet families) ' +
        'beside two baselines; synthetic data only, in a throwaway directory',
    )
    .option('--subscribers <n>', 'subscribers per scenario', whole(10, 100_000), 2000)
    .option('--hours <n>', 'hours per scenario', whole(2, 168), 24)
    .option('--train <seeds>', 'training scenario seeds', list, [1, 2, 3, 4])
    .option('--test <seeds>', 'held-out scenario seeds', list, [101, 102])
    .option(
      '--target-precision <p>',
      'precision the threshold is chosen for',
      (v) => {
        const p = Number(v);
        if (!(p > 0 && p <= 1)) throw new InvalidArgumentError('a number in (0, 1]');
        return p;
      },
      0.95,
    )
    .option('--min-clients <n>', 'score only endpoints with at least this many clients', whole(1, 1_000_000), 10)
    .option('--trees <n>', 'trees in the forest', whole(1, 2000), 100)
    .option('--seed <n>', 'model seed', whole(0, 2 ** 31), 42)
    .option('--rate <records/s>', 'sending rate of the simulator', whole(1000, 5_000_000), 100_000)
    .action(
      async (o: {
        subscribers: number;
        hours: number;
        train: number[];
        test: number[];
        targetPrecision: number;
        minClients: number;
        trees: number;
        seed: number;
        rate: number;
      }) => {
        const r = await evaluateM1({ ...o, trainSeeds: o.train, testSeeds: o.test, onStep: (m) => process.stderr.write(`${m}\n`) });
        const fmt = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(3));
        process.stdout.write(
          `trained on ${r.trainSamples} endpoints (${r.trainPositives} ` +
            `C&C), seeds ${o.train.join(',')}; ` +
            (`target precision ${o.targetPrecision}; endpoints with ` + `>= ${o.minClients} clients scored\n`),
        );
        for (const s of r.scenarios) {
          process.stdout.write(
            `\nheld-out scenario seed ${s.seed} (${s.families.join(', ')}): ${s.endpoints} endpoints, ${s.positives} C&C\n`,
          );
          process.stdout.write(
            '| method | PR-AUC | threshold | precision | recall | TP | FP | FN | TN |\n|---|---|---|---|---|---|---|---|---|\n',
          );
          for (const m of [s.model, s.beacon, s.fanIn]) {
            process.stdout.write(
              `| ${m.name} | ${fmt(m.prAuc)} | ${Number.isFinite(m.threshold) ? fmt(m.threshold) : 'none reaches the target'} ` +
                (`| ${fmt(m.precision)} | ${fmt(m.recall)} | ${m.confusion.tp} ` + `| ${m.confusion.fp} | ${m.confusion.fn} `) +
                `| ${m.confusion.tn} |\n`,
            );
          }
          for (const x of s.misses) process.stdout.write(`missed: ${x.family} (${x.clients} clients, score ${fmt(x.score)})\n`);
          for (const x of s.falseAlarms) process.stdout.write(`false alarm: ${x.family} (${x.clients} clients, score ${fmt(x.score)})\n`);
        }
      },
    );
}
