/**
 * The IP-assignment index at ISP scale: N sessions (default 50 M) of 5 M
 * subscribers over 4 M IPv4 addresses (dynamic pools: about a dozen sessions
 * per address over the retention period), built through the same calls the
 * RADIUS server makes (begin, finish), then random lookups (address, time) in
 * process. Reports build time, lookups per second and memory. There is no
 * peer with an in-process lookup to put beside it.
 *
 *   node --max-old-space-size=16384 dist/bench/subscriber-index.js [sessions=50000000] [lookups=5000000]
 */
import { SessionIndex } from '../src/subscriber/sessions.js';
import { rng } from '../src/core/random.js';

const sessions = Number(process.argv[2] ?? 50_000_000);
const lookups = Number(process.argv[3] ?? 5_000_000);
const ADDRESSES = 4_000_000;
const SUBSCRIBERS = 5_000_000;
const T0 = 1_764_000_000;
const SPAN = 180 * 86_400; // the retention period the sessions spread over
const BASE = ((100 << 24) | (64 << 16)) >>> 0; // 100.64.0.0/10

const ip = (n: number) => {
  const a = (BASE + n) >>> 0;
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
};
const names = Array.from({ length: SUBSCRIBERS }, (_, i) => `u${i}`);
const addresses = Array.from({ length: ADDRESSES }, (_, i) => ip(i));

const r = rng(7);
const index = new SessionIndex({ interimTimeoutSeconds: 3 * 3600, mergeAt: 2_000_000 });
const mem0 = process.memoryUsage();
let t = process.hrtime.bigint();
// Sessions per address follow one another in time: each address is handed out again after a stop.
const perAddress = Math.ceil(sessions / ADDRESSES);
const slot = Math.floor(SPAN / perAddress);
let made = 0;
for (let k = 0; k < perAddress && made < sessions; k++) {
  for (let a = 0; a < ADDRESSES && made < sessions; a++, made++) {
    const start = T0 + k * slot + Math.floor(r() * (slot / 4));
    const key = `bras${a & 15}|${made}`;
    index.begin({ key, subscriber: names[Math.floor(r() * SUBSCRIBERS)]!, address: addresses[a]!, start });
    index.finish(key, start + Math.floor(slot / 2 + r() * (slot / 4)));
  }
}
index.merge();
const built = Number(process.hrtime.bigint() - t) / 1e9;
const mem1 = process.memoryUsage();
process.stdout.write(
  `index of ${index.size.toLocaleString('en')} sessions built in ${built.toFixed(1)} s; typed ` +
    `arrays ${(index.typedBytes() / 2 ** 20).toFixed(0)} MiB; RSS ${(mem1.rss / 2 ** 20).toFixed(0)} ` +
    `MiB (was ${(mem0.rss / 2 ** 20).toFixed(0)} MiB), heap ${(mem1.heapUsed / 2 ** 20).toFixed(0)} MiB\n`,
);

// Queries: random addresses at random times (about half fall inside a session).
const qa = Array.from({ length: 1 << 16 }, () => addresses[Math.floor(r() * ADDRESSES)]!);
const qt = Array.from({ length: 1 << 16 }, () => T0 + Math.floor(r() * SPAN));
let found = 0;
for (let i = 0; i < 200_000; i++) if (index.lookup(qa[i & 0xffff]!, qt[i & 0xffff]!).found) found++; // warm-up
found = 0;
t = process.hrtime.bigint();
for (let i = 0; i < lookups; i++) if (index.lookup(qa[i & 0xffff]!, qt[(i * 7) & 0xffff]!).found) found++;
const s = Number(process.hrtime.bigint() - t) / 1e9;
process.stdout.write(
  `${lookups.toLocaleString('en')} lookups in ${s.toFixed(2)} s: ${Math.round(lookups / s).toLocaleString('en')} ` +
    `lookups/s (target ≥ 500,000/s); ${((100 * found) / lookups).toFixed(1)}% found a subscriber\n`,
);
