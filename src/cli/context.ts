/** What every `mamori` subcommand shares: configuration, the instance, the acting user, expected errors. */
import { userInfo } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { openMamori, type Mamori } from '../core/app.js';
import { loadConfig, type Config } from '../core/config.js';
import { MamoriError } from '../core/errors.js';

/** Errors we expect from bad input: one clear message, exit 2, no stack trace. */
export class UsageError extends MamoriError {
  static override readonly code = 'usage';
  static override readonly status = 400;
}

export function actor(): string {
  let name = 'unknown';
  try {
    name = userInfo().username;
  } catch {
    /* no passwd entry in some containers */
  }
  return `cli:${name.replace(/[^\w-]/g, '_') || 'unknown'}`;
}

export function configOf(cmd: Command): Config {
  const opts = cmd.optsWithGlobals<{ config?: string }>();
  return loadConfig(opts.config ?? process.env.MAMORI_CONFIG);
}

/**
 * Opens the instance for one command. Only commands that bring data in (`create`) may start a new
 * data directory; the others say that none is there and exit 2, rather than check an empty one.
 */
export async function withMamori<T>(cmd: Command, fn: (m: Mamori) => Promise<T>, analytics = false, create = false): Promise<T> {
  const mamori = await openMamori(configOf(cmd), { analytics, create });
  try {
    return await fn(mamori);
  } finally {
    await mamori.close();
  }
}

export function isoTime(value: string): string {
  const d = new Date(value);
  if (Number.isNaN(d.getTime()))
    throw new InvalidArgumentError(`"${value}" is not a date/time; write e.g. 2026-11-24 or 2026-11-24T09:00:00+09:00`);
  return d.toISOString();
}
