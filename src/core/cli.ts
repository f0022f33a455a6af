/**
 * What a measure's cli.ts gets from the `mamori` command (src/cli/main.ts registers every measure's
 * commands): the instance for commands that work on the stores, and the running server's API for
 * commands whose state lives in the server (a measure's cli.ts imports neither src/cli nor src/app).
 */
import type { Command } from 'commander';
import type { StateStore } from '../store/state/store.js';
import type { AuditLog } from './audit/log.js';
import type { MeasureCapabilities } from './capabilities.js';

/** The part of the open instance a measure's commands use (src/core/instance.ts has it all). */
export interface CliInstance {
  readonly state: StateStore;
  readonly audit: AuditLog;
  readonly broker: { forMeasure(measureId: string): MeasureCapabilities };
  readonly registry: { settingsOf<T>(measureId: string): T };
}

export interface MeasureCliContext {
  /** Opens the instance for one command and closes it after; `create` only for commands that bring data in. */
  withInstance<T>(cmd: Command, fn: (m: CliInstance) => Promise<T>, options?: { analytics?: boolean; create?: boolean }): Promise<T>;
  /**
   * Calls the running server under /api/v1/measures/<measure>/ (its address from the configuration's
   * server.host and server.port, or MAMORI_URL; an API token from MAMORI_TOKEN). An error answer is a
   * MamoriError with the server's message.
   */
  request<T = unknown>(cmd: Command, measure: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T>;
  /**
   * Streams a file as the body of a POST to the running server (application/octet-stream), without reading it
   * into memory and without a time limit (a large report answers when it is imported); answers as `request`.
   */
  upload<T = unknown>(cmd: Command, measure: string, path: string, file: string): Promise<T>;
  /** Who acts: `cli:<user>` in the audit log. */
  actor(): string;
  /** A date/time argument as ISO 8601, or a usage error naming it. */
  isoTime(value: string): string;
  /**
   * A file the operator named (a list to import, a model): read by the command, not by the measure's code, which
   * opens no file itself. Its name is for messages; a missing or oversized file is a usage error naming it.
   */
  readFile(path: string): OperatorFile;
}

/** A file an operator gave a command, read whole. */
export interface OperatorFile {
  readonly name: string;
  readonly bytes: Buffer;
}

/** A measure's cli.ts: adds its command group to the program and returns it. */
export type MeasureCli = (program: Command, context: MeasureCliContext) => Command;
