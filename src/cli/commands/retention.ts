/** `mamori` commands: data retention. */
import { Command } from 'commander';
import { runRetention } from '../../core/retention.js';
import { actor, withMamori } from '../context.js';

export function retentionCommands(program: Command): void {
  program
    .command('retention')
    .description('data retention')
    .command('run')
    .description('delete data past its declared retention now (the server does so every retention.interval)')
    .action(async (_o, cmd: Command) => {
      const results = await withMamori(cmd, (m) => runRetention(m, actor()), true);
      for (const r of results) {
        const held = r.held ? `; ${r.held} kept by a declared hold` : '';
        process.stdout.write(`${r.dataset}\t${r.measure ?? r.owner}\tdeleted ${r.deleted} rows older than ${r.cutoff}${held}\n`);
      }
      process.stdout.write(`retention done: ${new Set(results.map((r) => r.dataset)).size} datasets, ${results.length} passes\n`);
    });
}
