/**
 * `mamori cc eval --real DIR`: M1 on real traffic. Real benign days (Zeek conn
 * logs of real hosts) replicated over many subscribers, each its own variation
 * (src/simulate/real-isp.ts), with real infections mixed into a few of them;
 * sent as IPFIX through the real collector into a throwaway store; features by
 * M1's SQL; scored by the model detection would use (by default the built-in
 * profile: no C&C label is given to it) beside the RITA-style beacon score and
 * fan-in, on the same endpoints in the same run.
 *
 * The directory: files whose name contains "benign" or "normal" are benign
 * days; every other conn log is an infection. An infection's C&C endpoints
 * come from its labels (Stratosphere's `Malicious` rows, those naming C&C if
 * any, never scans or attacks) or from `c2` (for unlabelled captures); an
 * infection with neither is left out, with a notice.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { openMamori } from './mamori.js';
import { parseConfig } from '../core/config.js';
import { FlowInlet, inletSettings } from '../ingest/flow/inlet.js';
import { sendIpfix } from '../simulate/ipfix-exporter.js';
import { buildRealIsp, endpointKey, labelledC2, type EndpointKey, type Infection, type RealTruth } from '../simulate/real-isp.js';
import { readZeekConn, type ZeekLog } from '../simulate/zeek-conn.js';
import { rankEndpoints } from '../measures/cc-detection/detect.js';
import { extractFeatures, MAX_GROUP, type EndpointFeatures } from '../measures/cc-detection/features.js';
import { prAuc } from '../measures/cc-detection/model.js';
import { defaultProfile, learnProfile, type ProfileModel } from '../measures/cc-detection/profile.js';
import {
  admits,
  DEFAULT_THRESHOLD,
  operatingThreshold,
  type OperatingThreshold,
  type ThresholdSetting,
} from '../measures/cc-detection/threshold.js';
import { kindOf, type AnyModel } from '../measures/cc-detection/training.js';

export interface RealEvalOptions {
  dir: string;
  /** C&C endpoints of unlabelled captures ("address:port" TCP, or "address:port/udp"). */
  c2: EndpointKey[];
  subscribers: number;
  infectedPerFamily: number;
  seed: number;
  rate: number;
  /** Only these benign days / infections (file names or parts of them); all when empty. */
  benignDays?: string[];
  families?: string[];
  /** The model to evaluate; the built-in profile when absent. */
  model?: AnyModel;
  /** How candidates are chosen, as in M1's settings (operatingThreshold); the default budget when absent. */
  threshold?: ThresholdSetting;
  /** Return the window's features and truth too (for stress tests on the same window, bench/cc-real-stress.ts). */
  keepWindow?: boolean;
  onStep?: (message: string) => void;
}

export interface MethodResult {
  name: string;
  prAuc: number;
  /** PR-AUC with one family's C&C endpoints as the positives (the other families' left out). */
  perFamily: Array<{ family: string; prAuc: number }>;
  /** Rank of each C&C endpoint among the scored ones (1 = top; ties counted against it). */
  ranks: Array<{ family: string; endpoint: string; rank: number; score: number; candidate: boolean }>;
  /** At the method's operating threshold (as a score). */
  threshold: number;
  /** Mamori's: how the threshold was chosen for this window, as detection would (threshold.ts). */
  operating?: OperatingThreshold;
  tp: number;
  fp: number;
  fn: number;
  falsePer1000Subscribers: number;
}

export interface RealEvalReport {
  subscribers: number;
  benignDays: Array<{ file: string; host: string; outbound: number; inbound: number }>;
  infections: Array<{ file: string; family: string; host: string; c2: string[]; infectedSubscribers: number; source: 'labels' | 'given' }>;
  leftOut: string[];
  records: number;
  dropped: number;
  endpoints: number;
  /** Endpoints not scored: other traffic of infected hosts (DGA look-ups, parked domains…), neither C&C nor background. */
  excluded: number;
  positives: number;
  methods: MethodResult[];
  /** The model's top of the list, for the report. */
  top: Array<{
    rank: number;
    endpoint: string;
    truth: RealTruth;
    family?: string;
    score: number;
    evidence?: number;
    clients: number;
    summary: string;
    explanation: string[];
  }>;
  /**
   * Scored endpoints (10+ contacts) whose 2–64 subscribers reach, all of them and no other, another network too
   * (the shared-group term): how often a benign endpoint gets it here, beside the C&C endpoints.
   */
  sharedGroup: { benign: number; cc: number; eligibleBenign: number };
  /** A profile learnt from this run's labels (positive-unlabelled), for `--save-model`. */
  learnt: ProfileModel;
  /** With keepWindow: every endpoint of the window and what it is. */
  window?: { features: EndpointFeatures[]; truth: Array<{ truth: RealTruth; family?: string }> };
}

const BENIGN = /benign|normal/i;

/** "a.b.c.d:port", "[v6]:port", optionally "/udp" or "/tcp". */
export function parseC2Endpoint(text: string): EndpointKey | string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})(?:\/(tcp|udp))?$/.exec(text.trim());
  if (!m) return `"${text}" is not an endpoint: write ADDRESS:PORT, [IPv6]:PORT, optionally /udp`;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return `"${text}": port ${port} is out of range`;
  return { address: (m[1] ?? m[2])!, port, proto: m[4] === 'udp' ? 17 : 6 };
}

function wanted(file: string, names: string[] | undefined): boolean {
  return !names || names.length === 0 || names.some((n) => basename(file).includes(n));
}

/** Reads DIR: benign days and infections with their C&C endpoints. */
export function readRealDir(
  dir: string,
  c2: EndpointKey[],
  benignNames?: string[],
  familyNames?: string[],
): {
  benign: ZeekLog[];
  infections: Array<Infection & { source: 'labels' | 'given' }>;
  leftOut: string[];
} {
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => /conn.*\.log/.test(f) && statSync(join(dir, f)).isFile())
      .sort();
  } catch (err) {
    throw new Error(`cannot read ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const benign: ZeekLog[] = [];
  const infections: Array<Infection & { source: 'labels' | 'given' }> = [];
  const leftOut: string[] = [];
  const given = new Set(c2.map(endpointKey));
  for (const f of files) {
    const path = join(dir, f);
    if (BENIGN.test(f)) {
      if (wanted(f, benignNames)) benign.push(readZeekConn(path));
      continue;
    }
    if (!wanted(f, familyNames)) continue;
    const log = readZeekConn(path);
    const named = new Map<string, EndpointKey>();
    for (const c of log.conns) {
      const e = { address: c.respH, port: c.respP, proto: c.proto };
      if (given.has(endpointKey(e))) named.set(endpointKey(e), e);
    }
    const fromLabels = log.labelled ? labelledC2(log) : [];
    const endpoints = named.size > 0 ? [...named.values()] : fromLabels;
    if (endpoints.length === 0) {
      leftOut.push(`${f}: ${log.labelled ? 'no C&C among its labels' : 'no labels'} and no --c2 endpoint it contacts: left out`);
      continue;
    }
    const name = f.replace(/\.conn.*$/, '').replace(/\.log.*$/, '');
    infections.push({ name, log, c2: endpoints, source: named.size > 0 ? 'given' : 'labels' });
  }
  if (benign.length === 0) throw new Error(`${dir}: no benign day (a conn log whose name contains "benign" or "normal")`);
  if (infections.length === 0) {
    throw new Error(`${dir}: no infection with known C&C endpoints${leftOut.length ? ` (${leftOut.join('; ')})` : ''}`);
  }
  return { benign, infections, leftOut };
}

/** Metrics of one ranking: ties count against the C&C endpoint; excluded endpoints are not in the list. */
type Row = { key: string; family?: string | undefined; y: number; score: number; tie: number };

function measure(
  name: string,
  rows: Row[],
  threshold: number,
  subscribers: number,
  flags: (r: Row) => boolean = (r) => r.score >= threshold,
): MethodResult {
  const sorted = [...rows].sort((a, b) => b.score - a.score || b.tie - a.tie || a.y - b.y);
  const ranks = rows
    .filter((r) => r.y === 1)
    .map((r) => ({
      family: r.family ?? '',
      endpoint: r.key,
      score: r.score,
      candidate: flags(r),
      rank: 1 + rows.filter((o) => o !== r && (o.score > r.score || (o.score === r.score && o.tie >= r.tie))).length,
    }))
    .sort((a, b) => a.rank - b.rank);
  const flagged = rows.filter(flags);
  const tp = flagged.filter((r) => r.y === 1).length;
  const fp = flagged.length - tp;
  const ap = (rs: typeof sorted) =>
    prAuc(
      rs.map((_, i) => rs.length - i),
      rs.map((r) => r.y),
    );
  const families = [...new Set(rows.filter((r) => r.y === 1).map((r) => r.family ?? ''))].sort();
  return {
    name,
    prAuc: ap(sorted),
    ranks,
    threshold,
    tp,
    fp,
    perFamily: families.map((fam) => ({ family: fam, prAuc: ap(sorted.filter((r) => r.y === 0 || r.family === fam)) })),
    fn: rows.filter((r) => r.y === 1).length - tp,
    falsePer1000Subscribers: (fp * 1000) / subscribers,
  };
}

/** Lowest threshold whose precision on this very run is 1 (generous to a baseline: chosen on the test data). */
function bestThreshold(scores: number[], labels: number[]): number {
  const pos = scores.filter((_, i) => labels[i] === 1);
  if (pos.length === 0) return Infinity;
  for (const t of [...new Set(scores)].sort((a, b) => a - b)) {
    const fp = scores.some((s, i) => s >= t && labels[i] === 0);
    if (!fp && pos.some((s) => s >= t)) return t;
  }
  return Infinity;
}

export async function evaluateReal(o: RealEvalOptions): Promise<RealEvalReport> {
  const { benign, infections, leftOut } = readRealDir(o.dir, o.c2, o.benignDays, o.families);
  for (const l of leftOut) o.onStep?.(l);
  const start = new Date(Date.UTC(2026, 0, 1));
  const isp = buildRealIsp({
    seed: o.seed,
    subscribers: o.subscribers,
    start,
    benignDays: benign,
    infections,
    infectedPerFamily: o.infectedPerFamily,
  });
  const dir = mkdtempSync(join(tmpdir(), 'mamori-eval-real-'));
  // M1 enabled on this replicated traffic only, in a throwaway directory; its hourly job is not started.
  const scopeYaml = JSON.stringify(isp.subscriberPrefixes);
  const yaml = `dataDir: ${JSON.stringify(dir)}\nmeasures:\n  cc-detection: { enabled: true, scope: { subscriberPrefixes: ${scopeYaml} } }`;
  const config = parseConfig(yaml, 'evaluation');
  const mamori = await openMamori(config, { analytics: true });
  const listeners = [{ host: '127.0.0.1', port: 0 }];
  const inlet = await FlowInlet.start({ analytics: mamori.analytics!, audit: mamori.audit }, { ...inletSettings(config), listeners });
  try {
    const what = `${benign.length} benign days, ${infections.length} infections × ${o.infectedPerFamily}`;
    o.onStep?.(`sending ${o.subscribers} subscribers' day (${what}) as IPFIX`);
    const sent = await sendIpfix(isp.flows(), '127.0.0.1', inlet.addresses[0]!.port, o.rate);
    await inlet.flush();
    const st = inlet.status();
    const dropped = st.kernelDrops + st.ringDrops + st.droppedRecords;
    if (dropped > 0) throw new Error(`the collector dropped ${dropped} datagrams/records: lower --rate`);
    const handle = await mamori.broker.forMeasure('cc-detection').analyticsRead(['flows']);
    o.onStep?.('features');
    const scope = { subscriberPrefixes: isp.subscriberPrefixes, infrastructurePrefixes: [] };
    const features = await extractFeatures(handle, scope, start, new Date(start.getTime() + 86_400_000));
    const truth = features.map((f) => isp.truthOf(f));
    const keep = features.map((_, i) => truth[i]!.truth !== 'infection-other');
    const kept = features.filter((_, i) => keep[i]);
    const keptTruth = truth.filter((_, i) => keep[i]);
    const y = keptTruth.map((t) => (t.truth === 'cc' ? 1 : 0));
    const key = (f: EndpointFeatures) => `${f.address}:${f.port}/${f.proto === 17 ? 'udp' : f.proto === 6 ? 'tcp' : `proto-${f.proto}`}`;
    const model = o.model ?? defaultProfile();

    // The model scores the whole window (its population includes the excluded endpoints, as in production).
    const ranked = rankEndpoints(model, features);
    const byKey = new Map(ranked.map((r, i) => [key(r.features), { r, i }]));
    const rows = (scores: (f: EndpointFeatures, i: number) => { score: number; tie: number }) =>
      kept.map((f, i) => ({
        key: key(f),
        family: keptTruth[i]!.family,
        y: y[i]!,
        ...scores(f, i),
      }));
    // Candidates as detection would choose them in this window: its scored endpoints, its active subscribers.
    const operating = operatingThreshold(
      model,
      { scored: ranked.filter((r) => r.score > 0).length, subscribers: features[0]?.subscribers ?? 0 },
      o.threshold ?? DEFAULT_THRESHOLD,
    );
    const mamoriRows = rows((f) => {
      const r = byKey.get(key(f))!.r;
      return { score: r.score, tie: r.evidence ?? 0 };
    });
    const beaconRows = rows((f) => ({ score: f.beaconScore, tie: 0 }));
    const fanRows = rows((f) => ({ score: f.clients, tie: 0 }));
    const methods = [
      {
        ...measure(
          o.model ? `Mamori, ${kindOf(model)} model from a file` : 'Mamori',
          mamoriRows,
          operating.score,
          o.subscribers,
          // tie is the evidence for the profile (undefined for a forest, which admits by score).
          (r) => admits(operating, { score: r.score, evidence: kindOf(model) === 'profile' ? r.tie : undefined }),
        ),
        operating,
      },
      measure(
        'beacon score (RITA-style)',
        beaconRows,
        bestThreshold(
          beaconRows.map((r) => r.score),
          y,
        ),
        o.subscribers,
      ),
      measure(
        'fan-in',
        fanRows,
        bestThreshold(
          fanRows.map((r) => r.score),
          y,
        ),
        o.subscribers,
      ),
    ];
    const top = ranked
      .filter((r) => isp.truthOf(r.features).truth !== 'infection-other')
      .slice(0, 10)
      .map((r, i) => {
        const t = isp.truthOf(r.features);
        return {
          rank: i + 1,
          endpoint: key(r.features),
          truth: t.truth,
          ...(t.family ? { family: t.family } : {}),
          score: r.score,
          ...(r.evidence !== undefined ? { evidence: r.evidence } : {}),
          clients: r.features.clients,
          summary: r.detection.summary?.en ?? '',
          explanation: r.detection.explanation.map((e) => e.en),
        };
      });
    const grouped = (f: EndpointFeatures) => f.flows >= 10 && f.clients >= 2 && f.clients <= MAX_GROUP && f.sharedClientNetworks > 0;
    const sharedGroup = {
      benign: kept.filter((f, i) => y[i] === 0 && grouped(f)).length,
      cc: kept.filter((f, i) => y[i] === 1 && grouped(f)).length,
      eligibleBenign: kept.filter((f, i) => y[i] === 0 && f.flows >= 10).length,
    };
    // What labels from this run would teach the profile (positive-unlabelled): for `--save-model`.
    const learnt = learnProfile(defaultProfile(), [{ features, labels: truth.map((t) => (t.truth === 'cc' ? 1 : null)) }]);
    return {
      subscribers: o.subscribers,
      benignDays: isp.hosts
        .filter((h) => benign.some((b) => b.file === h.file))
        .map((h) => ({ file: basename(h.file), host: h.host, outbound: h.outbound, inbound: h.inbound })),
      infections: infections.map((inf) => ({
        file: basename(inf.log.file),
        family: inf.name,
        host: isp.hosts.find((h) => h.file === inf.log.file)!.host,
        c2: inf.c2.map((e) => `${e.address}:${e.port}/${e.proto === 17 ? 'udp' : 'tcp'}`),
        infectedSubscribers: isp.infected.get(inf.name)!.length,
        source: inf.source,
      })),
      leftOut,
      records: sent.records,
      dropped,
      endpoints: kept.length,
      excluded: features.length - kept.length,
      positives: y.filter(Boolean).length,
      methods,
      top,
      learnt,
      sharedGroup,
      ...(o.keepWindow ? { window: { features, truth } } : {}),
    };
  } finally {
    await inlet.stop();
    await mamori.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
