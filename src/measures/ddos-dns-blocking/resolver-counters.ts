/**
 * dnstap loss made visible: what M6 received from each resolver, beside what
 * the resolver itself counted. Unbound 1.17 drops dnstap messages when its
 * output queue is full and counts them nowhere (no dnstap counter in
 * `unbound-control stats`): its loss is its own query count minus the client
 * queries M6 received from it. BIND 9.18 counts them itself (statistics
 * channel, dnstap counters DNSTAPsuccess and DNSTAPdropped).
 */
import type { DnsEvent } from '../../ingest/dnstap/dnstap.js';

/** Per resolver identity: client queries and responses received. Bounded by the identities a site runs (at most MAX_RESOLVERS). */
export type ResolverCounts = Map<string, { queries: number; responses: number }>;

const MAX_RESOLVERS = 256;

export function countByResolver(counts: ResolverCounts, events: readonly DnsEvent[], resolver: string): void {
  let c = counts.get(resolver);
  if (!c) {
    if (counts.size >= MAX_RESOLVERS) resolver = '(other)';
    c = counts.get(resolver) ?? { queries: 0, responses: 0 };
    counts.set(resolver, c);
  }
  for (const e of events)
    if (e.kind === 'query') c.queries++;
    else c.responses++;
}

/** `unbound-control stats_noreset` output (`name=value` lines) as numbers. */
export function parseUnboundStats(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z0-9_.-]+)=([\d.]+)$/i.exec(line.trim());
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** BIND's statistics channel (`/json/v1/server`): the dnstap counters, wherever the version nests them. */
export function bindDnstapCounters(json: unknown): { success?: number; dropped?: number } {
  const found: { success?: number; dropped?: number } = {};
  const walk = (v: unknown, depth: number) => {
    if (depth > 6 || v === null || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (k === 'DNSTAPsuccess' && typeof x === 'number') found.success = x;
      else if (k === 'DNSTAPdropped' && typeof x === 'number') found.dropped = x;
      else walk(x, depth + 1);
    }
  };
  walk(json, 0);
  return found;
}

/** The share of a resolver's client queries that never reached M6 (0 when it counted none). */
export function lossShare(resolverQueries: number, received: number): number {
  return resolverQueries > 0 ? Math.max(0, (resolverQueries - received) / resolverQueries) : 0;
}
