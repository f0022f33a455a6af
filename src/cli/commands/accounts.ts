/** `mamori` commands: users and API tokens. */
import { readFileSync } from 'node:fs';
import { ROLES } from '../../core/roles.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { generatePassword } from '../../core/accounts.js';
import { DURATION_PATTERN, parseDuration } from '../../core/duration.js';
import { actor, withMamori } from '../context.js';

export function accountCommands(program: Command): void {
  const users = program.command('users').description('local user accounts (roles: admin, operator, analyst, auditor)');
  users
    .command('add')
    .argument('<name>', 'user name')
    .addOption(new Option('--role <role>', 'role').choices([...ROLES]).makeOptionMandatory())
    .option('--password-stdin', 'read the password from stdin instead of generating one')
    .description('create a user; a generated password is printed once')
    .action(async (name: string, o: { role: string; passwordStdin?: boolean }, cmd: Command) => {
      const password = o.passwordStdin ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : generatePassword();
      await withMamori(cmd, (m) => m.accounts.createUser(actor(), name, o.role, password), false, true);
      process.stdout.write(
        o.passwordStdin ? `created ${name} (${o.role})\n` : `created ${name} (${o.role}); password (shown once): ${password}\n`,
      );
    });
  users
    .command('list')
    .description('list users')
    .action(async (_o, cmd: Command) => {
      const list = await withMamori(cmd, (m) => m.accounts.listUsers());
      for (const u of list) process.stdout.write(`${u.username}\t${u.role}\t${u.disabled ? 'disabled' : 'active'}\t${u.createdAt}\n`);
    });
  users
    .command('passwd')
    .argument('<name>')
    .description("set a new generated password (ends the user's sessions)")
    .action(async (name: string, _o, cmd: Command) => {
      const password = generatePassword();
      await withMamori(cmd, (m) => m.accounts.setPassword(actor(), name, password));
      process.stdout.write(`new password for ${name} (shown once): ${password}\n`);
    });
  for (const [verb, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    users
      .command(verb)
      .argument('<name>')
      .description(`${verb} a user`)
      .action(async (name: string, _o, cmd: Command) => {
        await withMamori(cmd, (m) => m.accounts.setDisabled(actor(), name, disabled));
        process.stdout.write(`${name}: ${verb}d\n`);
      });
  }

  users
    .command('role')
    .argument('<name>')
    .addOption(new Option('--role <role>', 'new role').choices([...ROLES]).makeOptionMandatory())
    .description('give a user another role (ends their sessions; tokens they made are revoked if they may no longer make tokens)')
    .action(async (name: string, o: { role: string }, cmd: Command) => {
      await withMamori(cmd, (m) => m.accounts.setRole(actor(), name, o.role));
      process.stdout.write(`${name}: role ${o.role}\n`);
    });

  const tokens = program.command('tokens').description('API tokens for machines (Prometheus, scripts)');
  tokens
    .command('create')
    .argument('<name>')
    .addOption(new Option('--role <role>', 'role').choices([...ROLES]).makeOptionMandatory())
    .option('--ttl <duration>', 'expiry, e.g. 90d', (v) => {
      if (!DURATION_PATTERN.test(v)) throw new InvalidArgumentError('a duration such as 90d');
      return v;
    })
    .description('create a token; it is printed once')
    .action(async (name: string, o: { role: string; ttl?: string }, cmd: Command) => {
      const ttl = o.ttl ? parseDuration(o.ttl) : undefined;
      const t = await withMamori(cmd, (m) => m.accounts.createToken(actor(), name, o.role, ttl), false, true);
      process.stdout.write(`token ${t.id} (shown once): ${t.token}\n`);
    });
  tokens
    .command('list')
    .description('list tokens')
    .action(async (_o, cmd: Command) => {
      for (const t of await withMamori(cmd, (m) => m.accounts.listTokens())) {
        process.stdout.write(`${t.id}\t${t.name}\t${t.role}\t${t.revokedAt ? 'revoked' : 'active'}\t${t.expiresAt ?? 'no expiry'}\n`);
      }
    });
  tokens
    .command('revoke')
    .argument('<id>')
    .description('revoke a token')
    .action(async (id: string, _o, cmd: Command) => {
      await withMamori(cmd, (m) => m.accounts.revokeToken(actor(), id));
      process.stdout.write(`token ${id} revoked\n`);
    });
}
