/**
 * What the collector knows of each exporter (router): its templates, sampling
 * rates, sequence numbers and counts of records, errors and estimated loss.
 * Everything here is bounded: exporters, templates per exporter, held data.
 */
import type { Template } from './templates.js';

export const DROP_REASONS = [
  'truncated', 'bad-version', 'bad-length', 'bad-template', 'too-many-templates', 'no-template',
  'bad-sample', 'unknown-exporter', 'too-many-exporters', 'too-many-domains', 'storage-backlog', 'staging-failed', 'decoder-error',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export const LIMITS = {
  exporters: 10_000,
  /** Source ids / observation domains / sFlow sub-agents per exporter. */
  domainsPerExporter: 256,
  templatesPerExporter: 2_048,
  fieldsPerTemplate: 512,
  /** Data sets held per exporter while waiting for their template. */
  heldSetsPerExporter: 64,
  heldBytesPerExporter: 256 * 1024,
  /** How long data waits for its template before it is dropped. */
  holdMs: 10_000,
  samplersPerExporter: 1_024,
} as const;

/** A sequence stream: v5 counts flows, v9 datagrams, IPFIX data records, sFlow datagrams. */
export class SequenceTracker {
  private expected: number | undefined;
  lost = 0;
  resets = 0;

  /** `seq` as received and how far it advances the sequence. */
  observe(seq: number, advance: number): void {
    if (this.expected !== undefined && seq !== this.expected) {
      const gap = (seq - this.expected) >>> 0;
      // A gap of more than 2^31 is an exporter restart or reordering, not loss.
      if (gap < 0x80000000) this.lost += gap; else this.resets += 1;
    }
    this.expected = (seq + advance) >>> 0;
  }
}

export interface HeldSet { templateId: number; data: Buffer; receivedMs: number; header: { unixMs: number; uptimeMs: number } }

/** Templates and samplers of one observation domain (v9 source id / IPFIX domain). */
export class Domain {
  readonly templates = new Map<number, Template>();
  /** Options templates: only their layout is needed to read sampler options. */
  readonly samplerRates = new Map<number, number>();
  /** A sampling rate announced for the whole domain (options with no sampler id). */
  defaultRate = 0;
  readonly sequence = new SequenceTracker();
  held: HeldSet[] = [];
  heldBytes = 0;
  /** IPFIX systemInitTimeMilliseconds, for relative timestamps. */
  systemInitMs = 0;
}

export class Exporter {
  readonly domains = new Map<number, Domain>();
  lastSeen = 0;
  datagrams = 0;
  records = 0;
  readonly errors = new Map<DropReason, number>();
  /** Protocols seen from this exporter: netflow5, netflow9, ipfix, sflow5. */
  readonly versions = new Set<string>();

  /** @param holdMs how long data waits for its template (0: drop at once, as nfcapd does). */
  constructor(readonly address: string, readonly holdMs: number = LIMITS.holdMs) {}

  /** The domain's state, or undefined (counted) when the exporter already has as many as allowed. */
  domain(id: number): Domain | undefined {
    let d = this.domains.get(id);
    if (!d) {
      if (this.domains.size >= LIMITS.domainsPerExporter) { this.error('too-many-domains'); return undefined; }
      d = new Domain();
      this.domains.set(id, d);
    }
    return d;
  }

  error(reason: DropReason, n = 1): void {
    this.errors.set(reason, (this.errors.get(reason) ?? 0) + n);
  }

  templateCount(): number {
    let n = 0;
    for (const d of this.domains.values()) n += d.templates.size;
    return n;
  }

  /** Estimated lost records (v5, IPFIX) or datagrams (v9, sFlow) from sequence gaps. */
  lost(): number {
    let n = 0;
    for (const d of this.domains.values()) n += d.sequence.lost;
    return n;
  }
}

export interface ExporterStatus {
  address: string;
  lastSeen: string | null;
  versions: string[];
  datagrams: number;
  records: number;
  templates: number;
  estimatedLoss: number;
  errors: Partial<Record<DropReason, number>>;
}

export class ExporterTable {
  private readonly byAddress = new Map<string, Exporter>();
  /** Errors that cannot be put on a known exporter (unknown, or the table is full). */
  readonly unattributed = new Map<DropReason, number>();

  /**
   * @param allowed when given, only these exporter addresses are accepted.
   */
  constructor(private readonly allowed?: ReadonlySet<string>, readonly holdMs: number = LIMITS.holdMs) {}

  /** The exporter for a source address, or undefined (counted) if it is not accepted. */
  get(address: string): Exporter | undefined {
    let e = this.byAddress.get(address);
    if (e) return e;
    if (this.allowed && !this.allowed.has(address)) { this.count('unknown-exporter'); return undefined; }
    if (this.byAddress.size >= LIMITS.exporters) { this.count('too-many-exporters'); return undefined; }
    e = new Exporter(address, this.holdMs);
    this.byAddress.set(address, e);
    return e;
  }

  private count(reason: DropReason): void {
    this.unattributed.set(reason, (this.unattributed.get(reason) ?? 0) + 1);
  }

  list(): Exporter[] { return [...this.byAddress.values()]; }

  status(): ExporterStatus[] {
    return this.list().map((e) => ({
      address: e.address,
      lastSeen: e.lastSeen ? new Date(e.lastSeen).toISOString() : null,
      versions: [...e.versions].sort(),
      datagrams: e.datagrams,
      records: e.records,
      templates: e.templateCount(),
      estimatedLoss: e.lost(),
      errors: Object.fromEntries(e.errors),
    }));
  }
}
