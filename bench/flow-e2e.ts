/**
 * End to end, side by side with nfcapd in the same run: the same sender
 * (bench/flow-sender.ts, its own process) replays the same IPFIX stream into
 * Mamori's inlet (UDP → worker decode → staging/spool → chdb) and into nfcapd
 * (UDP → nfcapd file), one receiver at a time, at the same target rates, with
 * the same socket buffer request (4 MiB; the kernel caps it at net.core.rmem_max).
 *
 * 1. Burst: a ladder of rates, BURST_SECONDS a step (default 4). Buffers (the
 *    socket, the receiving ring, Mamori's backlog) can absorb a step this short.
 * 2. Sustained: SUSTAINED_SECONDS a step (default 60). Each receiver starts at
 *    its own burst knee, halves the rate while it loses (not below SUSTAINED_LOW
 *    × the start), then bisects, at most SUSTAINED_PROBES steps each (or runs the
 *    rates in SUSTAINED_RATES). RSS and backlog are sampled every SAMPLE_SECONDS
 *    and printed as a series per step.
 * 3. Overload (OVERLOAD_SECONDS, 0 skips it): 3× Mamori's lossless burst step,
 *    then recovery at that step.
 *
 * Rates are datagrams/s of 22 records each. "Lossless" is the highest rate the
 * sender really offered (records sent / step time) with no loss at that step.
 *
 *   node dist/bench/flow-e2e.js [burst-seconds]
 *   env: BURST_SECONDS RATES SUSTAINED_SECONDS SUSTAINED_RATES SUSTAINED_PROBES SUSTAINED_LOW SAMPLE_SECONDS OVERLOAD_SECONDS
 */
import { execFile, execSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AuditLog } from '../src/core/audit/log.js';
import { openChdbStore } from '../src/store/analytics/chdb.js';
import { openSqliteStateStore } from '../src/store/state/store.js';
import { FlowInlet, inletSettings } from '../src/ingest/flow/inlet.js';
import { FLOW_DATASET } from '../src/ingest/flow/dataset.js';
import { parseConfig } from '../src/core/config.js';

const run = promisify(execFile);
const env = (name: string, fallback: string) => process.env[name] ?? fallback;
const burstSeconds = Number(env('BURST_SECONDS', process.argv[2] ?? '4'));
const rates = env('RATES', '5000,10000,20000,30000,40000,50000,60000,80000,100000,130000,145000,160000').split(',').map(Number);
const sustainedSeconds = Number(env('SUSTAINED_SECONDS', '60'));
const sustainedRates = process.env.SUSTAINED_RATES ? process.env.SUSTAINED_RATES.split(',').map(Number) : undefined;
const sustainedProbes = Number(env('SUSTAINED_PROBES', '5'));
const sustainedLow = Number(env('SUSTAINED_LOW', '0.1'));
const sampleSeconds = Number(env('SAMPLE_SECONDS', '5'));
const overloadSeconds = Number(env('OVERLOAD_SECONDS', String(burstSeconds * 4)));
const RECV_BUFFER = 4 << 20;
const PER_DATAGRAM = 22;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number) => Math.round(n).toLocaleString('en');
const mib = (b: number) => (b / 2 ** 20).toFixed(0);
const uptime = () => execSync('uptime', { encoding: 'utf8' }).trim();

interface Sent {
  datagrams: number;
  records: number;
  elapsed: number;
  failed: number;
}

async function sendAt(port: number, datagramsPerSecond: number, secs: number): Promise<Sent> {
  const sender = new URL('./flow-sender.js', import.meta.url).pathname;
  const { stdout } = await run(process.execPath, [sender, String(port), String(datagramsPerSecond), String(secs)]);
  return JSON.parse(stdout) as Sent;
}

/** The kernel's receive queue (bytes) and drop count of the UDP socket bound to port, from /proc/net/udp. */
function socketQueue(port: number): { queued: number; drops: number } {
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5 || parseInt(cols[1]!.split(':')[1]!, 16) !== port) continue;
    return { queued: parseInt(cols[4]!.split(':')[1]!, 16), drops: Number(cols[cols.length - 1]) || 0 };
  }
  return { queued: 0, drops: 0 };
}

function rssOf(pid: number | 'self'): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

function directoryBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) {
    try {
      n += statSync(join(dir, f)).size;
    } catch {
      /* inserted and removed meanwhile */
    }
  }
  return n;
}

/** Samples taken every SAMPLE_SECONDS while a step runs; `take` returns one column's text. */
function sampler(take: () => string): { stop: () => string[] } {
  const series: string[] = [];
  const t = setInterval(() => series.push(take()), sampleSeconds * 1000);
  return {
    stop: () => {
      clearInterval(t);
      return series;
    },
  };
}

const dir = mkdtempSync(join(tmpdir(), 'mamori-bench-'));
const state = await openSqliteStateStore(join(dir, 'state.sqlite'));
const audit = await AuditLog.open(state, join(dir, 'anchors.jsonl'));
const analytics = await openChdbStore(join(dir, 'analytics'));
const config = parseConfig('', 'defaults');
// The server's defaults, but for the socket buffer (the same request as nfcapd's) and the listener.
const inlet = await FlowInlet.start(
  { analytics, audit },
  {
    ...inletSettings(config),
    listeners: [{ host: '127.0.0.1', port: 0 }],
    recvBufferSize: RECV_BUFFER,
    statusMs: 500,
  },
);
const mamoriPort = inlet.addresses[0]!.port;
// Where decoded records wait for storage: the spool (on the store's disk), or before it, staging (tmpfs).
const waitingDirectory = (analytics as { spoolDirectory?: string }).spoolDirectory ?? analytics.stagingDirectory;
const storedRows = async () => Number((await analytics.query<{ n: string }>(`SELECT count() AS n FROM ${FLOW_DATASET.table}`))[0]!.n);

interface Step {
  sent: Sent;
  stored: number;
  offered: number;
  loss: number;
  detail: string;
  series: string[];
  load: string;
}

const spoolMax = (config.ingest.flows as { spoolMaxBytes?: number }).spoolMaxBytes;

async function mamoriStep(rate: number, secs: number): Promise<Step> {
  const before = inlet.status();
  const waiting0 = directoryBytes(waitingDirectory);
  const row0 = await storedRows();
  const s = sampler(() => {
    const st = inlet.status();
    return (
      `${mib(rssOf('self'))} MiB/${fmt(st.inflight / 1000)}k/${mib(directoryBytes(waitingDirectory))} ` +
      `MiB/${mib(socketQueue(mamoriPort).queued)} MiB`
    );
  });
  const sent = await sendAt(mamoriPort, rate, secs);
  const series = s.stop();
  const atEnd = inlet.status().inflight;
  // How fast the backlog grew, and how long the spool's bound would hold at that pace.
  const growth = (directoryBytes(waitingDirectory) - waiting0) / sent.elapsed;
  const holds =
    spoolMax && growth > 0
      ? `; at this pace the ${mib(spoolMax)} MiB spool fills in ${((spoolMax - waiting0) / growth / 60).toFixed(0)} min`
      : '';
  const t0 = performance.now();
  await sleep(300);
  await inlet.flush();
  const drain = (performance.now() - t0) / 1000;
  const stored = (await storedRows()) - row0;
  const after = inlet.status();
  const d = (k: 'kernelDrops' | 'ringDrops' | 'droppedRecords') => after[k] - before[k];
  const loss = sent.records - stored;
  return {
    sent,
    stored,
    loss,
    offered: sent.records / sent.elapsed,
    series,
    load: uptime().replace(/.*load average: /, ''),
    detail:
      `kernel ${fmt(d('kernelDrops'))} + ring ${fmt(d('ringDrops'))} datagrams, backlog ${fmt(d('droppedRecords'))} records; ` +
      `${fmt(atEnd)} waiting at the end (grew ${mib(Math.max(0, growth))} MiB/s${holds}), stored ${drain.toFixed(1)} s later`,
  };
}

let nfPort = 39700;
async function nfcapdStep(rate: number, secs: number): Promise<Step> {
  const out = join(dir, `nfcapd-${nfPort}`);
  mkdirSync(out, { recursive: true });
  const port = nfPort++;
  const child = spawn('nfcapd', ['-w', out, '-p', String(port), '-b', '127.0.0.1', '-t', '3600', '-B', String(RECV_BUFFER)], {
    stdio: 'ignore',
  });
  await sleep(500);
  const s = sampler(() => `${mib(rssOf(child.pid!))} MiB/${mib(socketQueue(port).queued)} MiB`);
  const drops0 = socketQueue(port).drops;
  const sent = await sendAt(port, rate, secs);
  const series = s.stop();
  const drops = socketQueue(port).drops - drops0;
  await sleep(300);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  const r = spawnSync('nfdump', ['-R', out, '-I'], { encoding: 'utf8' });
  const stored = Number(/^Flows: (\d+)/m.exec(r.stdout)?.[1] ?? 0);
  rmSync(out, { recursive: true, force: true });
  const loss = sent.records - stored;
  return {
    sent,
    stored,
    loss,
    offered: sent.records / sent.elapsed,
    series,
    load: uptime().replace(/.*load average: /, ''),
    detail: `kernel ${fmt(drops)} datagrams`,
  };
}

const pct = (s: Step) => `${((100 * s.loss) / s.sent.records).toFixed(2)}%`;
const defaults = config.ingest.flows;
const shown = [
  'BURST_SECONDS',
  'RATES',
  'SUSTAINED_SECONDS',
  'SUSTAINED_RATES',
  'SUSTAINED_PROBES',
  'SUSTAINED_LOW',
  'SAMPLE_SECONDS',
  'OVERLOAD_SECONDS',
];
console.log(
  `command: ${shown
    .filter((k) => process.env[k] !== undefined)
    .map((k) => `${k}=${process.env[k]} `)
    .join('')}node ${process.argv.slice(1).join(' ')}`,
);
const probesText = `≤ ${sustainedProbes} probes each from the burst knee (halving, then bisecting; floor ${sustainedLow} × knee)`;
console.log(
  `settings: burst ${burstSeconds}s/step, rates ${rates.join(',')} datagrams/s; sustained ${sustainedSeconds}s/step, ` +
    `${sustainedRates ? `rates ${sustainedRates.join(',')}` : probesText}; ` +
    `samples every ${sampleSeconds}s; overload ${overloadSeconds}s`,
);
const { listeners: _l, allowedExporters: _a, ...shownDefaults } = defaults;
console.log(`inlet defaults: ${JSON.stringify(shownDefaults)}`);
console.log(`IPFIX IPv4 stream (${PER_DATAGRAM} records/datagram), node ${process.version}, nproc 2, Mamori receiver: ${inlet.receiver}`);
console.log(`uptime at start: ${uptime()}`);

// ---- 1. Burst ----
console.log('');
console.log(`### Burst: ${burstSeconds} s a step`);
console.log(
  '| target (records/s) | Mamori offered | Mamori stored | Mamori loss | nfcapd offered | nfcapd ' +
    'stored | nfcapd loss | load (1/5/15 min) |',
);
console.log('|---|---|---|---|---|---|---|---|');
const knee = { mamori: 0, nfcapd: 0, mamoriRate: 0, nfcapdRate: 0, mamoriLost: false, nfcapdLost: false, mamoriFull: 0 };
for (const rate of rates) {
  const m = await mamoriStep(rate, burstSeconds);
  const n = await nfcapdStep(rate, burstSeconds);
  if (m.loss === 0 && !knee.mamoriLost) {
    knee.mamori = Math.max(knee.mamori, m.offered);
    knee.mamoriRate = rate;
    // The step the overload and recovery runs build on: lossless and offered in full.
    if (m.offered >= rate * PER_DATAGRAM * 0.98) knee.mamoriFull = rate;
  } else knee.mamoriLost = true;
  if (n.loss === 0 && !knee.nfcapdLost) {
    knee.nfcapd = Math.max(knee.nfcapd, n.offered);
    knee.nfcapdRate = rate;
  } else knee.nfcapdLost = true;
  console.log(
    `| ${fmt(rate * PER_DATAGRAM)} | ${fmt(m.offered)} | ${fmt(m.stored)} | ${fmt(m.loss)} (${pct(m)}; ${m.detail}) | ` +
      `${fmt(n.offered)} | ${fmt(n.stored)} | ${fmt(n.loss)} (${pct(n)}; ${n.detail}) | ${n.load} |`,
  );
  if (knee.mamoriLost && knee.nfcapdLost) break;
}
console.log('');
console.log(
  `burst lossless (offered): Mamori ${fmt(knee.mamori)} records/s, nfcapd ${fmt(knee.nfcapd)} records/s, ` +
    `ratio ${knee.nfcapd ? (knee.mamori / knee.nfcapd).toFixed(2) : 'n/a'}`,
);

// ---- 2. Sustained ----
/**
 * One receiver's sustained lossless rate: the first probe is its burst knee (or the lowest
 * burst step when none was lossless); while probes lose, the rate halves (down to
 * SUSTAINED_LOW × that start); once one is lossless, the rest bisect between the highest
 * lossless and the lowest lossy rate.
 */
class Search {
  lossless = 0;
  private lo: number | undefined;
  private hi: number | undefined;
  private next: number | undefined;
  private readonly floor: number;
  private readonly queue: number[] | undefined;
  constructor(start: number) {
    this.next = start;
    this.floor = start * sustainedLow;
    this.queue = sustainedRates && [...sustainedRates];
  }
  rate(): number | undefined {
    return this.queue ? this.queue[0] : this.next;
  }
  record(rate: number, s: Step): void {
    if (s.loss === 0 && s.offered > this.lossless) this.lossless = s.offered;
    if (this.queue) {
      this.queue.shift();
      return;
    }
    if (s.loss === 0) this.lo = rate;
    else this.hi = rate;
    if (this.hi === undefined)
      this.next = undefined; // lossless where the burst knee was: nothing above it to find
    else if (this.lo === undefined) this.next = rate / 2 >= this.floor ? Math.round(rate / 2) : undefined;
    else this.next = this.hi - this.lo > this.hi * 0.03 ? Math.round((this.lo + this.hi) / 2) : undefined;
  }
}

if (sustainedSeconds > 0) {
  console.log('');
  console.log(`### Sustained: ${sustainedSeconds} s a step`);
  console.log(
    `Series, one sample every ${sampleSeconds} s — Mamori: process RSS / records waiting for storage ` +
      `/ their bytes on disk or tmpfs / socket queue; ` +
      'nfcapd: RSS / socket queue. The flows table is emptied after each Mamori step (disk).',
  );
  console.log('| receiver | target (records/s) | offered | stored | loss | load (1/5/15 min) | series |');
  console.log('|---|---|---|---|---|---|---|');
  const ms = new Search(knee.mamoriRate || rates[0]!);
  const ns = new Search(knee.nfcapdRate || rates[0]!);
  for (let i = 0; i < (sustainedRates?.length ?? sustainedProbes); i++) {
    const mr = ms.rate();
    if (mr !== undefined) {
      const m = await mamoriStep(mr, sustainedSeconds);
      ms.record(mr, m);
      console.log(
        `| Mamori | ${fmt(mr * PER_DATAGRAM)} | ${fmt(m.offered)} | ${fmt(m.stored)} | ${fmt(m.loss)} ` +
          `(${pct(m)}; ${m.detail}) | ${m.load} | ${m.series.join(' · ')} |`,
      );
      await analytics.exec(`TRUNCATE TABLE ${FLOW_DATASET.table}`);
    }
    const nr = ns.rate();
    if (nr !== undefined) {
      const n = await nfcapdStep(nr, sustainedSeconds);
      ns.record(nr, n);
      console.log(
        `| nfcapd | ${fmt(nr * PER_DATAGRAM)} | ${fmt(n.offered)} | ${fmt(n.stored)} | ${fmt(n.loss)} ` +
          `(${pct(n)}; ${n.detail}) | ${n.load} | ${n.series.join(' · ')} |`,
      );
    }
    if (mr === undefined && nr === undefined) break;
  }
  console.log('');
  console.log(
    `sustained lossless (offered, ${sustainedSeconds} s): Mamori ${fmt(ms.lossless)} records/s, nfcapd ${fmt(ns.lossless)} records/s, ` +
      `ratio ${ns.lossless ? (ms.lossless / ns.lossless).toFixed(2) : 'n/a'}`,
  );
}

// ---- 3. Overload and recovery ----
if (overloadSeconds > 0 && knee.mamoriFull > 0) {
  const base = knee.mamoriFull;
  const rss: number[] = [];
  const t = setInterval(() => rss.push(rssOf('self')), 250);
  const o = await mamoriStep(base * 3, overloadSeconds);
  clearInterval(t);
  const r = await mamoriStep(base, burstSeconds);
  const quarter = (q: number) => mib(Math.max(...rss.slice(Math.floor(((q - 1) * rss.length) / 4), Math.floor((q * rss.length) / 4))));
  console.log('');
  console.log(
    `overload at ${fmt(o.sent.records / o.sent.elapsed)} records/s (3× the lossless burst step) for ${overloadSeconds}s: ` +
      `stored ${fmt(o.stored)}, lost ${fmt(o.loss)} — counted: ${o.detail}`,
  );
  console.log(
    `RSS (max per quarter of the overload, ${rss.length} samples): ${quarter(1)} / ${quarter(2)} / ${quarter(3)} / ${quarter(4)} MiB`,
  );
  console.log(`recovery at the lossless burst step: stored ${fmt(r.stored)} of ${fmt(r.sent.records)} (loss ${fmt(r.loss)})`);
}
const [parts] = await analytics.query<{ parts: string; rows: string }>(
  `SELECT count() AS parts, sum(rows) AS rows FROM system.parts WHERE database = 'mamori_m1' AND table = 'flows' AND active`,
);
console.log(`flows table after the run: ${fmt(Number(parts!.rows))} rows in ${parts!.parts} active parts`);
console.log(`uptime at the end: ${uptime()}`);
await inlet.stop();
await analytics.close();
await state.close();
rmSync(dir, { recursive: true, force: true });
