/**
 * Datasets: tables that hold declared data items. A dataset belongs to one
 * measure (only that measure can get a handle to it) or to a shared service
 * that measures use (the subscriber index, cases, notices); either way its
 * rows live only as long as the declarations governing them say, and the
 * retention job is the one thing that deletes them. A row outlives the plain
 * retention only under a hold its declaration states (vocabulary HOLDS),
 * which the dataset maps to the rows it covers.
 */
import type { Expression, SqlBool } from 'kysely';
import { keeps, type MeasureDeclaration } from './measure.js';
import { HOLDS, type DataItem, type Hold } from './vocabulary.js';
import type { UntypedExpressionBuilder } from '../store/state/untyped.js';

/** Owner of a dataset kept by a shared service: `service:<name>`; its rows are governed by the measures' declarations. */
export const SERVICE_OWNER = /^service:[a-z][a-z0-9-]*$/;

/** Expressions over a dataset's own table (state store). Table-qualify columns: holds may use subqueries. */
export type RowExpression<T> = (eb: UntypedExpressionBuilder, now: Date) => Expression<T>;

export interface DatasetHold {
  /** The declared reason (HOLDS); it applies only to rows whose governing declaration states it for every item held. */
  readonly condition: Hold;
  /** The rows the condition covers now. */
  readonly rows: RowExpression<SqlBool>;
}

/**
 * The hold of a choice-history table (one row per choice, the newest in force): a subscriber's opt-out stays while it
 * is their newest choice, whatever its age — forgetting it would act against their will.
 */
export function optOutInForce(table: string, subscriberColumn: string): DatasetHold {
  return {
    condition: 'choice-in-force',
    rows: (eb) =>
      eb.and([
        eb(`${table}.choice`, '=', 'opt-out'),
        eb(
          `${table}.id`,
          '=',
          eb
            .selectFrom(`${table} as later`)
            .select((e) => e.fn.max('later.id').as('id'))
            .whereRef(`later.${subscriberColumn}`, '=', `${table}.${subscriberColumn}`),
        ),
      ]),
  };
}

export interface Dataset {
  /** Short name used in audit references: `dataset:NAME`. */
  readonly name: string;
  readonly store: 'analytics' | 'state';
  /** `database.table` for the analytics store, the table name for the state store. */
  readonly table: string;
  /** Column holding the time the retention clock runs from; a row whose value is empty is still in use (its clock has not started). */
  readonly timeColumn: string;
  /** How that column is written: ISO 8601 text (the default; a date alone counts from its first instant) or seconds since the epoch. */
  readonly timeFormat?: 'iso' | 'epoch-seconds';
  readonly items: readonly DataItem[];
  /** Measure id that owns the data, or `service:<name>` for a shared service. */
  readonly owner: string;
  /**
   * Shared services only: the measure each row was kept for (its declaration governs the row). Without
   * it, every measure declaring the items governs every row: they live as long as the longest retention.
   */
  readonly rowOwner?: RowExpression<string | null>;
  readonly hold?: DatasetHold;
  /** Rows of other tables that reference a deleted row (`table.column` = this table's `key`): deleted with it, counted. */
  readonly dependents?: ReadonlyArray<{ readonly table: string; readonly column: string; readonly key: string }>;
  /** Told after each pass: a copy of the rows kept in memory forgets what is older than `cutoff`. */
  readonly afterPass?: (cutoff: Date) => void;
}

/** One deletion the retention job makes: rows of one dataset, governed by one declaration (or the rule for rows of none). */
export interface RetentionPass {
  readonly dataset: Dataset;
  /** The measure whose declaration set the retention, if one did. */
  readonly measure: string | undefined;
  readonly retentionSeconds: number;
  /** Applies when the governing declaration states it. */
  readonly hold: DatasetHold | undefined;
  /** The hold's bound (HOLDS maxDays), in seconds: past it rows go whatever the condition. */
  readonly holdMaxSeconds: number | undefined;
  /** Rows of this pass: those kept for one measure, or those kept for none of the listed ones (rowOwner datasets). */
  readonly rows: { readonly owner: string } | { readonly notOwners: readonly string[] } | undefined;
}

export class DatasetRegistry {
  private readonly byName = new Map<string, Dataset>();

  constructor(
    private readonly declarationOf: (measureId: string) => MeasureDeclaration | undefined,
    private readonly declarations: () => readonly MeasureDeclaration[] = () => [],
  ) {}

  /** Declarations that state every item the dataset holds. */
  private declaring(dataset: Dataset): MeasureDeclaration[] {
    return this.declarations().filter((d) => dataset.items.every((i) => d.dataItems.some((x) => x.item === i)));
  }

  /** Refuses a dataset whose owner did not declare every item it holds, or that keeps rows for an undeclared reason. */
  register(dataset: Dataset): void {
    if (this.byName.has(dataset.name)) throw new Error(`dataset "${dataset.name}" is registered twice`);
    if (dataset.items.length === 0) throw new Error(`dataset "${dataset.name}" declares no data items`);
    if (SERVICE_OWNER.test(dataset.owner)) {
      // A shared service's rows are governed by the measures declaring its items, pass by pass (see passes()):
      // an item no measure declares is kept by none, and a hold applies only where a declaration states it.
    } else {
      if (dataset.rowOwner) throw new Error(`dataset "${dataset.name}": only a shared service's dataset has rows of several measures`);
      const owner = this.declarationOf(dataset.owner);
      if (!owner) throw new Error(`dataset "${dataset.name}": owner measure "${dataset.owner}" is not declared`);
      const missing = dataset.items.filter((i) => !owner.dataItems.some((d) => d.item === i));
      if (missing.length > 0) {
        throw new Error(`dataset "${dataset.name}" holds ${missing.join(', ')}, which ${owner.code} does not declare`);
      }
      const unstated = dataset.hold ? dataset.items.filter((i) => !keeps(owner, i, dataset.hold!.condition)) : [];
      if (unstated.length > 0) {
        const why = `keeps rows while "${dataset.hold!.condition}"`;
        throw new Error(`dataset "${dataset.name}" ${why}, which ${owner.code} does not declare for ${unstated.join(', ')}`);
      }
    }
    if (dataset.store === 'analytics' && (dataset.hold || dataset.rowOwner || dataset.dependents)) {
      throw new Error(`dataset "${dataset.name}": holds, row owners and dependents are for state-store datasets`);
    }
    this.byName.set(dataset.name, dataset);
  }

  get(name: string): Dataset | undefined {
    return this.byName.get(name);
  }

  list(): Dataset[] {
    return [...this.byName.values()];
  }

  /** Datasets holding `item`. */
  holding(item: DataItem): Dataset[] {
    return this.list().filter((d) => d.items.includes(item));
  }

  /** The strictest (shortest) retention `declaration` states among the items the dataset holds. */
  private strictest(dataset: Dataset, declaration: MeasureDeclaration): number {
    return Math.min(...dataset.items.map((i) => declaration.dataItems.find((d) => d.item === i)!.retentionSeconds));
  }

  private pass(
    dataset: Dataset,
    measure: MeasureDeclaration | undefined,
    retentionSeconds: number,
    holdStated: boolean,
    rows: RetentionPass['rows'],
  ): RetentionPass {
    const hold = holdStated ? dataset.hold : undefined;
    const maxDays = hold ? HOLDS[hold.condition].maxDays : undefined;
    const holdMaxSeconds = maxDays === undefined ? undefined : maxDays * 86_400;
    return { dataset, measure: measure?.id, retentionSeconds, hold, holdMaxSeconds, rows };
  }

  /** What the retention job deletes for `dataset`, one pass per governing declaration. */
  passes(dataset: Dataset): RetentionPass[] {
    const hold = dataset.hold;
    const states = (d: MeasureDeclaration) => hold !== undefined && dataset.items.every((i) => keeps(d, i, hold.condition));
    if (!SERVICE_OWNER.test(dataset.owner)) {
      const owner = this.declarationOf(dataset.owner)!;
      return [this.pass(dataset, owner, this.strictest(dataset, owner), states(owner), undefined)];
    }
    const declaring = this.declaring(dataset);
    if (dataset.rowOwner) {
      // Each measure's rows by its own declaration; rows of a measure that does not declare the items, by the strictest one.
      const own = declaring.map((d) => this.pass(dataset, d, this.strictest(dataset, d), states(d), { owner: d.id }));
      const strictest = Math.min(...own.map((p) => p.retentionSeconds), ...dataset.items.map((i) => this.shortestFor(i)));
      return [...own, this.pass(dataset, undefined, strictest, false, { notOwners: declaring.map((d) => d.id) })];
    }
    // One store for every measure: each item as long as the longest declaration of it (an item no measure
    // declares: not at all), the dataset as long as its shortest item.
    const retention = Math.min(...dataset.items.map((i) => Math.max(0, ...this.retentionsOf(i))));
    return [this.pass(dataset, undefined, retention, declaring.some(states), undefined)];
  }

  /** Every retention the declarations state for `item`. */
  private retentionsOf(item: DataItem): number[] {
    return this.declarations().flatMap((d) => d.dataItems.filter((x) => x.item === item).map((x) => x.retentionSeconds));
  }

  /** The shortest retention any declaration states for `item` (none states it: 0, nothing is kept). */
  private shortestFor(item: DataItem): number {
    const all = this.retentionsOf(item);
    return all.length === 0 ? 0 : Math.min(...all);
  }

  /** The retention of a measure's own dataset (the strictest among the items it holds). */
  retentionSeconds(dataset: Dataset): number {
    return Math.min(...this.passes(dataset).map((p) => p.retentionSeconds));
  }
}
