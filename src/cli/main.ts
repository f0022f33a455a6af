#!/usr/bin/env node
/**
 * The `mamori` command. Every subcommand reads the same YAML configuration
 * (-c FILE, or MAMORI_CONFIG, or the embedded defaults) and acts through the
 * same core as the server, so the CLI is audited exactly like the API. Each
 * group of subcommands lives in commands/.
 */
import { Command } from 'commander';
import { AccountError } from '../core/accounts.js';
import { CapabilityRefusedError } from '../core/capabilities.js';
import { ConfigError } from '../core/config.js';
import { MeasureDeclarationError } from '../core/measure.js';
import { NfdumpError } from '../ingest/flow/nfdump.js';
import { PcapError } from '../ingest/pcap.js';
import { LabelImportError } from '../measures/cc-detection/labels.js';
import { AnalyticsStoreError } from '../store/analytics/store.js';
import { StateStoreError } from '../store/state/store.js';
import { accountCommands } from './commands/accounts.js';
import { auditCommands } from './commands/audit.js';
import { ccCommands } from './commands/cc.js';
import { configCommands } from './commands/config.js';
import { flowCommands } from './commands/flows.js';
import { policyCommands } from './commands/policy.js';
import { retentionCommands } from './commands/retention.js';
import { serveCommands } from './commands/server.js';
import { simulateCommands } from './commands/simulate.js';
import { shareCommands } from './commands/share.js';
import { subscriberCommands } from './commands/subscribers.js';
import { UsageError } from './context.js';
import { TrainingError } from '../measures/cc-detection/training.js';
import { StateScopeError } from '../core/measure-state.js';
import { RecipientError } from '../measures/cc-sharing/recipients.js';
import { EntryError } from '../measures/cc-sharing/entries.js';
import { PartnerError } from '../measures/cc-sharing/partners.js';
import { LookupError } from '../subscriber/service.js';

/** Errors we expect from bad input: one clear message, exit 2, no stack trace. */
const EXPECTED = [UsageError, PcapError, LabelImportError, NfdumpError, ConfigError, MeasureDeclarationError, StateStoreError, AnalyticsStoreError, AccountError, CapabilityRefusedError, TrainingError, StateScopeError, RecipientError, EntryError, PartnerError, LookupError];

export function buildCli(): Command {
  const program = new Command('mamori')
    .description('Mamori (守り): ISP-side countermeasures against cyber attacks, within the limits that make them lawful')
    .option('-c, --config <file>', 'YAML configuration (default: $MAMORI_CONFIG, else embedded defaults)')
    .showHelpAfterError()
    .configureHelp({ showGlobalOptions: true });
  for (const add of [serveCommands, configCommands, policyCommands, auditCommands, accountCommands, flowCommands, ccCommands, shareCommands, subscriberCommands, simulateCommands, retentionCommands]) add(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (EXPECTED.some((E) => err instanceof E)) {
      process.stderr.write(`mamori: ${(err as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}

await main(process.argv);
