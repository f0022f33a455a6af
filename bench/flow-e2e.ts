/**
 * End to end, side by side with nfcapd in the same run: the same sender
 * (bench/flow-sender.ts, its own process) replays the same IPFIX stream at a
 * ladder of rates, first into Mamori's inlet (UDP → worker decode → chdb),
 * then into nfcapd (UDP → decode → nfcapd file). For each rate: records sent,
 * records that arrived, loss. The lossless rate is the highest rate with zero
 * loss; the ratio Mamori/nfcapd is printed at the end. Then the overload run:
 * 3× Mamori's lossless rate, memory sampled, drops counted, then recovery.
 *
 *   node dist/bench/flow-e2e.js [seconds-per-step]
 *
 * Both receivers get the same socket buffer request (4 MiB; the kernel caps it
 * at net.core.rmem_max).
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
const seconds = Number(process.argv[2] ?? 4);
const RECV_BUFFER = 4 << 20;
const PER_DATAGRAM = 22;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sent { datagrams: number; records: number; elapsed: number }

async function sendAt(port: number, datagramsPerSecond: number, secs = seconds): Promise<Sent> {
  const { stdout } = await run(process.execPath, [new URL('./flow-sender.js', import.meta.url).pathname, String(port), String(datagramsPerSecond), String(secs)]);
  return JSON.parse(stdout) as Sent;
}

const dir = mkdtempSync(join(tmpdir(), 'mamori-bench-'));
const state = await openSqliteStateStore(join(dir, 'state.sqlite'));
const audit = await AuditLog.open(state, join(dir, 'anchors.jsonl'));
const analytics = await openChdbStore(join(dir, 'analytics'));

async function mamoriCase(rate: number, inlet: FlowInlet, secs = seconds): Promise<{ sent: Sent; stored: number; dropped: number; kernel: number; ring: number }> {
  const before = inlet.status();
  const [row0] = await analytics.query<{ n: string }>(`SELECT count() AS n FROM ${FLOW_DATASET.table}`);
  const sent = await sendAt(inlet.addresses[0]!.port, rate, secs);
  await sleep(300);
  await inlet.flush();
  const [row1] = await analytics.query<{ n: string }>(`SELECT count() AS n FROM ${FLOW_DATASET.table}`);
  const after = inlet.status();
  return {
    sent, stored: Number(row1!.n) - Number(row0!.n),
    dropped: after.droppedRecords - before.droppedRecords, kernel: after.kernelDrops - before.kernelDrops, ring: after.ringDrops - before.ringDrops,
  };
}

async function nfcapdCase(rate: number, port: number): Promise<{ sent: Sent; stored: number }> {
  const out = join(dir, `nfcapd-${rate}`);
  spawnSync('mkdir', ['-p', out]);
  const child = spawn('nfcapd', ['-w', out, '-p', String(port), '-b', '127.0.0.1', '-t', '3600', '-B', String(RECV_BUFFER)], { stdio: 'ignore' });
  await sleep(500);
  const sent = await sendAt(port, rate);
  await sleep(300);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  const r = spawnSync('nfdump', ['-R', out, '-I'], { encoding: 'utf8' });
  const flows = Number(/^Flows: (\d+)/m.exec(r.stdout)?.[1] ?? 0);
  rmSync(out, { recursive: true, force: true });
  return { sent, stored: flows };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en');
const rates = (process.env.RATES ?? '20000,30000,40000,50000,60000,80000,100000,130000,145000,160000').split(',').map(Number); // datagrams/s; ×22 records
// The server's defaults, but for the socket buffer (the same request as nfcapd's) and the listener.
const defaults = parseConfig('', 'defaults').ingest.flows;
const inlet = await FlowInlet.start({ analytics, audit }, {
  ...inletSettings(parseConfig('', 'defaults')), listeners: [{ host: '127.0.0.1', port: 0 }], recvBufferSize: RECV_BUFFER, statusMs: 500,
});

console.log(`inlet defaults: receiver ${defaults.receiver}, ring ${defaults.receiveRingBytes >> 20} MiB, batchSize ${defaults.batchSize}, insertRows ${defaults.insertRows}, maxInflightBatches ${defaults.maxInflightBatches}`);
console.log(`flow end to end, ${seconds}s per step, IPFIX IPv4 stream (${PER_DATAGRAM} records/datagram), node ${process.version}, nproc 2, Mamori receiver: ${inlet.receiver}`);
console.log('| target (records/s) | Mamori offered | Mamori stored | Mamori loss | nfcapd offered | nfcapd stored | nfcapd loss |');
console.log('|---|---|---|---|---|---|---|');
// The lossless rate is the highest rate the sender really offered (records sent / step time) with
// no loss at that step or below. On a saturated machine the sender itself may fall behind its
// target: what it offered, not the target, is what a receiver is credited with.
let mamoriLossless = 0;
let nfcapdLossless = 0;
let mamoriLosslessStep = 0;
let mamoriLost = false;
let nfcapdLost = false;
let nfPort = 39700;
for (const rate of rates) {
  const m = await mamoriCase(rate, inlet);
  const n = await nfcapdCase(rate, nfPort++);
  // Templates are not flows: compare against data records sent.
  const mLoss = m.sent.records - m.stored;
  const nLoss = n.sent.records - n.stored;
  const mOffered = m.sent.records / seconds;
  const nOffered = n.sent.records / seconds;
  if (mLoss === 0 && !mamoriLost) {
    mamoriLossless = Math.max(mamoriLossless, mOffered);
    // The step the overload and recovery runs build on: lossless and offered in full.
    if (mOffered >= rate * PER_DATAGRAM * 0.98) mamoriLosslessStep = rate;
  } else mamoriLost = true;
  if (nLoss === 0 && !nfcapdLost) nfcapdLossless = Math.max(nfcapdLossless, nOffered); else nfcapdLost = true;
  console.log(`| ${fmt(rate * PER_DATAGRAM)} | ${fmt(mOffered)} | ${fmt(m.stored)} | ${fmt(mLoss)} (${((100 * mLoss) / m.sent.records).toFixed(2)}%; kernel ${fmt(m.kernel)} + ring ${fmt(m.ring)} datagrams, backlog ${fmt(m.dropped)} records) | ${fmt(nOffered)} | ${fmt(n.stored)} | ${fmt(nLoss)} (${((100 * nLoss) / n.sent.records).toFixed(2)}%) |`);
  if (mamoriLost && nfcapdLost) break;
}
console.log('');
console.log(`lossless rate (offered): Mamori ${fmt(mamoriLossless)} records/s, nfcapd ${fmt(nfcapdLossless)} records/s, ratio ${nfcapdLossless ? (mamoriLossless / nfcapdLossless).toFixed(2) : 'n/a'}`);

// Overload: 3× Mamori's lossless rate, memory sampled; then back to the lossless rate.
const overload = Math.max(1, mamoriLosslessStep) * 3;
const rss: number[] = [];
const sampler = setInterval(() => rss.push(process.memoryUsage().rss), 250);
const overloadSeconds = seconds * 4;
const o = await mamoriCase(overload, inlet, overloadSeconds);
clearInterval(sampler);
// Recovery: the load drops back (to the lossless step) once the backlog of the overload is stored.
await inlet.flush();
const r = await mamoriCase(Math.max(1, mamoriLosslessStep), inlet);
const mb = (b: number) => (b / 2 ** 20).toFixed(0);
console.log('');
const quarter = (q: number) => mb(Math.max(...rss.slice(Math.floor(((q - 1) * rss.length) / 4), Math.floor((q * rss.length) / 4))));
console.log(`overload at ${fmt((o.sent.records / o.sent.elapsed))} records/s (3× lossless) for ${overloadSeconds}s: stored ${fmt(o.stored)}, lost ${fmt(o.sent.records - o.stored)} — counted: kernel ${fmt(o.kernel)} + ring ${fmt(o.ring)} datagrams (${fmt((o.kernel + o.ring) * PER_DATAGRAM)} records), backlog ${fmt(o.dropped)} records`);
console.log(`RSS (max per quarter of the overload, ${rss.length} samples): ${quarter(1)} / ${quarter(2)} / ${quarter(3)} / ${quarter(4)} MiB`);
const [parts] = await analytics.query<{ parts: string; rows: string }>(`SELECT count() AS parts, sum(rows) AS rows FROM system.parts WHERE database = 'mamori_m1' AND table = 'flows' AND active`);
console.log(`recovery at the lossless rate: stored ${fmt(r.stored)} of ${fmt(r.sent.records)} (loss ${fmt(r.sent.records - r.stored)})`);

console.log(`flows table after the run: ${fmt(Number(parts!.rows))} rows in ${parts!.parts} active parts (merge_selector_base 100: fewer, larger merges)`);
await inlet.stop();
await analytics.close();
await state.close();
rmSync(dir, { recursive: true, force: true });
