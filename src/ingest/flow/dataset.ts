/**
 * Where flow records live: the `flows` dataset of the analytics store, owned
 * by M1 (cc-detection) and holding exactly the items M1 declares for flows.
 * Its rows live as long as the shortest of those retentions (7 days).
 */
import type { Dataset } from '../../core/datasets.js';
import type { AnalyticsStore } from '../../store/analytics/store.js';
import { FLOW_COLUMNS } from './batch.js';
import type { InletStatus } from './inlet-protocol.js';

export const FLOW_DATASET: Dataset = {
  name: 'flows',
  store: 'analytics',
  table: 'mamori_m1.flows',
  timeColumn: 'start',
  items: ['flow.addresses', 'flow.ports', 'flow.protocol', 'flow.times', 'flow.counters', 'flow.exporter'],
  owner: 'cc-detection',
};

/**
 * What the `flow-input` capability grants M1: the inlet listening while M1 holds it, and its counts (records,
 * drops by reason) to judge whether a detection window is complete.
 */
export interface FlowInput {
  status(): Pick<InletStatus, 'storedRecords' | 'droppedRecords' | 'kernelDrops' | 'ringDrops'>;
}

/** Column types, in FLOW_COLUMNS order: FlowRowBinaryWriter writes exactly these encodings. */
const TYPES: Record<(typeof FLOW_COLUMNS)[number], string> = {
  start: "DateTime64(3, 'UTC')",
  end: "DateTime64(3, 'UTC')",
  exporter: 'IPv6',
  src_addr: 'IPv6',
  dst_addr: 'IPv6',
  src_port: 'UInt16',
  dst_port: 'UInt16',
  proto: 'UInt8',
  bytes: 'UInt64',
  packets: 'UInt64',
  tcp_flags: 'UInt8',
  sampling_rate: 'UInt32',
};

/**
 * Merge less eagerly than ClickHouse's default (base 5): every level of merging
 * rewrites every row, and at collector rates merges took as much CPU as the
 * inserts. With base 100 a part is rewritten about once instead of three or
 * four times (ClickHouse CPU for 20 M rows: 4.8 s at base 20, 2.6 s at 100);
 * ClickHouse lowers the base for older parts, so they still end up merged
 * (bench/flow-e2e.ts prints the parts left after its run).
 */
const MERGE_SETTINGS = 'merge_selector_base = 100';

/** Daily partitions, ordered by time: inserts arrive in time order, so sorting and merging stay cheap. */
export async function ensureFlowTable(store: AnalyticsStore): Promise<void> {
  const [db] = FLOW_DATASET.table.split('.');
  await store.exec(`CREATE DATABASE IF NOT EXISTS ${db}`);
  const columns = FLOW_COLUMNS.map((c) => `\`${c}\` ${TYPES[c]}`).join(', ');
  await store.exec(
    `CREATE TABLE IF NOT EXISTS ${FLOW_DATASET.table} (${columns}) ENGINE = MergeTree PARTITION ` +
      `BY toDate(start) ORDER BY start SETTINGS ${MERGE_SETTINGS}`,
  );
  await store.exec(`ALTER TABLE ${FLOW_DATASET.table} MODIFY SETTING ${MERGE_SETTINGS}`);
}
