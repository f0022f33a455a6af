/**
 * A measure's own state tables, and nothing else. The handle a measure gets
 * from the broker is the state store seen through a Kysely plugin that reads
 * every query's operation tree before it runs: a table the measure does not
 * own (accounts, consent, another measure's cases, the audit log itself) is
 * refused, and the refusal is audited. Raw SQL that could name a table is
 * refused too, since its text cannot be checked.
 */
import type {
  KyselyPlugin,
  OperationNode,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';
import type { StateDb, StateStore } from '../store/state/store.js';
import type { AuditLog, AuditRecord } from './audit/log.js';
import { MamoriError } from './errors.js';

export class StateScopeError extends MamoriError {
  static override readonly code = 'state-scope';
  static override readonly status = 403;
  constructor(
    readonly measure: string,
    readonly reason: string,
  ) {
    super(`measure "${measure}" may not ${reason}`);
  }
}

/** Fragments of raw SQL that Kysely's builders themselves emit (ORDER BY modifiers and the like). */
const HARMLESS_RAW = /^[\s,]*(?:(?:asc|desc|nulls\s+first|nulls\s+last|distinct|\*|count\(\*\))[\s,]*)*$/i;

/**
 * Every table an operation tree names (including qualifiers of column references), the
 * aliases given to tables (which qualifiers may use: the aliased table itself is checked),
 * and raw SQL that could name a table.
 */
function inspect(node: unknown, tables: Set<string>, aliases: Set<string>, raw: string[]): void {
  if (node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const n of node) inspect(n, tables, aliases, raw);
    return;
  }
  const n = node as OperationNode & Record<string, unknown>;
  if (n.kind === 'AliasNode' && (n.node as OperationNode | undefined)?.kind === 'TableNode') {
    aliases.add((n.alias as { name: string }).name);
  } else if (n.kind === 'TableNode') {
    const t = n.table as { identifier: { name: string }; schema?: { name: string } };
    tables.add(t.schema ? `${t.schema.name}.${t.identifier.name}` : t.identifier.name);
  } else if (n.kind === 'RawNode') {
    const text = (n.sqlFragments as readonly string[]).join(' ');
    if (!HARMLESS_RAW.test(text)) raw.push(text.trim().slice(0, 40));
  }
  for (const v of Object.values(n)) if (typeof v === 'object') inspect(v, tables, aliases, raw);
}

class OwnTablesOnly implements KyselyPlugin {
  constructor(
    private readonly measure: string,
    private readonly owned: ReadonlySet<string>,
    private readonly refused: (object: string) => void,
  ) {}

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    const tables = new Set<string>();
    const aliases = new Set<string>();
    const raw: string[] = [];
    inspect(args.node, tables, aliases, raw);
    const foreign = [...tables].filter((t) => !this.owned.has(t) && !aliases.has(t));
    if (foreign.length > 0)
      this.fail(
        `state-table:${foreign.join('+')}`,
        `use table ${foreign.join(', ')}: it is not one of its own (${[...this.owned].join(', ') || 'none'})`,
      );
    if (raw.length > 0) this.fail('state:raw-sql', 'run raw SQL on the state store (its tables cannot be checked)');
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }

  private fail(object: string, reason: string): never {
    this.refused(object);
    throw new StateScopeError(this.measure, reason);
  }
}

/** What a measure writes to the audit log: the same chain, with its changes confined to its tables. */
export type AuditWriter = Pick<AuditLog, 'append' | 'withAudit'>;

export interface MeasureState {
  /** The state store, confined to the measure's own tables. */
  readonly store: StateStore;
  readonly audit: AuditWriter;
  /** Resolves once every refusal so far is in the audit log. */
  refusalsAudited(): Promise<void>;
}

export function measureState(measure: string, owned: readonly string[], store: StateStore, audit: AuditLog): MeasureState {
  // The refusal is thrown inside the query, perhaps inside the measure's transaction; its audit
  // entry is written as a task of its own, which waits for the write lock instead of nesting in it.
  let pending = Promise.resolve();
  const plugin = new OwnTablesOnly(measure, new Set(owned), (object) => {
    pending = pending
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(() => audit.append({ actor: `measure:${measure}`, measure, action: 'capability.refused', object, outcome: 'refused' }))
      .then(
        () => undefined,
        () => undefined,
      );
  });
  const confine = (db: StateDb): StateDb => db.withPlugin(plugin) as StateDb;
  return {
    store: {
      dialect: store.dialect,
      location: store.location,
      db: confine(store.db),
      writeTransaction: (fn) => store.writeTransaction((db) => fn(confine(db))),
      close: async () => {
        throw new StateScopeError(measure, 'close the state store');
      },
    },
    audit: {
      append: (record: AuditRecord) => audit.append(record),
      withAudit: <T>(record: AuditRecord | ((result: T) => AuditRecord), change: (db: StateDb) => Promise<T>) =>
        audit.withAudit(record, (db) => change(confine(db))),
    },
    refusalsAudited: () => pending,
  };
}
