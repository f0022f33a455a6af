/**
 * One detection run of M1: features over the window (engine), the model's
 * calibrated score and explanation per endpoint, the allow-list applied, and
 * the candidates updated — all through M1's handle and audited.
 */
import type { AuditLog } from '../../core/audit/log.js';
import type { PurposeBoundAnalytics } from '../../core/capabilities.js';
import { parseDuration } from '../../core/duration.js';
import { addressBytes } from '../../ingest/flow/batch.js';
import type { StateStore } from '../../store/state/store.js';
import { applyDetections, listCandidates, type RunSummary } from './candidates.js';
import { FLOW_DATASET } from '../../ingest/flow/dataset.js';
import { extractFeatures, prefixRange, type EndpointFeatures } from './features.js';
import { explain, score, type M1Model } from './model.js';
import { parseEndpoint, type CcDetectionSettings } from './settings.js';

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** The allow-list as ranges, so each endpoint is checked without string games. */
export function allowListMatcher(entries: CcDetectionSettings['scope']['allowList']): (f: EndpointFeatures) => boolean {
  const rules = entries.map((e) => {
    const p = parseEndpoint(e.endpoint);
    if (typeof p === 'string') throw new Error(p);
    const [lo, hi] = prefixRange(`${p.prefix}/${p.prefixLength}`);
    return { lo: addressBytes(lo), hi: addressBytes(hi), port: p.port };
  });
  return (f) => {
    const a = addressBytes(f.address);
    return rules.some((r) => (r.port === null || r.port === f.port) && compare(a, r.lo) >= 0 && compare(a, r.hi) <= 0);
  };
}

export interface DetectionResult extends RunSummary { endpoints: number; allowListed: number; threshold: number; flowsDeleted: number }

export async function detectOnce(ctx: {
  flows: PurposeBoundAnalytics; state: StateStore; audit: AuditLog; settings: CcDetectionSettings; model: M1Model; now: Date; actor: string;
}): Promise<DetectionResult> {
  const windowMs = parseDuration(ctx.settings.window) * 1000;
  const from = new Date(ctx.now.getTime() - windowMs);
  const features = await extractFeatures(ctx.flows, ctx.settings.scope, from, ctx.now);
  const allowed = allowListMatcher(ctx.settings.scope.allowList);
  let allowListed = 0;
  const detections = [];
  for (const f of features) {
    const s = score(ctx.model, f);
    if (s < ctx.model.threshold) continue;
    if (allowed(f)) { allowListed += 1; continue; }
    detections.push({ features: f, score: s, explanation: explain(ctx.model, f).map(({ feature, ja, en }) => ({ feature, ja, en })) });
  }
  const expireBefore = new Date(ctx.now.getTime() - parseDuration(ctx.settings.candidateExpiry) * 1000);
  const summary = await applyDetections(ctx.state, ctx.audit, detections, ctx.now, expireBefore, ctx.actor);
  // 4th summary: flows of legitimate communications are deleted after analysis. Flows older than
  // this window will not be analysed again; only the evidence of current candidates is kept.
  const current = [...await listCandidates(ctx.state, 'new'), ...await listCandidates(ctx.state, 'confirmed')];
  const flowsDeleted = await ctx.flows.deleteBefore(FLOW_DATASET.name, from, {
    columns: ['dst_addr', 'dst_port', 'proto'],
    rows: current.map((c) => [c.address.includes(':') ? c.address : `::ffff:${c.address}`, c.port, c.proto]),
  });
  return { ...summary, endpoints: features.length, allowListed, threshold: ctx.model.threshold, flowsDeleted };
}
