/**
 * M7's import end to end, without HTTP: a generated N-row Shadowserver event4_sinkhole report (the published
 * columns, realistic cells) streamed through M7's importReport — parsed, minimised, each entry matched to a
 * subscriber through the core's audited lookup (the answer reused inside one session, as the import does; the lookups
 * of each batch audited as one entry),
 * unresolved entries stored with their reason, sightings folded into alerts — on an instance whose
 * assignment index holds S static subscribers. Prints rows/s, lookups asked, their audit entries and peak RSS.
 *
 *   node dist/bench/m7-match.js [rows] [subscribers]      (npm run bench:m7)
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { openMamori } from '../src/app/mamori.js';
import { createLogger } from '../src/core/logger.js';
import { shadowserverReport } from '../src/ingest/reports/shadowserver.js';
import type { CaseApi } from '../src/notify/cases.js';
import type { Notifier } from '../src/notify/notices.js';
import { InfectedHostAlert } from '../src/measures/infected-host-alert/service.js';
import type { InfectedHostAlertSettings } from '../src/measures/infected-host-alert/settings.js';
import type { SubscriberLookup } from '../src/subscriber/service.js';
import { csvRecord, shadowserverCells } from '../test/support/reports.js';
import { tempDir, testConfig } from '../test/support/fixtures.js';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const SUBSCRIBERS = Number(process.argv[3] ?? 100_000);
const fmt = (n: number) => Math.round(n).toLocaleString('en');
const address = (i: number) => `100.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}`;
const DAY0 = Date.UTC(2026, 10, 28);

/** ROWS rows over SUBSCRIBERS addresses (a busy bot appears many times a day), 1 % in a block nobody holds. */
async function* report(): AsyncGenerator<Buffer> {
  const columns = shadowserverReport('event4_sinkhole')!.columns;
  const families = ['andromeda', 'mirai', 'emotet', 'qakbot', 'necurs', 'conficker'];
  yield Buffer.from(csvRecord(columns));
  let chunk: string[] = [];
  for (let i = 0; i < ROWS; i++) {
    const unassigned = i % 100 === 99;
    const who = (i * 7919) % SUBSCRIBERS;
    const cells = shadowserverCells('event4_sinkhole', {
      timestamp: new Date(DAY0 + (i % 86_400) * 1000).toISOString().replace('T', ' ').slice(0, 19),
      src_ip: unassigned ? address(SUBSCRIBERS + (i % 50_000)) : address(who),
      src_port: String(1024 + (i % 60_000)),
      infection: families[who % families.length]!,
    });
    chunk.push(csvRecord(columns.map((c) => cells[c] ?? '')));
    if (chunk.length === 512) {
      yield Buffer.from(chunk.join(''));
      chunk = [];
    }
  }
  if (chunk.length > 0) yield Buffer.from(chunk.join(''));
}

const dir = tempDir();
const m = await openMamori(
  testConfig(join(dir, 'data'), `measures:\n  infected-host-alert:\n    enabled: true\n    prefixes: ["100.64.0.0/10"]\n`),
);
try {
  // Static assignments valid from two days before the report.
  const from = Math.floor(DAY0 / 1000) - 2 * 86_400;
  let csv = '';
  for (let i = 0; i < SUBSCRIBERS; i++) csv += `sub-${i},${address(i)},${from}\n`;
  const t0 = performance.now();
  const imported = await m.subscribers.importStatic(csv, 'cli:bench');
  const loadSeconds = (performance.now() - t0) / 1000;
  const caps = m.broker.forMeasure('infected-host-alert');
  const service = new InfectedHostAlert(
    await caps.ownState<InfectedHostAlertSettings>(),
    await caps.action<SubscriberLookup>('subscriber-lookup'),
    await caps.action<CaseApi>('cases'),
    await caps.action<Notifier>('notifier'),
    createLogger('silent'),
  );
  const before = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  const started = performance.now();
  // The report's day is in the past; "now" for the future check is the clock.
  const r = await service.importReport(report(), {
    source: 'shadowserver',
    reportType: 'event4_sinkhole',
    origin: 'cli',
    actor: 'cli:bench',
  });
  const seconds = (performance.now() - started) / 1000;
  const after = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  const asked = r.resolved + r.unresolved - r.lookupsReused;
  // The lookups are audited per batch of the report (one entry naming the import, with counts), not one by one.
  let audited = 0;
  for await (const e of m.audit.entries()) if (e.action === 'subscriber.lookup' && e.caseId === r.id) audited += 1;
  process.stdout.write(
    `M7 import, ${fmt(ROWS)} rows, ${fmt(SUBSCRIBERS)} subscribers (static assignments loaded in ${loadSeconds.toFixed(1)} s, ` +
      `${fmt(imported.applied)} applied), node ${process.version}\n` +
      `  load average before ${before}, after ${after}\n` +
      `  rows ${fmt(r.summary.rows)}  entries ${fmt(r.summary.entries)}  matched ${fmt(r.resolved)}  unresolved ${fmt(r.unresolved)} ` +
      `${JSON.stringify(r.unresolvedReasons)}\n` +
      `  lookups asked ${fmt(asked)} (audit entries ${fmt(audited)}), answered from the same session ${fmt(r.lookupsReused)}, ` +
      `alerts ${fmt(r.alerts)}\n` +
      `  ${fmt(r.summary.rows / seconds)} rows/s matched (${seconds.toFixed(1)} s), ` +
      `peak RSS ${fmt(process.resourceUsage().maxRSS / 1024)} MiB\n`,
  );
} finally {
  await m.close();
}
