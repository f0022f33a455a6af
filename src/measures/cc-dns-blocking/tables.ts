/**
 * M3's state tables and the datasets the retention job deletes them by: C&C entries, the consent
 * registry (a history of choices), blocked-query counts per day, and where each resolver log was read to.
 */
import type { Generated, Migration } from 'kysely';
import { optOutInForce, type Dataset } from '../../core/datasets.js';
import type { UntypedDb } from '../../store/state/untyped.js';

/** opt-out: the subscriber's queries are never filtered; opt-in: back to the contract's default. */
export type Choice = 'opt-out' | 'opt-in';
/** Where the choice was made: the member site, the support desk, a written form, or the AAA's unfiltered-resolver profile. */
export const CHANNELS = ['member-site', 'support-desk', 'written-form', 'api'] as const;
export type Channel = (typeof CHANNELS)[number];

export const M3_TABLES = ['m3_entries', 'm3_consent', 'm3_blocked', 'm3_log_cursors'] as const;
const MEASURE = 'cc-dns-blocking';

export interface M3Tables {
  m3_entries: {
    id: Generated<number>;
    name: string;
    source: string;
    added_by: string;
    reason: string | null;
    valid_from: string;
    valid_until: string;
    withdrawn_at: string | null;
    withdrawn_by: string | null;
    created_at: string;
  };
  m3_consent: { id: Generated<number>; subscriber_id: string; choice: Choice; channel: Channel; actor: string; at: string };
  /** Blocked queries per day, zone, listed name and resolver: no client, no subscriber. */
  m3_blocked: { day: string; zone: string; rule: string; resolver: string; count: number };
  m3_log_cursors: { resolver: string; inode: string; offset: number };
}

export const m3Migrations: Record<string, Migration> = {
  '0300_cc-dns-blocking': {
    async up(db: UntypedDb) {
      await db.schema
        .createTable('m3_entries')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('added_by', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('valid_from', 'text', (c) => c.notNull())
        .addColumn('valid_until', 'text', (c) => c.notNull())
        .addColumn('withdrawn_at', 'text')
        .addColumn('withdrawn_by', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('m3_entries_name').on('m3_entries').columns(['name']).execute();
      await db.schema
        .createTable('m3_consent')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('subscriber_id', 'text', (c) => c.notNull())
        .addColumn('choice', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('m3_consent_subscriber').on('m3_consent').columns(['subscriber_id', 'id']).execute();
    },
  },
  '0301_cc-dns-blocking-counts': {
    async up(db: UntypedDb) {
      await db.schema
        .createTable('m3_blocked')
        .addColumn('day', 'text', (c) => c.notNull())
        .addColumn('zone', 'text', (c) => c.notNull())
        .addColumn('rule', 'text', (c) => c.notNull())
        .addColumn('resolver', 'text', (c) => c.notNull())
        .addColumn('count', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('m3_blocked_pk', ['day', 'zone', 'rule', 'resolver'])
        .execute();
      await db.schema
        .createTable('m3_log_cursors')
        .addColumn('resolver', 'text', (c) => c.primaryKey())
        .addColumn('inode', 'text', (c) => c.notNull())
        .addColumn('offset', 'integer', (c) => c.notNull())
        .execute();
    },
  },
};

/**
 * Retention by the declaration. The consent registry is a history: a choice goes 30 days after it was
 * made, except the one in force of a subscriber who opted out — kept until they opt back in (then both
 * age out, and the contract's default applies, as it would anyway). The daily counts go 30 days after their day.
 */
export const M3_DATASETS: readonly Dataset[] = [
  {
    name: 'm3-consent',
    store: 'state',
    table: 'm3_consent',
    timeColumn: 'at',
    items: ['aaa.account-id', 'subscriber.id'],
    owner: MEASURE,
    hold: optOutInForce('m3_consent', 'subscriber_id'),
  },
  { name: 'm3-blocked-counts', store: 'state', table: 'm3_blocked', timeColumn: 'day', items: ['dns.qname', 'dns.times'], owner: MEASURE },
];
