/**
 * Reports in, under arbitrary input: no input crashes the reader (only a
 * ReportFormatError for an unreadable header), hangs it, or makes it hold more
 * than its bounds; every row is an entry or a counted reason. A 50,000-row
 * report streamed through it must not grow the process's memory with the
 * rows (the 1,000,000-row run is the benchmark, bench/reports-ingest.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { ReportFormatError, type ReportEntry } from '../../src/ingest/reports/entry.js';
import { readReport, type ReadReportOptions } from '../../src/ingest/reports/read.js';
import { shadowserverReport } from '../../src/ingest/reports/shadowserver.js';
import { PrefixSet } from '../../src/ingest/reports/values.js';
import { chunked, csvRecord, generatedIntelmqFile, generatedSinkholeReport, ISP_PREFIXES } from '../support/reports.js';

const NOW = Date.UTC(2026, 10, 29, 3);
const prefixes = new PrefixSet(ISP_PREFIXES);

async function drain(input: AsyncIterable<Buffer>, options: Partial<ReadReportOptions> & { source: string }) {
  const reader = readReport(input, { prefixes, nowMs: NOW, dedupeSlots: 1 << 12, maxRecordBytes: 4096, ...options });
  const entries: ReportEntry[] = [];
  try {
    for await (const b of reader) entries.push(...b);
  } catch (err) {
    if (!(err instanceof ReportFormatError)) throw err;
    return { entries, summary: reader.summary, refused: err };
  }
  const s = reader.summary;
  const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
  assert.equal(s.rows, s.entries + dropped, 'rows = entries + dropped');
  assert.equal(entries.length, s.entries);
  return { entries, summary: s, refused: undefined };
}

/** Cells that are sometimes valid and often not, with the characters CSV must quote. */
const cell = fc.oneof(
  fc.constantFrom('198.51.100.1', '100.64.0.9', '2001:db8:100::7', '192.0.2.1', '1.2.3', '', '::ffff:198.51.100.2'),
  fc.constantFrom('2026-11-28 00:00:00', '2026-11-28T00:00:00+09:00', '2099-01-01 00:00:00', '2026-02-30 00:00:00', 'x'),
  fc.constantFrom('0', '1', '65535', '65536', '-1', '08'),
  fc.string({ unit: fc.constantFrom('a', ',', '"', '\r', '\n', ' ', 'é', '\u0000') }),
  fc.string(),
);

const VALID_IPS = new Set(['198.51.100.1', '100.64.0.9', '2001:db8:100::7', '::ffff:198.51.100.2']);
const CANONICAL = new Set(['198.51.100.1', '100.64.0.9', '2001:db8:100::7', '198.51.100.2']);
const VALID_TIMES = new Set(['2026-11-28 00:00:00', '2026-11-28T00:00:00+09:00']);

describe('fuzz', () => {
  it('every generated Shadowserver row (quoted per RFC 4180, any cell contents) is an entry or a counted reason', async () => {
    const columns = shadowserverReport('event4_sinkhole')!.columns;
    await fc.assert(
      fc.asyncProperty(
        fc.shuffledSubarray([...columns], { minLength: columns.length, maxLength: columns.length }),
        fc.array(
          fc.record(
            {
              src_ip: fc.oneof(fc.constantFrom(...VALID_IPS, '192.0.2.1', '1.2.3', '', '198.51.100.01'), cell),
              timestamp: fc.oneof(fc.constantFrom(...VALID_TIMES, '2099-01-01 00:00:00', '2026-02-30 00:00:00', ''), cell),
              src_port: fc.oneof(fc.constantFrom('', '0', '1', '08', '65535', '65536', '-1', ' 1'), cell),
              infection: cell,
              dst_ip: cell,
              http_url: cell,
            },
            { requiredKeys: ['src_ip', 'timestamp'] },
          ),
          { maxLength: 40 },
        ),
        fc.integer({ min: 1, max: 300 }),
        async (order, rows, size) => {
          const text =
            csvRecord(order) + rows.map((r) => csvRecord(order.map((c) => (r as Record<string, string | undefined>)[c] ?? ''))).join('');
          const { summary, entries, refused } = await drain(chunked(text, size), { source: 'shadowserver', reportType: 'event4_sinkhole' });
          assert.equal(refused, undefined);
          // Every row was quoted as RFC 4180 asks, so each is one record whatever its cells hold.
          assert.equal(summary.rows, rows.length);
          assert.equal(summary.truncated, undefined);
          // The oracle: a row whose cells are all valid (inside the prefixes, a past time, a port) is an entry or a duplicate.
          const valid = rows.filter(
            (r) =>
              VALID_IPS.has(r.src_ip) &&
              VALID_TIMES.has(r.timestamp) &&
              /^\d{0,5}$/.test(r.src_port ?? '') &&
              Number(r.src_port ?? 0) <= 65535,
          );
          assert.equal(entries.length + summary.dropped.duplicate, valid.length);
          for (const e of entries) assert.ok(CANONICAL.has(e.address), e.address);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('arbitrary text in each format: a result or a header refusal, never a crash, a hang or an uncounted row', async () => {
    const inputs = fc.oneof(
      fc.string({ maxLength: 2000 }),
      fc.string({ unit: fc.constantFrom('{', '}', '[', ']', '"', ',', '\\', '\n', '\r', 'a', '1', ':', '.'), maxLength: 2000 }),
      fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a).toString('latin1')),
    );
    await fc.assert(
      fc.asyncProperty(
        inputs,
        fc.constantFrom('shadowserver', 'intelmq', 'operator-list'),
        fc.boolean(),
        fc.integer({ min: 1, max: 257 }),
        async (body, source, withHeader, size) => {
          const header =
            source === 'shadowserver' ? 'timestamp,src_ip,src_port\n' : source === 'operator-list' ? 'address,time,port\n' : '';
          const text = (withHeader ? header : '') + body;
          const started = performance.now();
          const { summary, refused } = await drain(chunked(text, size), { source, reportType: 'event4_sinkhole', format: undefined });
          assert.ok(performance.now() - started < 5000, 'bounded time');
          if (refused) assert.equal(summary.entries, 0, 'a refusal comes before any entry');
          assert.ok(summary.bytes <= Buffer.byteLength(text));
        },
      ),
      { numRuns: 300 },
    );
  });
});

function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('bounded memory', () => {
  for (const [name, source, make] of [
    ['a 50,000-row Shadowserver report of ~1 KiB rows', 'shadowserver', () => generatedSinkholeReport(50_000, { padding: 900 })],
    ['a 50,000-line IntelMQ file', 'intelmq', () => generatedIntelmqFile(50_000)],
  ] as const) {
    it(`${name} streams through without holding its rows`, async () => {
      const gc = collector();
      gc();
      const rss0 = process.memoryUsage().rss;
      let peak = rss0;
      let retainedAt10k = 0;
      let entries = 0;
      const reader = readReport(make(), { source, reportType: 'event4_sinkhole', prefixes, nowMs: NOW, dedupeSlots: 1 << 16 });
      for await (const b of reader) {
        entries += b.length;
        peak = Math.max(peak, process.memoryUsage().rss);
        if (retainedAt10k === 0 && entries >= 10_000) {
          gc();
          retainedAt10k = process.memoryUsage().heapUsed;
        }
      }
      gc();
      const retainedAtEnd = process.memoryUsage().heapUsed;
      assert.equal(entries, 50_000);
      assert.equal(reader.summary.rows, 50_000);
      const streamed = reader.summary.bytes;
      if (source === 'shadowserver') assert.ok(streamed > 45 * (1 << 20), `the report is large (${streamed} bytes)`);
      // Holding the rows would retain tens of MiB more at the end than after 10,000; streaming retains nothing.
      assert.ok(retainedAtEnd - retainedAt10k < 4 * (1 << 20), `heap retained grew ${retainedAtEnd - retainedAt10k} bytes`);
      assert.ok(peak - rss0 < 96 * (1 << 20), `RSS grew ${peak - rss0} bytes while streaming ${streamed}`);
    });
  }
});
