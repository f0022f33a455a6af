/**
 * Datasets: tables that hold a measure's declared data items. A dataset
 * belongs to one measure; only that measure can get a handle to it, and its
 * rows live only as long as the strictest retention declared for its items.
 */
import type { MeasureDeclaration } from './measure.js';
import type { DataItem } from './vocabulary.js';

export interface Dataset {
  /** Short name used in audit references: `dataset:NAME`. */
  readonly name: string;
  readonly store: 'analytics' | 'state';
  /** `database.table` for the analytics store, the table name for the state store. */
  readonly table: string;
  /** Column holding the time the retention clock runs from. */
  readonly timeColumn: string;
  readonly items: readonly DataItem[];
  /** Measure id that owns the data. */
  readonly owner: string;
}

export class DatasetRegistry {
  private readonly byName = new Map<string, Dataset>();

  constructor(private readonly declarationOf: (measureId: string) => MeasureDeclaration | undefined) {}

  /** Refuses a dataset whose owner did not declare every item it holds. */
  register(dataset: Dataset): void {
    if (this.byName.has(dataset.name)) throw new Error(`dataset "${dataset.name}" is registered twice`);
    const owner = this.declarationOf(dataset.owner);
    if (!owner) throw new Error(`dataset "${dataset.name}": owner measure "${dataset.owner}" is not declared`);
    const missing = dataset.items.filter((i) => !owner.dataItems.some((d) => d.item === i));
    if (missing.length > 0) {
      throw new Error(`dataset "${dataset.name}" holds ${missing.join(', ')}, which ${owner.code} does not declare`);
    }
    if (dataset.items.length === 0) throw new Error(`dataset "${dataset.name}" declares no data items`);
    this.byName.set(dataset.name, dataset);
  }

  get(name: string): Dataset | undefined { return this.byName.get(name); }

  list(): Dataset[] { return [...this.byName.values()]; }

  /** The strictest (shortest) retention among the items the dataset holds. */
  retentionSeconds(dataset: Dataset): number {
    const owner = this.declarationOf(dataset.owner)!;
    return Math.min(...dataset.items.map((i) => owner.dataItems.find((d) => d.item === i)!.retentionSeconds));
  }
}
