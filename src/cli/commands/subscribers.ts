/**
 * `mamori subscribers`: feeding the IP-assignment index besides RADIUS —
 * static assignments and CGNAT port-block logs. There is no lookup here on
 * purpose: a subscriber is identified only by a measure that may, for a case.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { actor, UsageError, withMamori } from '../context.js';
import type { ImportReport } from '../../subscriber/service.js';

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function report(what: string, r: ImportReport): void {
  process.stdout.write(`${what}: ${r.applied} applied, ${r.skipped.length} lines skipped\n`);
  for (const s of r.skipped.slice(0, 50)) process.stdout.write(`  skipped line ${s.line}: ${s.reason}\n`);
  if (r.skipped.length > 50) process.stdout.write(`  … and ${r.skipped.length - 50} more\n`);
}

export function subscriberCommands(program: Command): void {
  const sub = program.command('subscribers').description('the IP-assignment index used to identify subscribers (RADIUS, CGNAT, static)');
  sub
    .command('import-static')
    .argument('<file>', 'CSV: subscriber,address_or_prefix,valid_from[,valid_until]')
    .description('static assignments (business lines, fixed IPs)')
    .action(async (file: string, _o, cmd: Command) => {
      report('static assignments', await withMamori(cmd, (m) => m.subscribers.importStatic(read(file), actor()), false, true));
    });
  sub
    .command('import-port-blocks')
    .argument('<file>', 'CSV: time,event,inside,outside,first_port,last_port')
    .description('CGNAT port-block allocation log (allocate/release); importing the same lines again changes nothing')
    .action(async (file: string, _o, cmd: Command) => {
      report('port blocks', await withMamori(cmd, (m) => m.subscribers.importPortBlocks(read(file), actor()), false, true));
    });
  sub
    .command('import-contacts')
    .argument('<file>', 'CSV: subscriber,email,name,language (ja|en)')
    .description('contact data for notices: only what a notice needs')
    .action(async (file: string, _o, cmd: Command) => {
      report('contacts', await withMamori(cmd, (m) => m.notices.importContacts(read(file), actor()), false, true));
    });
  sub
    .command('status')
    .description('how much the index holds (counts only)')
    .action(async (_o, cmd: Command) => {
      const n = await withMamori(cmd, async (m) => m.subscribers.index.size);
      process.stdout.write(`${n} sessions in the index\n`);
    });
}
