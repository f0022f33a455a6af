/**
 * An open instance as the core knows it: configuration, stores, audit log,
 * accounts, measures, datasets and broker. The composition root
 * (src/app/mamori.ts) opens it and adds the services above the core
 * (subscribers, notices); code below the app that needs the instance takes this.
 */
import type { AnalyticsStore } from '../store/analytics/store.js';
import type { StateStore } from '../store/state/store.js';
import type { Accounts } from './accounts.js';
import type { AuditLog } from './audit/log.js';
import type { CapabilityBroker } from './capabilities.js';
import type { Config, ResolvedPaths } from './config.js';
import type { DatasetRegistry } from './datasets.js';
import type { MeasureRegistry } from './registry.js';

export interface CoreInstance {
  readonly config: Config;
  readonly paths: ResolvedPaths;
  readonly state: StateStore;
  /** Absent when opened without it (CLI commands that only need state). */
  readonly analytics: AnalyticsStore | undefined;
  readonly audit: AuditLog;
  readonly accounts: Accounts;
  readonly registry: MeasureRegistry;
  readonly datasets: DatasetRegistry;
  readonly broker: CapabilityBroker;
}
