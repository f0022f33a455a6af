/**
 * One detection run of M1: features over the window (engine), the model's
 * calibrated score and explanation per endpoint (ranked), the allow-list
 * applied, the candidates updated, and the flows the run has finished with
 * deleted — all through M1's handles and audited.
 */
import type { AuditWriter } from '../../core/measure-state.js';
import type { PurposeBoundAnalytics } from '../../core/capabilities.js';
import { parseDuration } from '../../core/duration.js';
import { addressBytes, compareAddressBytes, prefixBounds } from '../../ingest/address.js';
import type { StateStore } from '../../store/state/store.js';
import { applyDetections, listCandidates, type Detection, type RunSummary } from './candidates.js';
import { FLOW_DATASET } from '../../ingest/flow/dataset.js';
import { extractFeatures, type EndpointFeatures } from './features.js';
import { explain, score, type M1Model } from './model.js';
import { defaultProfile, eligible, explainTerms, scoreWindow, summary, type ProfileModel } from './profile.js';
import { parseEndpoint, type CcDetectionSettings } from './settings.js';
import { admits, operatingThreshold, type OperatingThreshold } from './threshold.js';
import { analysedWindows, kindOf, recordRun, type AnyModel } from './training.js';

/** The allow-list as ranges, so each endpoint is checked without string games. */
export function allowListMatcher(entries: CcDetectionSettings['scope']['allowList']): (f: EndpointFeatures) => boolean {
  const rules = entries.map((e) => {
    const p = parseEndpoint(e.endpoint);
    if (typeof p === 'string') throw new Error(p);
    const [lo, hi] = prefixBounds(p.prefix, p.prefixLength);
    return { lo, hi, port: p.port };
  });
  return (f) => {
    const a = addressBytes(f.address);
    return rules.some(
      (r) => (r.port === null || r.port === f.port) && compareAddressBytes(a, r.lo) >= 0 && compareAddressBytes(a, r.hi) <= 0,
    );
  };
}

export interface WindowHealth {
  flows: number;
  exporters: Array<{ exporter: string; flows: number; lastFlow: string }>;
  /** Exporters that sent flows in the window's first three quarters but none in its last quarter. */
  silentExporters: string[];
  /** Flows stamped more than 5 minutes after the run: exporter clocks ahead. */
  futureFlows: number;
  problems: string[];
}

/** What the window holds, so that a run on missing or skewed data says so instead of scoring it. */
export async function windowHealth(flows: PurposeBoundAnalytics, from: Date, to: Date): Promise<WindowHealth> {
  const iso = (d: Date) => d.toISOString().replace('Z', '');
  const lastQuarter = new Date(to.getTime() - (to.getTime() - from.getTime()) / 4);
  const rows = await flows.query<{ exporter: string; n: string; recent: string; last: string; future: string }>(
    `SELECT IPv6NumToString(exporter) AS exporter, count() AS n,
            countIf(start >= toDateTime64({q:String}, 3, 'UTC')) AS recent,
            toString(max(start)) AS last,
            countIf(start > toDateTime64({to:String}, 3, 'UTC') + INTERVAL 5 MINUTE) AS future
     FROM ${flows.table(FLOW_DATASET.name)}
     WHERE start >= toDateTime64({from:String}, 3, 'UTC') AND start < toDateTime64({to:String}, 3, 'UTC') + INTERVAL 1 DAY
     GROUP BY exporter ORDER BY exporter`,
    { from: iso(from), to: iso(to), q: iso(lastQuarter) },
  );
  const exporters = rows.map((r) => ({ exporter: r.exporter.replace(/^::ffff:/, ''), flows: Number(r.n), lastFlow: r.last }));
  const silentExporters = rows.filter((r) => Number(r.n) > 0 && Number(r.recent) === 0).map((r) => r.exporter.replace(/^::ffff:/, ''));
  const futureFlows = rows.reduce((a, r) => a + Number(r.future), 0);
  const total = rows.reduce((a, r) => a + Number(r.n), 0) - futureFlows;
  const problems: string[] = [];
  if (total === 0) problems.push('no flows in the window: nothing was analysed');
  if (silentExporters.length > 0) problems.push(`exporters silent in the last quarter of the window: ${silentExporters.join(', ')}`);
  if (futureFlows > 0) problems.push(`${futureFlows} flows are stamped in the future: an exporter's clock is ahead`);
  return { flows: total, exporters, silentExporters, futureFlows, problems };
}

export interface ScoredEndpoint {
  features: EndpointFeatures;
  score: number;
  evidence?: number;
  detection: Omit<Detection, 'rank' | 'scored'>;
}

/**
 * Scores every endpoint of a window with a model, ranked (most suspicious first); endpoints a model
 * cannot judge (too few contacts, not TCP or UDP) come last with score 0. Shared by detection and
 * the evaluations, so what is evaluated is what runs.
 */
export function rankEndpoints(model: AnyModel, features: readonly EndpointFeatures[], modelVersion?: number): ScoredEndpoint[] {
  let out: ScoredEndpoint[];
  if (kindOf(model) === 'profile') {
    out = scoreWindow(model as ProfileModel, features).map((s) => ({
      features: s.features,
      score: s.score,
      evidence: s.evidence,
      detection: {
        features: s.features,
        score: s.score,
        evidence: s.evidence,
        summary: summary(s.features),
        explanation: explainTerms(s.features, s.terms),
        ...(modelVersion !== undefined ? { modelVersion } : {}),
      },
    }));
  } else {
    const m = model as M1Model;
    // Too few contacts is too little to defend as a C&C, whatever the model: the same gate as the profile's.
    const gate = defaultProfile();
    out = features.map((f) => {
      const sc = eligible(gate, f) ? score(m, f) : 0;
      return {
        features: f,
        score: sc,
        detection: {
          features: f,
          score: sc,
          summary: summary(f),
          explanation: explain(m, f).map(({ feature, ja, en }) => ({ feature, ja, en, direction: 'raised' as const })),
          ...(modelVersion !== undefined ? { modelVersion } : {}),
        },
      };
    });
  }
  return out.sort(
    (a, b) =>
      b.score - a.score ||
      (b.evidence ?? 0) - (a.evidence ?? 0) ||
      a.features.address.localeCompare(b.features.address) ||
      a.features.port - b.features.port,
  );
}

export interface DetectionResult extends RunSummary {
  endpoints: number;
  allowListed: number;
  /** The operating threshold as a score (lists show scores). */
  threshold: number;
  /** How the threshold was chosen for this window, and why (threshold.ts). */
  operating: OperatingThreshold;
  flowsDeleted: number;
  health: WindowHealth;
  /** Flows older than the window that no run has analysed (back-filled, simulated): kept until retention. */
  unanalysedKept: number;
  window: { from: string; to: string };
}

/**
 * One run over [now − window, now). Afterwards, flows that a run has analysed (they lay in some run's
 * window) and that are now older than this window are deleted, except the evidence of current
 * candidates: the 4th summary's "deleted after analysis". Flows no run has analysed (imported or
 * simulated into the past) are never deleted here — training may still need them — but by the
 * 7-day retention.
 */
export async function detectOnce(ctx: {
  flows: PurposeBoundAnalytics;
  state: StateStore;
  audit: AuditWriter;
  settings: CcDetectionSettings;
  model: AnyModel;
  modelVersion?: number;
  now: Date;
  actor: string;
}): Promise<DetectionResult> {
  const windowMs = parseDuration(ctx.settings.window) * 1000;
  const from = new Date(ctx.now.getTime() - windowMs);
  const window = { from: from.toISOString(), to: ctx.now.toISOString() };
  const health = await windowHealth(ctx.flows, from, ctx.now);
  const noWindow = operatingThreshold(ctx.model, { scored: 0, subscribers: 0 }, ctx.settings.operatingThreshold);
  const empty = {
    detected: 0,
    created: 0,
    redetected: 0,
    stillWithdrawn: 0,
    expired: 0,
    endpoints: 0,
    allowListed: 0,
    threshold: noWindow.score,
    operating: noWindow,
    flowsDeleted: 0,
    unanalysedKept: 0,
    health,
    window,
  };
  if (health.flows === 0) {
    // No data is not "not detected": nothing expires, nothing is deleted, and the run says so.
    await ctx.audit.append({
      actor: ctx.actor,
      measure: 'cc-detection',
      action: 'cc.detect',
      object: 'dataset:cc-candidates',
      outcome: 'error',
      counts: { flows: 0 },
    });
    return empty;
  }
  const features = await extractFeatures(ctx.flows, ctx.settings.scope, from, ctx.now);
  const allowed = allowListMatcher(ctx.settings.scope.allowList);
  const ranked = rankEndpoints(ctx.model, features, ctx.modelVersion);
  const scored = ranked.filter((r) => r.score > 0).length;
  // Every row carries the window's count of active subscribers (the population the budget is per 1,000 of).
  const subscribers = features[0]?.subscribers ?? 0;
  const operating = operatingThreshold(ctx.model, { scored, subscribers }, ctx.settings.operatingThreshold);
  let allowListed = 0;
  const detections: Detection[] = [];
  ranked.forEach((r, i) => {
    if (!admits(operating, r)) return;
    if (allowed(r.features)) {
      allowListed += 1;
      return;
    }
    detections.push({ ...r.detection, rank: i + 1, scored });
  });
  // With an exporter silent, an endpoint may be missing for want of data: expire nothing this run.
  const expireBefore =
    health.silentExporters.length > 0 ? new Date(0) : new Date(ctx.now.getTime() - parseDuration(ctx.settings.candidateExpiry) * 1000);
  const summaryCounts = await applyDetections(ctx.state, ctx.audit, detections, ctx.now, expireBefore, ctx.actor);
  await recordRun(ctx.state.db, {
    at: new Date().toISOString(),
    actor: ctx.actor,
    window_from: window.from,
    window_to: window.to,
    model_version: ctx.modelVersion ?? -1,
    endpoints: features.length,
    detected: detections.length,
    flows_deleted: 0,
  });
  // Only where runs have analysed, and only what has left the rolling window ending now.
  const current = [...(await listCandidates(ctx.state, 'new')), ...(await listCandidates(ctx.state, 'confirmed'))];
  const keep = {
    columns: ['dst_addr', 'dst_port', 'proto'],
    rows: current.map((c) => [c.address.includes(':') ? c.address : `::ffff:${c.address}`, c.port, c.proto]),
  };
  const rolling = new Date(Math.min(from.getTime(), Date.now() - windowMs));
  let flowsDeleted = 0;
  const analysed = await analysedWindows(ctx.state);
  for (const w of analysed) {
    if (w.from >= rolling) continue;
    flowsDeleted += await ctx.flows.deleteBefore(FLOW_DATASET.name, w.to < rolling ? w.to : rolling, keep, w.from);
  }
  const firstAnalysed = analysed[0]?.from ?? from;
  const [old] = await ctx.flows.query<{ n: string }>(
    `SELECT count() AS n FROM ${ctx.flows.table(FLOW_DATASET.name)} WHERE start < toDateTime64({first:String}, 3, 'UTC')`,
    { first: firstAnalysed.toISOString().replace('Z', '') },
  );
  return {
    ...summaryCounts,
    endpoints: features.length,
    allowListed,
    threshold: operating.score,
    operating,
    flowsDeleted,
    unanalysedKept: Number(old?.n ?? 0),
    health,
    window,
  };
}
