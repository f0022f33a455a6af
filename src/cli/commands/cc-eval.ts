/**
 * `mamori cc eval`: M1's evaluation beside two baselines, on simulated scenarios or on real traffic replicated
 * over many subscribers. It builds whole throwaway instances (src/app/evaluate-m1.ts), so it lives with the CLI
 * rather than in M1's folder.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { evaluateM1 } from '../../app/evaluate-m1.js';
import { evaluateReal, parseC2Endpoint, type RealEvalReport } from '../../app/evaluate-real.js';
import { precision, whole } from '../../measures/cc-detection/cli.js';
import { modelFile, parseModelFile, TrainingError, type AnyModel } from '../../measures/cc-detection/training.js';
import type { EndpointKey } from '../../simulate/real-isp.js';
import { UsageError } from '../context.js';

const fmt = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(3));

function printRealReport(r: RealEvalReport, out: (s: string) => void): void {
  const days = r.benignDays.map((d) => `${d.file} (${d.outbound} outbound, ${d.inbound} inbound connections)`).join(', ');
  out(`real traffic: ${r.subscribers} subscribers from ${days}\n`);
  for (const i of r.infections) {
    const from = i.source === 'labels' ? 'from its labels' : 'given with --c2';
    out(`infection ${i.family} (${i.file}): C&C ${i.c2.join(', ')} (${from}), mixed into ${i.infectedSubscribers} subscribers\n`);
  }
  for (const l of r.leftOut) out(`left out: ${l}\n`);
  out(
    `${r.records} flow records through the collector, ${r.dropped} dropped; ${r.endpoints} endpoints scored (${r.positives} C&C), ` +
      `${r.excluded} other endpoints of infected hosts left out of the scores; no C&C label given to the model\n\n`,
  );
  out(
    '| method | PR-AUC | PR-AUC per family | ranks of the C&C endpoints | threshold | TP | FP | FN ' +
      '| false candidates per 1,000 subscribers |\n' +
      '|---|---|---|---|---|---|---|---|---|\n',
  );
  for (const m of r.methods) {
    const ranks = m.ranks.map((x) => `${x.endpoint} ${x.rank}`).join(', ');
    const fam = m.perFamily.map((x) => `${x.family} ${fmt(x.prAuc)}`).join(', ');
    const threshold = Number.isFinite(m.threshold) ? fmt(m.threshold) : 'none without a false alarm';
    const per1000 = m.falsePer1000Subscribers.toFixed(2);
    out(`| ${m.name} | ${fmt(m.prAuc)} | ${fam} | ${ranks} | ${threshold} | ${m.tp} | ${m.fp} | ${m.fn} | ${per1000} |\n`);
  }
  const g = r.sharedGroup;
  out(
    `\nshared group of subscribers (another network reached by exactly the same 2–64): ${g.cc} of ${r.positives} C&C endpoints, ` +
      `${g.benign} of ${g.eligibleBenign} benign endpoints with 10+ contacts\n`,
  );
  out("\nMamori's top 10:\n");
  for (const t of r.top) {
    const evidence = t.evidence !== undefined ? ` (evidence ${t.evidence.toFixed(1)})` : '';
    out(`${t.rank}. ${t.endpoint} [${t.truth}${t.family ? ` ${t.family}` : ''}] score ${fmt(t.score)}${evidence}: ${t.summary}\n`);
    for (const e of t.explanation) out(`     - ${e}\n`);
  }
}

export function ccEvalCommand(cc: Command): void {
  const list = (v: string) => {
    const out = v.split(',').map((x) => Number(x.trim()));
    if (out.some((x) => !Number.isInteger(x) || x < 0)) throw new InvalidArgumentError('a comma-separated list of whole numbers');
    return out;
  };
  const names = (v: string) =>
    v
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  cc.command('eval')
    .description(
      'evaluate M1 beside two baselines: on the synthetic ISP (train on some seeds, score held-out ones), ' +
        'or with --real DIR on real traffic replicated over many subscribers; both in a throwaway directory',
    )
    .option('--real <dir>', 'real traffic: Zeek conn logs (benign days: names with "benign" or "normal"; others: infections)')
    .option(
      '--c2 <endpoint>',
      'with --real: a C&C endpoint of an unlabelled capture (ADDRESS:PORT[/udp]); repeatable',
      (v: string, prev: EndpointKey[] = []) => {
        const e = parseC2Endpoint(v);
        if (typeof e === 'string') throw new InvalidArgumentError(e);
        return [...prev, e];
      },
    )
    .option('--infected <n>', 'with --real: subscribers infected by each infection', whole(1, 1000), 3)
    .option('--benign-days <names>', 'with --real: only these benign days (comma-separated file names or parts)', names)
    .option('--families <names>', 'with --real: only these infections (comma-separated file names or parts)', names)
    .option('--model <file>', 'with --real: evaluate this model file instead of the built-in profile')
    .option('--subscribers <n>', 'subscribers (synthetic: per scenario)', whole(10, 100_000))
    .option('--hours <n>', 'hours per synthetic scenario', whole(2, 168), 24)
    .option('--train <seeds>', 'training scenario seeds (synthetic)', list, [1, 2, 3, 4])
    .option('--test <seeds>', 'held-out scenario seeds (synthetic)', list, [101, 102])
    .option('--target-precision <p>', 'precision the threshold is chosen for (synthetic)', precision, 0.95)
    .option('--min-clients <n>', 'score only endpoints with at least this many clients (synthetic)', whole(1, 1_000_000), 10)
    .option('--trees <n>', 'trees in the forest (synthetic)', whole(1, 2000), 100)
    .option('--seed <n>', 'model seed (synthetic) or replication seed (--real)', whole(0, 2 ** 31), 42)
    .option('--rate <records/s>', 'sending rate through the collector', whole(1000, 5_000_000), 100_000)
    .option(
      '--save-model <file>',
      'write the model this run made (synthetic: the forest; --real: the profile learnt from its labels) for "mamori cc models import"',
    )
    .action(
      async (o: {
        real?: string;
        c2?: EndpointKey[];
        infected: number;
        benignDays?: string[];
        families?: string[];
        model?: string;
        subscribers?: number;
        hours: number;
        train: number[];
        test: number[];
        targetPrecision: number;
        minClients: number;
        trees: number;
        seed: number;
        rate: number;
        saveModel?: string;
      }) => {
        const command = `mamori ${process.argv.slice(2).join(' ')}`;
        if (o.real) {
          let model: AnyModel | undefined;
          if (o.model) {
            try {
              model = parseModelFile(readFileSync(o.model, 'utf8'), o.model).model;
            } catch (err) {
              throw err instanceof TrainingError ? err : new UsageError(`cannot read ${o.model}: ${(err as NodeJS.ErrnoException).code}`);
            }
          }
          let r: RealEvalReport;
          try {
            r = await evaluateReal({
              dir: o.real,
              c2: o.c2 ?? [],
              subscribers: o.subscribers ?? 1000,
              infectedPerFamily: o.infected,
              seed: o.seed,
              rate: o.rate,
              ...(o.benignDays ? { benignDays: o.benignDays } : {}),
              ...(o.families ? { families: o.families } : {}),
              ...(model ? { model } : {}),
              onStep: (m) => process.stderr.write(`${m}\n`),
            });
          } catch (err) {
            if (err instanceof Error && /^(cannot read|.*: no (benign day|infection)|the collector dropped)/.test(err.message))
              throw new UsageError(err.message);
            throw err;
          }
          printRealReport(r, (s) => process.stdout.write(s));
          if (o.saveModel) {
            const mam = r.methods[0]!;
            writeFileSync(
              o.saveModel,
              JSON.stringify(
                modelFile(r.learnt, {
                  command,
                  figures: [
                    `real traffic, ${r.subscribers} subscribers: PR-AUC ${fmt(mam.prAuc)}, ` +
                      `C&C ranks ${mam.ranks.map((x) => x.rank).join(', ')}, ${mam.fp} false candidates`,
                  ],
                }),
                null,
                1,
              ),
            );
            process.stdout.write(`\nmodel written to ${o.saveModel} (${r.learnt.notes.join('; ')})\n`);
          }
          return;
        }
        if (o.c2 || o.benignDays || o.families || o.model)
          throw new UsageError('--c2, --benign-days, --families and --model go with --real');
        const subscribers = o.subscribers ?? 2000;
        const r = await evaluateM1({
          ...o,
          subscribers,
          trainSeeds: o.train,
          testSeeds: o.test,
          onStep: (m) => process.stderr.write(`${m}\n`),
        });
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
        if (o.saveModel) {
          writeFileSync(
            o.saveModel,
            JSON.stringify(
              modelFile(r.model, {
                command,
                figures: r.scenarios.map(
                  (s) =>
                    `synthetic seed ${s.seed}: PR-AUC ${fmt(s.model.prAuc)}, precision ${fmt(s.model.precision)}, ` +
                    `recall ${fmt(s.model.recall)}`,
                ),
              }),
              null,
              1,
            ),
          );
          process.stdout.write(
            `\nmodel written to ${o.saveModel} (a forest trained on the simulator's truth: ` +
              `check it on real traffic with --real … --model ${o.saveModel} before promoting it)\n`,
          );
        }
      },
    );
}
