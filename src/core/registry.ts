/**
 * The measure registry: which measures are declared, which have an
 * implementation in this build ("available"), and which the operator enabled.
 * A measure without an implementation is "not available" everywhere: in the
 * API, the CLI, the notice and the report. It is never shown as working.
 */
import type { Migration } from 'kysely';
import { z } from 'zod';
import { withOptions, type MeasureDeclaration } from './measure.js';
import type { Dataset } from './datasets.js';
import type { ActionCapability, MeasureCapabilities } from './capabilities.js';
import type { StateStore } from '../store/state/store.js';
import { ConfigError, describeIssue, resolvePathSettings, type Config } from './config.js';
import type { ListenerStatus } from './listeners.js';
import type { Logger } from './logger.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { MeasureCli } from './cli.js';

export interface MeasureContext {
  readonly declaration: MeasureDeclaration;
  /** Everything the measure may touch, bound to its id and checked against its declaration. */
  readonly capabilities: MeasureCapabilities;
  /** The application log: events and counts only, never the data a measure handles. */
  readonly logger: Logger;
  /** The instance's data directory, for the measure's own files (e.g. a generated TLS key). */
  readonly dataDir: string;
}

export interface RunningMeasure<A = unknown> {
  /** Where the measure serves partners, if it does (e.g. M2's TAXII server). */
  readonly endpoints?: Readonly<Record<string, string>>;
  /** What the measure's routes (routes.ts) work on while it runs: its services and confined handles, nothing else. */
  readonly api?: A;
  /** Its network listeners' counts and refusals, by listener name (for /metrics and the API). */
  readonly listeners?: () => Record<string, ListenerStatus>;
  stop(): Promise<void>;
}

/** What a measure's routes are built from: its declaration, its broker handle, and what its start() returned. */
export interface MeasureRouteContext<A = unknown> {
  readonly declaration: MeasureDeclaration;
  readonly capabilities: MeasureCapabilities;
  readonly running: A;
}

/**
 * A measure's routes.ts: a Fastify plugin the core registers under /api/v1/measures/<id> while the measure
 * runs (src/core/measure-routes.ts), each route declaring its permission like any other.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each measure's handles differ; its declaration pairs them with its run()
export type MeasureRoutes<A = any> = (context: MeasureRouteContext<A>) => FastifyPluginAsyncZod;

export interface MeasureImplementation {
  start(context: MeasureContext): Promise<RunningMeasure>;
}

export interface MeasureModule {
  readonly declaration: MeasureDeclaration;
  /** The measure's own state tables, created whether or not it is available yet (data must still expire). */
  readonly migrations?: Record<string, Migration>;
  /** The tables those migrations create: the only state tables the measure's code may touch. */
  readonly stateTables?: readonly string[];
  /** Datasets of those tables, so the retention job deletes by the declaration. */
  readonly datasets?: readonly Dataset[];
  /** The measure's own configuration keys under `measures.<id>` (besides `enabled`), with defaults. */
  readonly settings?: z.ZodObject;
  /**
   * What the measure publishes for other measures, served by the broker to those whose
   * declaration allows the capability (e.g. M1's candidate list to M2 and M3).
   */
  readonly publishes?: Partial<Record<ActionCapability, (state: StateStore) => unknown>>;
  /** What must be configured before the measure may be enabled: one plain message per gap. */
  readonly readiness?: (settings: Record<string, unknown>) => string[];
  /** Absent until the measure's implementation lands. */
  readonly implementation?: MeasureImplementation;
  /** Its HTTP routes (routes.ts), served while it runs. */
  readonly routes?: MeasureRoutes;
  /** Its `mamori` commands (cli.ts), where operators need them. */
  readonly cli?: MeasureCli;
}

export type MeasureState = 'not-available' | 'disabled' | 'enabled';

export interface MeasureStatus {
  readonly declaration: MeasureDeclaration;
  readonly available: boolean;
  readonly enabled: boolean;
  readonly state: MeasureState;
}

export const STATE_TEXT: Record<MeasureState, { ja: string; en: string }> = {
  'not-available': { ja: '未提供（実装されていません）', en: 'not available (not implemented in this build)' },
  disabled: { ja: '停止中', en: 'disabled' },
  enabled: { ja: '実施中', en: 'enabled' },
};

export class MeasureRegistry {
  private readonly byId = new Map<string, MeasureModule>();
  private readonly parsedSettings = new Map<string, Record<string, unknown>>();

  /** `configDir`: where the configuration file is; the measures' relative path settings are resolved against it. */
  constructor(
    modules: readonly MeasureModule[],
    private readonly settings: Config['measures'] = {},
    private readonly configDir?: string,
  ) {
    const codes = new Set<string>();
    for (const m of modules) {
      const d = m.declaration;
      if (this.byId.has(d.id)) throw new Error(`measure id "${d.id}" is declared twice`);
      if (codes.has(d.code)) throw new Error(`measure code "${d.code}" is declared twice`);
      this.byId.set(d.id, m);
      codes.add(d.code);
    }
    const problems = this.settingsProblems();
    if (problems.length > 0) throw new ConfigError('measures', problems);
  }

  /** Settings naming an unknown measure, or enabling one that is not available, are refused. */
  private settingsProblems(): string[] {
    const problems: string[] = [];
    for (const [id, s] of Object.entries(this.settings)) {
      const m = this.byId.get(id);
      if (!m) {
        problems.push(`"measures.${id}": unknown measure; declared measures: ${[...this.byId.keys()].join(', ')}`);
      } else if (s.enabled && !m.implementation) {
        problems.push(`"measures.${id}.enabled": value true is not allowed: ${m.declaration.code} is not available in this build`);
      }
    }
    // Each measure's own keys, strictly, against its schema: unknown keys and bad values are named.
    for (const [id, m] of this.byId) {
      const schema = z.strictObject({ enabled: z.boolean().default(false), ...(m.settings?.shape ?? {}) });
      const parsed = schema.safeParse(this.settings[id] ?? {}, { reportInput: true });
      if (parsed.success) {
        this.parsedSettings.set(id, this.configDir === undefined ? parsed.data : resolvePathSettings(schema, parsed.data, this.configDir));
        if (parsed.data.enabled && m.implementation && m.readiness) problems.push(...m.readiness(parsed.data));
      } else problems.push(...parsed.error.issues.flatMap((i) => describeIssue(i, schema, ['measures', id])));
    }
    return problems;
  }

  get(id: string): MeasureModule | undefined {
    return this.byId.get(id);
  }

  /** A measure's validated settings, defaults filled in. */
  settingsOf<T>(id: string): T {
    return this.parsedSettings.get(id) as T;
  }

  status(id: string): MeasureStatus | undefined {
    const m = this.byId.get(id);
    if (!m) return undefined;
    const available = m.implementation !== undefined;
    const enabled = available && (this.settings[id]?.enabled ?? false);
    // Options the settings turn on join the declaration: granted and disclosed only then.
    const declaration = withOptions(m.declaration, this.parsedSettings.get(id));
    return { declaration, available, enabled, state: !available ? 'not-available' : enabled ? 'enabled' : 'disabled' };
  }

  list(): MeasureStatus[] {
    return [...this.byId.keys()].map((id) => this.status(id)!);
  }

  declarations(): MeasureDeclaration[] {
    return [...this.byId.values()].map((m) => m.declaration);
  }
}
