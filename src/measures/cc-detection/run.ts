/**
 * M1 at work: every `runInterval` (default hourly) a detection over the last
 * `window` (default 24 h) with the active model (the promoted version, or the
 * built-in profile that needs no labels), through M1's own
 * handles only — flows through its purpose-bound analytics handle, its
 * candidate and model tables through its confined state handle. A run never
 * overlaps the previous one; stopping waits for the run in progress.
 */
import type { MeasureCapabilities, PurposeBoundAnalytics } from '../../core/capabilities.js';
import { ConfigError } from '../../core/config.js';
import { parseDuration } from '../../core/duration.js';
import type { Logger } from '../../core/logger.js';
import type { MeasureState } from '../../core/measure-state.js';
import type { MeasureContext, RunningMeasure } from '../../core/registry.js';
import { FLOW_DATASET, type FlowInput } from '../../ingest/flow/dataset.js';
import { detectOnce, type DetectionResult } from './detect.js';
import type { CcDetectionSettings } from './settings.js';
import { activeModel } from './training.js';

export const M1_ACTOR = 'measure:cc-detection';

export type RunOutcome = { ran: true; modelVersion: number; result: DetectionResult } | { ran: false; reason: string };

/** One run now: the scheduled job, the CLI's `cc detect` and the API's "run now" share it. */
export async function runDetection(ctx: {
  flows: PurposeBoundAnalytics;
  own: MeasureState;
  settings: CcDetectionSettings;
  now: Date;
  actor: string;
}): Promise<RunOutcome> {
  // There is always a model: the built-in profile (version 0) until an operator promotes another.
  const model = await activeModel(ctx.own.store);
  const result = await detectOnce({
    flows: ctx.flows,
    state: ctx.own.store,
    audit: ctx.own.audit,
    settings: ctx.settings,
    model: model.model,
    modelVersion: model.version,
    now: ctx.now,
    actor: ctx.actor,
  });
  return { ran: true, modelVersion: model.version, result };
}

/** Checked with the configuration (and again here): M1 cannot run without knowing its subscribers. */
export function readiness(settings: Record<string, unknown>): string[] {
  const s = settings as CcDetectionSettings;
  return s.scope.subscriberPrefixes.length === 0
    ? [
        '"measures.cc-detection.scope.subscriberPrefixes" is ' +
          'empty: M1 cannot tell subscribers from ' +
          ("the rest of the Internet; list the ISP's customer " + 'prefixes before enabling it'),
      ]
    : [];
}

function assertRunnable(settings: CcDetectionSettings): void {
  const problems = readiness(settings);
  if (problems.length > 0) throw new ConfigError('for M1', problems);
}

function logOutcome(logger: Logger, o: RunOutcome): void {
  if (!o.ran) {
    logger.warn({ event: 'cc.detect.skipped' }, o.reason);
    return;
  }
  const r = o.result;
  // Counts only: no endpoint, no address.
  logger.info(
    {
      event: 'cc.detect',
      model: o.modelVersion,
      endpoints: r.endpoints,
      detected: r.detected,
      created: r.created,
      redetected: r.redetected,
      expired: r.expired,
      allowListed: r.allowListed,
      // How the threshold was chosen (numbers only): the rule, the evidence and score, the window's budget.
      thresholdRule: r.operating.rule,
      thresholdScore: r.operating.score,
      thresholdEvidence: r.operating.evidence,
      falseCandidatesAllowed: r.operating.allowed,
      flowsDeleted: r.flowsDeleted,
      unanalysedKept: r.unanalysedKept,
      problems: r.health.problems.length,
    },
    'detection run finished',
  );
  for (const p of r.health.problems) logger.warn({ event: 'cc.detect.window' }, p.replace(/: .*$/, ''));
}

/** M1's two handles: its confined state (with its settings) and its purpose-bound flows. */
export interface M1Handles {
  own: MeasureState & { settings: CcDetectionSettings };
  flows: PurposeBoundAnalytics;
}

/** M1's two handles, from the broker: both audited grants, both refused unless M1 is enabled. */
export async function m1Handles(capabilities: MeasureCapabilities): Promise<M1Handles> {
  const own = await capabilities.ownState<CcDetectionSettings>();
  assertRunnable(own.settings);
  return { own, flows: await capabilities.analyticsRead([FLOW_DATASET.name]) };
}

export async function startDetection(context: MeasureContext): Promise<RunningMeasure<M1Handles>> {
  const { own, flows } = await m1Handles(context.capabilities);
  // The routers' flows come in while M1 runs, and for M1 alone: the core's inlet, held through the broker.
  await context.capabilities.action<FlowInput>('flow-input');
  const every = parseDuration(own.settings.runInterval) * 1000;
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running) {
      context.logger.warn({ event: 'cc.detect.overrun' }, 'previous detection run still in progress: this one is skipped');
      return;
    }
    running = runDetection({ flows, own, settings: own.settings, now: new Date(), actor: M1_ACTOR })
      .then((o) => logOutcome(context.logger, o))
      .catch((err: Error) => {
        context.logger.error({ event: 'cc.detect.failed', err: { type: err.name, message: err.message } }, 'detection run failed');
      })
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, every);
  timer.unref();
  context.logger.info({ event: 'cc.detect.scheduled', everySeconds: every / 1000 }, 'C&C detection scheduled');
  return {
    api: { own, flows },
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
