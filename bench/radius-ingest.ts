/**
 * RADIUS accounting ingest over loopback: a sender in a worker thread sends
 * pre-signed Accounting-Requests (Start, then Stop, for distinct sessions) at
 * rising rates for a few seconds each. The server is set up as `mamori serve`
 * sets it up: its receiving thread checks each authenticator, the main thread
 * applies the record to the index and commits it to the state store (SQLite,
 * in a temporary data directory), and only then is it answered. A rate counts
 * as held when every packet sent was applied (and so stored and answered).
 * The sender waits for no answer (as a busy BRAS pipelines its accounting),
 * so loss shows as unanswered packets.
 *
 * With FreeRADIUS installed (Debian's freeradius), the same sender then runs
 * against FreeRADIUS as the accounting server — a minimal virtual server that
 * writes each request to a detail file — and its applied count is the number
 * of records in those files.
 *
 *   node dist/bench/radius-ingest.js [seconds-per-rate=3] [rates=20000,40000,60000,80000,100000]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { sql } from 'kysely';
import { openMamori } from '../src/app/mamori.js';
import { parseConfig } from '../src/core/config.js';
import { RadiusAccountingServer } from '../src/ingest/radius/server.js';
import { freePort, startFreeRadius } from '../test/support/freeradius.js';

const seconds = Number(process.argv[2] ?? 3);
const rates = (process.argv[3] ?? '20000,40000,60000,80000,100000').split(',').map(Number);
const SECRET = 'bench-secret';

const sender = `
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const { createHash } = require('node:crypto');
const { port, rate, seconds, secret, offset } = workerData;
function packet(id, status, n) {
  const attrs = [];
  const add = (t, v) => attrs.push(Buffer.concat([Buffer.from([t, v.length + 2]), v]));
  const u = (x) => { const b = Buffer.alloc(4); b.writeUInt32BE(x >>> 0); return b; };
  add(40, u(status)); add(1, Buffer.from('user' + (n % 1000000))); add(44, Buffer.from('s' + n));
  add(8, Buffer.from([100, 64 + ((n >> 16) & 63), (n >> 8) & 255, n & 255])); add(55, u(1764000000 + (n % 86400)));
  const body = Buffer.concat(attrs);
  const p = Buffer.alloc(20 + body.length);
  p[0] = 4; p[1] = id & 255; p.writeUInt16BE(p.length, 2); body.copy(p, 20);
  createHash('md5').update(p.subarray(0, 4)).update(Buffer.alloc(16)).update(p.subarray(20)).update(secret).digest().copy(p, 4);
  return p;
}
const total = Math.floor(rate * seconds);
const packets = [];
for (let i = 0; i < total; i++) packets.push(packet(i, i % 2 === 0 ? 1 : 2, offset + (i >> 1)));
const s = dgram.createSocket('udp4');
let answered = 0;
s.on('message', () => { answered++; });
s.bind(0, '127.0.0.1', () => {
  const start = process.hrtime.bigint();
  let sent = 0;
  const tick = () => {
    const due = Math.min(total, Math.floor(Number(process.hrtime.bigint() - start) / 1e9 * rate));
    while (sent < due) s.send(packets[sent++], port, '127.0.0.1');
    if (sent < total) setTimeout(tick, 1); // bursts each millisecond: a spinning sender would take the receiver's core
    else setTimeout(() => { parentPort.postMessage({ sent, answered }); s.close(); }, 1000);
  };
  tick();
});
`;

function send(port: number, rate: number, offset: number): Promise<{ sent: number; answered: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(sender, { eval: true, workerData: { port, rate, seconds, secret: SECRET, offset } });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

const line = (who: string, rate: number, sent: number, applied: number, answered: number) =>
  `${who}: ${rate.toLocaleString('en')} packets/s for ${seconds} s: sent ${sent.toLocaleString('en')}, ` +
  (`applied ${applied.toLocaleString('en')}, answered ` +
    `${answered.toLocaleString('en')}${applied === sent ? ' — no loss' : ` — lost ${(sent - applied).toLocaleString('en')}`}\n`);

const results = new Map<number, { mamori: number; freeradius?: number; sent: number }>();
const dataDir = mkdtempSync(join(tmpdir(), 'mamori-bench-radius-'));
const mamori = await openMamori(parseConfig(`dataDir: ${JSON.stringify(dataDir)}`, 'bench'), { analytics: false });
const subscribers = mamori.subscribers;
const index = subscribers.index;
const server = await RadiusAccountingServer.start(
  { listeners: [{ host: '127.0.0.1', port: 0 }], clients: [{ address: '127.0.0.1', secret: SECRET }] },
  index,
  (e) => subscribers.record(e),
  () => subscribers.flush(),
);
const port = server.addresses[0]!.port;
let offset = 0;
for (const rate of rates) {
  const before = server.status();
  const result = await send(port, rate, offset);
  offset += result.sent;
  await server.settled();
  const after = server.status();
  const applied = after.applied - before.applied;
  results.set(rate, { mamori: applied, sent: result.sent });
  const drops = Object.entries(after.dropped)
    .map(([k, n]) => [k, n - (before.dropped[k] ?? 0)] as const)
    .filter(([, n]) => n > 0);
  process.stdout.write(
    line('mamori', rate, result.sent, applied, result.answered).replace(
      /\n$/,
      drops.length ? ` (left unanswered: ${drops.map(([k, n]) => `${k} ${n.toLocaleString('en')}`).join(', ')})\n` : '\n',
    ),
  );
}
// Packets still in the kernel's buffer when the last rate ended may be read now: settle until none come, then count both.
for (let seen = -1, i = 0; i < 50 && server.status().packets !== seen; i++) {
  seen = server.status().packets;
  await new Promise((r) => setTimeout(r, 200));
  await server.settled();
}
const held = index.size;
const stored = (await sql<{ n: number }>`select count(*) as n from ip_sessions`.execute(mamori.state.db)).rows[0]!.n;
process.stdout.write(`index holds ${held.toLocaleString('en')} sessions; state store ${Number(stored).toLocaleString('en')}\n`);
await server.stop();
await mamori.close();
rmSync(dataDir, { recursive: true, force: true });

/** FreeRADIUS with one virtual server: accounting on a loopback port, each request to a detail file. */
async function freeradius(): Promise<{ port: number; records(): number; stop(): Promise<void> } | undefined> {
  if (spawnSync('sh', ['-c', 'command -v freeradius']).status !== 0 || !existsSync('/etc/freeradius/3.0/radiusd.conf')) return undefined;
  const port = await freePort();
  const fr = await startFreeRadius(join(tmpdir(), `mamori-bench-freeradius-${process.pid}`), {
    site:
      `server bench {\n listen {\n  type = acct\n  ipaddr = 127.0.0.1\n  port = ${port}\n }\n preacct ` +
      `{\n  acct_unique\n }\n accounting {\n  detail\n }\n}\n`,
    clients: `client localhost {\n ipaddr = 127.0.0.1\n secret = ${SECRET}\n}\n`,
  });
  const acct = join(fr.dir, 'log', 'radacct');
  const records = () => {
    let n = 0;
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else n += (readFileSync(join(d, e.name), 'utf8').match(/\n\tAcct-Status-Type = /g) ?? []).length;
      }
    };
    walk(acct);
    return n;
  };
  return { port, records, stop: fr.stop };
}

const peer = await freeradius();
if (peer) {
  for (const rate of rates) {
    const before = peer.records();
    const result = await send(peer.port, rate, offset);
    offset += result.sent;
    await new Promise((r) => setTimeout(r, 500));
    const applied = peer.records() - before;
    results.get(rate)!.freeradius = applied;
    process.stdout.write(line('freeradius', rate, result.sent, applied, result.answered));
  }
  await peer.stop();
  process.stdout.write('\n| packets/s | sent | Mamori applied | FreeRADIUS written | ratio |\n|---|---|---|---|---|\n');
  for (const [rate, r] of results)
    process.stdout.write(
      `| ${rate.toLocaleString('en')} | ${r.sent.toLocaleString('en')} | ${r.mamori.toLocaleString('en')} ` +
        `| ${r.freeradius!.toLocaleString('en')} | ${(r.mamori / Math.max(1, r.freeradius!)).toFixed(2)} |\n`,
    );
} else {
  process.stdout.write('FreeRADIUS is not installed (apt-get install freeradius): no side-by-side run\n');
}
