/**
 * M4's state tables and the datasets the retention job deletes them by: findings, and suspensions
 * (kept while in force, as the declaration states).
 */
import type { Migration } from 'kysely';
import type { Dataset } from '../../core/datasets.js';
import type { UntypedDb } from '../../store/state/untyped.js';

export type M4Tables = {
  m4_suspensions: {
    account: string;
    since: string;
    until: string;
    case_id: string;
    detector: string;
    lifted_at: string | null;
    lifted_by: string | null;
    reminded: number;
  };
  m4_findings: {
    account: string;
    detector: string;
    at: string;
    case_id: string;
    ja: string;
    en: string;
    action: string;
    detection_to_ack_ms: number | null;
  };
};

export const M4_TABLES = ['m4_suspensions', 'm4_findings'] as const;

export const m4Migrations: Record<string, Migration> = {
  '0400_credential-misuse': {
    async up(db: UntypedDb) {
      await db.schema
        .createTable('m4_suspensions')
        .addColumn('account', 'text', (c) => c.notNull())
        .addColumn('since', 'text', (c) => c.notNull())
        .addColumn('until', 'text', (c) => c.notNull())
        .addColumn('case_id', 'text', (c) => c.notNull())
        .addColumn('detector', 'text', (c) => c.notNull())
        .addColumn('lifted_at', 'text')
        .addColumn('lifted_by', 'text')
        .addColumn('reminded', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex('m4_suspensions_account').on('m4_suspensions').columns(['account', 'lifted_at']).execute();
      await db.schema
        .createTable('m4_findings')
        .addColumn('account', 'text', (c) => c.notNull())
        .addColumn('detector', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('case_id', 'text', (c) => c.notNull())
        .addColumn('ja', 'text', (c) => c.notNull())
        .addColumn('en', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('detection_to_ack_ms', 'integer')
        .execute();
    },
  },
};

const MEASURE = 'credential-misuse';

/** Retention by the declaration: findings 90 days after they were made; a suspension 90 days after it began, and while it is in force. */
export const M4_DATASETS: readonly Dataset[] = [
  { name: 'm4-findings', store: 'state', table: 'm4_findings', timeColumn: 'at', items: ['aaa.account-id', 'aaa.times'], owner: MEASURE },
  {
    name: 'm4-suspensions',
    store: 'state',
    table: 'm4_suspensions',
    timeColumn: 'since',
    items: ['aaa.account-id', 'aaa.times'],
    owner: MEASURE,
    hold: {
      condition: 'action-in-force',
      rows: (eb, now) => eb.and([eb('m4_suspensions.lifted_at', 'is', null), eb('m4_suspensions.until', '>', now.toISOString())]),
    },
  },
];
