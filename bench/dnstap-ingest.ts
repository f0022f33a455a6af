/**
 * dnstap ingest, side by side with fstrm_capture (fstrm-bin, the reference
 * Frame Streams reader) in the same run: the same writer (bench/dnstap-writer.ts,
 * its own process) sends the same N frames over a unix socket, first to
 * Mamori's receiver (handshake, protobuf decode, minimisation, events to a
 * counting sink — one thread), then to fstrm_capture (which only writes the
 * frames to a file, no decoding). Messages per second as the writer sees them:
 * from START to FINISH.
 *
 *   node dist/bench/dnstap-ingest.js [frames]
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DnstapReceiver } from '../src/ingest/dnstap/receiver.js';

const run = promisify(execFile);
const frames = Number(process.argv[2] ?? 2_000_000);
const dir = mkdtempSync(join(tmpdir(), 'mamori-bench-dnstap-'));
const writer = new URL('./dnstap-writer.js', import.meta.url).pathname;
const fmt = (n: number) => Math.round(n).toLocaleString('en');

let events = 0;
const receiver = await DnstapReceiver.start({ unix: [join(dir, 'mamori.sock')] }, (batch) => {
  events += batch.length;
});
const cpu0 = process.cpuUsage();
const m = JSON.parse((await run(process.execPath, [writer, join(dir, 'mamori.sock'), String(frames)], { maxBuffer: 1 << 20 })).stdout) as {
  frames: number;
  seconds: number;
  bytes: number;
};
await receiver.drained();
const cpu = process.cpuUsage(cpu0);
const status = receiver.status();
await receiver.stop();

const capture = spawn('fstrm_capture', ['-t', 'protobuf:dnstap.Dnstap', '-u', join(dir, 'fstrm.sock'), '-w', join(dir, 'capture.fstrm')], {
  stdio: 'ignore',
});
for (let i = 0; i < 50; i++) {
  try {
    statSync(join(dir, 'fstrm.sock'));
    break;
  } catch {
    await new Promise((r) => setTimeout(r, 100));
  }
}
const f = JSON.parse((await run(process.execPath, [writer, join(dir, 'fstrm.sock'), String(frames)], { maxBuffer: 1 << 20 })).stdout) as {
  frames: number;
  seconds: number;
  bytes: number;
};
capture.kill('SIGINT');
await new Promise((r) => capture.once('exit', r));
const captured = statSync(join(dir, 'capture.fstrm')).size;

console.log(`dnstap ingest, ${fmt(m.frames)} frames (${(m.bytes / m.frames).toFixed(0)} bytes each), node ${process.version}`);
console.log('| reader | frames/s | what it does |');
console.log('|---|---|---|');
console.log(
  `| Mamori DnstapReceiver | ${fmt(m.frames / m.seconds)} | handshake, protobuf decode, DNS question, ` +
    `minimised event to the sink (${fmt(events)} events, ${fmt(status.dropped)} dropped, errors ` +
    `${JSON.stringify(status.errors)}; CPU ${(((cpu.user + cpu.system) / 1e6 / m.seconds) * 100).toFixed(0)}% ` +
    `of a core) |`,
);
console.log(`| fstrm_capture | ${fmt(f.frames / f.seconds)} | handshake, frames written to a file (${fmt(captured)} bytes), no decoding |`);
console.log(`ratio Mamori / fstrm_capture: ${(m.frames / m.seconds / (f.frames / f.seconds)).toFixed(2)}`);
rmSync(dir, { recursive: true, force: true });
