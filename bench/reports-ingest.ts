/**
 * Reports in (M7): rows per second parsed and minimised, and peak memory, for
 * a generated N-row Shadowserver event4_sinkhole report (CSV, the published
 * columns, realistic cells) and an N-event IntelMQ file (JSON lines), each read
 * from disk in its own process (so its peak RSS is its own). Side by side in
 * the same run: Python's csv / json modules (what IntelMQ's parsers use) doing
 * the same minimal work per row — read by header, parse the address and check
 * the prefix, parse the time and port, remember the entry — for a ratio.
 *
 *   node dist/bench/reports-ingest.js [rows]        (npm run bench:reports)
 */
import { execFile } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { readReport } from '../src/ingest/reports/read.js';
import { openReportFile } from '../src/ingest/reports/drop.js';
import { PrefixSet } from '../src/ingest/reports/values.js';
import { generatedIntelmqFile, generatedSinkholeReport, ISP_PREFIXES } from '../test/support/reports.js';

const run = promisify(execFile);
const fmt = (n: number) => Math.round(n).toLocaleString('en');
const MiB = 1 << 20;

interface Result {
  rows: number;
  entries: number;
  seconds: number;
  maxRssMiB: number;
}

// ---- child: read one file ----

if (process.argv[2] === '--read') {
  const [, , , file, source] = process.argv as [string, string, string, string, string];
  const started = performance.now();
  const reader = readReport(openReportFile(file), {
    source,
    fileName: file,
    prefixes: new PrefixSet(ISP_PREFIXES),
    nowMs: Date.UTC(2026, 10, 29, 3),
  });
  let entries = 0;
  for await (const b of reader) entries += b.length;
  const seconds = (performance.now() - started) / 1000;
  const result: Result = { rows: reader.summary.rows, entries, seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(JSON.stringify(result));
  process.exit(0);
}

// ---- parent ----

const rows = Number(process.argv[2] ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'mamori-bench-reports-'));
const peer = new URL('../../bench/reports-peer.py', import.meta.url).pathname;
try {
  const csv = join(dir, '2026-11-28-event4_sinkhole-asn-as64496.csv');
  const jsonl = join(dir, 'intelmq-events.jsonl');
  await pipeline(Readable.from(generatedSinkholeReport(rows)), createWriteStream(csv));
  await pipeline(Readable.from(generatedIntelmqFile(rows)), createWriteStream(jsonl));

  const mamori = async (file: string, source: string): Promise<Result> =>
    JSON.parse((await run(process.execPath, [process.argv[1]!, '--read', file, source], { maxBuffer: MiB })).stdout) as Result;
  const python = async (file: string, kind: string): Promise<Result> =>
    JSON.parse((await run('python3', [peer, kind, file, ...ISP_PREFIXES], { maxBuffer: MiB })).stdout) as Result;

  const load0 = loadavg();
  const results: Array<[string, string, Result]> = [];
  // Interleaved, two rounds: a shared machine's load moves, and both readers see the same moments.
  for (let round = 0; round < 2; round++) {
    results.push(['Shadowserver CSV', 'Mamori', await mamori(csv, 'shadowserver')]);
    results.push(['Shadowserver CSV', 'Python csv', await python(csv, 'csv')]);
    results.push(['IntelMQ JSON lines', 'Mamori', await mamori(jsonl, 'intelmq')]);
    results.push(['IntelMQ JSON lines', 'Python json', await python(jsonl, 'jsonl')]);
  }
  const load1 = loadavg();

  console.log(`reports ingest, ${fmt(rows)} rows per file, node ${process.version}`);
  console.log(`  files: CSV ${fmt(statSync(csv).size / MiB)} MiB, JSON lines ${fmt(statSync(jsonl).size / MiB)} MiB`);
  console.log(`  load average before ${load0.map((l) => l.toFixed(2)).join(' ')}, after ${load1.map((l) => l.toFixed(2)).join(' ')}`);
  for (const [what, who, r] of results) {
    if (r.rows !== rows) throw new Error(`${who} read ${r.rows} rows of ${rows}`);
    console.log(
      `  ${what.padEnd(20)} ${who.padEnd(12)} ${fmt(r.rows / r.seconds).padStart(9)} rows/s  ` +
        `${r.seconds.toFixed(2).padStart(6)} s  entries ${fmt(r.entries)}  peak RSS ${fmt(r.maxRssMiB)} MiB`,
    );
  }
  const best = (what: string, who: string) =>
    Math.max(...results.filter((x) => x[0] === what && x[1] === who).map((x) => x[2].rows / x[2].seconds));
  console.log(
    `  best of two, Mamori / Python: CSV ${(best('Shadowserver CSV', 'Mamori') / best('Shadowserver CSV', 'Python csv')).toFixed(2)}×, ` +
      `JSON lines ${(best('IntelMQ JSON lines', 'Mamori') / best('IntelMQ JSON lines', 'Python json')).toFixed(2)}×`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
