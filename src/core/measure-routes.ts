/**
 * The core registers every running measure's routes, each as an encapsulated Fastify plugin under
 * its own prefix (as CoreDNS plugins register their zones): the API lists no measure route by hand,
 * and a measure cannot place a route outside /api/v1/measures/<id>/ nor change another's handlers.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { MeasureCapabilities } from './capabilities.js';
import type { MeasureModule, RunningMeasure } from './registry.js';

export const MEASURE_API_PREFIX = '/api/v1/measures';

/** Where a measure's routes live. */
export function measureRoutePrefix(measureId: string): string {
  return `${MEASURE_API_PREFIX}/${measureId}`;
}

/** A running measure as the API needs it: its module, its broker handle, what its start() returned. */
export interface RoutedMeasure {
  readonly module: MeasureModule;
  readonly capabilities: MeasureCapabilities;
  readonly running: RunningMeasure;
}

export function runningMeasureRoutes(measures: readonly RoutedMeasure[]): FastifyPluginAsyncZod {
  return async (app) => {
    for (const m of measures) {
      // Routes work on what start() returned; an implementation that returns nothing for them (a stand-in in tests) serves none.
      if (!m.module.routes || m.running.api === undefined) continue;
      const d = m.module.declaration;
      const plugin = m.module.routes({ declaration: d, capabilities: m.capabilities, running: m.running.api });
      await app.register(plugin, { prefix: measureRoutePrefix(d.id) });
    }
  };
}
