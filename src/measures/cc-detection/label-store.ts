/**
 * M1's reputation labels in the state store: one row per endpoint per source,
 * replaced whole at each import of that source, audited with counts.
 */
import { createHash } from 'node:crypto';
import type { OperatorFile } from '../../core/cli.js';
import type { Kysely, Migration } from 'kysely';
import type { AuditWriter } from '../../core/measure-state.js';
import type { Dataset } from '../../core/datasets.js';
import { tablesOf, type StateDb } from '../../store/state/tables.js';
import type { StateStore } from '../../store/state/store.js';
import { LabelImportError, parseLabels, type Label, type LabelFormat, type ParsedLabels } from '../../share/labels.js';
import type { UntypedDb } from '../../store/state/untyped.js';

export type LabelTables = {
  cc_label_sources: {
    name: string;
    format: string;
    file_sha256: string;
    imported_at: string;
    imported_by: string;
    labels: number;
    skipped: number;
    duplicates: number;
  };
  cc_labels: {
    source: string;
    address: string;
    prefix_length: number;
    port: number | null;
    protocol: string | null;
    valid_from: string;
    valid_until: string;
    malware: string | null;
  };
};

export const LABEL_TABLES = ['cc_label_sources', 'cc_labels'] as const;

export const labelMigrations: Record<string, Migration> = {
  '0100_cc-detection_labels': {
    async up(db: UntypedDb) {
      await db.schema
        .createTable('cc_label_sources')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('format', 'text', (c) => c.notNull())
        .addColumn('file_sha256', 'text', (c) => c.notNull())
        .addColumn('imported_at', 'text', (c) => c.notNull())
        .addColumn('imported_by', 'text', (c) => c.notNull())
        .addColumn('labels', 'integer', (c) => c.notNull())
        .addColumn('skipped', 'integer', (c) => c.notNull())
        .addColumn('duplicates', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('cc_labels')
        .addColumn('source', 'text', (c) => c.notNull().references('cc_label_sources.name').onDelete('cascade'))
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('prefix_length', 'integer', (c) => c.notNull())
        .addColumn('port', 'integer')
        .addColumn('protocol', 'text')
        .addColumn('valid_from', 'text', (c) => c.notNull())
        .addColumn('valid_until', 'text', (c) => c.notNull())
        .addColumn('malware', 'text')
        .execute();
      await db.schema.createIndex('cc_labels_address').on('cc_labels').columns(['address', 'port']).execute();
      await db.schema.createIndex('cc_labels_valid_until').on('cc_labels').column('valid_until').execute();
    },
  },
};

/** Labels expire 180 days (the declared retention) after their validity ends. */
export const LABEL_DATASET: Dataset = {
  name: 'cc-labels',
  store: 'state',
  table: 'cc_labels',
  timeColumn: 'valid_until',
  items: ['threat.indicator'],
  owner: 'cc-detection',
};

function labelsDb(db: StateDb): Kysely<LabelTables> {
  return tablesOf<LabelTables>(db);
}

export interface ImportRequest {
  file: OperatorFile;
  format: LabelFormat;
  /** The list's name, e.g. "feodo-ipblocklist": a new import of the same source replaces it. */
  source: string;
  validityDays: number;
  actor: string;
  now?: Date;
}

export interface ImportReport extends ParsedLabels {
  source: string;
  sha256: string;
}

export async function importLabels(state: StateStore, audit: AuditWriter, req: ImportRequest): Promise<ImportReport> {
  // No dots: a name like "abuse.ch.feodo" would read as a host name in the audit log, which refuses those.
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/i.test(req.source))
    throw new LabelImportError(`source name "${req.source}" is not allowed: letters, digits, "-" or "_" (1–64), e.g. "feodo-ipblocklist"`);
  const bytes = req.file.bytes;
  const text = bytes.toString('utf8');
  if (text.includes('\uFFFD')) throw new LabelImportError(`${req.file.name} is not UTF-8 text`);
  const parsed = parseLabels(req.format, text, { validityDays: req.validityDays, now: req.now ?? new Date() });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await audit.withAudit(
    {
      actor: req.actor,
      measure: 'cc-detection',
      action: 'labels.import',
      object: `label-source:${req.source}`,
      counts: { labels: parsed.labels.length, skipped: parsed.skipped.length, duplicates: parsed.duplicates },
    },
    async (db) => {
      const l = labelsDb(db);
      await l.deleteFrom('cc_labels').where('source', '=', req.source).execute();
      await l.deleteFrom('cc_label_sources').where('name', '=', req.source).execute();
      await l
        .insertInto('cc_label_sources')
        .values({
          name: req.source,
          format: req.format,
          file_sha256: sha256,
          imported_at: new Date().toISOString(),
          imported_by: req.actor,
          labels: parsed.labels.length,
          skipped: parsed.skipped.length,
          duplicates: parsed.duplicates,
        })
        .execute();
      for (let i = 0; i < parsed.labels.length; i += 500) {
        await l
          .insertInto('cc_labels')
          .values(
            parsed.labels.slice(i, i + 500).map((x) => ({
              source: req.source,
              address: x.address,
              prefix_length: x.prefixLength,
              port: x.port,
              protocol: x.protocol,
              valid_from: x.validFrom,
              valid_until: x.validUntil,
              malware: x.malware,
            })),
          )
          .execute();
      }
    },
  );
  return { ...parsed, source: req.source, sha256 };
}

export async function labelSources(state: StateStore): Promise<Array<LabelTables['cc_label_sources']>> {
  return labelsDb(state.db).selectFrom('cc_label_sources').selectAll().orderBy('name').execute();
}

/** Labels valid at `at` (a label applies only within its validity). */
export async function labelsValidAt(state: StateStore, at: Date): Promise<Array<Label & { source: string }>> {
  const t = at.toISOString();
  const rows = await labelsDb(state.db)
    .selectFrom('cc_labels')
    .selectAll()
    .where('valid_from', '<=', t)
    .where('valid_until', '>', t)
    .execute();
  return rows.map((r) => ({
    source: r.source,
    address: r.address,
    prefixLength: r.prefix_length,
    port: r.port,
    protocol: r.protocol as Label['protocol'],
    validFrom: r.valid_from,
    validUntil: r.valid_until,
    malware: r.malware,
  }));
}
