/**
 * Report fixtures built from the published column names (Shadowserver's
 * report schema, IntelMQ's harmonised keys): an RFC 4180 writer, realistic
 * rows with the cells a real report carries (including the destination, URL
 * and geolocation cells that must never leave the parser), and streams that
 * generate a report of any size without holding it.
 */
import { shadowserverReport } from '../../src/ingest/reports/shadowserver.js';

/** The ISP's prefixes in these tests; addresses elsewhere are "outside". */
export const ISP_PREFIXES = ['198.51.100.0/24', '100.64.0.0/10', '2001:db8:100::/40'];
/** A sinkhole's own address and a URL: cells that must not reach an entry. */
export const SINKHOLE_IP = '203.0.113.250';
export const SECRET_URL = 'http://c2.invalid/gate.php?id=SECRETVALUE';

/** One CSV record per RFC 4180: fields with a comma, quote, CR or LF are quoted, quotes doubled; CRLF ends it. */
export function csvRecord(fields: readonly string[]): string {
  return fields.map((f) => (/[",\r\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f)).join(',') + '\r\n';
}

/** Cells of a realistic row of `type`; `values` override (by column name). */
export function shadowserverCells(type: string, values: Record<string, string>): Record<string, string> {
  const t = shadowserverReport(type);
  if (!t) throw new Error(`no such report type ${type}`);
  const typical: Record<string, string> = {
    protocol: 'tcp',
    src_asn: '64496',
    asn: '64496',
    src_geo: 'JP',
    geo: 'JP',
    src_region: 'TOKYO',
    region: 'TOKYO',
    src_city: 'CHIYODA',
    city: 'CHIYODA',
    src_naics: '517311',
    naics: '517311',
    src_sector: 'Communications, Service provider, and Hosting Service',
    sector: 'Communications, Service provider, and Hosting Service',
    severity: 'critical',
    dst_ip: SINKHOLE_IP,
    dst_port: '80',
    dst_asn: '64511',
    dst_geo: 'US',
    dst_hostname: 'sinkhole.invalid',
    http_url: SECRET_URL,
    http_host: 'c2.invalid',
    http_agent: 'Mozilla/4.0 (compatible; MSIE 8.0; "bot")',
    username: 'root',
    password: 'hunter2',
    hostname: 'host.example.invalid',
    reason: 'listed for sending spam, see "details"',
    request_raw: 'GET /shell?cd+/tmp HTTP/1.1\r\nHost: x\r\n\r\n',
  };
  const out: Record<string, string> = {};
  for (const c of t.columns) out[c] = values[c] ?? typical[c] ?? '';
  for (const [k, v] of Object.entries(values)) out[k] = v;
  return out;
}

/** A whole report as text: `columns` in the given order, then the rows' cells in that order. */
export function shadowserverCsv(columns: readonly string[], rows: ReadonlyArray<Record<string, string>>): string {
  return csvRecord(columns) + rows.map((r) => csvRecord(columns.map((c) => r[c] ?? ''))).join('');
}

/** The text in chunks of `size` (1 cuts every field, quote and CRLF in half somewhere). */
export async function* chunked(text: string | Buffer, size = 4096): AsyncGenerator<Buffer> {
  const b = typeof text === 'string' ? Buffer.from(text) : text;
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

function subscriberAddress(i: number): string {
  // Spread over 100.64.0.0/10 (the ISP's CGNAT outside range in these tests).
  return `100.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}`;
}

/**
 * A generated event4_sinkhole report of `rows` rows, streamed: a chunk of rows
 * at a time, never the whole. Every row is distinct and inside the ISP's prefixes.
 */
export async function* generatedSinkholeReport(
  rows: number,
  options: { padding?: number; columns?: readonly string[] } = {},
): AsyncGenerator<Buffer> {
  const columns = options.columns ?? shadowserverReport('event4_sinkhole')!.columns;
  const pad = 'x'.repeat(options.padding ?? 0);
  const families = ['andromeda', 'mirai', 'emotet', 'qakbot', 'avalanche-andromeda', 'necurs', 'conficker', 'android.hummer'];
  yield Buffer.from(csvRecord(columns));
  const base = Date.UTC(2026, 10, 28);
  let chunk: string[] = [];
  for (let i = 0; i < rows; i++) {
    const t = new Date(base + (i % 86_400) * 1000).toISOString().replace('T', ' ').slice(0, 19);
    const cells = shadowserverCells('event4_sinkhole', {
      timestamp: t,
      src_ip: subscriberAddress(i),
      src_port: String(1024 + (i % 64_000)),
      infection: families[i % families.length]!,
      dst_port: String(80 + (i % 3)),
      ssl_servername: pad,
    });
    chunk.push(csvRecord(columns.map((c) => cells[c] ?? '')));
    if (chunk.length === 512) {
      yield Buffer.from(chunk.join(''));
      chunk = [];
    }
  }
  if (chunk.length > 0) yield Buffer.from(chunk.join(''));
}

/** An IntelMQ event as IntelMQ's file output writes it (flat harmonised keys), with the keys a real event carries. */
export function intelmqEvent(values: Record<string, unknown>): Record<string, unknown> {
  return {
    'feed.name': 'Shadowserver Sinkhole Events',
    'feed.provider': 'Shadowserver',
    'feed.accuracy': 100,
    'classification.taxonomy': 'malicious-code',
    'classification.type': 'infected-system',
    'classification.identifier': 'andromeda',
    'malware.name': 'andromeda',
    'source.ip': '198.51.100.20',
    'source.port': 49152,
    'source.asn': 64496,
    'source.geolocation.cc': 'JP',
    'source.network': '198.51.100.0/24',
    'destination.ip': SINKHOLE_IP,
    'destination.port': 80,
    'destination.url': SECRET_URL,
    'protocol.transport': 'tcp',
    'time.source': '2026-11-28T10:00:00+00:00',
    'time.observation': '2026-11-29T01:02:03+00:00',
    raw: Buffer.from('original line').toString('base64'),
    ...values,
  };
}

/** A generated IntelMQ file of `rows` events, streamed. */
export async function* generatedIntelmqFile(rows: number): AsyncGenerator<Buffer> {
  const base = Date.UTC(2026, 10, 28);
  let chunk: string[] = [];
  for (let i = 0; i < rows; i++) {
    const e = intelmqEvent({
      'source.ip': subscriberAddress(i),
      'source.port': 1024 + (i % 64_000),
      'time.source': new Date(base + (i % 86_400) * 1000).toISOString().replace('.000Z', '+00:00'),
    });
    chunk.push(JSON.stringify(e) + '\n');
    if (chunk.length === 512) {
      yield Buffer.from(chunk.join(''));
      chunk = [];
    }
  }
  if (chunk.length > 0) yield Buffer.from(chunk.join(''));
}
