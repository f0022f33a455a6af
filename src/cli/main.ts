#!/usr/bin/env node
/**
 * The `mamori` command. Every subcommand reads the same YAML configuration
 * (-c FILE, or MAMORI_CONFIG, or the embedded defaults) and acts through the
 * same core as the server, so the CLI is audited exactly like the API.
 */
import { once } from 'node:events';
import { createWriteStream, readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { AccountError, generatePassword } from '../core/accounts.js';
import { openMamori, type Mamori } from '../core/app.js';
import { exportFileItems } from '../core/audit/log.js';
import { verifyChain, type VerifyResult } from '../core/audit/chain.js';
import { CapabilityRefusedError } from '../core/capabilities.js';
import { ConfigError, loadConfig, type Config } from '../core/config.js';
import { DURATION_PATTERN, parseDuration } from '../core/duration.js';
import { MeasureDeclarationError } from '../core/measure.js';
import { MeasureRegistry, STATE_TEXT } from '../core/registry.js';
import { runRetention } from '../core/retention.js';
import { ROLES } from '../core/roles.js';
import { ALL_MEASURES } from '../measures/index.js';
import { renderDisclosure } from '../policy/disclosure.js';
import { StateStoreError } from '../store/state/store.js';
import { AnalyticsStoreError } from '../store/analytics/store.js';
import { serve } from '../api/serve.js';
import { isIP } from 'node:net';
import { DEFAULT_FAMILIES, simulateIsp } from '../simulate/isp.js';
import { sendIpfix } from '../simulate/ipfix-exporter.js';
import { progress } from './progress.js';
import { importFlowPcap, importNfdump } from '../ingest/flow/import.js';
import { NfdumpError } from '../ingest/flow/nfdump.js';
import { PcapError } from '../ingest/pcap.js';
import { LabelImportError, type LabelFormat } from '../measures/cc-detection/labels.js';
import { importLabels, labelSources } from '../measures/cc-detection/label-store.js';

/** Errors we expect from bad input: one clear message, exit 2, no stack trace. */
class UsageError extends Error {}

const EXPECTED = [UsageError, PcapError, LabelImportError, NfdumpError, ConfigError, MeasureDeclarationError, StateStoreError, AnalyticsStoreError, AccountError, CapabilityRefusedError];

function actor(): string {
  let name = 'unknown';
  try { name = userInfo().username; } catch { /* no passwd entry in some containers */ }
  return `cli:${name.replace(/[^\w-]/g, '_') || 'unknown'}`;
}

function configOf(cmd: Command): Config {
  const opts = cmd.optsWithGlobals<{ config?: string }>();
  return loadConfig(opts.config ?? process.env.MAMORI_CONFIG);
}

async function withMamori<T>(cmd: Command, fn: (m: Mamori) => Promise<T>, analytics = false): Promise<T> {
  const mamori = await openMamori(configOf(cmd), { analytics });
  try {
    return await fn(mamori);
  } finally {
    await mamori.close();
  }
}

function isoTime(value: string): string {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError(`"${value}" is not a date/time; write e.g. 2026-11-24 or 2026-11-24T09:00:00+09:00`);
  return d.toISOString();
}

function printVerify(r: VerifyResult & { warnings?: string[] }, source: string): void {
  for (const w of r.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
  if (r.ok) {
    process.stdout.write(`OK: ${source}: ${r.checked} entries (seq ${r.firstSeq ?? '-'}..${r.lastSeq ?? '-'}) chain intact; ${r.anchorsChecked} anchors matched; head ${r.headHash ?? '-'}\n`);
    return;
  }
  process.stdout.write(`FAILED: ${source}: ${r.problems.length} problem(s) in ${r.checked} entries\n`);
  for (const p of r.problems) {
    const where = [p.seq !== null ? `entry ${p.seq}` : null, p.line !== undefined ? `line ${p.line}` : null].filter(Boolean).join(', ');
    process.stdout.write(`  ${where ? `[${where}] ` : ''}${p.problem}\n`);
  }
}

export function buildCli(): Command {
  const program = new Command('mamori')
    .description('Mamori (守り): ISP-side countermeasures against cyber attacks, within the limits that make them lawful')
    .option('-c, --config <file>', 'YAML configuration (default: $MAMORI_CONFIG, else embedded defaults)')
    .showHelpAfterError()
    .configureHelp({ showGlobalOptions: true });

  program.command('serve')
    .description('run the server: HTTP API and metrics on 127.0.0.1:8470 by default; creates the data directory and the first admin')
    .action(async (_o, cmd: Command) => {
      const server = await serve(configOf(cmd));
      process.stdout.write(`Mamori is serving at ${server.url} (Ctrl-C to stop)\n`);
      const stop = () => { server.close().then(() => process.exit(0), () => process.exit(1)); };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  const config = program.command('config').description('check configuration files');
  config.command('check')
    .argument('<file>', 'the YAML file to check')
    .description('validate a configuration file without starting anything')
    .action((file: string) => {
      const cfg = loadConfig(file);
      try {
        new MeasureRegistry(ALL_MEASURES, cfg.measures);
      } catch (err) {
        if (err instanceof ConfigError) throw new ConfigError(file, err.problems);
        throw err;
      }
      process.stdout.write(`OK: ${file} is valid\n`);
    });

  const policy = program.command('policy').description('disclosures generated from the measure declarations');
  policy.command('render')
    .description('print the contract-terms clauses, the public notice or the compliance report (Markdown)')
    .addOption(new Option('--format <format>', 'what to render').choices(['terms', 'notice', 'report']).makeOptionMandatory())
    .addOption(new Option('--lang <lang>', 'language (Japanese is the primary text)').choices(['ja', 'en']).default('ja'))
    .option('-o, --out <file>', 'write to a file instead of stdout')
    .action(async (o: { format: 'terms' | 'notice' | 'report'; lang: 'ja' | 'en'; out?: string }, cmd: Command) => {
      const cfg = configOf(cmd);
      const text = o.format === 'report'
        ? await withMamori(cmd, (m) => renderDisclosure(m.registry, 'report', o.lang, m))
        : await renderDisclosure(new MeasureRegistry(ALL_MEASURES, cfg.measures), o.format, o.lang);
      if (o.out) createWriteStream(o.out).end(text);
      else process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    });

  const audit = program.command('audit').description('the hash-chained audit log');
  audit.command('verify')
    .description('check the chain (and the anchors); exits 1 and names the entry if anything was edited, deleted, inserted, reordered or cut off')
    .option('--file <export.jsonl>', 'verify an exported file instead of the live log')
    .action(async (o: { file?: string }, cmd: Command) => {
      let result: VerifyResult & { warnings?: string[] };
      if (o.file) {
        let items;
        try { items = exportFileItems(o.file); } catch (err) { throw new UsageError(`cannot read ${o.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`); }
        const bar = progress('verify', items.length);
        result = await verifyChain(items, { onProgress: (n) => bar.update(n) });
        bar.stop();
        printVerify(result, o.file);
      } else {
        result = await withMamori(cmd, async (m) => {
          const bar = progress('verify', (await m.audit.head()).seq);
          const r = await m.audit.verify((n) => bar.update(n));
          bar.stop();
          await m.audit.append({ actor: actor(), action: 'audit.verify', counts: { checked: r.checked, problems: r.problems.length }, outcome: r.ok ? 'ok' : 'error' });
          return r;
        });
        printVerify(result, 'audit log');
      }
      if (!result.ok) process.exitCode = 1;
    });

  audit.command('export')
    .description('write entries as JSON lines for auditors (verify the file with `audit verify --file`)')
    .option('--from <time>', 'first entry time (inclusive)', isoTime)
    .option('--to <time>', 'last entry time (exclusive)', isoTime)
    .option('-o, --out <file>', 'write to a file instead of stdout')
    .action(async (o: { from?: string; to?: string; out?: string }, cmd: Command) => {
      await withMamori(cmd, async (m) => {
        const out = o.out ? createWriteStream(o.out) : process.stdout;
        const bar = progress('export', (await m.audit.head()).seq);
        let n = 0;
        for await (const e of m.audit.entries({ ...(o.from ? { from: o.from } : {}), ...(o.to ? { to: o.to } : {}) })) {
          if (!out.write(`${JSON.stringify(e)}\n`)) await once(out, 'drain');
          bar.update(++n);
        }
        bar.stop();
        if (o.out) await new Promise((r) => (out as ReturnType<typeof createWriteStream>).end(r));
        await m.audit.append({ actor: actor(), action: 'audit.export', counts: { entries: n } });
      });
    });

  audit.command('anchor')
    .description('write the chain head to the anchor file now (the server does so every audit.anchorInterval)')
    .action(async (_o, cmd: Command) => {
      const a = await withMamori(cmd, (m) => m.audit.anchor(actor()));
      process.stdout.write(`anchored entry ${a.seq} ${a.hash}\n`);
    });

  const users = program.command('users').description('local user accounts (roles: admin, operator, analyst, auditor)');
  users.command('add')
    .argument('<name>', 'user name')
    .addOption(new Option('--role <role>', 'role').choices([...ROLES]).makeOptionMandatory())
    .option('--password-stdin', 'read the password from stdin instead of generating one')
    .description('create a user; a generated password is printed once')
    .action(async (name: string, o: { role: string; passwordStdin?: boolean }, cmd: Command) => {
      const password = o.passwordStdin ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : generatePassword();
      await withMamori(cmd, (m) => m.accounts.createUser(actor(), name, o.role, password));
      process.stdout.write(o.passwordStdin ? `created ${name} (${o.role})\n` : `created ${name} (${o.role}); password (shown once): ${password}\n`);
    });
  users.command('list').description('list users').action(async (_o, cmd: Command) => {
    const list = await withMamori(cmd, (m) => m.accounts.listUsers());
    for (const u of list) process.stdout.write(`${u.username}\t${u.role}\t${u.disabled ? 'disabled' : 'active'}\t${u.createdAt}\n`);
  });
  users.command('passwd').argument('<name>').description('set a new generated password (ends the user\'s sessions)')
    .action(async (name: string, _o, cmd: Command) => {
      const password = generatePassword();
      await withMamori(cmd, (m) => m.accounts.setPassword(actor(), name, password));
      process.stdout.write(`new password for ${name} (shown once): ${password}\n`);
    });
  for (const [verb, disabled] of [['disable', true], ['enable', false]] as const) {
    users.command(verb).argument('<name>').description(`${verb} a user`).action(async (name: string, _o, cmd: Command) => {
      await withMamori(cmd, (m) => m.accounts.setDisabled(actor(), name, disabled));
      process.stdout.write(`${name}: ${verb}d\n`);
    });
  }

  const tokens = program.command('tokens').description('API tokens for machines (Prometheus, scripts)');
  tokens.command('create').argument('<name>')
    .addOption(new Option('--role <role>', 'role').choices([...ROLES]).makeOptionMandatory())
    .option('--ttl <duration>', 'expiry, e.g. 90d', (v) => { if (!DURATION_PATTERN.test(v)) throw new InvalidArgumentError('a duration such as 90d'); return v; })
    .description('create a token; it is printed once')
    .action(async (name: string, o: { role: string; ttl?: string }, cmd: Command) => {
      const t = await withMamori(cmd, (m) => m.accounts.createToken(actor(), name, o.role, o.ttl ? parseDuration(o.ttl) : undefined));
      process.stdout.write(`token ${t.id} (shown once): ${t.token}\n`);
    });
  tokens.command('list').description('list tokens').action(async (_o, cmd: Command) => {
    for (const t of await withMamori(cmd, (m) => m.accounts.listTokens())) {
      process.stdout.write(`${t.id}\t${t.name}\t${t.role}\t${t.revokedAt ? 'revoked' : 'active'}\t${t.expiresAt ?? 'no expiry'}\n`);
    }
  });
  tokens.command('revoke').argument('<id>').description('revoke a token').action(async (id: string, _o, cmd: Command) => {
    await withMamori(cmd, (m) => m.accounts.revokeToken(actor(), id));
    process.stdout.write(`token ${id} revoked\n`);
  });

  program.command('measures').description('list the declared measures and their state').action((_o, cmd: Command) => {
    const registry = new MeasureRegistry(ALL_MEASURES, configOf(cmd).measures);
    for (const s of registry.list()) {
      const d = s.declaration;
      process.stdout.write(`${d.code}\t${d.id}\t${s.state}\t${d.bases.map((b) => b.basis).join('+')}\t${d.title.ja} / ${d.title.en}\t${STATE_TEXT[s.state].ja}\n`);
    }
  });

  const flows = program.command('flows').description('flow records from routers (the inlet of M1)');
  flows.command('import')
    .argument('<file>', 'a pcap of NetFlow v5/v9, IPFIX or sFlow export datagrams; with --nfdump, an nfdump file or directory')
    .option('--nfdump', 'the file is what nfcapd wrote (read through nfdump; a directory reads every file below it)')
    .description('back-fill flows from a capture or from nfdump files (the server must be stopped: one process owns the analytics store)')
    .action(async (file: string, o: { nfdump?: boolean }, cmd: Command) => {
      if (o.nfdump) {
        let directory: boolean;
        try { directory = statSync(file).isDirectory(); } catch (err) { throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`); }
        const r = await withMamori(cmd, (m) => importNfdump(m, file, directory, actor(), (n) => { if (process.stderr.isTTY) process.stderr.write(`\rimport: ${n} records`); }), true);
        if (process.stderr.isTTY) process.stderr.write('\n');
        process.stdout.write(`imported ${r.records} flow records from nfdump ${directory ? 'files under ' : ''}${file} (exporters: ${r.exporters.join(', ') || 'none'})\n`);
        return;
      }
      const r = await withMamori(cmd, async (m) => {
        let size: number;
        try { size = statSync(file).size; } catch (err) { throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`); }
        const bar = progress('import (bytes)', size);
        const result = await importFlowPcap(m, file, actor(), (n) => bar.update(n));
        bar.stop();
        return result;
      }, true);
      process.stdout.write(`imported ${r.records} flow records from ${r.datagrams} datagrams (${r.pcap.skipped} packets were not UDP, ${r.pcap.fragments} IP fragments)\n`);
      for (const e of r.exporters) {
        const errors = Object.entries(e.errors).map(([k, v]) => `${k}=${v}`).join(' ') || 'no errors';
        process.stdout.write(`  exporter ${e.address}: ${e.versions.join(',')} ${e.datagrams} datagrams, ${e.records} records, ${e.templates} templates, estimated loss ${e.estimatedLoss}; ${errors}\n`);
      }
    });

  const cc = program.command('cc').description('M1: C&C server detection');
  const labels = cc.command('labels').description('reputation lists used as teacher data (labels)');
  labels.command('import')
    .argument('<file>', 'the list')
    .addOption(new Option('--format <format>', 'file format').choices(['feodo-csv', 'ip-list', 'stix']).makeOptionMandatory())
    .requiredOption('--source <name>', 'name of the list (a new import of the same name replaces it)')
    .option('--valid-days <n>', 'how long a label holds after its last sighting, when the list gives no end', (v) => {
      if (!/^\d{1,4}$/.test(v) || Number(v) < 1) throw new InvalidArgumentError('a number of days (1–9999)');
      return Number(v);
    }, 30)
    .description('import a reputation list; every skipped line is reported, and a broken file is refused whole')
    .action(async (file: string, o: { format: LabelFormat; source: string; validDays: number }, cmd: Command) => {
      const r = await withMamori(cmd, (m) => importLabels(m.state, m.audit, { file, format: o.format, source: o.source, validityDays: o.validDays, actor: actor() }));
      process.stdout.write(`imported ${r.labels.length} labels from ${file} as "${r.source}" (${r.format}); ${r.duplicates} duplicates merged; ${r.skipped.length} lines skipped\n`);
      for (const s of r.skipped.slice(0, 50)) process.stdout.write(`  skipped ${o.format === 'stix' ? 'object' : 'line'} ${s.line}: ${s.reason}\n`);
      if (r.skipped.length > 50) process.stdout.write(`  … and ${r.skipped.length - 50} more\n`);
    });
  labels.command('sources').description('the imported lists').action(async (_o, cmd: Command) => {
    for (const s of await withMamori(cmd, (m) => labelSources(m.state))) {
      process.stdout.write(`${s.name}\t${s.format}\t${s.labels} labels\t${s.skipped} skipped\t${s.imported_at}\t${s.imported_by}\tsha256 ${s.file_sha256.slice(0, 16)}…\n`);
    }
  });

  const simulate = program.command('simulate').description('synthetic test data, sent through the real protocols');
  simulate.command('flows')
    .description('a synthetic ISP (subscribers, CDNs, benign periodic services, botnets) exported as IPFIX to a collector on this machine; writes the ground truth')
    .option('--seed <n>', 'random seed', (v) => Number(v), 1)
    .option('--subscribers <n>', 'subscribers', (v) => Number(v), 2000)
    .option('--hours <n>', 'length of the simulated period', (v) => Number(v), 24)
    .option('--start <time>', 'start of the simulated period (UTC)', isoTime, '2026-11-23T00:00:00.000Z')
    .option('--to <host:port>', 'the collector (loopback only)', '127.0.0.1:2055')
    .option('--rate <records/s>', 'sending rate', (v) => Number(v), 200_000)
    .option('--truth <file>', 'write the ground truth (endpoints and their labels) as JSON')
    .action(async (o: { seed: number; subscribers: number; hours: number; start: string; to: string; rate: number; truth?: string }) => {
      const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(o.to);
      const host = m?.[1] ?? m?.[2];
      if (!m || !host || isIP(host) === 0) throw new UsageError(`--to ${o.to}: write ADDRESS:PORT, e.g. 127.0.0.1:2055 or [::1]:2055`);
      if (!(host.startsWith('127.') || host === '::1')) throw new UsageError(`--to ${o.to}: the simulator sends only to this machine (127.0.0.0/8 or ::1)`);
      for (const [name, v, max] of [['--subscribers', o.subscribers, 1_000_000], ['--hours', o.hours, 24 * 14], ['--rate', o.rate, 10_000_000]] as const) {
        if (!Number.isInteger(v) || v < 1 || v > max) throw new UsageError(`${name} ${v}: a whole number from 1 to ${max}`);
      }
      const sim = simulateIsp({ seed: o.seed, subscribers: o.subscribers, hours: o.hours, start: new Date(o.start), families: DEFAULT_FAMILIES });
      if (o.truth) createWriteStream(o.truth).end(JSON.stringify({ seed: o.seed, subscribers: o.subscribers, hours: o.hours, start: o.start, endpoints: sim.truth }, null, 1));
      const bar = progress('records sent', 0);
      const r = await sendIpfix(sim.flows(), host, Number(m[3]), o.rate, (n) => bar.update(n));
      bar.stop();
      process.stdout.write(`sent ${r.records} flow records in ${r.datagrams} IPFIX datagrams to ${o.to} in ${r.seconds.toFixed(1)} s; ${sim.truth.filter((t) => t.truth === 'cc').length} C&C endpoints in the ground truth\n`);
    });

  program.command('retention').description('data retention').command('run')
    .description('delete data past its declared retention now (the server does so every retention.interval)')
    .action(async (_o, cmd: Command) => {
      const results = await withMamori(cmd, (m) => runRetention(m, actor()), true);
      for (const r of results) process.stdout.write(`${r.dataset}\t${r.owner}\tdeleted ${r.deleted} rows older than ${r.cutoff}\n`);
      process.stdout.write(`retention done: ${results.length} datasets\n`);
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (EXPECTED.some((E) => err instanceof E)) {
      process.stderr.write(`mamori: ${(err as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}

await main(process.argv);
