/**
 * One detection run of M1: features over the window (engine), the model's
 * calibrated score and explanation per endpoint, the allow-list applied, and
 * the candidates updated — all through M1's handle and audited.
 */
import type { AuditWriter } from '../../core/measure-state.js';
import type { PurposeBoundAnalytics } from '../../core/capabilities.js';
import { parseDuration } from '../../core/duration.js';
import { addressBytes, compareAddressBytes, prefixBounds } from '../../ingest/address.js';
import type { StateStore } from '../../store/state/store.js';
import { applyDetections, listCandidates, type RunSummary } from './candidates.js';
import { FLOW_DATASET } from '../../ingest/flow/dataset.js';
import { extractFeatures, type EndpointFeatures } from './features.js';
import { explain, score, type M1Model } from './model.js';
import { parseEndpoint, type CcDetectionSettings } from './settings.js';

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

export interface DetectionResult extends RunSummary {
  endpoints: number;
  allowListed: number;
  threshold: number;
  flowsDeleted: number;
  health: WindowHealth;
}

export async function detectOnce(ctx: {
  flows: PurposeBoundAnalytics;
  state: StateStore;
  audit: AuditWriter;
  settings: CcDetectionSettings;
  model: M1Model;
  now: Date;
  actor: string;
}): Promise<DetectionResult> {
  const windowMs = parseDuration(ctx.settings.window) * 1000;
  const from = new Date(ctx.now.getTime() - windowMs);
  const health = await windowHealth(ctx.flows, from, ctx.now);
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
    return {
      detected: 0,
      created: 0,
      redetected: 0,
      stillWithdrawn: 0,
      expired: 0,
      endpoints: 0,
      allowListed: 0,
      threshold: ctx.model.threshold,
      flowsDeleted: 0,
      health,
    };
  }
  const features = await extractFeatures(ctx.flows, ctx.settings.scope, from, ctx.now);
  const allowed = allowListMatcher(ctx.settings.scope.allowList);
  let allowListed = 0;
  const detections = [];
  for (const f of features) {
    const s = score(ctx.model, f);
    if (s < ctx.model.threshold) continue;
    if (allowed(f)) {
      allowListed += 1;
      continue;
    }
    detections.push({ features: f, score: s, explanation: explain(ctx.model, f).map(({ feature, ja, en }) => ({ feature, ja, en })) });
  }
  // With an exporter silent, an endpoint may be missing for want of data: expire nothing this run.
  const expireBefore =
    health.silentExporters.length > 0 ? new Date(0) : new Date(ctx.now.getTime() - parseDuration(ctx.settings.candidateExpiry) * 1000);
  const summary = await applyDetections(ctx.state, ctx.audit, detections, ctx.now, expireBefore, ctx.actor);
  // 4th summary: flows of legitimate communications are deleted after analysis. Flows older than
  // this window will not be analysed again; only the evidence of current candidates is kept.
  const current = [...(await listCandidates(ctx.state, 'new')), ...(await listCandidates(ctx.state, 'confirmed'))];
  const flowsDeleted = await ctx.flows.deleteBefore(FLOW_DATASET.name, from, {
    columns: ['dst_addr', 'dst_port', 'proto'],
    rows: current.map((c) => [c.address.includes(':') ? c.address : `::ffff:${c.address}`, c.port, c.proto]),
  });
  return { ...summary, endpoints: features.length, allowListed, threshold: ctx.model.threshold, flowsDeleted, health };
}
