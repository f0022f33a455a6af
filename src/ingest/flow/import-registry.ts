/**
 * Which files have been back-filled: one row per file, identified by the
 * SHA-256 of its content (never its name, which may carry an address), with
 * when, who and how many records were stored. An import of the same content
 * is refused unless forced, so a second run of a script cannot store every
 * flow twice.
 */
import type { Generated, Migration } from 'kysely';
import { tablesOf, type StateDb, type StateStore } from '../../store/state/store.js';
import type { UntypedDb } from '../../store/state/untyped.js';

export type ImportFormat = 'pcap' | 'nfdump';
/** stored: every record read; partial: the file was cut short, its whole records stored; failed: stopped by an error after storing some. */
export type ImportOutcome = 'stored' | 'partial' | 'failed';

interface ImportTables {
  flow_imports: {
    id: Generated<number>;
    format: string;
    /** SHA-256 of the bytes imported (a pcap cut short: up to its last whole record) and how many. */
    sha256: string;
    bytes: number;
    /** SHA-256 and size of the whole file as received. */
    file_sha256: string;
    file_bytes: number;
    actor: string;
    started_at: string;
    finished_at: string;
    outcome: string;
    /** Records stored in the flows dataset by this import. */
    records: number;
    counts: string;
  };
}

export const flowImportMigrations: Record<string, Migration> = {
  '0070_flow_imports': {
    async up(db: UntypedDb) {
      await db.schema
        .createTable('flow_imports')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('format', 'text', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('bytes', 'integer', (c) => c.notNull())
        .addColumn('file_sha256', 'text', (c) => c.notNull())
        .addColumn('file_bytes', 'integer', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('records', 'integer', (c) => c.notNull())
        .addColumn('counts', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('flow_imports_sha256').on('flow_imports').column('sha256').execute();
      await db.schema.createIndex('flow_imports_file_sha256').on('flow_imports').column('file_sha256').execute();
    },
  },
};

export interface ImportEntry {
  id: number;
  format: ImportFormat;
  sha256: string;
  bytes: number;
  fileSha256: string;
  fileBytes: number;
  actor: string;
  startedAt: string;
  finishedAt: string;
  outcome: ImportOutcome;
  records: number;
  counts: Record<string, number>;
}

const tables = (d: StateDb) => tablesOf<ImportTables>(d);

function fromRow(r: ImportTables['flow_imports'] & { id: number }): ImportEntry {
  return {
    id: Number(r.id),
    format: r.format as ImportFormat,
    sha256: r.sha256,
    bytes: Number(r.bytes),
    fileSha256: r.file_sha256,
    fileBytes: Number(r.file_bytes),
    actor: r.actor,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    outcome: r.outcome as ImportOutcome,
    records: Number(r.records),
    counts: JSON.parse(r.counts) as Record<string, number>,
  };
}

export class ImportRegistry {
  constructor(private readonly state: StateStore) {}

  /**
   * Earlier imports of this content (by what they imported or by the whole file they were given)
   * that stored something: one that failed before storing a row does not stand in the way of a retry.
   */
  async find(format: ImportFormat, sha256s: readonly string[]): Promise<ImportEntry[]> {
    if (sha256s.length === 0) return [];
    const rows = await tables(this.state.db)
      .selectFrom('flow_imports')
      .selectAll()
      .where('format', '=', format)
      .where((eb) => eb.or([eb('outcome', '!=', 'failed'), eb('records', '>', 0)]))
      .where((eb) => eb.or([eb('sha256', 'in', [...sha256s]), eb('file_sha256', 'in', [...sha256s])]))
      .orderBy('id')
      .execute();
    return rows.map((r) => fromRow(r as ImportTables['flow_imports'] & { id: number }));
  }

  /** Lengths of earlier pcap imports shorter than `below`: a new file may begin with one of them. */
  async lengths(format: ImportFormat, below: number): Promise<Set<number>> {
    const rows = await tables(this.state.db)
      .selectFrom('flow_imports')
      .select('bytes')
      .distinct()
      .where('format', '=', format)
      .where('bytes', '<', below)
      .where((eb) => eb.or([eb('outcome', '!=', 'failed'), eb('records', '>', 0)]))
      .execute();
    return new Set(rows.map((r) => Number(r.bytes)));
  }

  async recent(limit = 50): Promise<ImportEntry[]> {
    const rows = await tables(this.state.db).selectFrom('flow_imports').selectAll().orderBy('id', 'desc').limit(limit).execute();
    return rows.map((r) => fromRow(r as ImportTables['flow_imports'] & { id: number }));
  }

  /** Records an import inside the caller's write transaction (with its audit entry). */
  static async recordIn(db: StateDb, e: Omit<ImportEntry, 'id'>): Promise<number> {
    const r = await tables(db)
      .insertInto('flow_imports')
      .values({
        format: e.format,
        sha256: e.sha256,
        bytes: e.bytes,
        file_sha256: e.fileSha256,
        file_bytes: e.fileBytes,
        actor: e.actor,
        started_at: e.startedAt,
        finished_at: e.finishedAt,
        outcome: e.outcome,
        records: e.records,
        counts: JSON.stringify(e.counts),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(r.id);
  }

  /** After a move failed part-way: these imports stored `records` in all (a retry is then refused unless forced). */
  static async markFailedIn(db: StateDb, ids: readonly number[], records: number): Promise<void> {
    if (ids.length === 0) return;
    await tables(db)
      .updateTable('flow_imports')
      .set({ outcome: 'failed', records })
      .where('id', 'in', [...ids])
      .execute();
  }
}
