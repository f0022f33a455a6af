/**
 * A candidate's activity for the console's evidence charts: per hour of the window ending at its last
 * detection, the contacts subscribers made to the endpoint and how many distinct subscribers made them.
 * Counts only, computed in the engine through M1's purpose-bound handle: no subscriber address leaves it.
 */
import type { PurposeBoundAnalytics } from '../../core/capabilities.js';
import { FLOW_DATASET } from '../../ingest/flow/dataset.js';
import { prefixRange, type Scope } from './features.js';

export interface HourActivity {
  /** Start of the hour (UTC, ISO 8601). */
  hour: string;
  contacts: number;
  subscribers: number;
}

/** Every hour of [from, to), zero where the endpoint had no contact, oldest first. */
export async function endpointActivity(
  flows: PurposeBoundAnalytics,
  scope: Scope,
  endpoint: { address: string; port: number; proto: number },
  from: Date,
  to: Date,
): Promise<HourActivity[]> {
  if (scope.subscriberPrefixes.length === 0) return [];
  const iso = (d: Date) => d.toISOString().replace('Z', '');
  // IPv4 endpoints are stored IPv4-mapped, as the flow table stores every address.
  const ip = endpoint.address.includes(':') ? endpoint.address : `::ffff:${endpoint.address}`;
  const params: Record<string, string | number> = { from: iso(from), to: iso(to), ip, port: endpoint.port, proto: endpoint.proto };
  const subs = scope.subscriberPrefixes.map(prefixRange).map(([lo, hi], i) => {
    params[`lo${i}`] = lo;
    params[`hi${i}`] = hi;
    return `(src_addr BETWEEN toIPv6({lo${i}:String}) AND toIPv6({hi${i}:String}))`;
  });
  const rows = await flows.query<{ hour: string; contacts: string | number; subscribers: string | number }>(
    `SELECT formatDateTime(toStartOfHour(start), '%Y-%m-%dT%H:00:00Z', 'UTC') AS hour, count() AS contacts,
       uniqExact(src_addr) AS subscribers
     FROM ${flows.table(FLOW_DATASET.name)}
     WHERE start >= toDateTime64({from:String}, 3, 'UTC') AND start < toDateTime64({to:String}, 3, 'UTC')
       AND dst_addr = toIPv6({ip:String}) AND dst_port = {port:UInt16} AND proto = {proto:UInt8} AND (${subs.join(' OR ')})
     GROUP BY hour ORDER BY hour`,
    params,
  );
  const byHour = new Map(rows.map((r) => [r.hour, r]));
  const out: HourActivity[] = [];
  const first = Math.floor(from.getTime() / 3_600_000) * 3_600_000;
  // Bounded: the window is hours long (a setting), one row per hour.
  for (let t = first; t < to.getTime() && out.length < 24 * 31; t += 3_600_000) {
    const hour = new Date(t).toISOString().replace(/:\d\d\.\d{3}Z$/, ':00Z');
    const r = byHour.get(hour);
    out.push({ hour, contacts: Number(r?.contacts ?? 0), subscribers: Number(r?.subscribers ?? 0) });
  }
  return out;
}
