/**
 * The walled garden's state tables (created whether or not the option is on: rows must still expire).
 *
 * - m7_garden: one row per garden period — the alert and case, the subscriber (subscriber.id), when it
 *   started and must end, when and why it ended. No address: the addresses gardened live in the policy
 *   zone only while the subscriber's sessions last.
 * - m7_garden_choice: the subscriber's choice about the garden (opt-out/opt-in history), the choice in force
 *   kept until it changes.
 */
import { sql, type Migration } from 'kysely';
import { optOutInForce, type Dataset } from '../../core/datasets.js';
import type { UntypedDb } from '../../store/state/untyped.js';

export type GardenTables = {
  m7_garden: {
    id: string;
    alert_id: string;
    case_id: string;
    subscriber: string;
    family: string;
    started_at: string;
    ends_at: string;
    ended_at: string | null;
    end_reason: string | null;
    ended_by: string | null;
  };
  m7_garden_choice: { id: number; subscriber: string; choice: string; channel: string; at: string; actor: string };
};

export const GARDEN_TABLES = ['m7_garden', 'm7_garden_choice'] as const;

export const gardenMigrations: Record<string, Migration> = {
  '0710_m7-walled-garden': {
    async up(db: UntypedDb) {
      await db.schema
        .createTable('m7_garden')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('alert_id', 'text', (c) => c.notNull())
        .addColumn('case_id', 'text', (c) => c.notNull())
        .addColumn('subscriber', 'text', (c) => c.notNull())
        .addColumn('family', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('ends_at', 'text', (c) => c.notNull())
        .addColumn('ended_at', 'text')
        .addColumn('end_reason', 'text')
        .addColumn('ended_by', 'text')
        .execute();
      await db.schema.createIndex('m7_garden_active').on('m7_garden').columns(['ended_at', 'subscriber']).execute();
      await db.schema.createIndex('m7_garden_case').on('m7_garden').columns(['case_id']).execute();
      await db.schema
        .createTable('m7_garden_choice')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('subscriber', 'text', (c) => c.notNull())
        .addColumn('choice', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('m7_garden_choice_subscriber').on('m7_garden_choice').columns(['subscriber', 'id']).execute();
    },
  },
  // One garden in force per subscriber, whatever runs at once; duplicates an earlier version left are ended first.
  '0711_m7-garden-one-active': {
    async up(db: UntypedDb) {
      const earlier = sql`select 1 from m7_garden o where o.subscriber = m7_garden.subscriber and o.ended_at is null
        and (o.started_at < m7_garden.started_at or (o.started_at = m7_garden.started_at and o.id < m7_garden.id))`;
      await sql`update m7_garden set ended_at = ${new Date().toISOString()}, end_reason = 'stopped', ended_by = 'migration'
        where ended_at is null and exists (${earlier})`.execute(db);
      await db.schema
        .createIndex('m7_garden_one_active')
        .on('m7_garden')
        .column('subscriber')
        .unique()
        .where(sql.ref('ended_at'), 'is', null)
        .execute();
    },
  },
};

const MEASURE = 'infected-host-alert';

export const GARDEN_DATASETS: readonly Dataset[] = [
  { name: 'm7-garden', store: 'state', table: 'm7_garden', timeColumn: 'started_at', items: ['subscriber.id'], owner: MEASURE },
  {
    name: 'm7-garden-choice',
    store: 'state',
    table: 'm7_garden_choice',
    timeColumn: 'at',
    items: ['subscriber.id'],
    owner: MEASURE,
    hold: optOutInForce('m7_garden_choice', 'subscriber'),
  },
];
