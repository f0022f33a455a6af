/** `mamori` commands: M1: C&C server detection. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { type LabelFormat } from '../../measures/cc-detection/labels.js';
import { importLabels, labelSources } from '../../measures/cc-detection/label-store.js';
import { actor, withMamori } from '../context.js';

export function ccCommands(program: Command): void {
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
}
