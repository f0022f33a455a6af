/**
 * Teacher data for M1: reputation lists read as labels, each with its source
 * and a validity window (a label applies only within it). Formats:
 * Feodo-Tracker-style CSV, plain IP/CIDR lists (FireHOL .ipset/.netset) and
 * STIX 2.1 bundles. A file either imports whole, with every skipped line
 * counted and explained, or is refused with a clear error: never a partial,
 * silent import.
 */
import { isIP } from 'node:net';
import { endpointsOfPattern } from '../core/stix/endpoints.js';
import { addressBytes, compareAddressBytes, formatIPv6, prefixBounds } from '../ingest/address.js';
import { MamoriError } from '../core/errors.js';

export type LabelFormat = 'feodo-csv' | 'ip-list' | 'stix';

export interface Label {
  /** Canonical address text; the network address for a prefix. */
  address: string;
  prefixLength: number;
  port: number | null;
  protocol: 'tcp' | 'udp' | null;
  validFrom: string;
  validUntil: string;
  malware: string | null;
}

export interface ParsedLabels {
  format: LabelFormat;
  labels: Label[];
  skipped: Array<{ line: number; reason: string }>;
  duplicates: number;
}

export interface ParseOptions {
  /** Labels without an end of validity hold this long after their last sighting (or the import). */
  validityDays: number;
  now: Date;
}

export class LabelImportError extends MamoriError {
  static override readonly code = 'label-import';
  static override readonly status = 400;
  constructor(message: string) {
    super(message);
  }
}

const DAY = 86_400_000;
const FUTURE_TOLERANCE = DAY; // clocks and time zones: a day's slack before a date counts as "future"

/** Canonical text (RFC 5952 for IPv6). */
export function canonicalAddress(text: string): string {
  return isIP(text) === 6 ? new URL(`http://[${text}]`).hostname.slice(1, -1) : text;
}

/** Parses "a.b.c.d", "a.b.c.d/n", IPv6 and IPv6/n; refuses prefixes with host bits set. */
export function parsePrefix(text: string): { address: string; prefixLength: number } | string {
  const [addr, len, extra] = text.split('/');
  if (extra !== undefined || !addr) return `"${text}" is not an address or prefix`;
  const family = isIP(addr);
  if (family === 0) return `"${addr}" is not an IP address`;
  const max = family === 4 ? 32 : 128;
  if (len === undefined) return { address: canonicalAddress(addr), prefixLength: max };
  if (!/^\d{1,3}$/.test(len) || Number(len) > max) return `"/${len}" is not a prefix length for IPv${family}`;
  const n = Number(len);
  const [network] = prefixBounds(addr, n);
  if (compareAddressBytes(network, addressBytes(addr)) !== 0) {
    const shown = family === 4 ? Array.from(network.subarray(12)).join('.') : formatIPv6(network, 0);
    return `"${text}" has host bits set (did you mean ${shown}/${n}?)`;
  }
  return { address: canonicalAddress(addr), prefixLength: n };
}

function isoOrUndefined(text: string): Date | undefined {
  // "2021-01-17 07:44:46" (UTC by the format's name), "2024-01-10", or ISO 8601.
  const t = text.trim();
  if (!/^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(t)) return undefined;
  const withZone = /Z|[+-]\d{2}:?\d{2}$/.test(t) ? t : `${t.replace(' ', 'T')}${t.length === 10 ? 'T00:00:00' : ''}Z`;
  const d = new Date(withZone);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function key(l: Label): string {
  return `${l.address}/${l.prefixLength}|${l.port ?? '*'}|${l.protocol ?? '*'}`;
}

/** Keeps one label per endpoint: the widest validity window. */
function dedupe(labels: Label[]): { labels: Label[]; duplicates: number } {
  const byKey = new Map<string, Label>();
  let duplicates = 0;
  for (const l of labels) {
    const k = key(l);
    const seen = byKey.get(k);
    if (!seen) {
      byKey.set(k, l);
      continue;
    }
    duplicates += 1;
    if (l.validFrom < seen.validFrom) seen.validFrom = l.validFrom;
    if (l.validUntil > seen.validUntil) seen.validUntil = l.validUntil;
  }
  return { labels: [...byKey.values()], duplicates };
}

// ---- Feodo-Tracker-style CSV ----

const FEODO_COLUMNS = ['first_seen_utc', 'dst_ip', 'dst_port', 'c2_status', 'last_online', 'malware'];

function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((f) => f.trim());
}

export function parseFeodoCsv(text: string, opts: ParseOptions): ParsedLabels {
  const lines = text.split(/\r?\n/);
  const skipped: ParsedLabels['skipped'] = [];
  const labels: Label[] = [];
  let header: string[] | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    const lineNo = i + 1;
    if (raw === '') continue;
    if (!header) {
      // The header may stand as a comment ("# first_seen_utc,...") as Feodo Tracker writes it.
      const candidate = csvFields(raw.replace(/^#\s*/, '')).map((f) => f.toLowerCase());
      if (candidate.includes('dst_ip') || candidate.includes('first_seen_utc')) {
        if (candidate.join(',') !== FEODO_COLUMNS.join(',')) {
          throw new LabelImportError(`line ${lineNo}: wrong columns: expected ${FEODO_COLUMNS.join(',')}, got ${candidate.join(',')}`);
        }
        header = candidate;
        continue;
      }
      if (raw.startsWith('#')) continue;
      throw new LabelImportError(
        `line ${lineNo}: data before the header ${FEODO_COLUMNS.join(',')}: this is not a Feodo-Tracker-style CSV`,
      );
    }
    if (raw.startsWith('#')) continue;
    const f = csvFields(raw);
    if (f.length !== FEODO_COLUMNS.length) {
      skipped.push({ line: lineNo, reason: `${f.length} fields, expected ${FEODO_COLUMNS.length}` });
      continue;
    }
    const [firstSeen, ip, port, , lastOnline, malware] = f as [string, string, string, string, string, string];
    const first = isoOrUndefined(firstSeen);
    if (!first) {
      skipped.push({ line: lineNo, reason: `first_seen_utc "${firstSeen}" is not a date` });
      continue;
    }
    if (first.getTime() > opts.now.getTime() + FUTURE_TOLERANCE) {
      skipped.push({ line: lineNo, reason: `first_seen_utc ${firstSeen} is in the future` });
      continue;
    }
    if (isIP(ip) === 0) {
      skipped.push({ line: lineNo, reason: `dst_ip "${ip}" is not an IP address` });
      continue;
    }
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
      skipped.push({ line: lineNo, reason: `dst_port "${port}" is not a port` });
      continue;
    }
    let last = first;
    if (lastOnline !== '') {
      const d = isoOrUndefined(lastOnline);
      if (!d) {
        skipped.push({ line: lineNo, reason: `last_online "${lastOnline}" is not a date` });
        continue;
      }
      if (d.getTime() + DAY < first.getTime()) {
        skipped.push({ line: lineNo, reason: `last_online ${lastOnline} is before first_seen_utc` });
        continue;
      }
      if (d.getTime() > opts.now.getTime() + FUTURE_TOLERANCE) {
        skipped.push({ line: lineNo, reason: `last_online ${lastOnline} is in the future` });
        continue;
      }
      last = d > first ? d : first;
    }
    labels.push({
      address: canonicalAddress(ip),
      prefixLength: isIP(ip) === 4 ? 32 : 128,
      port: Number(port),
      protocol: 'tcp',
      validFrom: first.toISOString(),
      validUntil: new Date(last.getTime() + opts.validityDays * DAY).toISOString(),
      malware: malware || null,
    });
  }
  if (!header) throw new LabelImportError(`no header ${FEODO_COLUMNS.join(',')} found: this is not a Feodo-Tracker-style CSV`);
  return { format: 'feodo-csv', ...dedupe(labels), skipped };
}

// ---- plain IP / CIDR lists ----

export function parseIpList(text: string, opts: ParseOptions): ParsedLabels {
  const skipped: ParsedLabels['skipped'] = [];
  const labels: Label[] = [];
  const from = opts.now.toISOString();
  const until = new Date(opts.now.getTime() + opts.validityDays * DAY).toISOString();
  let sawData = false;
  text.split(/\r?\n/).forEach((rawLine, i) => {
    const line = rawLine.replace(/[#;].*$/, '').trim();
    if (line === '') return;
    sawData = true;
    const token = line.split(/\s+/)[0]!;
    const p = parsePrefix(token);
    if (typeof p === 'string') {
      skipped.push({ line: i + 1, reason: p });
      return;
    }
    labels.push({ ...p, port: null, protocol: null, validFrom: from, validUntil: until, malware: null });
  });
  if (sawData && labels.length === 0)
    throw new LabelImportError(
      `no line holds an IP address or prefix (${skipped.length} ` +
        `lines skipped; first: line ${skipped[0]?.line}: ` +
        `${skipped[0]?.reason}): this is not an IP list`,
    );
  return { format: 'ip-list', ...dedupe(labels), skipped };
}

// ---- STIX 2.1 bundles (patterns read by src/core/stix) ----

export function parseStixBundle(text: string, opts: ParseOptions): ParsedLabels {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new LabelImportError(`not JSON: ${(err as Error).message}`);
  }
  const bundle = doc as { type?: unknown; objects?: unknown };
  if (bundle?.type !== 'bundle' || !Array.isArray(bundle.objects))
    throw new LabelImportError('not a STIX bundle (expected {"type": "bundle", "objects": [...]})');
  const skipped: ParsedLabels['skipped'] = [];
  const labels: Label[] = [];
  bundle.objects.forEach((o: Record<string, unknown>, i: number) => {
    const where = i + 1; // position of the object in the bundle
    if (o?.type !== 'indicator') return;
    if (o.revoked === true) {
      skipped.push({ line: where, reason: `${String(o.id)} is revoked` });
      return;
    }
    if ((o.pattern_type ?? 'stix') !== 'stix' || typeof o.pattern !== 'string') {
      skipped.push({ line: where, reason: `${String(o.id)}: not a STIX pattern` });
      return;
    }
    const from = typeof o.valid_from === 'string' ? isoOrUndefined(o.valid_from) : undefined;
    if (!from) {
      skipped.push({ line: where, reason: `${String(o.id)}: valid_from missing or not a timestamp` });
      return;
    }
    if (from.getTime() > opts.now.getTime() + FUTURE_TOLERANCE) {
      skipped.push({ line: where, reason: `${String(o.id)}: valid_from is in the future` });
      return;
    }
    const until =
      typeof o.valid_until === 'string'
        ? isoOrUndefined(o.valid_until)
        : new Date(Math.max(from.getTime(), opts.now.getTime()) + opts.validityDays * DAY);
    if (!until || until <= from) {
      skipped.push({ line: where, reason: `${String(o.id)}: valid_until is not after valid_from` });
      return;
    }
    const endpoints = endpointsOfPattern(o.pattern);
    if (typeof endpoints === 'string') {
      skipped.push({ line: where, reason: `${String(o.id)}: ${endpoints}` });
      return;
    }
    for (const e of endpoints) {
      const p = parsePrefix(e.prefix);
      if (typeof p === 'string') {
        skipped.push({ line: where, reason: `${String(o.id)}: ${p}` });
        continue;
      }
      labels.push({
        ...p,
        port: e.port,
        protocol: e.protocol,
        validFrom: from.toISOString(),
        validUntil: until.toISOString(),
        malware: typeof o.name === 'string' ? o.name : null,
      });
    }
  });
  return { format: 'stix', ...dedupe(labels), skipped };
}

export function parseLabels(format: LabelFormat, text: string, opts: ParseOptions): ParsedLabels {
  switch (format) {
    case 'feodo-csv':
      return parseFeodoCsv(text, opts);
    case 'ip-list':
      return parseIpList(text, opts);
    case 'stix':
      return parseStixBundle(text, opts);
  }
}
