/**
 * The capability broker: the only way a measure reaches data or acts on the
 * world. What it hands out follows from the measure's declaration alone; a
 * request outside it is refused with a clear error and the refusal is audited.
 */
import { readFileSync, statSync } from 'node:fs';
import { countAndDelete, type AnalyticsStore } from '../store/analytics/store.js';
import { checkReadAccess, TableAccessError } from '../store/analytics/table-access.js';
import type { AuditLog } from './audit/log.js';
import type { StateStore } from '../store/state/store.js';
import { measureState, type MeasureState } from './measure-state.js';
import type { DatasetRegistry } from './datasets.js';
import type { MeasureDeclaration } from './measure.js';
import type { DataItem, Output } from './vocabulary.js';
import { MamoriError } from './errors.js';

/**
 * Capabilities that act on the world (each needs an output in the declaration) or bring data in from it
 * (each needs the data item it carries). A measure has no other way to either: the dependency rules
 * (.dependency-cruiser.cjs) keep network modules and the core's listeners out of src/measures.
 */
export const ACTION_CAPABILITIES = {
  'subscriber-lookup': { needs: 'identifiesSubscribers' },
  notifier: { needs: 'subscriber-notices' },
  cases: { needs: 'cases' },
  /** Blocking rules, or a walled garden's client-IP rules: either output is served from the core's one RPZ primary. */
  'policy-zone-writer': { needs: ['rpz-rules', 'walled-garden'] },
  /** The walled garden's notice page: a listener the core owns, answering every request with the page the measure writes. */
  'garden-page': { needs: 'walled-garden' },
  sharer: { needs: 'shared-indicators' },
  disconnector: { needs: 'disconnects' },
  'auth-suspender': { needs: 'auth-suspensions' },
  'traffic-blocker': { needs: 'traffic-blocks' },
  /** M1's published candidates (IP, port, protocol, dates, score): for measures that declare that item. */
  'candidate-feed': { needs: 'item:cc.candidate' },
  /** M2's merged C&C list (own and partners', with provenance): for measures that declare threat indicators. */
  'indicator-feed': { needs: 'item:threat.indicator' },
  /** Accounting as it arrives (session starts and stops with account IDs): for measures that declare account IDs. */
  'accounting-feed': { needs: 'item:aaa.account-id' },
  /** The AAA's authentication events (authorize, post-auth) as they arrive: for measures that declare account IDs. */
  'auth-feed': { needs: 'item:aaa.account-id' },
  /** The core's dnstap receiver (resolvers' queries and answers): for measures that declare the names queried. */
  'dnstap-input': { needs: 'item:dns.qname' },
  /** Third parties' reports of infected hosts from the drop directory, read by the core: for measures that declare them. */
  'report-input': { needs: 'item:report.host' },
  /** The resolvers' RPZ logs, read by the core: only queries a rule of the measure's own zones blocked, minimised. */
  'resolver-log-input': { needs: 'item:dns.qname' },
  /**
   * The core's flow inlet (NetFlow/IPFIX/sFlow from the routers into the flow dataset): listening while a measure that
   * holds it runs. The dataset is collected for one purpose, so only its owner may hold the inlet that fills it.
   */
  'flow-input': { needs: 'item:flow.addresses' },
} as const satisfies Record<string, { needs: Output | readonly Output[] | 'identifiesSubscribers' | `item:${DataItem}` }>;
export type ActionCapability = keyof typeof ACTION_CAPABILITIES;

export class CapabilityRefusedError extends MamoriError {
  static override readonly code = 'capability-refused';
  static override readonly status = 403;
  constructor(
    readonly measure: string,
    readonly capability: string,
    readonly reason: string,
  ) {
    super(`capability "${capability}" refused to measure "${measure}": ${reason}`);
  }
}

/** A file a measure's settings name cannot be read (missing, unreadable, too large). */
export class SettingsFileError extends MamoriError {
  static override readonly code = 'settings-file';
  static override readonly status = 500;
}

/** Whether `path` is one of the strings in `settings` (at any depth). */
function namedIn(settings: unknown, path: string): boolean {
  if (typeof settings === 'string') return settings === path;
  if (Array.isArray(settings)) return settings.some((v) => namedIn(v, path));
  if (settings && typeof settings === 'object') return Object.values(settings).some((v) => namedIn(v, path));
  return false;
}

/**
 * Registers what ends a measure's hold on a shared input (the flow inlet, the RADIUS server behind lookups): run when
 * the measure stops (MeasureCapabilities.release), once per key however often the capability was granted.
 */
export type Hold = (key: string, release: () => Promise<void>) => void;

/**
 * Providers of action capabilities, added as the features behind them land. A provider may refuse (throw
 * CapabilityRefusedError) for a reason the declaration's vocabulary cannot state; the broker audits it like its own.
 */
export type CapabilityProvider = (measure: MeasureDeclaration, hold: Hold) => unknown;
export type CapabilityProviders = Partial<Record<ActionCapability, CapabilityProvider>>;

/** Read access to the analytics tables of declared datasets, and nothing else. */
export interface PurposeBoundAnalytics {
  readonly measure: string;
  readonly datasets: readonly string[];
  /** Fully qualified table of a granted dataset, for writing SQL. */
  table(dataset: string): string;
  query<T = Record<string, unknown>>(sql: string, params?: Record<string, unknown>): Promise<T[]>;
  /**
   * Deletes the dataset's rows older than `before`, except those whose `keep.columns`
   * match one of `keep.rows` (e.g. the evidence of current candidates), and only those at or after
   * `after` when given (rows never analysed stay). Audited with the count.
   */
  deleteBefore(
    dataset: string,
    before: Date,
    keep: { columns: string[]; rows: Array<Array<string | number>> },
    after?: Date,
  ): Promise<number>;
}

/**
 * What the broker reads of the measure registry (src/core/registry.ts implements it): an interface
 * here, so that the registry, which names the capabilities a measure gets, and the broker do not import each other.
 */
export interface DeclaredMeasures {
  status(id: string): { readonly declaration: MeasureDeclaration; readonly state: string } | undefined;
  get(id: string): { readonly stateTables?: readonly string[] } | undefined;
  settingsOf<T>(id: string): T;
}

/** What the broker hands out from. */
export interface BrokerDeps {
  readonly registry: DeclaredMeasures;
  readonly datasets: DatasetRegistry;
  readonly audit: AuditLog;
  readonly state: StateStore;
  readonly analytics: AnalyticsStore | undefined;
  readonly providers: CapabilityProviders;
}

export class CapabilityBroker {
  constructor(private readonly deps: BrokerDeps) {}

  forMeasure(measureId: string): MeasureCapabilities {
    return new MeasureCapabilities(measureId, this.deps);
  }
}

export class MeasureCapabilities {
  private readonly registry: DeclaredMeasures;
  private readonly datasets: DatasetRegistry;
  private readonly audit: AuditLog;
  private readonly analytics: AnalyticsStore | undefined;
  private readonly providers: CapabilityProviders;
  /** What ends this measure's holds on shared inputs, by key. */
  private readonly holds = new Map<string, () => Promise<void>>();

  constructor(
    readonly measureId: string,
    private readonly deps: BrokerDeps,
  ) {
    ({ registry: this.registry, datasets: this.datasets, audit: this.audit, analytics: this.analytics, providers: this.providers } = deps);
  }

  private async refuse(capability: string, reason: string): Promise<never> {
    await this.audit.append({
      actor: `measure:${this.measureId}`,
      measure: this.measureId,
      action: 'capability.refused',
      object: `capability:${capability}`,
      outcome: 'refused',
    });
    throw new CapabilityRefusedError(this.measureId, capability, reason);
  }

  private async granted(capability: string): Promise<void> {
    await this.audit.append({
      actor: `measure:${this.measureId}`,
      measure: this.measureId,
      action: 'capability.grant',
      object: `capability:${capability}`,
    });
  }

  /** The declaration, if the measure is declared and enabled; otherwise the refusal. */
  private async runningDeclaration(capability: string): Promise<MeasureDeclaration> {
    const status = this.registry.status(this.measureId);
    if (!status) return this.refuse(capability, 'no such measure is declared');
    if (status.state !== 'enabled') return this.refuse(capability, `the measure is ${status.state}`);
    return status.declaration;
  }

  /** A read handle to the analytics tables of `datasetNames`, which must hold only items this measure declared. */
  async analyticsRead(datasetNames: readonly string[]): Promise<PurposeBoundAnalytics> {
    const capability = `analytics-read:${datasetNames.join('+')}`;
    const declaration = await this.runningDeclaration(capability);
    const tables = new Map<string, string>();
    const timeColumns = new Map<string, string>();
    for (const name of datasetNames) {
      const ds = this.datasets.get(name);
      if (!ds) return this.refuse(capability, `dataset "${name}" does not exist`);
      if (ds.store !== 'analytics') return this.refuse(capability, `dataset "${name}" is not in the analytics store`);
      const undeclared = ds.items.filter((i) => !declaration.dataItems.some((d) => d.item === i));
      if (undeclared.length > 0) {
        return this.refuse(capability, `dataset "${name}" holds ${undeclared.join(', ')}, which ${declaration.code} does not declare`);
      }
      if (ds.owner !== this.measureId)
        return this.refuse(capability, `dataset "${name}" was collected for ${ds.owner} and may not be used for another purpose`);
      tables.set(name, ds.table);
      timeColumns.set(name, ds.timeColumn);
    }
    const store = this.analytics;
    if (!store) return this.refuse(capability, 'the analytics store is not available');
    await this.granted(capability);
    return this.boundAnalytics(store, declaration, tables, timeColumns);
  }

  private boundAnalytics(
    store: AnalyticsStore,
    declaration: MeasureDeclaration,
    tables: Map<string, string>,
    timeColumns: Map<string, string>,
  ): PurposeBoundAnalytics {
    const allowed = new Set(tables.values());
    const object = `dataset:${[...tables.keys()].join('+')}`;
    const measure = this.measureId;
    return {
      measure,
      datasets: [...tables.keys()],
      table: (dataset) => {
        const t = tables.get(dataset);
        if (!t) throw new CapabilityRefusedError(measure, `analytics-read:${dataset}`, 'dataset not granted to this handle');
        return t;
      },
      query: async <T>(sql: string, params?: Record<string, unknown>) => {
        try {
          await checkReadAccess(store, sql, allowed, params);
        } catch (err) {
          if (err instanceof TableAccessError) return this.refuse(`analytics-read:${[...tables.keys()].join('+')}`, err.message);
          throw err;
        }
        // The tag travels with the query into the engine's own query log.
        const rows = await store.query<T>(
          `/* mamori measure=${measure} basis=${declaration.bases.map((b) => b.basis).join(',')} */ ${sql}`,
          params,
        );
        await this.audit.append({ actor: `measure:${measure}`, measure, action: 'analytics.read', object, counts: { rows: rows.length } });
        return rows;
      },
      deleteBefore: async (dataset, before, keep, after) => {
        const table = tables.get(dataset);
        const timeColumn = timeColumns.get(dataset);
        if (!table || !timeColumn)
          throw new CapabilityRefusedError(measure, `analytics-delete:${dataset}`, 'dataset not granted to this handle');
        if (!keep.columns.every((c) => /^[a-z_][a-z0-9_]*$/.test(c)))
          throw new CapabilityRefusedError(measure, `analytics-delete:${dataset}`, 'invalid column name');
        const params: Record<string, unknown> = { before: before.toISOString().replace('Z', '') };
        let where = `${timeColumn} < toDateTime64({before:String}, 3, 'UTC')`;
        if (after) {
          params.after = after.toISOString().replace('Z', '');
          where += ` AND ${timeColumn} >= toDateTime64({after:String}, 3, 'UTC')`;
        }
        if (keep.rows.length > 0) {
          // The kept tuples go as one array parameter: no values are spliced into the SQL.
          params.keep = keep.rows.map((r) => r.map(String));
          const tuple = keep.columns.map((c) => `toString(${c})`).join(', ');
          const fromParam = keep.columns.map((_, i) => `k[${i + 1}]`).join(', ');
          where += ` AND (${tuple}) NOT IN (SELECT ${fromParam} FROM (SELECT arrayJoin({keep:Array(Array(String))}) AS k))`;
        }
        const n = await countAndDelete(store, table, where, params);
        await this.audit.append({
          actor: `measure:${measure}`,
          measure,
          action: 'analytics.delete',
          object: `dataset:${dataset}`,
          counts: { rows: n, kept: keep.rows.length },
        });
        return n;
      },
    };
  }

  /**
   * The measure's own state tables (those its module declares), its settings, and an audit
   * writer whose changes are confined to those tables.
   */
  async ownState<S = Record<string, unknown>>(): Promise<MeasureState & { settings: S }> {
    await this.runningDeclaration('state');
    const tables = this.registry.get(this.measureId)?.stateTables ?? [];
    await this.granted('state');
    return { ...measureState(this.measureId, tables, this.deps.state, this.audit), settings: this.registry.settingsOf<S>(this.measureId) };
  }

  /**
   * A file the measure's own settings name (a whitelist, a certificate), read whole, and no other: a measure opens no
   * file itself (dependency rule measure-no-files), so what it reads from the disk is what its configuration says.
   */
  async settingsFile(path: string, maxBytes = 256 << 20): Promise<Buffer> {
    const capability = 'settings-file';
    await this.runningDeclaration(capability);
    if (!namedIn(this.registry.settingsOf<unknown>(this.measureId), path))
      return this.refuse(capability, `${path} is not a file the measure's settings name`);
    let bytes: Buffer;
    try {
      const size = statSync(path).size;
      if (size > maxBytes) throw new Error(`${size} bytes, more than the ${maxBytes} accepted`);
      bytes = readFileSync(path);
    } catch (err) {
      throw new SettingsFileError(
        `measures.${this.measureId}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    await this.granted(`${capability}`);
    return bytes;
  }

  /** An action capability (notifier, subscriber lookup, …) if the declaration allows it and this build provides it. */
  async action<T = unknown>(capability: ActionCapability): Promise<T> {
    const declaration = await this.runningDeclaration(capability);
    const needs: string | readonly string[] | undefined = ACTION_CAPABILITIES[capability]?.needs;
    if (!needs) return this.refuse(capability, 'no such capability');
    // A list of outputs: any one of them (the RPZ primary serves blocking rules and walled gardens alike).
    const outputs = typeof needs === 'string' ? [needs] : needs;
    const item = typeof needs === 'string' && needs.startsWith('item:') ? needs.slice(5) : undefined;
    const allowed =
      needs === 'identifiesSubscribers'
        ? declaration.identifiesSubscribers
        : item
          ? declaration.dataItems.some((d) => d.item === item)
          : outputs.some((o) => declaration.outputs.includes(o as Output));
    if (!allowed) {
      return this.refuse(
        capability,
        needs === 'identifiesSubscribers'
          ? `${declaration.code} may not identify subscribers`
          : item
            ? `${declaration.code} does not declare the data item "${item}"`
            : `${declaration.code} does not declare the output ${outputs.map((o) => `"${o}"`).join(' or ')}`,
      );
    }
    const provider = this.providers[capability];
    if (!provider) return this.refuse(capability, 'not available in this build');
    let given: unknown;
    try {
      given = await provider(declaration, (key, release) => {
        if (!this.holds.has(key)) this.holds.set(key, release);
      });
    } catch (err) {
      if (err instanceof CapabilityRefusedError) return this.refuse(capability, err.reason);
      throw err;
    }
    await this.granted(capability);
    return given as T;
  }

  /** Ends every hold this measure took on shared inputs (called when it stops); an input nobody holds stops. */
  async release(): Promise<void> {
    const releases = [...this.holds.values()].reverse();
    this.holds.clear();
    for (const release of releases) await release();
  }
}
