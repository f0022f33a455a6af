/** `mamori share …`: M2's recipients, their credentials, the shared list, partners' lists. */
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { MeasureCli } from '../../core/cli.js';
import { UsageError } from '../../core/errors.js';
import { COLLECTIONS, decideEntry, listEntries, type EntryState } from './entries.js';
import { importPartnerFile, inboundSources, pollPartner, type FileFormat } from './partners.js';
import {
  addRecipient,
  CHANNELS,
  issueCredential,
  listRecipients,
  renewAttestation,
  revokeCredential,
  setRecipientDisabled,
  type Channel,
} from './recipients.js';
import type { CcSharingSettings } from './settings.js';
import type { Sharer } from '../../share/sharer.js';

const aliases: string[] = Object.values(COLLECTIONS).map((c) => c.alias);

function channels(v: string): Channel[] {
  const out = v.split(',').map((x) => x.trim());
  const bad = out.filter((x) => !(CHANNELS as readonly string[]).includes(x));
  if (bad.length > 0 || out.length === 0) throw new InvalidArgumentError(`channels are a comma-separated list of ${CHANNELS.join(', ')}`);
  return out as Channel[];
}

function collections(v: string): string[] {
  const out = v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  const bad = out.filter((x) => !aliases.includes(x));
  if (bad.length > 0) throw new InvalidArgumentError(`collections: ${aliases.join(', ')}`);
  return out;
}

export const ccSharingCli: MeasureCli = (program, { withInstance, actor, isoTime, readFile }) => {
  const share = program.command('share').description('M2: sharing C&C servers (IP and port only) with attested recipients');

  const recipients = share.command('recipients').description('organisations that receive the list');
  recipients.command('list').action(async (_o, cmd: Command) => {
    for (const r of await withInstance(cmd, (m) => listRecipients(m.state))) {
      const rights = r.rights.map((x) => `${x.collection}:${x.read ? 'r' : ''}${x.write ? 'w' : ''}`).join(' ');
      process.stdout.write(
        `${r.id}\t${r.name}\t${r.disabled ? 'disabled' : 'enabled'}\tattested ` +
          `${r.attestedAt} – ${r.attestationUntil}\t${r.channels.join(',')}\t${rights}\t${r.contact}\n`,
      );
    }
  });
  recipients
    .command('add')
    .argument('<name>', 'the organisation')
    .requiredOption('--contact <text>', 'who to call about the information (e.g. its SOC)')
    .requiredOption('--attested-at <time>', 'when its information management was checked', isoTime)
    .requiredOption('--until <time>', 'until when that check holds', isoTime)
    .option('--channels <list>', `channels: ${CHANNELS.join(',')}`, channels, ['taxii'] as Channel[])
    .option('--read <collections>', `collections it may read (${aliases.join(', ')})`, collections, [COLLECTIONS.cc.alias])
    .option('--write <collections>', 'collections it may write', collections, [] as string[])
    .action(
      async (
        name: string,
        o: { contact: string; attestedAt: string; until: string; channels: Channel[]; read: string[]; write: string[] },
        cmd: Command,
      ) => {
        const rights = aliases
          .filter((a) => o.read.includes(a) || o.write.includes(a))
          .map((a) => ({ collection: a, read: o.read.includes(a), write: o.write.includes(a) }));
        const recipient = { name, contact: o.contact, attestedAt: o.attestedAt, attestationUntil: o.until, channels: o.channels, rights };
        const r = await withInstance(cmd, (m) => addRecipient(m.state, m.audit, recipient, actor()), { create: true });
        process.stdout.write(`recipient ${r.id} (${r.name}) added; issue it a credential with: mamori share credentials issue ${r.id}\n`);
      },
    );
  recipients
    .command('attest')
    .argument('<recipient>', 'id or name')
    .requiredOption('--attested-at <time>', 'when its information management was checked again', isoTime)
    .requiredOption('--until <time>', 'until when that check holds', isoTime)
    .action(async (who: string, o: { attestedAt: string; until: string }, cmd: Command) => {
      const r = await withInstance(cmd, (m) => renewAttestation(m.state, m.audit, who, o.attestedAt, o.until, actor()));
      process.stdout.write(`${r.name}: attested ${r.attestedAt} – ${r.attestationUntil}\n`);
    });
  for (const [verb, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    recipients
      .command(verb)
      .argument('<recipient>', 'id or name')
      .action(async (who: string, _o, cmd: Command) => {
        await withInstance(cmd, (m) => setRecipientDisabled(m.state, m.audit, who, disabled, actor()));
        process.stdout.write(`${who}: ${disabled ? 'disabled' : 'enabled'}\n`);
      });
  }

  const credentials = share.command('credentials').description('credentials of recipients (TAXII and feeds)');
  credentials
    .command('issue')
    .argument('<recipient>', 'id or name')
    .addOption(new Option('--kind <kind>', 'bearer token or HTTP Basic').choices(['token', 'basic']).default('token'))
    .action(async (who: string, o: { kind: 'token' | 'basic' }, cmd: Command) => {
      const c = await withInstance(cmd, (m) => issueCredential(m.state, m.audit, who, o.kind, actor()));
      process.stdout.write(
        `credential ${c.id}${c.username ? `\n  user: ${c.username}` : ''}\n ` +
          ` ${o.kind === 'token' ? 'token' : 'password'}: ` +
          `${c.secret}\nThis secret is shown only once. / この値は一度だけ表示されます。\n`,
      );
    });
  credentials
    .command('revoke')
    .argument('<credential>', 'credential id (k-…)')
    .action(async (id: string, _o, cmd: Command) => {
      await withInstance(cmd, (m) => revokeCredential(m.state, m.audit, id, actor()));
      process.stdout.write(`credential ${id} revoked\n`);
    });

  share
    .command('entries')
    .description('the shared list')
    .addOption(new Option('--state <state>', 'only entries in this state').choices(['pending', 'shared', 'rejected', 'revoked', 'expired']))
    .action(async (o: { state?: EntryState }, cmd: Command) => {
      const entries = await withInstance(cmd, async (m) => {
        const e = await listEntries(m.state, o.state);
        await m.audit.append({ actor: actor(), measure: 'cc-sharing', action: 'share.entries.read', counts: { entries: e.length } });
        return e;
      });
      for (const e of entries)
        process.stdout.write(
          `${e.id}\t${e.state}\t${e.address}\t${e.port}/${e.proto}\tconfidence ${e.confidence}\tvalid until ${e.validUntil}\n`,
        );
    });
  share
    .command('import')
    .argument('<file>', "the partner's file")
    .addOption(new Option('--format <format>', 'file format').choices(['misp', 'feodo-csv', 'ip-list', 'stix']).makeOptionMandatory())
    .requiredOption('--source <name>', 'who sent it (a new import of the same name replaces it)')
    .option(
      '--valid-days <n>',
      'validity when the file gives none',
      (v) => {
        if (!/^\d{1,4}$/.test(v) || Number(v) < 1) throw new InvalidArgumentError('a number of days (1–9999)');
        return Number(v);
      },
      30,
    )
    .description("import a partner's list (IP and port only, with provenance); a broken file is refused whole, skipped lines are listed")
    .action(async (file: string, o: { format: FileFormat; source: string; validDays: number }, cmd: Command) => {
      const request = { file: readFile(file), format: o.format, source: o.source, validityDays: o.validDays, actor: actor() };
      const r = await withInstance(cmd, async (m) => importPartnerFile(await m.broker.forMeasure('cc-sharing').ownState(), request), {
        create: true,
      });
      process.stdout.write(`imported ${r.entries} entries from ${file} as "file:${o.source}"; ${r.skipped.length} skipped\n`);
      for (const x of r.skipped.slice(0, 50)) process.stdout.write(`  skipped ${x.line}: ${x.reason}\n`);
      if (r.skipped.length > 50) process.stdout.write(`  … and ${r.skipped.length - 50} more\n`);
    });
  share
    .command('poll')
    .argument('[partner]', 'one partner by name (default: all configured)')
    .description("poll partners' TAXII collections now, resuming where the last poll stopped (M2 must be enabled)")
    .action(async (name: string | undefined, _o, cmd: Command) => {
      await withInstance(cmd, async (m) => {
        const capabilities = m.broker.forMeasure('cc-sharing');
        const own = await capabilities.ownState<CcSharingSettings>();
        const sharer = await capabilities.action<Sharer>('sharer');
        const partners = own.settings.partners.filter((p) => name === undefined || p.name === name);
        if (partners.length === 0)
          throw new UsageError(
            name ? `no partner "${name}" in measures.cc-sharing.partners` : 'no partners in measures.cc-sharing.partners',
          );
        for (const p of partners) {
          const r = await pollPartner(own, sharer, p, actor());
          process.stdout.write(
            `${p.name}: ${r.pages} page(s), ${r.accepted} indicators ` +
              `accepted, ${r.refused} refused; resumes ` +
              `after ${r.cursor ?? 'the beginning'}\n`,
          );
        }
      });
    });
  share
    .command('inbound')
    .description('what partners sent: sources and counts')
    .action(async (_o, cmd: Command) => {
      const rows = await withInstance(cmd, (m) => inboundSources(m.state));
      for (const r of rows)
        process.stdout.write(
          `${r.name}\t${r.kind}\t${r.entries} entries\t${r.skipped} ` +
            `skipped last time\t${r.receivedAt}\t${r.receivedBy}${r.cursor ? `\tcursor ${r.cursor}` : ''}\n`,
        );
    });

  for (const action of ['approve', 'reject', 'revoke'] as const) {
    share
      .command(action)
      .argument('<entry>', 'entry id (indicator--…)')
      .requiredOption('--reason <text>', 'why (kept in the audit log with the entry)')
      .description(`${action} an entry of the shared list`)
      .action(async (id: string, o: { reason: string }, cmd: Command) => {
        const e = await withInstance(cmd, (m) =>
          decideEntry(m.state, m.audit, m.registry.settingsOf<CcSharingSettings>('cc-sharing'), id, action, o.reason, actor()),
        );
        process.stdout.write(`${e.id}: ${e.state}\n`);
      });
  }
  return share;
};
