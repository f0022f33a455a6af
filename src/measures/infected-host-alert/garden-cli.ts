/**
 * `mamori infected-host-alert garden …`: the walled gardens in force, ending one (abuse desk), and a
 * subscriber's choice about the garden — through the running server's routes (garden-routes.ts).
 */
import type { Command } from 'commander';
import type { MeasureCliContext } from '../../core/cli.js';

const ID = 'infected-host-alert';

export function gardenCli(m7: Command, { request }: MeasureCliContext): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const garden = m7.command('garden').description('the walled garden (when its option is on)');

  garden
    .command('list')
    .description('the gardens in force (the read is audited)')
    .action(async (_o, cmd) => {
      const r = await request<{ enabled: boolean; gardens: Array<Record<string, string | number>> }>(cmd, ID, 'GET', '/garden');
      if (!r.enabled) {
        out('the walled garden is off (measures.infected-host-alert.walledGarden.enabled)');
        return;
      }
      out('subscriber\tfamily\tcase\tstarted\tends\treleasesLeft');
      for (const g of r.gardens) out([g.subscriber, g.family, g.case_id, g.started_at, g.ends_at, g.releasesLeft].join('\t'));
    });

  garden
    .command('end')
    .argument('<subscriber>')
    .description("end a subscriber's garden now (abuse desk)")
    .action(async (subscriber: string, _o, cmd) => {
      await request(cmd, ID, 'POST', `/garden/${encodeURIComponent(subscriber)}/end`);
      out(`${subscriber}: walled garden ended`);
    });

  garden
    .command('opt-out')
    .argument('<subscriber>')
    .option('--back-in', 'allow the garden again instead')
    .option('--channel <channel>', 'member-site, support-desk, mail or api', 'support-desk')
    .description("record a subscriber's choice about the walled garden")
    .action(async (subscriber: string, o: { backIn?: boolean; channel: string }, cmd) => {
      await request(cmd, ID, 'POST', '/garden/consent', { subscriber, choice: o.backIn ? 'opt-in' : 'opt-out', channel: o.channel });
      out(o.backIn ? `${subscriber}: the walled garden may apply` : `${subscriber}: never gardened`);
    });
}
