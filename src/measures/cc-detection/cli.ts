/**
 * `mamori cc …`: M1's commands — reputation lists (labels), model versions (make, import, promote), a detection run
 * now, and the running server's candidates (list, show, decide). `cc eval` is src/cli/commands/cc-eval.ts.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { MeasureCli } from '../../core/cli.js';
import { parseDuration } from '../../core/duration.js';
import { UsageError } from '../../core/errors.js';
import type { LabelFormat } from '../../share/labels.js';
import { importLabels, labelSources } from './label-store.js';
import { m1Handles, runDetection } from './run.js';
import { importModelFile, kindOf, listModels, promoteModel, trainOnWindow } from './training.js';

interface ApiCandidate {
  id: string;
  address: string;
  port: number;
  proto: number;
  status: string;
  score: number;
  firstDetected: string;
  lastDetected: string;
  detections: number;
  statusChangedAt: string;
  statusChangedBy: string;
  statusReason: string | null;
  evidence: {
    features: Record<string, number>;
    explanation: Array<{ ja: string; en: string }>;
    summary?: { ja: string; en: string };
    evidence?: number;
    rank?: number;
    scored?: number;
    modelVersion?: number;
  };
}

const protoName = (p: number) => (p === 6 ? 'tcp' : p === 17 ? 'udp' : String(p));

/** Argument parsers of M1's commands (and of `cc eval`): a whole number in a range, a precision in (0, 1]. */
export const whole = (min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`a whole number from ${min} to ${max}`);
  return n;
};
export const precision = (v: string) => {
  const p = Number(v);
  if (!(p > 0 && p <= 1)) throw new InvalidArgumentError('a number in (0, 1]');
  return p;
};

export const ccDetectionCli: MeasureCli = (program, { withInstance, request, actor, isoTime, readFile }) => {
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
      const request = { file: readFile(file), format: o.format, source: o.source, validityDays: o.validDays, actor: actor() };
      const r = await withInstance(cmd, (m) => importLabels(m.state, m.audit, request), { create: true });
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
      for (const s of await withInstance(cmd, (m) => labelSources(m.state))) {
        process.stdout.write(
          `${s.name}\t${s.format}\t${s.labels} labels\t${s.skipped} ` +
            `skipped\t${s.imported_at}\t${s.imported_by}\tsha256 ` +
            `${s.file_sha256.slice(0, 16)}…\n`,
        );
      }
    });

  const windowEnd = (v: string) => new Date(isoTime(v));
  cc.command('train')
    .description(
      "make a new model version from the stored window, labelled by the imported lists and analysts' decisions " +
        '(not used until promoted; the server must be stopped: one process owns the analytics store)',
    )
    .option('--to <time>', 'end of the window (default: now)', windowEnd)
    .option('--window <duration>', 'length of the window (default: measures.cc-detection.window)')
    .addOption(
      new Option(
        '--kind <kind>',
        'profile: the built-in profile updated by the labels; forest: a random forest (needs 20 labelled C&C endpoints)',
      )
        .choices(['profile', 'forest'])
        .default('profile'),
    )
    .option('--target-precision <p>', "precision a forest's threshold is chosen for", precision, 0.95)
    .option('--trees <n>', 'trees in a forest', whole(1, 2000), 100)
    .option('--seed <n>', 'model seed (same data and seed, same model)', whole(0, 2 ** 31), 42)
    .option('--promote', 'use it for detection from now on (refused if the model says it is unfit)')
    .action(
      async (
        o: {
          to?: Date;
          window?: string;
          kind: 'profile' | 'forest';
          targetPrecision: number;
          trees: number;
          seed: number;
          promote?: boolean;
        },
        cmd: Command,
      ) => {
        const r = await withInstance(
          cmd,
          async (m) => {
            const { own, flows } = await m1Handles(m.broker.forMeasure('cc-detection'));
            const to = o.to ?? new Date();
            const from = new Date(to.getTime() - parseDuration(o.window ?? own.settings.window) * 1000);
            const stored = await trainOnWindow({
              flows,
              state: own.store,
              audit: own.audit,
              scope: own.settings.scope,
              from,
              to,
              kind: o.kind,
              seed: o.seed,
              trees: o.trees,
              targetPrecision: o.targetPrecision,
              actor: actor(),
            });
            if (o.promote) await promoteModel(own.store, own.audit, stored.version, actor());
            return stored;
          },
          { analytics: true },
        );
        const use = o.promote
          ? 'promoted: detection uses it from now on'
          : `not used until promoted (mamori cc models promote ${r.version})`;
        process.stdout.write(`model version ${r.version} (${kindOf(r.model)}): threshold ${r.model.threshold.toFixed(3)}; ${use}\n`);
        for (const n of r.notes) process.stdout.write(`  ${n}\n`);
      },
    );
  cc.command('detect')
    .description(
      'run one detection now over the window ending now (or --to), with the active model ' +
        '(the server must be stopped; while it runs, it does this every runInterval)',
    )
    .option('--to <time>', 'end of the window (default: now), e.g. to analyse flows imported from the past', windowEnd)
    .action(async (o: { to?: Date }, cmd: Command) => {
      const out = await withInstance(
        cmd,
        async (m) => {
          const { own, flows } = await m1Handles(m.broker.forMeasure('cc-detection'));
          return runDetection({ flows, own, settings: own.settings, now: o.to ?? new Date(), actor: actor() });
        },
        { analytics: true },
      );
      if (!out.ran) throw new UsageError(out.reason);
      const r = out.result;
      const model = `${out.modelVersion}${out.modelVersion === 0 ? ' (built-in profile)' : ''}`;
      process.stdout.write(
        `window ${r.window.from} – ${r.window.to}, model ${model}: ${r.endpoints} endpoints; ` +
          `${r.detected} at or above the threshold ${r.threshold.toFixed(3)} (${r.created} new, ${r.redetected} re-detected), ` +
          `${r.allowListed} allow-listed, ${r.expired} expired\n`,
      );
      process.stdout.write(`${r.operating.reason.en}\n`);
      process.stdout.write(
        `${r.flowsDeleted} analysed flows deleted (older than the window, not evidence of a current candidate); ` +
          `${r.unanalysedKept} older flows no run has analysed kept until retention\n`,
      );
      for (const p of r.health.problems) process.stdout.write(`warning: ${p}\n`);
    });

  const models = cc.command('models').description('model versions: list, import one made by an evaluation, promote one for detection');
  models
    .command('list', { isDefault: true })
    .description('the versions (0: the built-in profile); * marks the one detection uses')
    .action(async (_o, cmd: Command) => {
      for (const v of await withInstance(cmd, (m) => listModels(m.state))) {
        const what =
          v.version === 0
            ? 'built-in profile, no labels'
            : `${v.kind} from ${v.source} by ${v.trainedBy} at ${v.trainedAt}, ${v.positives} labelled C&C, ` +
              `window ${v.windowFrom} – ${v.windowTo}`;
        const promoted = v.promotedAt ? `\tpromoted ${v.promotedAt} by ${v.promotedBy}` : '';
        process.stdout.write(`${v.active ? '*' : ' '} ${v.version}\t${what}\tthreshold ${v.threshold.toFixed(3)}${promoted}\n`);
        for (const n of v.notes) process.stdout.write(`      ${n}\n`);
      }
    });
  models
    .command('import')
    .argument('<file>', 'a model file written by "mamori cc eval --save-model"')
    .description('store a model made by an evaluation run as a new version (not used until promoted)')
    .action(async (file: string, _o, cmd: Command) => {
      const r = await withInstance(cmd, (m) => importModelFile(m.state, m.audit, readFile(file), actor()), {
        create: true,
      }); // an import brings data in, as labels import does: it may create the store
      process.stdout.write(
        `model version ${r.version} (${kindOf(r.model)}) imported from ${file}; ` +
          `not used until promoted (mamori cc models promote ${r.version})\n`,
      );
      for (const n of r.notes) process.stdout.write(`  ${n}\n`);
    });
  models
    .command('promote')
    .argument('<version>', 'the version (0: back to the built-in profile)', whole(0, 2 ** 31))
    .description('make a version the one detection uses (a version that says it is unfit is refused)')
    .action(async (version: number, _o, cmd: Command) => {
      await withInstance(cmd, (m) => promoteModel(m.state, m.audit, version, actor()));
      process.stdout.write(`model version ${version} promoted: detection uses it from the next run\n`);
    });

  const candidates = cc
    .command('candidates')
    .description('C&C candidates of the running server (through its API: token in MAMORI_TOKEN, server from -c or MAMORI_URL)');
  candidates
    .command('list', { isDefault: true })
    .addOption(new Option('--status <status>', 'only these').choices(['new', 'confirmed', 'expired', 'withdrawn']))
    .option('--ja', 'summaries in Japanese')
    .description('ranked: most suspicious first, with the one-line summary')
    .action(async (o: { status?: string; ja?: boolean }, cmd: Command) => {
      const r = (await request(cmd, 'cc-detection', 'GET', `/candidates${o.status ? `?status=${o.status}` : ''}`)) as {
        candidates: ApiCandidate[];
      };
      if (r.candidates.length === 0) {
        process.stdout.write('no candidates\n');
        return;
      }
      r.candidates.forEach((c, i) => {
        const s = c.evidence.summary ? (o.ja ? c.evidence.summary.ja : c.evidence.summary.en) : '';
        const endpoint = `${c.address}:${c.port}/${protoName(c.proto)}`;
        process.stdout.write(`${i + 1}\t${c.id}\t${endpoint}\t${c.status}\tscore ${c.score.toFixed(3)}\tlast ${c.lastDetected}\t${s}\n`);
      });
    });
  candidates
    .command('show')
    .argument('<id>', 'candidate id (c-…)')
    .option('--ja', 'the explanation in Japanese')
    .description('a candidate with its evidence (aggregates only) and why it was raised')
    .action(async (id: string, o: { ja?: boolean }, cmd: Command) => {
      if (!/^c-[0-9a-f]{16}$/.test(id)) throw new UsageError(`"${id}" is not a candidate id (c- and 16 hex digits)`);
      const c = (await request(cmd, 'cc-detection', 'GET', `/candidates/${id}`)) as ApiCandidate;
      const e = c.evidence;
      const why = c.statusReason ? `: ${c.statusReason}` : '';
      const endpoint = `${c.address}:${c.port}/${protoName(c.proto)}`;
      process.stdout.write(`${c.id}  ${endpoint}  ${c.status} (${c.statusChangedAt} by ${c.statusChangedBy}${why})\n`);
      const strength = e.evidence !== undefined ? `, evidence ${e.evidence.toFixed(2)} (log10 likelihood ratio)` : '';
      const rank = e.rank ? `, rank ${e.rank} of ${e.scored} scored endpoints` : '';
      const model = e.modelVersion !== undefined ? `, model ${e.modelVersion}` : '';
      process.stdout.write(`score ${c.score.toFixed(3)}${strength}${rank}${model}\n`);
      process.stdout.write(`first detected ${c.firstDetected}, last ${c.lastDetected}, ${c.detections} detections\n`);
      if (e.summary) process.stdout.write(`${o.ja ? e.summary.ja : e.summary.en}\n`);
      for (const x of e.explanation) process.stdout.write(`  - ${o.ja ? x.ja : x.en}\n`);
    });
  candidates
    .command('decide')
    .argument('<id>', 'candidate id (c-…)')
    .addOption(new Option('--confirm', 'it is a C&C server').conflicts('withdraw'))
    .addOption(new Option('--withdraw', 'a false positive: never raised again').conflicts('confirm'))
    .requiredOption('--reason <text>', 'what an auditor will read')
    .description("an analyst's decision (audited with the reason)")
    .action(async (id: string, o: { confirm?: boolean; withdraw?: boolean; reason: string }, cmd: Command) => {
      if (!o.confirm && !o.withdraw) throw new UsageError('say --confirm or --withdraw');
      if (!/^c-[0-9a-f]{16}$/.test(id)) throw new UsageError(`"${id}" is not a candidate id (c- and 16 hex digits)`);
      const c = (await request(cmd, 'cc-detection', 'POST', `/candidates/${id}/decision`, {
        action: o.confirm ? 'confirm' : 'withdraw',
        reason: o.reason,
      })) as ApiCandidate;
      process.stdout.write(`${c.id} ${c.address}:${c.port}/${protoName(c.proto)}: ${c.status}\n`);
    });
  return cc;
};
