/**
 * chdb: ClickHouse embedded in the process, MergeTree on local disk. Queries
 * run off the event loop (queryAsync); inserts hand bytes to the engine's own
 * parser, so no object trees are built for bulk data.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { Session } from 'chdb';
import { AnalyticsStoreError, SANDBOX_DATABASE, type AnalyticsStore, type InsertFormat } from './store.js';

function parseRows<T>(text: string): T[] {
  const rows: T[] = [];
  for (const line of text.split('\n')) if (line.length > 0) rows.push(JSON.parse(line) as T);
  return rows;
}

/**
 * RowBinary does not go through chdb's insert call (text formats only): the
 * bytes are staged in a private file on tmpfs and read with file(), which
 * parses RowBinary about six times faster than TSV. The file lives only for
 * the insert (mode 0600, in a 0700 directory removed at close).
 */
function stagingArea(): string {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return mkdtempSync(join(base, 'mamori-staging-'));
}

/**
 * Bulk loading and background merges run at nice 10: on a busy machine the threads
 * that receive and decode (nice 0) come first, and what waits meanwhile waits in the
 * writer's spool. ClickHouse applies nice values only with CAP_SYS_NICE (it must be able
 * to restore them), else it ignores them: see hasCapSysNice.
 */
export const BACKGROUND_NICE = 10;

/** Whether this process may change thread priorities (CAP_SYS_NICE, bit 23 of CapEff in /proc/self/status). */
export function hasCapSysNice(status = readProcStatus()): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m !== null && (BigInt(`0x${m[1]}`) & (1n << 23n)) !== 0n;
}

function readProcStatus(): string {
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return '';
  }
}

export async function openChdbStore(path: string): Promise<AnalyticsStore> {
  let session: Session;
  const staging = stagingArea();
  // Beside the data directory, not in it: ClickHouse owns what is inside.
  const spool = `${resolve(path)}-spool`;
  let staged = 0;
  const structures = new Map<string, string>();
  try {
    mkdirSync(path, { recursive: true });
    mkdirSync(spool, { recursive: true, mode: 0o700 });
    session = new Session(path, {
      installSignalHandlers: false,
      connectionArgs: [`--os_threads_nice_value_merge_mutate=${BACKGROUND_NICE}`],
    });
    await session.queryAsync(`CREATE DATABASE IF NOT EXISTS ${SANDBOX_DATABASE}`);
    await session.queryAsync(`USE ${SANDBOX_DATABASE}`);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw new AnalyticsStoreError(
      `analytics store ${path} cannot be opened: ${(err as Error).message.split('\n')[0]}. Only one ` +
        `process can open it: if the mamori server is running, use its API instead.`,
      { cause: err },
    );
  }
  const wrap = (what: string, err: unknown) =>
    new AnalyticsStoreError(`analytics ${what} failed: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  async function insertStaged(table: string, file: string): Promise<{ rows: number }> {
    try {
      // The path goes into SQL as a literal: only plain names in our own directory.
      if ((dirname(file) !== staging && dirname(file) !== spool) || !/^[\w.-]+$/.test(basename(file)) || /['\\]/.test(file)) {
        throw new Error(`${basename(file)} is not a file of the staging or spool directory`);
      }
      let structure = structures.get(table);
      if (!structure) {
        const [db, name] = table.split('.') as [string, string];
        const cols = parseRows<{ name: string; type: string }>(
          (
            await session.queryBindAsync(
              'SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position',
              { db, t: name },
              { format: 'JSONEachRow' },
            )
          ).text(),
        );
        if (cols.length === 0) throw new Error(`table ${table} does not exist`);
        structure = cols
          .map((c) => `${c.name} ${c.type}`)
          .join(', ')
          .replace(/\\/g, '\\\\')
          .replace(/'/g, "\\'");
        structures.set(table, structure);
      }
      const r = await session.queryAsync(
        `INSERT INTO ${table} SELECT * FROM file('${file}', 'RowBinary', '${structure}') SETTINGS os_threads_nice_value_query ` +
          `= ${BACKGROUND_NICE}`,
        { format: 'TSV' },
      );
      return { rows: r.rowsRead };
    } catch (err) {
      throw wrap(`insert into ${table}`, err);
    } finally {
      rmSync(file, { force: true });
    }
  }

  return {
    engine: 'chdb',
    location: path,
    async exec(sql, params) {
      try {
        if (params) await session.queryBindAsync(sql, params, { format: 'TSV' });
        else await session.queryAsync(sql, { format: 'TSV' });
      } catch (err) {
        throw wrap('statement', err);
      }
    },
    async query<T>(sql: string, params?: Record<string, unknown>) {
      try {
        const r = params
          ? await session.queryBindAsync(sql, params, { format: 'JSONEachRow' })
          : await session.queryAsync(sql, { format: 'JSONEachRow' });
        return parseRows<T>(r.text());
      } catch (err) {
        throw wrap('query', err);
      }
    },
    stagingDirectory: staging,
    spoolDirectory: spool,
    async insert(table: string, format: InsertFormat, payload: Buffer) {
      if (format !== 'RowBinary') {
        try {
          const r = await session.insert({ table, values: payload, format });
          return { rows: r.rowsWritten };
        } catch (err) {
          throw wrap(`insert into ${table}`, err);
        }
      }
      const file = join(staging, `insert-${staged++}.rowbinary`);
      writeFileSync(file, payload, { mode: 0o600 });
      return insertStaged(table, file);
    },
    insertStaged,
    async explainAst(sql, params) {
      try {
        const explain = `EXPLAIN AST ${sql}`;
        const r = params
          ? await session.queryBindAsync(explain, params, { format: 'TSVRaw' })
          : await session.queryAsync(explain, { format: 'TSVRaw' });
        return r.text();
      } catch (err) {
        throw wrap('parse', err);
      }
    },
    async databases() {
      const r = await session.queryAsync('SELECT name FROM system.databases', { format: 'JSONEachRow' });
      return parseRows<{ name: string }>(r.text()).map((x) => x.name);
    },
    async close() {
      session.close();
      rmSync(staging, { recursive: true, force: true });
    },
  };
}
