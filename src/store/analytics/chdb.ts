/**
 * chdb: ClickHouse embedded in the process, MergeTree on local disk. Queries
 * run off the event loop (queryAsync); inserts hand bytes to the engine's own
 * parser, so no object trees are built for bulk data.
 */
import { mkdirSync } from 'node:fs';
import { Session } from 'chdb';
import { AnalyticsStoreError, SANDBOX_DATABASE, type AnalyticsStore, type InsertFormat } from './store.js';

function parseRows<T>(text: string): T[] {
  const rows: T[] = [];
  for (const line of text.split('\n')) if (line.length > 0) rows.push(JSON.parse(line) as T);
  return rows;
}

export async function openChdbStore(path: string): Promise<AnalyticsStore> {
  let session: Session;
  try {
    mkdirSync(path, { recursive: true });
    session = new Session(path, { installSignalHandlers: false });
    await session.queryAsync(`CREATE DATABASE IF NOT EXISTS ${SANDBOX_DATABASE}`);
    await session.queryAsync(`USE ${SANDBOX_DATABASE}`);
  } catch (err) {
    throw new AnalyticsStoreError(`analytics store ${path} cannot be opened: ${(err as Error).message.split('\n')[0]}. Only one process can open it: if the mamori server is running, use its API instead.`, { cause: err });
  }
  const wrap = (what: string, err: unknown) => new AnalyticsStoreError(`analytics ${what} failed: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  return {
    engine: 'chdb',
    location: path,
    async exec(sql, params) {
      try {
        if (params) await session.queryBindAsync(sql, params, { format: 'TSV' });
        else await session.queryAsync(sql, { format: 'TSV' });
      } catch (err) { throw wrap('statement', err); }
    },
    async query<T>(sql: string, params?: Record<string, unknown>) {
      try {
        const r = params
          ? await session.queryBindAsync(sql, params, { format: 'JSONEachRow' })
          : await session.queryAsync(sql, { format: 'JSONEachRow' });
        return parseRows<T>(r.text());
      } catch (err) { throw wrap('query', err); }
    },
    async insert(table: string, format: InsertFormat, payload: Buffer) {
      try {
        const r = await session.insert({ table, values: payload, format });
        return { rows: r.rowsWritten };
      } catch (err) { throw wrap(`insert into ${table}`, err); }
    },
    async explainAst(sql, params) {
      try {
        const explain = `EXPLAIN AST ${sql}`;
        const r = params ? await session.queryBindAsync(explain, params, { format: 'TSVRaw' }) : await session.queryAsync(explain, { format: 'TSVRaw' });
        return r.text();
      } catch (err) { throw wrap('parse', err); }
    },
    async databases() {
      const r = await session.queryAsync('SELECT name FROM system.databases', { format: 'JSONEachRow' });
      return parseRows<{ name: string }>(r.text()).map((x) => x.name);
    },
    async close() { session.close(); },
  };
}
