/**
 * M2's state tables: recipients (organisations whose information management
 * was checked), their credentials and per-collection rights; the shared
 * entries (one per C&C endpoint and sharing lifetime) and every version of
 * their STIX object as recipients see it — TAXII serves versions in the order
 * they were added; entries received from partners, with provenance.
 */
import type { Generated, Kysely, Migration } from 'kysely';
import type { Dataset } from '../../core/datasets.js';
import { tablesOf, type StateDb } from '../../store/state/tables.js';
import type { UntypedDb } from '../../store/state/untyped.js';

export type ShareTables = {
  share_recipients: {
    id: string;
    name: string;
    contact: string;
    attested_at: string;
    attestation_until: string;
    channels: string;
    disabled: number;
    created_at: string;
    created_by: string;
  };
  share_credentials: {
    id: string;
    recipient_id: string;
    kind: string;
    username: string | null;
    secret_sha256: string;
    created_at: string;
    revoked_at: string | null;
  };
  share_rights: {
    recipient_id: string;
    collection: string;
    can_read: number;
    can_write: number;
  };
  share_entries: {
    id: string;
    candidate_id: string;
    address: string;
    port: number;
    proto: number;
    first_detected: string;
    last_detected: string;
    valid_until: string;
    confidence: number;
    state: string;
    created_at: string;
    state_changed_at: string;
    state_changed_by: string;
    state_reason: string | null;
  };
  share_versions: {
    seq: Generated<number>;
    collection: string;
    object_id: string;
    modified: string;
    date_added: string;
    object: string;
  };
  share_inbound: {
    source: string;
    stix_id: string;
    address: string;
    port: number | null;
    proto: number | null;
    valid_from: string;
    valid_until: string;
    confidence: number | null;
    revoked: number;
    received_at: string;
  };
  share_inbound_sources: {
    name: string;
    kind: string;
    received_at: string;
    received_by: string;
    entries: number;
    skipped: number;
    cursor: string | null;
  };
};

export const SHARE_TABLES = [
  'share_recipients',
  'share_credentials',
  'share_rights',
  'share_entries',
  'share_versions',
  'share_inbound',
  'share_inbound_sources',
] as const;

export const shareMigrations: Record<string, Migration> = {
  '0200_cc-sharing_tables': {
    async up(db: UntypedDb) {
      await db.schema
        .createTable('share_recipients')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('contact', 'text', (c) => c.notNull())
        .addColumn('attested_at', 'text', (c) => c.notNull())
        .addColumn('attestation_until', 'text', (c) => c.notNull())
        .addColumn('channels', 'text', (c) => c.notNull())
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('share_credentials')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('recipient_id', 'text', (c) => c.notNull().references('share_recipients.id').onDelete('cascade'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('username', 'text', (c) => c.unique())
        .addColumn('secret_sha256', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('revoked_at', 'text')
        .execute();
      await db.schema
        .createTable('share_rights')
        .addColumn('recipient_id', 'text', (c) => c.notNull().references('share_recipients.id').onDelete('cascade'))
        .addColumn('collection', 'text', (c) => c.notNull())
        .addColumn('can_read', 'integer', (c) => c.notNull())
        .addColumn('can_write', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('share_rights_pk', ['recipient_id', 'collection'])
        .execute();
      await db.schema
        .createTable('share_entries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('candidate_id', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('port', 'integer', (c) => c.notNull())
        .addColumn('proto', 'integer', (c) => c.notNull())
        .addColumn('first_detected', 'text', (c) => c.notNull())
        .addColumn('last_detected', 'text', (c) => c.notNull())
        .addColumn('valid_until', 'text', (c) => c.notNull())
        .addColumn('confidence', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('state_changed_at', 'text', (c) => c.notNull())
        .addColumn('state_changed_by', 'text', (c) => c.notNull())
        .addColumn('state_reason', 'text')
        .execute();
      await db.schema.createIndex('share_entries_candidate').on('share_entries').column('candidate_id').execute();
      await db.schema
        .createTable('share_versions')
        .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('collection', 'text', (c) => c.notNull())
        .addColumn('object_id', 'text', (c) => c.notNull())
        .addColumn('modified', 'text', (c) => c.notNull())
        .addColumn('date_added', 'text', (c) => c.notNull())
        .addColumn('object', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('share_versions_object').on('share_versions').columns(['collection', 'object_id', 'seq']).execute();
      // Pages walk a collection in the order versions were added.
      await db.schema.createIndex('share_versions_added').on('share_versions').columns(['collection', 'seq']).execute();
      await db.schema
        .createTable('share_inbound_sources')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('received_at', 'text', (c) => c.notNull())
        .addColumn('received_by', 'text', (c) => c.notNull())
        .addColumn('entries', 'integer', (c) => c.notNull())
        .addColumn('skipped', 'integer', (c) => c.notNull())
        .addColumn('cursor', 'text')
        .execute();
      await db.schema
        .createTable('share_inbound')
        .addColumn('source', 'text', (c) => c.notNull().references('share_inbound_sources.name').onDelete('cascade'))
        .addColumn('stix_id', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('port', 'integer')
        .addColumn('proto', 'integer')
        .addColumn('valid_from', 'text', (c) => c.notNull())
        .addColumn('valid_until', 'text', (c) => c.notNull())
        .addColumn('confidence', 'integer')
        .addColumn('revoked', 'integer', (c) => c.notNull())
        .addColumn('received_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('share_inbound_pk', ['source', 'stix_id', 'address'])
        .execute();
    },
  },
};

export function shareDb(d: StateDb): Kysely<ShareTables> {
  return tablesOf<ShareTables>(d);
}

/** Retention by the declaration: shared entries and their versions, and what partners sent. */
export const SHARE_DATASETS: Dataset[] = [
  {
    name: 'shared-entries',
    store: 'state',
    table: 'share_entries',
    timeColumn: 'last_detected',
    items: ['cc.candidate'],
    owner: 'cc-sharing',
  },
  {
    name: 'shared-versions',
    store: 'state',
    table: 'share_versions',
    timeColumn: 'date_added',
    items: ['cc.candidate'],
    owner: 'cc-sharing',
  },
  {
    name: 'inbound-indicators',
    store: 'state',
    table: 'share_inbound',
    timeColumn: 'valid_until',
    items: ['threat.indicator'],
    owner: 'cc-sharing',
  },
];
