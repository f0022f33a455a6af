#!/usr/bin/env node
/**
 * The `mamori` command. Every subcommand reads the same YAML configuration
 * (-c FILE, or MAMORI_CONFIG, or the embedded defaults) and acts through the
 * same core as the server, so the CLI is audited exactly like the API. Each
 * group of subcommands lives in commands/.
 */
import { Command } from 'commander';
import { MamoriError } from '../core/errors.js';
import { accountCommands } from './commands/accounts.js';
import { auditCommands } from './commands/audit.js';
import { ccEvalCommand } from './commands/cc-eval.js';
import { configCommands } from './commands/config.js';
import { flowCommands } from './commands/flows.js';
import { policyCommands } from './commands/policy.js';
import { retentionCommands } from './commands/retention.js';
import { serveCommands } from './commands/server.js';
import { simulateCommands } from './commands/simulate.js';
import { subscriberCommands } from './commands/subscribers.js';
import { measureCliContext } from './context.js';
import { ALL_MEASURES } from '../measures/index.js';

export function buildCli(): Command {
  const program = new Command('mamori')
    .description('Mamori (守り): ISP-side countermeasures against cyber attacks, within the limits that make them lawful')
    .option('-c, --config <file>', 'YAML configuration (default: $MAMORI_CONFIG, else embedded defaults)')
    .showHelpAfterError()
    .configureHelp({ showGlobalOptions: true });
  for (const add of [serveCommands, configCommands, policyCommands, auditCommands, accountCommands, flowCommands]) add(program);
  // Each measure's own commands (its cli.ts), in the order of the measures' codes.
  const groups = new Map(ALL_MEASURES.flatMap((m) => (m.cli ? [[m.declaration.id, m.cli(program, measureCliContext)] as const] : [])));
  ccEvalCommand(groups.get('cc-detection')!);
  for (const add of [subscriberCommands, simulateCommands, retentionCommands]) add(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    // Every error Mamori raises on purpose (src/core/errors.ts): the message the API would give, exit 2,
    // no stack trace. Anything else is a bug and keeps its stack.
    if (err instanceof MamoriError) {
      process.stderr.write(`mamori: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}

await main(process.argv);
