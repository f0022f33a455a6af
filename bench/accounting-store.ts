/**
 * How fast accounting events are committed to the state store (SQLite, WAL),
 * the cost the RADIUS server now pays before it answers: N Starts of distinct
 * sessions, then their N Stops, recorded and committed in batches of B events
 * (one transaction a batch, as the server commits what arrived during the
 * previous commit), on the main thread. Prints events per second.
 *
 *   node dist/bench/accounting-store.js [sessions=60000] [batch=250]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMamori } from '../src/app/mamori.js';
import { parseConfig } from '../src/core/config.js';

const n = Number(process.argv[2] ?? 60_000);
const b = Number(process.argv[3] ?? 250);
const dir = mkdtempSync(join(tmpdir(), 'mamori-bench-store-'));
const mamori = await openMamori(parseConfig(`dataDir: ${JSON.stringify(dir)}`, 'bench'), { analytics: false });
const s = mamori.subscribers;
const t0 = 1_764_000_000;
const phase = async (what: string, make: (i: number) => Parameters<typeof s.record>[0]) => {
  const started = performance.now();
  for (let i = 0; i < n; i += b) {
    for (let j = i; j < Math.min(n, i + b); j++) s.record(make(j));
    await s.flush();
  }
  const ms = performance.now() - started;
  process.stdout.write(
    `${what}: ${n.toLocaleString('en')} events in batches ` +
      `of ${b} in ${ms.toFixed(0)} ms: ${Math.round((n / ms) * 1000).toLocaleString('en')} ` +
      `events/s\n`,
  );
};
await phase('Start', (i) => ({
  kind: 'begin',
  key: `bras1|s${i}`,
  subscriber: `user${i}@isp`,
  address: `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
  at: t0 + i,
}));
await phase('Stop', (i) => ({ kind: 'finish', key: `bras1|s${i}`, at: t0 + 3600 + i }));
await mamori.close();
rmSync(dir, { recursive: true, force: true });
