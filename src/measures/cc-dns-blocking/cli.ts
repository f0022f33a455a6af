/**
 * `mamori dns-blocking …`: M3's commands for analysts and the support desk, against the running server
 * (its routes.ts; the zones live in the server): C&C entries, a subscriber's choice, blocked-query counts,
 * resolver configuration. The server audits each call under the token's name.
 */
import { Argument, InvalidArgumentError, Option } from 'commander';
import type { MeasureCli } from '../../core/cli.js';
import { CHANNELS } from './tables.js';

const ID = 'cc-dns-blocking';
const RESOLVERS = ['bind', 'unbound', 'pdns-recursor', 'knot-resolver'];
const day = (v: string) => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) throw new InvalidArgumentError('a day such as 2026-11-24');
  return v;
};

interface Entry {
  id: number;
  name: string;
  source: string;
  addedBy: string;
  validUntil: string;
  withdrawnAt: string | null;
  active: boolean;
}
interface Consent {
  subscriber: string;
  blocked: boolean;
  choice: string;
  channel: string | null;
  at: string | null;
  history?: Array<{ choice: string; channel: string; actor: string; at: string }>;
}

export const ccDnsBlockingCli: MeasureCli = (program, { request }) => {
  const m3 = program.command('dns-blocking').description('M3: blocking resolution of C&C names (asks the running server; MAMORI_TOKEN)');
  const out = (line: string) => process.stdout.write(`${line}\n`);

  m3.command('entries')
    .description("the C&C names listed, with their source and validity, and the zone's serial")
    .option('--source <name>', 'only entries from this source (an imported list\'s name, or "analyst")')
    .option('--active', 'only entries valid now')
    .option('--limit <n>', 'at most this many', (v) => Number(v), 1000)
    .action(async (o: { source?: string; active?: boolean; limit: number }, cmd) => {
      const q = new URLSearchParams({
        limit: String(o.limit),
        ...(o.source ? { source: o.source } : {}),
        ...(o.active ? { active: 'true' } : {}),
      });
      type Listed = { entries: Entry[]; zone: { origin: string; serial: number; names: number } };
      const r = await request<Listed>(cmd, ID, 'GET', `/entries?${q}`);
      for (const e of r.entries) {
        const state = e.active ? 'active' : e.withdrawnAt ? 'withdrawn' : 'expired';
        out(`${e.id}\t${e.name}\t${e.source}\t${state}\tuntil ${e.validUntil}\tby ${e.addedBy}`);
      }
      out(`zone ${r.zone.origin}: serial ${r.zone.serial}, ${r.zone.names} names blocked`);
    });
  m3.command('add')
    .argument('<name>', 'the C&C name (it and its subdomains are blocked)')
    .requiredOption('--reason <text>', 'why (kept in the audit log)')
    .option('--valid-for <duration>', "how long the entry holds (e.g. 30d; default: the measure's setting)")
    .description('list a C&C name; the resolvers get it at once (NOTIFY, IXFR)')
    .action(async (name: string, o: { reason: string; validFor?: string }, cmd) => {
      const body = { name, reason: o.reason, ...(o.validFor ? { validFor: o.validFor } : {}) };
      const e = await request<Entry>(cmd, ID, 'POST', '/entries', body);
      out(`entry ${e.id}: ${e.name} blocked until ${e.validUntil}`);
    });
  m3.command('withdraw')
    .argument('<id>', "the entry's number")
    .requiredOption('--reason <text>', 'why (kept in the audit log)')
    .description('withdraw an entry; the resolvers get it at once')
    .action(async (id: string, o: { reason: string }, cmd) => {
      const r = await request<{ withdrawn: boolean }>(cmd, ID, 'POST', `/entries/${encodeURIComponent(id)}/withdraw`, { reason: o.reason });
      out(r.withdrawn ? `entry ${id} withdrawn` : `entry ${id} was not active: nothing changed`);
    });

  const consent = m3.command('consent').description("a subscriber's choice (opt-out: never filtered; opt-in: the contract's default)");
  consent
    .command('show')
    .argument('<subscriber>', "the subscriber's ID")
    .description('the choice in force and its history (the read is audited)')
    .action(async (subscriber: string, _o, cmd) => {
      const c = await request<Consent>(cmd, ID, 'GET', `/consent/${encodeURIComponent(subscriber)}`);
      out(`${c.subscriber}: ${c.blocked ? 'filtered' : 'not filtered'} (${c.choice}${c.at ? `, ${c.at} via ${c.channel}` : ''})`);
      for (const h of c.history ?? []) out(`  ${h.at}\t${h.choice}\t${h.channel}\t${h.actor}`);
    });
  consent
    .command('set')
    .argument('<subscriber>', "the subscriber's ID")
    .addArgument(new Argument('<choice>', 'opt-out or opt-in').choices(['opt-out', 'opt-in']))
    .addOption(new Option('--channel <channel>', 'where the subscriber made the choice').choices([...CHANNELS]).makeOptionMandatory())
    .description("record the subscriber's choice; it reaches the resolvers at once")
    .action(async (subscriber: string, choice: string, o: { channel: string }, cmd) => {
      const c = await request<Consent>(cmd, ID, 'PUT', `/consent/${encodeURIComponent(subscriber)}`, { choice, channel: o.channel });
      out(`${c.subscriber}: ${c.blocked ? 'filtered' : 'not filtered'} (${c.choice})`);
    });

  m3.command('blocked')
    .requiredOption('--from <day>', 'first day', day)
    .requiredOption('--to <day>', 'last day', day)
    .description('blocked queries per day, zone, listed name and resolver (no client, no subscriber)')
    .action(async (o: { from: string; to: string }, cmd) => {
      const r = await request<{ counts: Array<{ day: string; zone: string; rule: string; resolver: string; count: number }> }>(
        cmd,
        ID,
        'GET',
        `/blocked?${new URLSearchParams(o)}`,
      );
      for (const c of r.counts) out(`${c.day}\t${c.zone}\t${c.rule}\t${c.resolver}\t${c.count}`);
    });
  m3.command('resolver-config')
    .addArgument(new Argument('<resolver>', 'the resolver').choices(RESOLVERS))
    .description("configuration to paste into the resolver, with this installation's zones, primary and key name")
    .action(async (resolver: string, _o, cmd) => {
      process.stdout.write(await request<string>(cmd, ID, 'GET', `/resolver-config/${resolver}`));
    });
  return m3;
};
