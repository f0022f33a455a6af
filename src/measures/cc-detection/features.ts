/**
 * M1's features: one row per external endpoint (address, port, protocol) over
 * a window of flows, computed by the analytics engine in one SQL statement
 * through M1's purpose-bound handle. Per-subscriber intermediate rows never
 * leave the engine: only aggregates over all of an endpoint's clients come
 * back, so no result can say which subscriber talked to which endpoint.
 * docs/en/cc-detection.md explains each feature and why it separates C&C
 * servers from benign services.
 */
import type { PurposeBoundAnalytics } from '../../core/capabilities.js';
import { FLOW_DATASET } from '../../ingest/flow/dataset.js';
import { prefixBounds } from '../../ingest/address.js';
import { parsePrefix } from '../../share/labels.js';
import { unmapIPv4 } from '../../core/net-address.js';

export interface EndpointFeatures {
  address: string;
  port: number;
  proto: number;
  /** Distinct subscriber clients (fan-in). */
  clients: number;
  flows: number;
  flowsPerClient: number;
  /** Share of clients (with ≥ 4 contacts) whose contacts are periodic (MAD of gaps ≤ 10% of the median gap). */
  periodicShare: number;
  /** Median inter-contact gap of periodic clients, seconds (0 if none). */
  periodSeconds: number;
  /** Median over clients of MAD/median of their gaps (low = regular). */
  gapDispersion: number;
  /** RITA-style beacon score of the median client (0–1). */
  beaconScore: number;
  /** Coefficient of variation of bytes and packets per flow (low = identical messages). */
  bytesCv: number;
  packetsCv: number;
  meanBytesPerFlow: number;
  medianDurationSeconds: number;
  p90DurationSeconds: number;
  /** Distinct hours of the window with a contact. */
  hoursActive: number;
  /** Mean over clients of the distinct hours in which each contacted the endpoint ("contacts an active hour" = flowsPerClient ÷ this). */
  clientHours: number;
  /** Hours from the window's start to the endpoint's first contact in it. */
  firstSeenHours: number;
  /** Clients seen in the window's second half that were not in its first, over all clients. */
  clientGrowth: number;
  /** TCP flows that never got past SYN (refused or unanswered), over TCP flows. */
  failedShare: number;
  /** 1 − (endpoints on this port ÷ endpoints on the busiest port): high for rare ports. */
  portRarity: number;
  /** Clients of other endpoints on this port and protocol (a sum over those endpoints: 0 = nobody else uses the port). */
  portOtherClients: number;
  /** Clients of other endpoints of the same network (/24, IPv6 /48) on this port and protocol (a sum, as above). */
  netOtherClients: number;
  /** Other endpoints of the same network on this port and protocol. */
  netOtherEndpoints: number;
  /**
   * Subscribers, other than this endpoint's own clients, that reach any server of its wider network (IPv4 /16,
   * IPv6 /32) on any port: 0 = a network this ISP's population otherwise never touches (novelty).
   */
  wideNetOtherClients: number;
  /** Clients that also tried 32 or more other addresses without ever completing a handshake (scanning): an infection's symptom. */
  scanningClients: number;
  /** Bytes sent to the endpoint per client (uploads). */
  sentBytesPerClient: number;
  /** Distinct subscribers that sent anything in the window: the population the endpoint is judged against. */
  subscribers: number;
  /** Length of the window, hours (contacts "a day" = flowsPerClient × 24 ÷ windowHours). */
  windowHours: number;
  /** Bytes from the endpoint back to clients over bytes sent to it (0 when no return flows). */
  returnRatio: number;
  /**
   * Other endpoints in the same network (/24, IPv6 /48) on the same port and protocol whose
   * clients contact them periodically at a similar period (within ±25%): a server farm.
   */
  farmSiblings: number;
  /**
   * Other networks (/24, IPv6 /48) with an endpoint reached by exactly the same subscribers as this one, when it has
   * 2 to 64 clients: bots of one botnet share their C&C servers, fallbacks and DGA look-ups (BotMiner's premise).
   */
  sharedClientNetworks: number;
}

export interface Scope {
  subscriberPrefixes: readonly string[];
  infrastructurePrefixes: readonly string[];
}

/** Distinct addresses a subscriber tries without ever completing a handshake before it counts as scanning. */
export const SCAN_ADDRESSES = 32;

/** Largest group of clients compared as a set (a botnet inside one ISP's window is usually far smaller). */
export const MAX_GROUP = 64;

/** [low, high] of a prefix as IPv6 text (IPv4 mapped), for range tests in the engine. */
export function prefixRange(text: string): [string, string] {
  const p = parsePrefix(text);
  if (typeof p === 'string') throw new Error(p);
  const text6 = (x: Uint8Array) => Array.from({ length: 8 }, (_, i) => ((x[i * 2]! << 8) | x[i * 2 + 1]!).toString(16)).join(':');
  const [lo, hi] = prefixBounds(p.address, p.prefixLength);
  return [text6(lo), text6(hi)];
}

function inRanges(column: string, ranges: Array<[string, string]>, params: Record<string, string | number>, tag: string): string {
  if (ranges.length === 0) return '0';
  return ranges
    .map(([lo, hi], i) => {
      params[`${tag}lo${i}`] = lo;
      params[`${tag}hi${i}`] = hi;
      return `(${column} BETWEEN toIPv6({${tag}lo${i}:String}) AND toIPv6({${tag}hi${i}:String}))`;
    })
    .join(' OR ');
}

/** The one statement, with its parameters. Exported for tests and for `docs/`. */
export function featureQuery(table: string, scope: Scope, from: Date, to: Date): { sql: string; params: Record<string, unknown> } {
  if (scope.subscriberPrefixes.length === 0)
    throw new Error('scope.subscriberPrefixes is empty: M1 cannot tell subscribers from the rest of the Internet');
  const iso = (d: Date) => d.toISOString().replace('Z', '');
  const params: Record<string, string | number> = {
    from: iso(from),
    to: iso(to),
    mid: iso(new Date((from.getTime() + to.getTime()) / 2)),
    hours: (to.getTime() - from.getTime()) / 3_600_000,
  };
  const subs = scope.subscriberPrefixes.map(prefixRange);
  const internal = [...subs, ...scope.infrastructurePrefixes.map(prefixRange)];
  const window = `start >= toDateTime64({from:String}, 3, 'UTC') AND start < toDateTime64({to:String}, 3, 'UTC')`;
  const srcSub = inRanges('src_addr', subs, params, 's');
  const dstInternal = inRanges('dst_addr', internal, params, 'd');
  const dstSub = inRanges('dst_addr', subs, params, 'rs');
  const srcInternal = inRanges('src_addr', internal, params, 'rd');
  const sql = `
WITH
  fwd AS (
    SELECT src_addr AS client, dst_addr AS ip, dst_port AS port, proto, start, end, bytes, packets, tcp_flags
    FROM ${table}
    WHERE ${window} AND (${srcSub}) AND NOT (${dstInternal})
  ),
  rev AS (
    SELECT src_addr AS ip, src_port AS port, proto, sum(bytes) AS return_bytes
    FROM ${table}
    WHERE ${window} AND (${dstSub}) AND NOT (${srcInternal})
    GROUP BY ip, port, proto
  ),
  -- Symptoms of an infection in M1's own flows: a subscriber that tries many addresses and never
  -- completes a handshake is scanning. Only counted per endpoint, never reported per subscriber.
  scanners AS (
    SELECT client FROM fwd WHERE proto = 6 AND bitAnd(tcp_flags, 0x12) = 0x02
    GROUP BY client HAVING uniqExact(ip) >= ${SCAN_ADDRESSES}
  ),
  per_client AS (
    SELECT ip, port, proto, client,
      count() AS n,
      arraySort(groupArray(toUnixTimestamp64Milli(start))) AS ts,
      arrayPopFront(arrayDifference(ts)) AS gaps,
      if(length(gaps) >= 3, arrayReduce('median', gaps), 0) AS gap_med,
      if(length(gaps) >= 3, arrayReduce('median', arrayMap(g -> abs(g - gap_med), gaps)), 0) AS gap_mad,
      if(length(gaps) >= 3, arrayReduce('quantileExact(0.25)', gaps), 0) AS q1,
      if(length(gaps) >= 3, arrayReduce('quantileExact(0.75)', gaps), 0) AS q3,
      n >= 4 AND gap_med >= 1000 AND gap_mad <= 0.1 * gap_med AS periodic,
      -- RITA-style beacon score: symmetric gaps (Bowley skew), small dispersion, enough contacts.
      if(length(gaps) >= 3,
        ((1 - abs(if(q3 - q1 > 0, (q1 + q3 - 2 * gap_med) / (q3 - q1), 0)))
         + greatest(0, 1 - if(gap_med > 0, gap_mad / gap_med, 1))
         + least(1, n / 10)) / 3,
        0) AS beacon,
      client IN scanners AS scanning,
      length(arrayDistinct(arrayMap(t -> intDiv(t, 3600000), ts))) AS client_hours,
      min(start) < toDateTime64({mid:String}, 3, 'UTC') AS in_first_half,
      max(start) >= toDateTime64({mid:String}, 3, 'UTC') AS in_second_half
    FROM fwd
    GROUP BY ip, port, proto, client
  ),
  by_client AS (
    SELECT ip, port, proto,
      count() AS clients,
      sum(n) AS flows,
      countIf(periodic) / greatest(1, countIf(n >= 4)) AS periodic_share,
      if(countIf(periodic) > 0, medianIf(gap_med, periodic) / 1000, 0) AS period_s,
      medianIf(if(gap_med > 0, gap_mad / gap_med, 1), length(gaps) >= 3) AS gap_dispersion,
      median(beacon) AS beacon_score,
      countIf(in_second_half AND NOT in_first_half) / count() AS client_growth,
      countIf(scanning) AS scanning_clients,
      avg(client_hours) AS client_hours_avg,
      -- The exact set of clients, hashed (never returned): equal sets across networks are a shared group of victims.
      if(count() BETWEEN 2 AND ${MAX_GROUP}, cityHash64(arraySort(groupArray(${MAX_GROUP})(client))), 0) AS client_set
    FROM per_client
    GROUP BY ip, port, proto
  ),
  by_flow AS (
    SELECT ip, port, proto,
      if(avg(bytes) > 0, stddevPop(bytes) / avg(bytes), 0) AS bytes_cv,
      if(avg(packets) > 0, stddevPop(packets) / avg(packets), 0) AS packets_cv,
      avg(bytes) AS mean_bytes,
      quantileExact(0.5)(toUnixTimestamp64Milli(end) - toUnixTimestamp64Milli(start)) / 1000 AS dur_med,
      quantileExact(0.9)(toUnixTimestamp64Milli(end) - toUnixTimestamp64Milli(start)) / 1000 AS dur_p90,
      uniqExact(toStartOfHour(start)) AS hours_active,
      (toUnixTimestamp64Milli(min(start)) - toUnixTimestamp64Milli(toDateTime64({from:String}, 3, 'UTC'))) / 3600000 AS first_seen_h,
      countIf(proto = 6 AND bitAnd(tcp_flags, 0x12) = 0x02) / greatest(1, countIf(proto = 6)) AS syn_only_share,
      sum(bytes) AS sent_bytes
    FROM fwd
    GROUP BY ip, port, proto
  ),
  ports AS (
    SELECT port, proto, uniqExact(ip) AS endpoints FROM fwd GROUP BY port, proto
  ),
  -- Distinct subscribers reaching each wider network (IPv4 /16, IPv6 /32) on any port or protocol.
  wide_nets AS (
    SELECT cutIPv6(ip, 12, 2) AS net, uniqExact(client) AS net_subscribers FROM fwd GROUP BY net
  ),
  population AS (SELECT uniqExact(client) AS subscribers FROM fwd)
-- Benign services at scale answer from farms (NTP pools, push and update servers): several
-- addresses of one network with the same port and rhythm. Windows over the result count them,
-- and what else uses the port and the network, so the per-client aggregation above is computed once.
SELECT * EXCEPT (farm_periods, net_clients, net_endpoints, port_clients, client_set, set_networks),
  if(period_s > 0, arrayCount(p -> p >= period_s * 0.8 AND p <= period_s * 1.25, farm_periods) - 1, 0) AS farm_siblings,
  port_clients - clients AS port_other_clients,
  net_clients - clients AS net_other_clients,
  net_endpoints - 1 AS net_other_endpoints,
  if(client_set != 0, set_networks - 1, 0) AS shared_client_networks
FROM (
SELECT
  IPv6NumToString(c.ip) AS address, c.port AS port, c.proto AS proto,
  c.clients AS clients, c.flows AS flows, c.flows / c.clients AS flows_per_client,
  c.periodic_share AS periodic_share, c.period_s AS period_s, c.gap_dispersion AS gap_dispersion, c.beacon_score AS beacon_score,
  f.bytes_cv AS bytes_cv, f.packets_cv AS packets_cv, f.mean_bytes AS mean_bytes, f.dur_med AS dur_med, f.dur_p90 AS dur_p90,
  f.hours_active AS hours_active, f.first_seen_h AS first_seen_h, c.client_growth AS client_growth,
  f.syn_only_share AS failed_share,
  1 - p.endpoints / (SELECT max(endpoints) FROM ports) AS port_rarity,
  if(f.sent_bytes > 0, coalesce(r.return_bytes, 0) / f.sent_bytes, 0) AS return_ratio,
  f.sent_bytes / c.clients AS sent_bytes_per_client,
  c.scanning_clients AS scanning_clients, c.client_hours_avg AS client_hours,
  -- Every client of the endpoint reaches its network: the rest are the other subscribers there.
  w.net_subscribers - c.clients AS wide_net_other_clients,
  (SELECT subscribers FROM population) AS subscribers,
  {hours:Float64} AS window_hours,
  groupArray(c.period_s) OVER (PARTITION BY cutIPv6(c.ip, 10, 1), c.port, c.proto) AS farm_periods,
  sum(c.clients) OVER (PARTITION BY cutIPv6(c.ip, 10, 1), c.port, c.proto) AS net_clients,
  count() OVER (PARTITION BY cutIPv6(c.ip, 10, 1), c.port, c.proto) AS net_endpoints,
  sum(c.clients) OVER (PARTITION BY c.port, c.proto) AS port_clients,
  c.client_set AS client_set,
  uniqExact(cutIPv6(c.ip, 10, 1)) OVER (PARTITION BY c.client_set) AS set_networks
FROM by_client AS c
INNER JOIN by_flow AS f ON c.ip = f.ip AND c.port = f.port AND c.proto = f.proto
INNER JOIN ports AS p ON c.port = p.port AND c.proto = p.proto
LEFT JOIN rev AS r ON c.ip = r.ip AND c.port = r.port AND c.proto = r.proto
INNER JOIN wide_nets AS w ON cutIPv6(c.ip, 12, 2) = w.net
)
ORDER BY clients DESC, address, port
SETTINGS join_use_nulls = 1`;
  return { sql, params };
}

/** Runs the feature statement through M1's handle (parsed, checked, tagged and audited by the core). */
export async function extractFeatures(flows: PurposeBoundAnalytics, scope: Scope, from: Date, to: Date): Promise<EndpointFeatures[]> {
  const { sql, params } = featureQuery(flows.table(FLOW_DATASET.name), scope, from, to);
  const rows = await flows.query<Record<string, string | number>>(sql, params);
  const num = (v: unknown) => (v === null || v === undefined ? 0 : Number(v));
  return rows.map((r) => ({
    address: unmapIPv4(String(r.address)),
    port: num(r.port),
    proto: num(r.proto),
    clients: num(r.clients),
    flows: num(r.flows),
    flowsPerClient: num(r.flows_per_client),
    periodicShare: num(r.periodic_share),
    periodSeconds: num(r.period_s),
    gapDispersion: num(r.gap_dispersion),
    beaconScore: num(r.beacon_score),
    bytesCv: num(r.bytes_cv),
    packetsCv: num(r.packets_cv),
    meanBytesPerFlow: num(r.mean_bytes),
    medianDurationSeconds: num(r.dur_med),
    p90DurationSeconds: num(r.dur_p90),
    hoursActive: num(r.hours_active),
    firstSeenHours: num(r.first_seen_h),
    clientGrowth: num(r.client_growth),
    failedShare: num(r.failed_share),
    portRarity: num(r.port_rarity),
    returnRatio: num(r.return_ratio),
    farmSiblings: num(r.farm_siblings),
    portOtherClients: num(r.port_other_clients),
    netOtherClients: num(r.net_other_clients),
    netOtherEndpoints: num(r.net_other_endpoints),
    wideNetOtherClients: num(r.wide_net_other_clients),
    scanningClients: num(r.scanning_clients),
    sentBytesPerClient: num(r.sent_bytes_per_client),
    subscribers: num(r.subscribers),
    windowHours: num(r.window_hours),
    clientHours: num(r.client_hours),
    sharedClientNetworks: num(r.shared_client_networks),
  }));
}
