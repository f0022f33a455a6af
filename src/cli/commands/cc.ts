/** `mamori` commands: M1: C&C server detection. */
import { evaluateM1 } from '../../measures/cc-detection/evaluate.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { type LabelFormat } from '../../measures/cc-detection/labels.js';
import { importLabels, labelSources } from '../../measures/cc-detection/label-store.js';
import { actor, isoTime, UsageError, withMamori } from '../context.js';
import { parseDuration } from '../../core/duration.js';
import { m1Handles, runDetection } from '../../measures/cc-detection/run.js';
import { listModels, trainOnWindow } from '../../measures/cc-detection/training.js';

export function ccCommands(program: Command): void {
  const cc = program.command('cc').description('M1: C&C server detection');
  const labels = cc.command('labels').description('reputation lists used as teacher data (labels)');
  labels
    .command('import')
    .argument('<file>', 'the list')
    .addOption(new Option('--format <format>', 'file format').choices(['feodo-csv', 'ip-list', 'stix']).makeOptionMandatory())
    .requiredOption('--source <name>', 'name of the list (a new import of the same name replaces it)')
    .option(
      '--valid-days <n>',
      'how long a label holds after its last sighting, when the list gives no end',
      (v) => {
        if (!/^\d{1,4}$/.test(v) || Number(v) < 1) throw new InvalidArgumentError('a number of days (1–9999)');
        return Number(v);
      },
      30,
    )
    .description('import a reputation list; every skipped line is reported, and a broken file is refused whole')
    .action(async (file: string, o: { format: LabelFormat; source: string; validDays: number }, cmd: Command) => {
      const request = { file, format: o.format, source: o.source, validityDays: o.validDays, actor: actor() };
      const r = await withMamori(cmd, (m) => importLabels(m.state, m.audit, request), false, true);
      process.stdout.write(
        `imported ${r.labels.length} labels from ${file} as ` +
          `"${r.source}" (${r.format}); ${r.duplicates} ` +
          `duplicates merged; ${r.skipped.length} lines skipped\n`,
      );
      for (const s of r.skipped.slice(0, 50))
        process.stdout.write(`  skipped ${o.format === 'stix' ? 'object' : 'line'} ${s.line}: ${s.reason}\n`);
      if (r.skipped.length > 50) process.stdout.write(`  … and ${r.skipped.length - 50} more\n`);
    });
  labels
    .command('sources')
    .description('the imported lists')
    .action(async (_o, cmd: Command) => {
      for (const s of await withMamori(cmd, (m) => labelSources(m.state))) {
        process.stdout.write(
          `${s.name}\t${s.format}\t${s.labels} labels\t${s.skipped} ` +
            `skipped\t${s.imported_at}\t${s.imported_by}\tsha256 ` +
            `${s.file_sha256.slice(0, 16)}…\n`,
        );
      }
    });

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
  const windowEnd = (v: string) => new Date(isoTime(v));
  cc.command('train')
    .description(
      'train a new model version on the stored window of ' +
        'flows, labelled by the imported lists and ' +
        ("analysts' decisions (the server must be stopped: one " + 'process owns the analytics store)'),
    )
    .option('--to <time>', 'end of the window (default: now)', windowEnd)
    .option('--window <duration>', 'length of the window (default: measures.cc-detection.window)')
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
    .option('--trees <n>', 'trees in the forest', whole(1, 2000), 100)
    .option('--seed <n>', 'model seed (same data and seed, same model)', whole(0, 2 ** 31), 42)
    .action(async (o: { to?: Date; window?: string; targetPrecision: number; trees: number; seed: number }, cmd: Command) => {
      const r = await withMamori(
        cmd,
        async (m) => {
          const { own, flows } = await m1Handles(m.broker.forMeasure('cc-detection'));
          const to = o.to ?? new Date();
          const from = new Date(to.getTime() - parseDuration(o.window ?? own.settings.window) * 1000);
          return trainOnWindow({
            flows,
            state: own.store,
            audit: own.audit,
            scope: own.settings.scope,
            from,
            to,
            seed: o.seed,
            trees: o.trees,
            targetPrecision: o.targetPrecision,
            actor: actor(),
          });
        },
        true,
      );
      process.stdout.write(
        `model version ${r.version}: ${r.model.samples} endpoints, ` +
          `${r.model.positives} labelled C&C; ` +
          (`threshold ${r.model.threshold.toFixed(3)} for precision ` + `${r.model.targetPrecision}\n`),
      );
    });
  cc.command('detect')
    .description(
      'run one detection now over the window ending now, ' +
        'with the latest model (the server must be ' +
        'stopped; while it runs, it does this every runInterval)',
    )
    .action(async (_o, cmd: Command) => {
      const o = await withMamori(
        cmd,
        async (m) => {
          const { own, flows } = await m1Handles(m.broker.forMeasure('cc-detection'));
          return runDetection({ flows, own, settings: own.settings, now: new Date(), actor: actor() });
        },
        true,
      );
      if (!o.ran) throw new UsageError(o.reason);
      const r = o.result;
      process.stdout.write(
        `model ${o.modelVersion}: ${r.endpoints} endpoints ` +
          `scored; ${r.detected} above the threshold ` +
          (`${r.threshold.toFixed(3)} (${r.created} new, ${r.redetected} ` + `re-detected), ${r.allowListed} `) +
          (`allow-listed, ${r.expired} expired; ${r.flowsDeleted} ` + `flows deleted after analysis\n`),
      );
      for (const p of r.health.problems) process.stdout.write(`warning: ${p}\n`);
    });
  cc.command('models')
    .description('the trained model versions')
    .action(async (_o, cmd: Command) => {
      for (const v of await withMamori(cmd, (m) => listModels(m.state))) {
        process.stdout.write(
          `${v.version}\t${v.trainedAt}\t${v.trainedBy}\tseed ` +
            `${v.seed}\t${v.samples} endpoints, ${v.positives} ` +
            (`C&C\tthreshold ${v.threshold.toFixed(3)}\twindow ${v.windowFrom} ` + `– ${v.windowTo}\n`),
        );
      }
    });

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
