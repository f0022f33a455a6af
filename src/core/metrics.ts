/**
 * Prometheus metrics. Labels are routes, measures, datasets and outcomes —
 * never addresses, names or accounts from a measure's data.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MeasureRegistry } from './registry.js';

export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'mamori_http_requests_total',
    help: 'HTTP requests by route pattern, method and status',
    labelNames: ['route', 'method', 'status'],
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'mamori_http_request_duration_seconds',
    help: 'HTTP request duration by route pattern',
    labelNames: ['route'],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly auditHeadSeq = new Gauge({
    name: 'mamori_audit_head_seq',
    help: 'Sequence number of the newest audit entry',
    registers: [this.registry],
  });
  readonly auditAnchorSeq = new Gauge({
    name: 'mamori_audit_anchor_seq',
    help: 'Sequence number of the newest audit anchor',
    registers: [this.registry],
  });
  readonly auditEntries = new Counter({
    name: 'mamori_audit_entries_total',
    help: 'Audit entries appended by this process, by action and outcome',
    labelNames: ['action', 'outcome'],
    registers: [this.registry],
  });
  readonly retentionDeleted = new Counter({
    name: 'mamori_retention_deleted_rows_total',
    help: 'Rows deleted by the retention job',
    labelNames: ['dataset'],
    registers: [this.registry],
  });
  readonly loginFailures = new Counter({ name: 'mamori_login_failures_total', help: 'Failed logins', registers: [this.registry] });
  readonly loginThrottled = new Counter({
    name: 'mamori_login_throttled_total',
    help: 'Logins refused unchecked (429) because of earlier failures, by address or account',
    labelNames: ['by'],
    registers: [this.registry],
  });
  readonly measureState = new Gauge({
    name: 'mamori_measure_state',
    help: '1 for the state each declared measure is in',
    labelNames: ['measure', 'code', 'state'],
    registers: [this.registry],
  });

  constructor(measures?: MeasureRegistry) {
    collectDefaultMetrics({ register: this.registry, prefix: 'mamori_' });
    for (const s of measures?.list() ?? []) {
      for (const state of ['not-available', 'disabled', 'enabled'] as const) {
        this.measureState.set({ measure: s.declaration.id, code: s.declaration.code, state }, s.state === state ? 1 : 0);
      }
    }
  }
}
