/**
 * What each network listener took and what it refused, in one shape for
 * /metrics and the API: the RADIUS accounting server, each measure's RPZ
 * primary, M6's dnstap receiver, the AAA's REST calls. Counts and reasons
 * only — never an address, a name or an account.
 */
import { Gauge, type Registry } from 'prom-client';

export interface ListenerStatus {
  /** What it took, by kind (packets, queries, transfers, frames, events …). */
  counts: Record<string, number>;
  /** What it refused or dropped, by reason. */
  refused: Record<string, number>;
}

/** One listener's status with its owner: a measure id, or "server" for the core's own (RADIUS). */
export interface OwnedListenerStatus extends ListenerStatus {
  owner: string;
  listener: string;
}

export function registerListenerMetrics(registry: Registry, all: () => OwnedListenerStatus[]): void {
  const gauge = (name: string, help: string, label: 'kind' | 'reason', pick: (s: ListenerStatus) => Record<string, number>) =>
    new Gauge({
      name,
      help,
      labelNames: ['owner', 'listener', label],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of all())
          for (const [k, n] of Object.entries(pick(s))) this.set({ owner: s.owner, listener: s.listener, [label]: k }, n);
      },
    });
  gauge(
    'mamori_listener_count',
    'What each listener took, by kind (counters since start; "connections" is the number open now)',
    'kind',
    (s) => s.counts,
  );
  gauge('mamori_listener_refused_total', 'What each listener refused or dropped, by reason', 'reason', (s) => s.refused);
}
