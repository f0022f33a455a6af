/**
 * M1's state tables and the datasets the retention job deletes them by. Each table is defined next to the
 * code that writes it (label-store.ts: imported reputation lists; candidates.ts: candidates and their
 * evidence; training.ts: model versions); this is the one list of them. The flows M1 reads are the flow
 * inlet's dataset (src/ingest/flow/dataset.ts), registered by the core.
 */
import type { Migration } from 'kysely';
import type { Dataset } from '../../core/datasets.js';
import { CANDIDATE_DATASET, CANDIDATE_TABLES, candidateMigrations } from './candidates.js';
import { LABEL_DATASET, LABEL_TABLES, labelMigrations } from './label-store.js';
import { MODEL_TABLES, modelMigrations } from './training.js';

export const CC_DETECTION_MIGRATIONS: Record<string, Migration> = { ...labelMigrations, ...candidateMigrations, ...modelMigrations };
export const CC_DETECTION_TABLES: readonly string[] = [...LABEL_TABLES, ...CANDIDATE_TABLES, ...MODEL_TABLES];
export const CC_DETECTION_DATASETS: readonly Dataset[] = [LABEL_DATASET, CANDIDATE_DATASET];
