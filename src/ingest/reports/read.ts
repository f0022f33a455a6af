/**
 * Reports in: reads a third-party report as a stream and yields its entries in
 * batches, minimised at the edge, with every row that did not become an entry
 * counted with its reason. Memory stays bounded whatever the report's size:
 * rows are parsed one at a time (CSV by csv-parse, JSON lines by a bounded
 * line splitter), entries leave in batches as the consumer asks for them
 * (backpressure reaches the file), and the duplicate memory is fixed-size.
 *
 *   const reader = readReport(openReportFile(path), { source: 'shadowserver', fileName: path, prefixes });
 *   for await (const batch of reader) …;
 *   reader.summary  // rows = entries + Σ dropped
 */
import type { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { parse } from 'csv-parse';
import { DROP_REASONS, ReportFormatError, type DropReason, type ReportEntry, type ReportSummary } from './entry.js';
import { refusalOf, reportTypeFromFileName, shadowserverReport, type ShadowserverReportType } from './shadowserver.js';
import { REPORT_SOURCES, type ReportSource } from './sources.js';
import { BAD_TIME, BoundedDedupe, NO_ZONE, normaliseLabel, parseAddress, parsePort, parseTime, type PrefixSet } from './values.js';

export interface ReadReportOptions {
  /** The registered source (feed id) the report is imported under. */
  source: string;
  /** The registry to look it up in (default: the built-in sources). */
  sources?: readonly ReportSource[];
  /** The ISP's prefixes: addresses outside them are counted and dropped. */
  prefixes: PrefixSet;
  /** Shadowserver report type; taken from `fileName` when not given. */
  reportType?: string;
  fileName?: string;
  /** Plain lists: "csv" or "json" (JSON lines or one JSON array); from `fileName` or the first character when not given. */
  format?: 'csv' | 'json';
  /** "Now" for the future-time check (default: the clock at the start). */
  nowMs?: number;
  /** How far in the future a time may be (clock differences) before it is refused; default 10 minutes. */
  futureToleranceMs?: number;
  /** Slots of the duplicate memory (a power of two; at least half of them are remembered); default 2^20 (16 MiB). */
  dedupeSlots?: number;
  /** Entries per yielded batch; default 4096. */
  batchSize?: number;
  /** Longest record or JSON line accepted, in bytes; default 1 MiB. */
  maxRecordBytes?: number;
}

type Chunk = Uint8Array | string;
const MB = 1 << 20;

export class ReportReader implements AsyncIterable<ReportEntry[]> {
  readonly summary: ReportSummary;
  private readonly source: ReportSource;
  private readonly sources: readonly ReportSource[];
  private readonly format: ReportSummary['format'];
  private readonly ss?: ShadowserverReportType;
  private readonly dedupe: BoundedDedupe;
  private readonly now: number;
  private readonly tolerance: number;
  private readonly batchSize: number;
  private readonly maxRecord: number;
  private batch: ReportEntry[] = [];
  private started = false;

  constructor(
    private readonly input: AsyncIterable<Chunk>,
    private readonly options: ReadReportOptions,
  ) {
    this.sources = options.sources ?? REPORT_SOURCES;
    const source = this.sources.find((s) => s.id === options.source);
    if (!source) {
      throw new ReportFormatError(`"${options.source}" is not a registered report source (${this.sources.map((s) => s.id).join(', ')})`);
    }
    this.source = source;
    if (options.prefixes.size === 0) {
      throw new ReportFormatError("no ISP prefixes were given: every address would count as outside them; configure the ISP's prefixes");
    }
    this.now = options.nowMs ?? Date.now();
    this.tolerance = options.futureToleranceMs ?? 10 * 60_000;
    this.batchSize = options.batchSize ?? 4096;
    this.maxRecord = options.maxRecordBytes ?? MB;
    this.dedupe = new BoundedDedupe(options.dedupeSlots ?? 1 << 20);
    let reportType: string | undefined;
    if (source.parser === 'shadowserver-csv') {
      reportType = options.reportType ?? (options.fileName ? reportTypeFromFileName(options.fileName) : undefined);
      if (!reportType) {
        throw new ReportFormatError(
          'the Shadowserver report type could not be told from the file name: give it (e.g. event4_sinkhole); ' +
            `accepted for "${source.id}": ${source.accepts.join(', ')}`,
        );
      }
      const refusal = refusalOf(reportType);
      if (refusal) throw new ReportFormatError(`the Shadowserver report "${reportType}" is not read by M7: ${refusal.en}`);
      this.ss = shadowserverReport(reportType);
      if (!this.ss || !source.accepts.includes(reportType)) {
        const other = this.sources.find((s) => s.parser === 'shadowserver-csv' && s.accepts.includes(reportType!));
        throw new ReportFormatError(
          other
            ? `the report "${reportType}" belongs to the source "${other.id}" (${other.purpose}), not "${source.id}"`
            : `"${reportType}"${options.reportType ? '' : ' (from the file name)'} is not a Shadowserver report type M7 reads; ` +
                `accepted for "${source.id}": ${source.accepts.join(', ')}`,
        );
      }
      this.format = 'shadowserver-csv';
    } else if (source.parser === 'intelmq-jsonl') this.format = 'intelmq-jsonl';
    else this.format = options.format === 'json' ? 'plain-json' : 'plain-csv'; // refined from the content when not given
    this.summary = {
      source: source.id,
      format: this.format,
      ...(reportType ? { reportType } : {}),
      bytes: 0,
      rows: 0,
      entries: 0,
      dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
      examples: {},
      unknownColumns: [],
      dedupeForgotten: 0,
    };
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ReportEntry[]> {
    if (this.started) throw new Error('a report can be read once');
    this.started = true;
    try {
      if (this.format === 'shadowserver-csv') yield* this.readCsv(this.input, this.ss!);
      else if (this.format === 'intelmq-jsonl') yield* this.readJsonLines(this.input, (o) => this.intelmqRow(o));
      else yield* this.readPlain();
      if (this.batch.length > 0) yield this.take();
    } finally {
      this.summary.dedupeForgotten = this.dedupe.forgotten;
    }
  }

  // ---- accounting ----

  private drop(reason: DropReason): void {
    const s = this.summary;
    s.dropped[reason] += 1;
    const ex = (s.examples[reason] ??= []);
    if (ex.length < 5) ex.push(s.rows);
  }

  private take(): ReportEntry[] {
    const b = this.batch;
    this.batch = [];
    return b;
  }

  /**
   * The checks every format shares, in order: what is missing, the address, whether it is the ISP's (anything else
   * of a non-subscriber's row is not even looked at), the time, the port, a repeat.
   */
  private row(
    addressRaw: unknown,
    portRaw: unknown,
    timeRaw: unknown,
    family: string,
    classification: string,
    reportType: string,
    source: ReportSource,
    epochSeconds: boolean,
  ): void {
    if (
      addressRaw === undefined ||
      addressRaw === null ||
      addressRaw === '' ||
      timeRaw === undefined ||
      timeRaw === null ||
      timeRaw === ''
    ) {
      return this.drop('missing-field');
    }
    const address = typeof addressRaw === 'string' ? parseAddress(addressRaw) : undefined;
    if (!address) return this.drop('bad-address');
    if (!this.options.prefixes.has(address)) return this.drop('outside-prefixes');
    const timeMs = parseTime(timeRaw, source.naiveTimesAreUtc, epochSeconds);
    if (timeMs === NO_ZONE) return this.drop('time-without-zone');
    if (timeMs === BAD_TIME) return this.drop('bad-time');
    if (timeMs > this.now + this.tolerance) return this.drop('future-time');
    const port = parsePort(portRaw);
    if (port === -1) return this.drop('bad-port');
    if (this.dedupe.seen(`${address.text}|${port ?? ''}|${timeMs}|${family}|${reportType}|${source.id}`)) return this.drop('duplicate');
    const entry: ReportEntry = {
      address: address.text,
      version: address.version,
      timeMs,
      family,
      classification,
      purpose: source.purpose,
      source: source.id,
      reportType,
    };
    if (port !== undefined) entry.port = port;
    this.batch.push(entry);
    this.summary.entries += 1;
  }

  // ---- CSV (Shadowserver and plain) ----

  /** Records of a CSV stream; a record csv-parse had to skip arrives as a `Skip` in its place (order kept). */
  private async *csvRecords(input: AsyncIterable<Chunk>): AsyncGenerator<string[] | Skip> {
    const parser = parse({
      bom: true,
      relax_column_count: true,
      // A stray quote inside an unquoted field is kept as text (its cell then fails its own check) instead of swallowing the rest.
      relax_quotes: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      max_record_size: this.maxRecord,
      on_skip: (err) => {
        parser.push({ skip: err?.code ?? 'error', line: (err as { lines?: number } | undefined)?.lines ?? 0 } satisfies Skip);
        return undefined;
      },
    });
    let done = false;
    const feeding = (async () => {
      try {
        for await (const chunk of input) {
          if (parser.destroyed) return;
          this.summary.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
          if (!parser.write(chunk)) await drained(parser);
        }
        parser.end();
      } catch (err) {
        parser.destroy(err as Error);
      }
    })();
    try {
      for await (const r of parser as AsyncIterable<string[] | Skip>) yield r;
      done = true;
    } finally {
      if (!done) parser.destroy();
      await feeding;
    }
    const unread = this.summary.bytes - parser.info.bytes;
    if (this.fatal && unread > 0) this.summary.truncated = { afterRow: this.summary.rows, reason: this.fatal, unreadBytes: unread };
  }

  private fatal: string | undefined;

  /** Counts a record csv-parse skipped; a quote never closed or an over-long record ends what can be read. */
  private skipped(s: Skip): void {
    this.summary.rows += 1;
    this.drop('malformed-row');
    if (s.skip === 'CSV_QUOTE_NOT_CLOSED' || s.skip === 'CSV_MAX_RECORD_SIZE') {
      this.fatal = s.skip === 'CSV_QUOTE_NOT_CLOSED' ? 'a quote was never closed' : `a record was longer than ${this.maxRecord} bytes`;
    }
  }

  private header(record: string[], required: readonly string[], known: readonly string[], what: string): Map<string, number> {
    const index = new Map<string, number>();
    record.forEach((raw, i) => {
      const name = raw.trim();
      if (index.has(name)) throw new ReportFormatError(`the ${what} header names the column "${name}" twice`);
      index.set(name, i);
    });
    const missing = required.filter((c) => !index.has(c));
    if (missing.length > 0) {
      throw new ReportFormatError(
        `the ${what} header lacks the required column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} ` +
          `(its columns: ${[...index.keys()].slice(0, 60).join(',')})`,
      );
    }
    const knownSet = new Set(known);
    this.summary.unknownColumns = [...index.keys()].filter((c) => !knownSet.has(c)).slice(0, 100);
    return index;
  }

  private async *readCsv(input: AsyncIterable<Chunk>, t: ShadowserverReportType): AsyncGenerator<ReportEntry[]> {
    let index: Map<string, number> | undefined;
    let width = 0;
    let at: { address: number; port: number; time: number; family: number[] } | undefined;
    for await (const r of this.csvRecords(input)) {
      if (!Array.isArray(r)) {
        this.skipped(r);
        continue;
      }
      if (!index) {
        index = this.header(r, ['timestamp', t.address], t.columns, `Shadowserver ${t.type}`);
        width = r.length;
        at = {
          address: index.get(t.address)!,
          port: t.port === undefined ? -1 : (index.get(t.port) ?? -1),
          time: index.get('timestamp')!,
          family: t.family.map((c) => index!.get(c)).filter((i): i is number => i !== undefined),
        };
        continue;
      }
      this.summary.rows += 1;
      if (r.length !== width) {
        this.drop('malformed-row');
        continue;
      }
      let family: string | undefined;
      for (const i of at!.family) if ((family = normaliseLabel(r[i]))) break;
      this.row(
        r[at!.address],
        at!.port < 0 ? undefined : r[at!.port],
        r[at!.time],
        family ?? t.fallback,
        t.classification,
        t.type,
        this.source,
        false,
      );
      if (this.batch.length >= this.batchSize) yield this.take();
    }
    if (!index) throw new ReportFormatError(`the Shadowserver ${t.type} report is empty: not even a header`);
  }

  // ---- JSON lines (IntelMQ, plain) ----

  private async *readJsonLines(input: AsyncIterable<Chunk>, onRow: (o: Record<string, unknown>) => void): AsyncGenerator<ReportEntry[]> {
    for await (const lines of splitLines(input, this.maxRecord, this.summary)) {
      for (const line of lines) {
        if (line !== OVERLONG && isBlank(line)) continue;
        this.summary.rows += 1;
        const o = line === OVERLONG ? undefined : parseObject(line);
        if (!o) this.drop('malformed-row');
        else onRow(o);
      }
      if (this.batch.length >= this.batchSize) yield this.take();
    }
  }

  /** One IntelMQ event (flat dotted keys, as IntelMQ's file output writes them, or nested). */
  private intelmqRow(o: Record<string, unknown>): void {
    const type = field(o, 'classification', 'type');
    if (typeof type !== 'string' || !this.source.accepts.includes(type)) return this.drop('unknown-report-type');
    // Shadowserver's referer reports (web visitors, not infected devices) are classified infected-system too; IntelMQ keeps
    // their http_referer_ip column under extra., which no other report has.
    if (field(o, 'extra', 'http_referer_ip') !== undefined) return this.drop('unknown-report-type');
    const family =
      normaliseLabel(field(o, 'malware', 'name')) ??
      normaliseLabel(field(o, 'classification', 'identifier')) ??
      (this.source.purpose === 'blocklist' ? normaliseLabel(field(o, 'feed', 'name')) : undefined) ??
      'unknown';
    const reportType = normaliseLabel(field(o, 'feed', 'name')) ?? 'intelmq';
    this.row(
      field(o, 'source', 'ip'),
      field(o, 'source', 'port'),
      field(o, 'time', 'source'),
      family,
      type,
      reportType,
      this.source,
      false,
    );
  }

  // ---- plain lists ----

  private plainSource(named: unknown): ReportSource | undefined {
    if (named === undefined || named === null || named === '') return this.source;
    return this.sources.find((s) => s.id === named && s.parser === 'plain');
  }

  private plainRow(address: unknown, port: unknown, time: unknown, familyRaw: unknown, sourceRaw: unknown): void {
    const source = this.plainSource(typeof sourceRaw === 'string' ? sourceRaw.trim() : sourceRaw);
    if (!source) return this.drop('unknown-source');
    this.row(address, port, time, normaliseLabel(familyRaw) ?? 'unknown', source.accepts[0]!, 'plain', source, true);
  }

  private async *readPlain(): AsyncGenerator<ReportEntry[]> {
    const { first, rest } = await peek(this.input);
    let json = this.options.format === 'json';
    if (!this.options.format) {
      const ext = this.options.fileName?.toLowerCase().match(/\.(csv|json|jsonl|ndjson)(\.gz)?$/)?.[1];
      json = ext ? ext !== 'csv' : /^\s*[[{]/.test(first);
    }
    this.summary.format = json ? 'plain-json' : 'plain-csv';
    if (!json) {
      let index: Map<string, number> | undefined;
      let width = 0;
      const col = (r: string[], name: string) => {
        const i = index!.get(name);
        return i === undefined ? undefined : r[i];
      };
      for await (const r of this.csvRecords(rest)) {
        if (!Array.isArray(r)) {
          this.skipped(r);
          continue;
        }
        if (!index) {
          index = this.header(r, ['address', 'time'], PLAIN_COLUMNS, 'plain list');
          width = r.length;
          continue;
        }
        this.summary.rows += 1;
        if (r.length !== width) this.drop('malformed-row');
        else this.plainRow(col(r, 'address'), col(r, 'port'), col(r, 'time'), col(r, 'family'), col(r, 'source'));
        if (this.batch.length >= this.batchSize) yield this.take();
      }
      if (!index) throw new ReportFormatError('the plain list is empty: not even a header (address,port,time,family,source)');
      return;
    }
    const onRow = (o: Record<string, unknown>) => this.plainRow(o.address, o.port, o.time, o.family, o.source);
    if (/^\s*\[/.test(first)) {
      for await (const items of jsonArrayItems(rest, this.maxRecord, this.summary)) {
        for (const item of items) {
          this.summary.rows += 1;
          const o = item === OVERLONG ? undefined : parseObject(item);
          if (!o) this.drop('malformed-row');
          else onRow(o);
        }
        if (this.batch.length >= this.batchSize) yield this.take();
      }
    } else yield* this.readJsonLines(rest, onRow);
  }
}

const PLAIN_COLUMNS = ['address', 'port', 'time', 'family', 'source'];

interface Skip {
  skip: string;
  line: number;
}

export function readReport(input: AsyncIterable<Chunk>, options: ReadReportOptions): ReportReader {
  return new ReportReader(input, options);
}

/** A report as it arrives (a file, an upload), gunzipped when its first bytes say it is gzip. */
export async function* decompressed(input: AsyncIterable<Chunk>): AsyncGenerator<Buffer> {
  const { first, rest } = await peekBytes(input);
  if (first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b) {
    const gunzip = createGunzip();
    const feed = (async () => {
      try {
        for await (const c of rest) {
          if (gunzip.destroyed) return;
          if (!gunzip.write(c)) await drained(gunzip);
        }
        gunzip.end();
      } catch (err) {
        gunzip.destroy(err as Error);
      }
    })();
    try {
      yield* gunzip as AsyncIterable<Buffer>;
    } finally {
      gunzip.destroy();
      await feed;
    }
  } else for await (const c of rest) yield toBuffer(c);
}

// ---- helpers ----

/** Waits until a writable drains or closes (a destroyed one never drains), leaving no listener behind. */
function drained(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      w.off('drain', done);
      w.off('close', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
  });
}

const OVERLONG = Symbol('overlong');

function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 0xfeff) return false;
  }
  return true;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const o: unknown = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    return typeof o === 'object' && o !== null && !Array.isArray(o) ? (o as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A harmonised key, flat ("source.ip") or nested ({ source: { ip } }). */
function field(o: Record<string, unknown>, section: string, key: string): unknown {
  const flat = o[`${section}.${key}`];
  if (flat !== undefined) return flat;
  const nested = o[section];
  return typeof nested === 'object' && nested !== null ? (nested as Record<string, unknown>)[key] : undefined;
}

function toBuffer(c: Chunk): Buffer {
  return typeof c === 'string' ? Buffer.from(c) : Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
}

/** The first chunk (as text, for sniffing) and the whole stream again. */
async function peek(input: AsyncIterable<Chunk>): Promise<{ first: string; rest: AsyncIterable<Chunk> }> {
  const { first, rest } = await peekBytes(input);
  return {
    first: first
      .subarray(0, 64)
      .toString('utf8')
      .replace(/^\uFEFF/, ''),
    rest,
  };
}

async function peekBytes(input: AsyncIterable<Chunk>): Promise<{ first: Buffer; rest: AsyncIterable<Chunk> }> {
  const it = input[Symbol.asyncIterator]();
  const head = await it.next();
  const first = head.done ? Buffer.alloc(0) : toBuffer(head.value);
  async function* rest(): AsyncGenerator<Chunk> {
    if (head.done) return;
    yield first;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield n.value;
    }
  }
  return { first, rest: rest() };
}

/**
 * Lines of a stream, a chunk's worth at a time, each at most `max` bytes: a
 * longer line is replaced by OVERLONG and its bytes are never held.
 */
async function* splitLines(
  input: AsyncIterable<Chunk>,
  max: number,
  counts: { bytes: number },
): AsyncGenerator<Array<string | typeof OVERLONG>> {
  let parts: Buffer[] = [];
  let partLength = 0;
  let overlong = false;
  for await (const c of input) {
    const buf = toBuffer(c);
    counts.bytes += buf.length;
    const out: Array<string | typeof OVERLONG> = [];
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      const end = nl < 0 ? buf.length : nl;
      if (!overlong && partLength + end - start > max) {
        overlong = true;
        parts = [];
        partLength = 0;
      }
      if (!overlong && end > start) {
        parts.push(buf.subarray(start, end));
        partLength += end - start;
      }
      if (nl < 0) break;
      out.push(overlong ? OVERLONG : lineText(parts, partLength));
      parts = [];
      partLength = 0;
      overlong = false;
      start = nl + 1;
    }
    // A partial line keeps only its own bytes, not the chunk around it.
    if (parts.length > 0) parts = [Buffer.from(parts.length === 1 ? parts[0]! : Buffer.concat(parts))];
    if (out.length > 0) yield out;
  }
  if (overlong) yield [OVERLONG];
  else if (partLength > 0) yield [lineText(parts, partLength)];
}

function lineText(parts: Buffer[], length: number): string {
  if (parts.length === 0) return '';
  return (parts.length === 1 ? parts[0]! : Buffer.concat(parts, length)).toString('utf8');
}

/**
 * The elements of a top-level JSON array, as text, without holding the array:
 * a scanner that follows strings and nesting. An element longer than `max`
 * bytes becomes OVERLONG; text after the closing bracket is ignored.
 */
async function* jsonArrayItems(
  input: AsyncIterable<Chunk>,
  max: number,
  counts: { bytes: number },
): AsyncGenerator<Array<string | typeof OVERLONG>> {
  let state: 'before' | 'between' | 'after' = 'before';
  let depth = 0;
  let inString = false;
  let escape = false;
  let item: string[] = [];
  let itemLength = 0;
  let overlong = false;
  const flush = (out: Array<string | typeof OVERLONG>) => {
    const text = item.join('');
    if (overlong) out.push(OVERLONG);
    else if (!isBlank(text)) out.push(text);
    item = [];
    itemLength = 0;
    overlong = false;
  };
  // A character split between two chunks is joined by the decoder, never cut in half.
  const decoder = new StringDecoder('utf8');
  for await (const c of input) {
    counts.bytes += typeof c === 'string' ? Buffer.byteLength(c) : c.length;
    const s = typeof c === 'string' ? c : decoder.write(toBuffer(c));
    const out: Array<string | typeof OVERLONG> = [];
    let from = 0;
    for (let i = 0; i < s.length && state !== 'after'; i++) {
      const ch = s.charCodeAt(i);
      if (state === 'before') {
        if (ch === 91) {
          state = 'between';
          from = i + 1;
        }
        continue;
      }
      if (inString) {
        if (escape) escape = false;
        else if (ch === 92) escape = true;
        else if (ch === 34) inString = false;
        continue;
      }
      if (ch === 34) inString = true;
      else if (ch === 123 || ch === 91) depth++;
      else if (ch === 125 || ch === 93) {
        if (depth === 0 && ch === 93) {
          append(s.slice(from, i));
          flush(out);
          state = 'after';
          continue;
        }
        depth = Math.max(0, depth - 1);
      } else if (ch === 44 && depth === 0) {
        append(s.slice(from, i));
        flush(out);
        from = i + 1;
      }
    }
    if (state === 'between') append(s.slice(from));
    if (out.length > 0) yield out;
  }
  if (state === 'between') {
    const out: Array<string | typeof OVERLONG> = [];
    flush(out);
    if (out.length > 0) yield out;
  }

  function append(piece: string): void {
    if (overlong) return;
    itemLength += piece.length;
    if (itemLength > max) {
      overlong = true;
      item = [];
    } else if (piece.length > 0) item.push(piece);
  }
}
