/**
 * `mamori ddos …`: M6's commands for the DNS team, against the running server (its routes.ts; the
 * decisions live in the server): attacks and candidates with their evidence, approving and rejecting a
 * candidate, what each resolver's dnstap delivered, and names a honeypot operator reports. The server
 * audits each decision under the token's name.
 */
import { InvalidArgumentError, Option } from 'commander';
import type { MeasureCli } from '../../core/cli.js';
import { UsageError } from '../../core/errors.js';

const ID = 'ddos-dns-blocking';

interface Decision {
  id: string;
  kind: string;
  domain: string;
  status: string;
  confidence: number;
  evidence: number;
  firstSeen: string;
  lastSeen: string;
  expiresAt?: string;
  by?: string;
  reason?: string;
  explanation: { ja: string; en: string };
}

export const ddosDnsBlockingCli: MeasureCli = (program, { request, readFile }) => {
  const m6 = program
    .command('ddos')
    .description('M6: blocking names used in DNS amplification and random-subdomain attacks (asks the running server; MAMORI_TOKEN)');
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const kind = () =>
    new Option('--kind <kind>', "which detector's candidate").choices(['random-subdomain', 'amplification']).default('random-subdomain');

  m6.command('attacks')
    .description('active rules, candidates waiting for review and what ended, newest first, with their evidence')
    .action(async (_o, cmd) => {
      type Attacks = { decisions: Decision[]; receiver: { connections: number; events: number; dropped: number }; trackedDomains: number };
      const r = await request<Attacks>(cmd, ID, 'GET', '/attacks');
      for (const d of r.decisions) {
        const until = d.expiresAt ? `\tuntil ${d.expiresAt}` : '';
        out(
          `${d.status}\t${d.kind}\t${d.domain}\tconfidence ${d.confidence.toFixed(2)}\t${d.firstSeen} – ${d.lastSeen}${until}` +
            `${d.by ? `\tby ${d.by}` : ''}${d.reason ? `\t${d.reason}` : ''}`,
        );
        out(`  ${d.explanation.en}`);
      }
      const { connections, events, dropped } = r.receiver;
      out(`dnstap: ${connections} connections, ${events} events, ${dropped} dropped; ${r.trackedDomains} domains tracked`);
    });
  m6.command('resolvers')
    .description("client queries and responses received per resolver, to set beside the resolver's own counters (dnstap loss)")
    .action(async (_o, cmd) => {
      type Counts = { queries: number; responses: number; frames: number; dropped: number; lastSeen: string | null };
      type Resolvers = { resolvers: Record<string, Counts>; receiver: { events: number; dropped: number } };
      const r = await request<Resolvers>(cmd, ID, 'GET', '/resolvers');
      for (const [identity, c] of Object.entries(r.resolvers))
        out(
          `${identity}\tframes ${c.frames}\tqueries ${c.queries}\tresponses ${c.responses}\tdropped ${c.dropped}` +
            `\tlast seen ${c.lastSeen ?? 'never'}`,
        );
      out(`Mamori: ${r.receiver.events} events, ${r.receiver.dropped} dropped`);
    });
  m6.command('approve')
    .argument('<domain>', "the candidate's domain")
    .addOption(kind())
    .description('approve a candidate: its rule goes to the resolvers at once')
    .action(async (domain: string, o: { kind: string }, cmd) => {
      const r = await request<{ status: string }>(cmd, ID, 'POST', '/decisions/approve', { domain, kind: o.kind });
      out(`${domain}: ${r.status}`);
    });
  m6.command('reject')
    .argument('<domain>', "the candidate's domain")
    .addOption(kind())
    .requiredOption('--reason <text>', 'why (kept in the audit log)')
    .description('reject a candidate (it is not proposed again for the configured time)')
    .action(async (domain: string, o: { kind: string; reason: string }, cmd) => {
      const r = await request<{ status: string }>(cmd, ID, 'POST', '/decisions/reject', { domain, kind: o.kind, reason: o.reason });
      out(`${domain}: ${r.status}`);
    });
  m6.command('report')
    .argument('<file>', 'names abused for amplification, one a line (# comments)')
    .requiredOption('--source <name>', 'who reported them (e.g. the honeypot operator)')
    .option(
      '--confidence <p>',
      'confidence given to them (0–1)',
      (v) => {
        const p = Number(v);
        if (!(p >= 0 && p <= 1)) throw new InvalidArgumentError('a number from 0 to 1');
        return p;
      },
      0.8,
    )
    .description('names a honeypot operator reports: they become candidates (review, whitelist and automatic rules apply)')
    .action(async (file: string, o: { source: string; confidence: number }, cmd) => {
      const names = readFile(file)
        .bytes.toString('utf8')
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'));
      if (names.length === 0) throw new UsageError(`${file} lists no names`);
      const r = await request<{ candidates: number }>(cmd, ID, 'POST', '/lists', { source: o.source, names, confidence: o.confidence });
      out(`${r.candidates} candidates from ${o.source}`);
    });
  return m6;
};
