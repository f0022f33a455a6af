/**
 * The state store: consent, cases, users, audit, candidates. SQLite (WAL) by
 * default, one file in the data directory; callers see only Kysely and
 * `writeTransaction`, so a PostgreSQL store can be added without touching them.
 */
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql, type Migration } from 'kysely';
import { migrationProvider } from './migrations.js';
import type { StateSchema } from './schema.js';
import type { StateDb } from './tables.js';
import { MamoriError } from '../../core/errors.js';

export { tablesOf, type StateDb } from './tables.js';

export interface StateStore {
  readonly dialect: 'sqlite' | 'postgres';
  readonly location: string;
  readonly db: StateDb;
  /**
   * Runs `fn` in a transaction that takes the write lock at its start, so that
   * read-then-append sequences (the audit chain) are serialised across
   * processes. Inside `fn`, use only the handle it receives.
   */
  writeTransaction<T>(fn: (db: StateDb) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export class StateStoreError extends MamoriError {
  static override readonly code = 'state-store';
  static override readonly status = 503;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Turns SQLite's terse codes into what an operator needs to know and do. */
export function explainSqliteError(path: string, err: unknown): StateStoreError {
  const code = (err as { code?: string })?.code ?? '';
  const base = `state database ${path}`;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new StateStoreError(
      `${base} is locked by another process (${code}); stop the other mamori process or wait, then retry. Nothing was written.`,
      { cause: err },
    );
  }
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new StateStoreError(
      `${base} is not a SQLite database or is corrupt (${code}); restore it from a backup. Mamori did not modify it.`,
      { cause: err },
    );
  }
  if (code === 'SQLITE_FULL') {
    const what = `${base}: the disk is full (${code}); free space on its file system, then retry. The change was not written.`;
    return new StateStoreError(what, { cause: err });
  }
  if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY' || code === 'SQLITE_IOERR' || code.startsWith('SQLITE_IOERR_')) {
    return new StateStoreError(`${base} cannot be opened for writing (${code}): check the path, its permissions and free disk space.`, {
      cause: err,
    });
  }
  return new StateStoreError(`${base}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

export interface SqliteOptions {
  /** How long to wait for another process's lock before failing. */
  busyTimeoutMs?: number;
  /** Migrations of measures' own tables, run after the core's (names sort within their own prefix). */
  migrations?: Record<string, Migration>;
}

/**
 * The database holds users, consent and cases: owner-only (0600). SQLite creates its -wal and -shm
 * files with the database file's mode, so creating that file 0600 first covers all three; files
 * left with wider modes by an older version are narrowed.
 */
function restrictFileModes(path: string): void {
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  for (const f of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) if (existsSync(f)) chmodSync(f, 0o600);
}

export async function openSqliteStateStore(path: string, options: SqliteOptions = {}): Promise<StateStore> {
  let raw: Database.Database;
  try {
    if (path !== ':memory:') restrictFileModes(path);
    raw = new Database(path, { timeout: options.busyTimeoutMs ?? 5000 });
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    raw.pragma('foreign_keys = ON');
    const check = raw.pragma('quick_check', { simple: true });
    if (check !== 'ok') {
      raw.close();
      throw Object.assign(new Error(String(check)), { code: 'SQLITE_CORRUPT' });
    }
  } catch (err) {
    throw explainSqliteError(path, err);
  }
  const db = new Kysely<StateSchema>({ dialect: new SqliteDialect({ database: raw }) });
  const store: StateStore = {
    dialect: 'sqlite',
    location: path,
    db,
    async writeTransaction(fn) {
      try {
        return await db.connection().execute(async (conn) => {
          await sql`begin immediate`.execute(conn);
          try {
            const result = await fn(conn);
            await sql`commit`.execute(conn);
            return result;
          } catch (err) {
            // SQLite ends the transaction itself on some errors (SQLITE_FULL, SQLITE_IOERR …): then the
            // rollback fails with "no transaction is active", and the error to report is the first one.
            try {
              await sql`rollback`.execute(conn);
            } catch {
              /* the first error says what went wrong */
            }
            throw err;
          }
        });
      } catch (err) {
        if ((err as { code?: string })?.code?.startsWith('SQLITE_')) throw explainSqliteError(path, err);
        throw err;
      }
    },
    async close() {
      await db.destroy();
    },
  };
  await migrate(store, options.migrations ?? {});
  return store;
}

async function migrate(store: StateStore, extra: Record<string, Migration>): Promise<void> {
  const provider = {
    async getMigrations() {
      return { ...(await migrationProvider.getMigrations()), ...extra };
    },
  };
  // Measures add their tables independently of the core: their migrations may sort between older ones.
  const migrator = new Migrator({ db: store.db, provider, allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    const code = (error as { code?: string })?.code;
    if (code?.startsWith('SQLITE_')) throw explainSqliteError(store.location, error);
    throw new StateStoreError(`state database ${store.location}: migration ${failed} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
