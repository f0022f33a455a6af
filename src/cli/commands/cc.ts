/** `mamori` commands: M1: C&C server detection. */
import { readFileSync, writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { evaluateM1 } from '../../measures/cc-detection/evaluate.js';
import { evaluateReal, parseC2Endpoint, type RealEvalReport } from '../../measures/cc-detection/evaluate-real.js';
import { type LabelFormat } from '../../measures/cc-detection/labels.js';
import { importLabels, labelSources } from '../../measures/cc-detection/label-store.js';
import { actor, configOf, isoTime, UsageError, withMamori } from '../context.js';
import { parseDuration } from '../../core/duration.js';
import { m1Handles, runDetection } from '../../measures/cc-detection/run.js';
import {
  kindOf,
  listModels,
  modelFile,
  parseModelFile,
  promoteModel,
  storeModel,
  trainOnWindow,
  TrainingError,
  type AnyModel,
} from '../../measures/cc-detection/training.js';
import type { EndpointKey } from '../../simulate/real-isp.js';

const fmt = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(3));

/** The running server's API for the analyst's commands: URL from --server or the configuration, token from the environment or a file. */
async function api(cmd: Command, method: 'GET' | 'POST', path: string, body?: object): Promise<unknown> {
  const o = cmd.optsWithGlobals<{ server?: string; tokenFile?: string }>();
  let base = o.server;
  if (!base) {
    const s = configOf(cmd).server;
    const host = s.host === '::' || s.host === '0.0.0.0' ? '127.0.0.1' : s.host.includes(':') ? `[${s.host}]` : s.host;
    base = `http://${host}:${s.port}`;
  }
  // Never on the command line (other users can read it in the process list): a file or the environment.
  let token = process.env.MAMORI_TOKEN;
  if (o.tokenFile) {
    try {
      token = readFileSync(o.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new UsageError(`cannot read ${o.tokenFile}: ${(err as NodeJS.ErrnoException).code}`);
    }
  }
  if (!token) {
    throw new UsageError(
      'no API token: set MAMORI_TOKEN or give --token-file FILE ' + '(create one with "mamori tokens create NAME --role analyst")',
    );
  }
  let res: Response;
  try {
    res = await fetch(new URL(path, base), {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
    throw new UsageError(`cannot reach the server at ${base}: ${cause}`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = { message: text.slice(0, 200) };
  }
  if (!res.ok) throw new UsageError(`${method} ${path}: ${res.status} ${(json as { message?: string }).message ?? ''}`.trim());
  return json;
}

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
  const names = (v: string) =>
    v
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  const whole = (min: number, max: number) => (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`a whole number from ${min} to ${max}`);
    return n;
  };
  const precision = (v: string) => {
    const p = Number(v);
    if (!(p > 0 && p <= 1)) throw new InvalidArgumentError('a number in (0, 1]');
    return p;
  };
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
        const r = await withMamori(
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
          true,
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
      const out = await withMamori(
        cmd,
        async (m) => {
          const { own, flows } = await m1Handles(m.broker.forMeasure('cc-detection'));
          return runDetection({ flows, own, settings: own.settings, now: o.to ?? new Date(), actor: actor() });
        },
        true,
      );
      if (!out.ran) throw new UsageError(out.reason);
      const r = out.result;
      const model = `${out.modelVersion}${out.modelVersion === 0 ? ' (built-in profile)' : ''}`;
      process.stdout.write(
        `window ${r.window.from} – ${r.window.to}, model ${model}: ${r.endpoints} endpoints; ` +
          `${r.detected} at or above the threshold ${r.threshold.toFixed(3)} (${r.created} new, ${r.redetected} re-detected), ` +
          `${r.allowListed} allow-listed, ${r.expired} expired\n`,
      );
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
      for (const v of await withMamori(cmd, (m) => listModels(m.state))) {
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
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`);
      }
      const mf = parseModelFile(text, file);
      const r = await withMamori(
        cmd,
        (m) =>
          storeModel(m.state, m.audit, mf.model, {
            actor: actor(),
            seed: 0,
            from: new Date(0),
            to: new Date(0),
            source: 'eval',
            notes: [
              `made by: ${mf.origin.command} (${mf.createdAt})`,
              ...mf.origin.figures,
              ...('notes' in mf.model ? mf.model.notes : []),
            ],
          }),
        false,
        true,
      ); // an import brings data in, as labels import does: it may create the store
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
      await withMamori(cmd, (m) => promoteModel(m.state, m.audit, version, actor()));
      process.stdout.write(`model version ${version} promoted: detection uses it from the next run\n`);
    });

  const candidates = cc
    .command('candidates')
    .description('C&C candidates of the running server (through its API: MAMORI_TOKEN or --token-file)')
    .option('--server <url>', 'the server (default: server.host and server.port of the configuration)')
    .option('--token-file <file>', 'a file holding the API token (default: $MAMORI_TOKEN)');
  candidates
    .command('list', { isDefault: true })
    .addOption(new Option('--status <status>', 'only these').choices(['new', 'confirmed', 'expired', 'withdrawn']))
    .option('--ja', 'summaries in Japanese')
    .description('ranked: most suspicious first, with the one-line summary')
    .action(async (o: { status?: string; ja?: boolean }, cmd: Command) => {
      const r = (await api(cmd, 'GET', `/api/v1/cc/candidates${o.status ? `?status=${o.status}` : ''}`)) as { candidates: ApiCandidate[] };
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
      const c = (await api(cmd, 'GET', `/api/v1/cc/candidates/${id}`)) as ApiCandidate;
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
      const c = (await api(cmd, 'POST', `/api/v1/cc/candidates/${id}/decision`, {
        action: o.confirm ? 'confirm' : 'withdraw',
        reason: o.reason,
      })) as ApiCandidate;
      process.stdout.write(`${c.id} ${c.address}:${c.port}/${protoName(c.proto)}: ${c.status}\n`);
    });

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
