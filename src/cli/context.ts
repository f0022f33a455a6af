/** What every `mamori` subcommand shares: configuration, the instance, the acting user, expected errors. */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { userInfo } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { openMamori, type Mamori } from '../app/mamori.js';
import { loadConfig, type Config } from '../core/config.js';
import type { MeasureCliContext } from '../core/cli.js';
import { MamoriError, UsageError } from '../core/errors.js';
import { measureRoutePrefix } from '../core/measure-routes.js';

export { UsageError };

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

/** The running server did not answer, or answered with an error (its message is passed on). */
export class ServerRequestError extends MamoriError {
  static override readonly code = 'server-request';
  static override readonly status = 502;
}

/** The configured server's address (a wildcard host: loopback), as commands that ask the running server use it. */
export function configuredServerUrl(config: Config): string {
  const h = config.server.host;
  const host = h === '0.0.0.0' ? '127.0.0.1' : h === '::' ? '[::1]' : h.includes(':') ? `[${h}]` : h;
  return `http://${host}:${config.server.port}`;
}

/** An API token for the running server: from `tokenFile` when given, else $MAMORI_TOKEN. */
export function apiToken(tokenFile?: string): string | undefined {
  if (tokenFile) {
    let text: string;
    try {
      text = readFileSync(tokenFile, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read the token file ${tokenFile}: ${(err as NodeJS.ErrnoException).code}`);
    }
    return text.trim() || undefined;
  }
  return process.env.MAMORI_TOKEN?.trim() || undefined;
}

/** One call to a measure's routes on the running server, with the API token in MAMORI_TOKEN. */
export async function serverRequest<T>(cmd: Command, measure: string, method: string, path: string, body?: unknown): Promise<T> {
  return callServer<T>(cmd, measure, method, path, body === undefined ? undefined : { json: body });
}

/** A file streamed to a measure's route (POST, application/octet-stream), with no time limit. */
export async function serverUpload<T>(cmd: Command, measure: string, path: string, file: string): Promise<T> {
  let stream: ReadableStream;
  try {
    statSync(file);
    stream = Readable.toWeb(createReadStream(file)) as ReadableStream;
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return callServer<T>(cmd, measure, 'POST', path, { stream });
}

async function callServer<T>(
  cmd: Command,
  measure: string,
  method: string,
  path: string,
  body: { json: unknown } | { stream: ReadableStream } | undefined,
): Promise<T> {
  const token = apiToken();
  if (!token) {
    throw new UsageError('this command asks the running server: set MAMORI_TOKEN to an API token (mamori tokens create NAME --role ROLE)');
  }
  // MAMORI_URL names another server than the configuration's (as `flows import --server` does for imports).
  const base = process.env.MAMORI_URL?.replace(/\/+$/, '') || configuredServerUrl(configOf(cmd));
  let res: Response;
  try {
    res = await fetch(`${base}${measureRoutePrefix(measure)}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'json' in body ? 'application/json' : 'application/octet-stream' }),
      },
      ...(body === undefined ? {} : 'json' in body ? { body: JSON.stringify(body.json) } : { body: body.stream, duplex: 'half' }),
      // An upload answers when it is imported: no time limit (the server bounds what it holds, not how long it reads).
      ...(body !== undefined && 'stream' in body ? {} : { signal: AbortSignal.timeout(60_000) }),
    } as RequestInit);
  } catch (err) {
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new ServerRequestError(
      `cannot reach the Mamori server at ${base} (${why}): is \`mamori serve\` running? ` +
        'Set MAMORI_URL, or -c with the configuration of the instance',
    );
  }
  const text = await res.text();
  const isJson = (res.headers.get('content-type') ?? '').includes('application/json');
  const json = isJson && text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  if (!res.ok) {
    const message = typeof json?.message === 'string' ? json.message : text.slice(0, 500);
    throw new ServerRequestError(`the server answered ${res.status}: ${message}`, { status: res.status });
  }
  return (json ?? text) as T;
}

/** Operators' files larger than this are refused whole (the largest public reputation lists are a few MiB). */
export const MAX_INPUT_FILE_BYTES = 256 << 20;

/** A file named on the command line, read whole, or a usage error naming it and what was wrong. */
export function readInputFile(path: string): { name: string; bytes: Buffer } {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (size > MAX_INPUT_FILE_BYTES) throw new UsageError(`${path} is ${size} bytes: larger than the ${MAX_INPUT_FILE_BYTES} bytes accepted`);
  try {
    return { name: path, bytes: readFileSync(path) };
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** What a measure's cli.ts gets (src/core/cli.ts). */
export const measureCliContext: MeasureCliContext = {
  withInstance: (cmd, fn, options = {}) => withMamori(cmd, fn, options.analytics ?? false, options.create ?? false),
  request: serverRequest,
  upload: serverUpload,
  actor,
  isoTime,
  readFile: readInputFile,
};
