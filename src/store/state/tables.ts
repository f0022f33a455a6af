/**
 * A typed view of a module's own tables. Apart from store.ts so that measures
 * can import it without importing what opens the store (the dependency rule
 * in .dependency-cruiser.cjs lets measures reach the stores only through the broker).
 */
import type { Kysely } from 'kysely';
import type { StateSchema } from './schema.js';

export type StateDb = Kysely<StateSchema>;

/**
 * The handle seen through a module's own tables only (measures and services
 * declare theirs next to their migrations): typed queries, no core tables in sight.
 */
export function tablesOf<T>(db: StateDb): Kysely<T> {
  return db.withTables<T & Record<string, never>>() as unknown as Kysely<T>;
}
