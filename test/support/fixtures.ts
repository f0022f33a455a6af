/** Shared helpers for tests: temporary data directories and instances on them. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { openMamori, type Mamori, type OpenOptions } from '../../src/app/mamori.js';
import { parseConfig, type Config } from '../../src/core/config.js';
import { defineMeasure, type MeasureDeclarationInput } from '../../src/core/measure.js';
import type { MeasureModule } from '../../src/core/registry.js';
import { ALL_MEASURES } from '../../src/measures/index.js';

export const REPO_ROOT = new URL('../../../', import.meta.url).pathname;
export const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');

// Cleanups run once, when the test file ends: `after` called inside a hook would
// attach to that hook and run too early.
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A directory removed when the test file ends. */
export function tempDir(prefix = 'mamori-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function testConfig(dataDir: string, yaml = ''): Config {
  return parseConfig(`dataDir: ${JSON.stringify(dataDir)}\n${yaml}`, 'test');
}

export async function openTest(yaml = '', options: OpenOptions = {}): Promise<Mamori> {
  const dir = tempDir();
  const mamori = await openMamori(testConfig(dir, yaml), options);
  cleanups.push(() => mamori.close());
  return mamori;
}

/** A complete, valid declaration to derive broken ones from. */
export function validDeclaration(overrides: Partial<MeasureDeclarationInput> = {}): MeasureDeclarationInput {
  return {
    id: 'test-measure',
    code: 'M90',
    title: { ja: '試験用の措置', en: 'Test measure' },
    purpose: { ja: '試験のため', en: 'for testing' },
    description: { ja: '試験用です。', en: 'For tests.' },
    bases: [{ basis: 'legitimate-business', scope: { ja: '試験', en: 'testing' } }],
    dataItems: [
      { item: 'flow.addresses', retention: '1d', use: { ja: '試験', en: 'testing' } },
      { item: 'flow.ports', retention: '2d', use: { ja: '試験', en: 'testing' } },
    ],
    outputs: ['cc-candidates'],
    identifiesSubscribers: false,
    conditions: [{ ja: '試験に限る', en: 'tests only' }],
    source: { ja: '試験', en: 'tests' },
    ...overrides,
  };
}

/** A measure with a (do-nothing) implementation, so that it can be enabled in tests of the broker. */
export function runnableMeasure(overrides: Partial<MeasureDeclarationInput> = {}): MeasureModule {
  return {
    declaration: defineMeasure(validDeclaration(overrides)),
    implementation: {
      async start() {
        return { async stop() {} };
      },
    },
  };
}

/**
 * Every measure, with M1's hourly detection job replaced by a do-nothing one:
 * M1's inlet (flow ingest) runs only while M1 is enabled, and the tests of that
 * inlet need it enabled without a model or subscriber prefixes.
 */
export function measuresWithM1InletOnly(): MeasureModule[] {
  // Without its job M1 has no handles for its routes: it serves none.
  return ALL_MEASURES.map((m) =>
    m.declaration.id === 'cc-detection'
      ? {
          ...m,
          routes: undefined,
          readiness: () => [],
          implementation: {
            // The inlet listens while M1 holds it, as M1's own job does at start.
            async start(context) {
              await context.capabilities.action('flow-input');
              return { async stop() {} };
            },
          },
        }
      : m,
  );
}

/**
 * A runnable measure that may identify subscribers (as M3, M4, M5 and M7 will), to exercise
 * subscriber lookup, cases and notices before those measures land.
 */
export function identifyingMeasure(outputs: MeasureDeclarationInput['outputs'] = ['cases', 'subscriber-notices']): MeasureModule {
  const module = runnableMeasure({
    id: 'lookup-test',
    code: 'M90',
    identifiesSubscribers: true,
    bases: [{ basis: 'legitimate-business', scope: { ja: '試験', en: 'testing' } }],
    dataItems: [
      { item: 'aaa.assigned-address', retention: '365d', use: { ja: '試験', en: 'testing' } },
      { item: 'subscriber.id', retention: '365d', use: { ja: '試験', en: 'testing' } },
      { item: 'subscriber.contact', retention: '180d', use: { ja: '試験', en: 'testing' } },
    ],
    outputs,
  });
  // Holds the lookup from its start, as the real measures do: the RADIUS server listens while a lookup is held.
  return {
    ...module,
    implementation: {
      async start(context) {
        await context.capabilities.action('subscriber-lookup');
        return { async stop() {} };
      },
    },
  };
}

/** The features of a beacon-like C&C endpoint (40 clients polling every 60 s), for tests that need a candidate. */
export function ccLikeFeatures(address: string, port: number) {
  return {
    address,
    port,
    proto: 6,
    clients: 40,
    flows: 4000,
    flowsPerClient: 100,
    periodicShare: 1,
    periodSeconds: 60,
    gapDispersion: 0.02,
    beaconScore: 0.9,
    bytesCv: 0.01,
    packetsCv: 0,
    meanBytesPerFlow: 300,
    medianDurationSeconds: 0.2,
    p90DurationSeconds: 0.4,
    hoursActive: 24,
    firstSeenHours: 0,
    clientGrowth: 0,
    failedShare: 0,
    portRarity: 0.8,
    returnRatio: 0.5,
    farmSiblings: 0,
  };
}
