/** `mamori` commands: disclosures generated from the declarations, and the declared measures. */
import { createWriteStream } from 'node:fs';
import { Command, Option } from 'commander';
import { MeasureRegistry, STATE_TEXT } from '../../core/registry.js';
import { ALL_MEASURES } from '../../measures/index.js';
import { renderDisclosure } from '../../policy/disclosure.js';
import { configOf, withMamori } from '../context.js';

export function policyCommands(program: Command): void {
  const policy = program.command('policy').description('disclosures generated from the measure declarations');
  policy
    .command('render')
    .description('print the contract-terms clauses, the public notice or the compliance report (Markdown)')
    .addOption(new Option('--format <format>', 'what to render').choices(['terms', 'notice', 'report']).makeOptionMandatory())
    .addOption(new Option('--lang <lang>', 'language (Japanese is the primary text)').choices(['ja', 'en']).default('ja'))
    .option('-o, --out <file>', 'write to a file instead of stdout')
    .action(async (o: { format: 'terms' | 'notice' | 'report'; lang: 'ja' | 'en'; out?: string }, cmd: Command) => {
      const cfg = configOf(cmd);
      const text =
        o.format === 'report'
          ? await withMamori(cmd, (m) => renderDisclosure(m.registry, 'report', o.lang, m))
          : await renderDisclosure(new MeasureRegistry(ALL_MEASURES, cfg.measures, cfg.configDir), o.format, o.lang);
      if (o.out) createWriteStream(o.out).end(text);
      else process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    });

  program
    .command('measures')
    .description('list the declared measures and their state')
    .action((_o, cmd: Command) => {
      const cfg = configOf(cmd);
      const registry = new MeasureRegistry(ALL_MEASURES, cfg.measures, cfg.configDir);
      for (const s of registry.list()) {
        const d = s.declaration;
        process.stdout.write(
          `${d.code}\t${d.id}\t${s.state}\t${d.bases.map((b) => b.basis).join('+')}\t${d.title.ja} / ` +
            `${d.title.en}\t${STATE_TEXT[s.state].ja}\n`,
        );
      }
    });
}
