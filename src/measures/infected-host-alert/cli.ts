/**
 * `mamori infected-host-alert …`: M7's commands, against the running server (its routes.ts): import a report
 * (streamed, not read into memory), the sources, recent imports, the remediation report, the analysis pass,
 * and a subscriber's opt-out. Token in MAMORI_TOKEN.
 */
import type { MeasureCli } from '../../core/cli.js';
import type { ImportResult } from './service.js';
import { gardenCli } from './garden-cli.js';

const ID = 'infected-host-alert';

export const infectedHostAlertCli: MeasureCli = (program, context) => {
  const { request, upload } = context;
  const m7 = program.command(ID).description('M7: alerting subscribers with infected devices (asks the running server; MAMORI_TOKEN)');
  const out = (line: string) => process.stdout.write(`${line}\n`);

  m7.command('import')
    .argument('<file>', 'the report (CSV, JSON lines or a plain list; .gz accepted)')
    .requiredOption('--source <id>', 'the registered source it comes from (see `sources`)')
    .option('--type <report>', 'Shadowserver report type, when the file name does not say (e.g. event4_sinkhole)')
    .option('--format <csv|json>', 'plain lists: csv or json')
    .description('import a third-party report of infected hosts')
    .action(async (file: string, o: { source: string; type?: string; format?: string }, cmd) => {
      const q = new URLSearchParams({ source: o.source, name: file.split('/').pop()!, origin: 'cli' });
      if (o.type) q.set('type', o.type);
      if (o.format) q.set('format', o.format);
      const r = await upload<ImportResult>(cmd, ID, `/reports?${q.toString()}`, file);
      const s = r.summary;
      out(`import ${r.id}: ${s.rows} rows, ${s.entries} entries, ${r.resolved} matched to a subscriber, ${r.unresolved} not`);
      for (const [reason, n] of Object.entries(s.dropped)) if (n > 0) out(`  dropped ${reason}: ${n}`);
      for (const [reason, n] of Object.entries(r.unresolvedReasons)) out(`  unresolved ${reason}: ${n}`);
      if (s.truncated) out(`  stopped after row ${s.truncated.afterRow}: ${s.truncated.reason}`);
    });

  m7.command('sources')
    .description('the registered report sources: who supplies them, what an entry means')
    .action(async (_o, cmd) => {
      const r = await request<{ sources: Array<{ id: string; purpose: string; parser: string; supplier: { en: string } }> }>(
        cmd,
        ID,
        'GET',
        '/sources',
      );
      for (const s of r.sources) out(`${s.id}\t${s.purpose}\t${s.parser}\t${s.supplier.en}`);
    });

  m7.command('imports')
    .description('recent imports with their counts (entries matched at import, not matched, matched later by late accounting)')
    .action(async (_o, cmd) => {
      const r = await request<{ imports: Array<Record<string, unknown>> }>(cmd, ID, 'GET', '/imports');
      for (const i of r.imports)
        out(
          `${String(i.id)}\t${String(i.source)}\t${String(i.origin)}\t${String(i.started_at)}\t` +
            `rows ${String(i.rows)}\tentries ${String(i.entries)}\tmatched ${String(i.resolved)}\tunresolved ${String(i.unresolved)}\t` +
            // Unresolved entries matched later, when late accounting covered their time.
            `matched later ${String(i.resolved_later ?? 0)}`,
        );
    });

  m7.command('report')
    .option('--since <date>', 'notices sent since (default: 90 days ago)')
    .description('notices sent and remediated within 14 and 30 days, per family and channel')
    .action(async (o: { since?: string }, cmd) => {
      const q = o.since ? `?since=${encodeURIComponent(new Date(o.since).toISOString())}` : '';
      const r = await request<{ rows: Array<Record<string, string | number>> }>(cmd, ID, 'GET', `/report${q}`);
      out('family\tpurpose\tchannel\tstage\tnotified\twithin14d\twithin30d\topen\treinfected');
      for (const x of r.rows)
        out([x.family, x.purpose, x.channel, x.stage, x.notified, x.within14d, x.within30d, x.open, x.reinfected].join('\t'));
    });

  m7.command('analyze')
    .description('run the analysis pass now (notices, reminders, remediation)')
    .action(async (_o, cmd) => {
      out(JSON.stringify(await request(cmd, ID, 'POST', '/analyze')));
    });

  m7.command('opt-out')
    .argument('<subscriber>')
    .option('--back-in', 'opt back in instead')
    .option('--channel <channel>', 'member-site, support-desk, mail or api', 'support-desk')
    .description("record a subscriber's choice about stage-1 alerts")
    .action(async (subscriber: string, o: { backIn?: boolean; channel: string }, cmd) => {
      const r = await request<{ optedOut: boolean }>(cmd, ID, 'POST', '/consent', {
        subscriber,
        choice: o.backIn ? 'opt-in' : 'opt-out',
        channel: o.channel,
      });
      out(r.optedOut ? `${subscriber}: opted out of stage-1 alerts` : `${subscriber}: receives stage-1 alerts`);
    });

  gardenCli(m7, context);
  return m7;
};
