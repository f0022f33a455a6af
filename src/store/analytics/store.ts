/**
 * The analytics store: flows, DNS logs and features, queried with ClickHouse
 * SQL. Embedded chdb by default; a ClickHouse server implements the same
 * interface with the same SQL when a deployment outgrows one machine.
 */
import { MamoriError } from '../../core/errors.js';
/** RowBinary is the fast path for bulk data (fixed-width binary, no text parsing). */
export type InsertFormat = 'TSV' | 'JSONEachRow' | 'RowBinary';

export interface AnalyticsStore {
  readonly engine: 'chdb' | 'clickhouse';
  readonly location: string;
  /** DDL and maintenance statements issued by the core (never by measures). */
  exec(sql: string, params?: Record<string, unknown>): Promise<void>;
  /** A read query; rows come back as objects (JSONEachRow). */
  query<T = Record<string, unknown>>(sql: string, params?: Record<string, unknown>): Promise<T[]>;
  /** Bulk insert of bytes already serialised in `format`. */
  insert(table: string, format: InsertFormat, payload: Buffer): Promise<{ rows: number }>;
  /**
   * A private directory (0700) where a writer in another thread may prepare
   * RowBinary files for insertStaged, so bulk bytes never cross threads.
   */
  readonly stagingDirectory: string;
  /**
   * A directory (0700) on the store's own disk where a writer keeps RowBinary files that wait
   * longer than staging allows (the flow inlet's spool). It survives restarts: what is left
   * there at stop is the writer's to load at its next start.
   */
  readonly spoolDirectory: string;
  /** Inserts a RowBinary file prepared in stagingDirectory or spoolDirectory, then deletes it (inserted or not). */
  insertStaged(table: string, file: string): Promise<{ rows: number }>;
  /** The engine's own syntax tree of a statement, for the table-access guard. */
  explainAst(sql: string, params?: Record<string, unknown>): Promise<string>;
  databases(): Promise<string[]>;
  close(): Promise<void>;
}

export class AnalyticsStoreError extends MamoriError {
  static override readonly code = 'analytics-store';
  static override readonly status = 503;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** An empty database selected as the current one, so unqualified names can only be CTEs. */
export const SANDBOX_DATABASE = 'mamori_sandbox';

/** Deletes the rows of `table` matching `where` and says how many there were (the count goes to the audit log). */
export async function countAndDelete(
  store: AnalyticsStore,
  table: string,
  where: string,
  params: Record<string, unknown>,
): Promise<number> {
  const [row] = await store.query<{ n: string }>(`SELECT count() AS n FROM ${table} WHERE ${where}`, params);
  const n = Number(row?.n ?? 0);
  if (n > 0) await store.exec(`DELETE FROM ${table} WHERE ${where}`, params);
  return n;
}
