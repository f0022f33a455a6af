/**
 * Prometheus view of the flow inlet, read from its latest status at scrape
 * time. Exporter labels are router addresses (flow.exporter, not secret);
 * no subscriber address ever becomes a label.
 */
import { Gauge, type Registry } from 'prom-client';
import type { InletStatus } from './inlet-protocol.js';

export function registerFlowMetrics(registry: Registry, status: () => InletStatus | undefined): void {
  const g = (name: string, help: string, labelNames: string[], fill: (gauge: Gauge, s: InletStatus) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        const s = status();
        if (s) fill(this, s);
      },
    });
  g('mamori_flow_datagrams_total', 'Export datagrams received, per exporter', ['exporter'], (m, s) =>
    s.exporters.forEach((e) => m.set({ exporter: e.address }, e.datagrams)),
  );
  g('mamori_flow_records_total', 'Flow records decoded, per exporter', ['exporter'], (m, s) =>
    s.exporters.forEach((e) => m.set({ exporter: e.address }, e.records)),
  );
  g('mamori_flow_templates', 'Templates known, per exporter', ['exporter'], (m, s) =>
    s.exporters.forEach((e) => m.set({ exporter: e.address }, e.templates)),
  );
  g(
    'mamori_flow_estimated_loss_total',
    'Records (v5, IPFIX) or datagrams (v9, sFlow) lost before arrival, from sequence gaps',
    ['exporter'],
    (m, s) => s.exporters.forEach((e) => m.set({ exporter: e.address }, e.estimatedLoss)),
  );
  g(
    'mamori_flow_sequence_events_total',
    'Sequence events per exporter: gaps (loss), resets (exporter restarts), outliers (corrupt numbers), late (reordered)',
    ['exporter', 'event'],
    (m, s) =>
      s.exporters.forEach((e) =>
        (['gaps', 'resets', 'outliers', 'late'] as const).forEach((event) => m.set({ exporter: e.address, event }, e.sequence[event])),
      ),
  );
  g('mamori_flow_errors_total', 'Datagrams, sets or records refused, per exporter and reason', ['exporter', 'reason'], (m, s) =>
    s.exporters.forEach((e) => Object.entries(e.errors).forEach(([reason, n]) => m.set({ exporter: e.address, reason }, n ?? 0))),
  );
  g('mamori_flow_refused_total', 'Datagrams refused before an exporter could be named', ['reason'], (m, s) =>
    Object.entries(s.unattributed).forEach(([reason, n]) => m.set({ reason }, n)),
  );
  g('mamori_flow_stored_records_total', 'Flow records written to the analytics store', [], (m, s) => m.set(s.storedRecords));
  g('mamori_flow_backlog_dropped_records_total', 'Flow records dropped because storage was behind', [], (m, s) => m.set(s.droppedRecords));
  g('mamori_flow_spool_bytes', 'Bytes of decoded flow records in the spool, waiting to be loaded into the store', [], (m, s) =>
    m.set(s.spooledBytes),
  );
  g('mamori_flow_kernel_drops_total', 'Datagrams the kernel dropped because a socket buffer was full', [], (m, s) => m.set(s.kernelDrops));
  g('mamori_flow_ring_drops_total', 'Datagrams the native receiver dropped because its ring was full (decoding behind)', [], (m, s) =>
    m.set(s.ringDrops),
  );
}
