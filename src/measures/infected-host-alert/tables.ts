/**
 * M7's state tables and the datasets the retention job deletes them by.
 *
 * - m7_imports: one row per imported report — source, counts per reason; no entry of it (no item).
 * - m7_alerts: one row per subscriber, family and purpose being followed: first and last sighting, the
 *   stage, its basis and reason, notices, the case. Reported hosts (report.host) are kept 30 days from the
 *   last sighting; remediation (no sighting for `remediatedAfter`, below 30 days) settles the row first.
 * - m7_unresolved: reported entries no subscriber could be found for, with the reason (report.host, 30 days);
 *   those with no session at their time are retried when late accounting covers it (tries, last and next try).
 * - m7_consent: the opt-out history (subscriber.id), the choice in force kept until it changes.
 * - m7_remediation: the operator's per-family remediation text (no personal data).
 * - m7_outcomes: per notified alert, family, channel, stage and days to remediation, without the
 *   subscriber: the statistics of the remediation report outlive the alerts.
 */
import type { Generated, Migration } from 'kysely';
import { optOutInForce, type Dataset } from '../../core/datasets.js';
import type { UntypedDb } from '../../store/state/untyped.js';

export type M7Tables = {
  m7_imports: {
    id: string;
    source: string;
    format: string;
    report_type: string | null;
    origin: string;
    actor: string;
    started_at: string;
    finished_at: string | null;
    rows: number;
    entries: number;
    resolved: number;
    unresolved: number;
    /** Unresolved entries matched to a subscriber later, when late accounting arrived. */
    resolved_later: number;
    alerts: number;
    dropped: string;
    unresolved_reasons: string;
    error: string | null;
  };
  m7_alerts: {
    id: string;
    subscriber: string;
    family: string;
    purpose: string;
    source: string;
    first_seen: string;
    last_seen: string;
    last_day: string;
    days_seen: number;
    sightings: number;
    status: string;
    stage: number;
    basis: string | null;
    reason: string | null;
    case_id: string | null;
    notices: number;
    first_notice_at: string | null;
    last_notice_at: string | null;
    reinfections: number;
    remediated_at: string | null;
    pending: number;
  };
  m7_unresolved: {
    id: Generated<number>;
    import_id: string;
    address: string;
    port: number | null;
    seen_at: string;
    family: string;
    reason: string;
    tries: number;
    tried_at: string;
    next_try_at: string | null;
  };
  m7_consent: { id: number; subscriber: string; choice: string; channel: string; at: string; actor: string };
  m7_remediation: { family: string; ja: string; en: string; updated_at: string; updated_by: string };
  m7_outcomes: {
    alert_id: string;
    family: string;
    purpose: string;
    channel: string;
    stage: number;
    notified_at: string;
    remediated_at: string | null;
    reinfected: number;
  };
};

export const M7_TABLES = ['m7_imports', 'm7_alerts', 'm7_unresolved', 'm7_consent', 'm7_remediation', 'm7_outcomes'] as const;

export const m7Migrations: Record<string, Migration> = {
  '0700_infected-host-alert': {
    async up(db: UntypedDb) {
      await db.schema
        .createTable('m7_imports')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('format', 'text', (c) => c.notNull())
        .addColumn('report_type', 'text')
        .addColumn('origin', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text')
        .addColumn('rows', 'integer', (c) => c.notNull())
        .addColumn('entries', 'integer', (c) => c.notNull())
        .addColumn('resolved', 'integer', (c) => c.notNull())
        .addColumn('unresolved', 'integer', (c) => c.notNull())
        .addColumn('alerts', 'integer', (c) => c.notNull())
        .addColumn('dropped', 'text', (c) => c.notNull())
        .addColumn('unresolved_reasons', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        .execute();
      await db.schema
        .createTable('m7_alerts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('subscriber', 'text', (c) => c.notNull())
        .addColumn('family', 'text', (c) => c.notNull())
        .addColumn('purpose', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('first_seen', 'text', (c) => c.notNull())
        .addColumn('last_seen', 'text', (c) => c.notNull())
        .addColumn('last_day', 'text', (c) => c.notNull())
        .addColumn('days_seen', 'integer', (c) => c.notNull())
        .addColumn('sightings', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('stage', 'integer', (c) => c.notNull())
        .addColumn('basis', 'text')
        .addColumn('reason', 'text')
        .addColumn('case_id', 'text')
        .addColumn('notices', 'integer', (c) => c.notNull())
        .addColumn('first_notice_at', 'text')
        .addColumn('last_notice_at', 'text')
        .addColumn('reinfections', 'integer', (c) => c.notNull())
        .addColumn('remediated_at', 'text')
        .addColumn('pending', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('m7_alerts_key').on('m7_alerts').columns(['subscriber', 'family', 'purpose']).execute();
      await db.schema.createIndex('m7_alerts_pending').on('m7_alerts').columns(['pending']).execute();
      await db.schema
        .createTable('m7_unresolved')
        .addColumn('import_id', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('port', 'integer')
        .addColumn('seen_at', 'text', (c) => c.notNull())
        .addColumn('family', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('m7_consent')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('subscriber', 'text', (c) => c.notNull())
        .addColumn('choice', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('m7_consent_subscriber').on('m7_consent').columns(['subscriber', 'id']).execute();
      await db.schema
        .createTable('m7_remediation')
        .addColumn('family', 'text', (c) => c.primaryKey())
        .addColumn('ja', 'text', (c) => c.notNull())
        .addColumn('en', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('m7_outcomes')
        .addColumn('alert_id', 'text', (c) => c.notNull())
        .addColumn('family', 'text', (c) => c.notNull())
        .addColumn('purpose', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('stage', 'integer', (c) => c.notNull())
        .addColumn('notified_at', 'text', (c) => c.notNull())
        .addColumn('remediated_at', 'text')
        .addColumn('reinfected', 'integer', (c) => c.notNull())
        .execute();
    },
  },
  // Unresolved entries get an id and their tries (retried when late accounting covers their time); imports count them.
  '0701_m7-unresolved-retry': {
    async up(db: UntypedDb) {
      await db.schema
        .createTable('m7_unresolved_v2')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('import_id', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('port', 'integer')
        .addColumn('seen_at', 'text', (c) => c.notNull())
        .addColumn('family', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('tries', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('tried_at', 'text', (c) => c.notNull())
        .addColumn('next_try_at', 'text')
        .execute();
      await db
        .insertInto('m7_unresolved_v2')
        .columns(['import_id', 'address', 'port', 'seen_at', 'family', 'reason', 'tried_at'])
        .expression((eb) =>
          eb.selectFrom('m7_unresolved').select(['import_id', 'address', 'port', 'seen_at', 'family', 'reason', 'seen_at as tried_at']),
        )
        .execute();
      await db.schema.dropTable('m7_unresolved').execute();
      await db.schema.alterTable('m7_unresolved_v2').renameTo('m7_unresolved').execute();
      await db.schema.createIndex('m7_unresolved_seen').on('m7_unresolved').columns(['reason', 'seen_at']).execute();
      await db.schema.createIndex('m7_unresolved_next').on('m7_unresolved').columns(['reason', 'next_try_at']).execute();
      await db.schema
        .alterTable('m7_imports')
        .addColumn('resolved_later', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
};

const MEASURE = 'infected-host-alert';

export const M7_DATASETS: readonly Dataset[] = [
  {
    name: 'm7-alerts',
    store: 'state',
    table: 'm7_alerts',
    timeColumn: 'last_seen',
    items: ['report.host', 'subscriber.id'],
    owner: MEASURE,
  },
  { name: 'm7-unresolved', store: 'state', table: 'm7_unresolved', timeColumn: 'seen_at', items: ['report.host'], owner: MEASURE },
  {
    name: 'm7-consent',
    store: 'state',
    table: 'm7_consent',
    timeColumn: 'at',
    items: ['subscriber.id'],
    owner: MEASURE,
    hold: optOutInForce('m7_consent', 'subscriber'),
  },
];
