/**
 * Database handles without a static schema: migrations run against every earlier version of the
 * tables, and the retention job walks tables it knows only by their registered names.
 */
import type { ExpressionBuilder, Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- no static schema, by definition
export type UntypedDb = Kysely<any>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- no static schema, by definition
export type UntypedExpressionBuilder = ExpressionBuilder<any, any>;
