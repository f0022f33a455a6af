/**
 * RADIUS accounting ingest over loopback: a sender in a worker thread sends
 * pre-signed Accounting-Requests (Start, then Stop, for distinct sessions) at
 * rising rates for a few seconds each; the server in this thread checks each
 * authenticator and answers; the main thread applies it to the index. A rate counts as held
 * when every packet sent was answered and applied. Receiving, checking and
 * answering run in the server's receiving thread, applying in the main one. The sender waits for no answer (as a
 * busy BRAS pipelines its accounting), so loss shows as unanswered packets.
 *
 *   node dist/bench/radius-ingest.js [seconds-per-rate=3] [rates=20000,40000,60000,80000,100000]
 */
import { Worker } from 'node:worker_threads';
import { RadiusAccountingServer } from '../src/ingest/radius/server.js';
import { SessionIndex } from '../src/subscriber/sessions.js';

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

const index = new SessionIndex({ interimTimeoutSeconds: 3600 });
const server = await RadiusAccountingServer.start({ listeners: [{ host: '127.0.0.1', port: 0 }], clients: [{ address: '127.0.0.1', secret: SECRET }] }, index);
const port = server.addresses[0]!.port;
let offset = 0;
for (const rate of rates) {
  const before = server.status();
  const result = await new Promise<{ sent: number; answered: number }>((resolve, reject) => {
    const w = new Worker(sender, { eval: true, workerData: { port, rate, seconds, secret: SECRET, offset } });
    w.once('message', resolve);
    w.once('error', reject);
  });
  offset += result.sent;
  await server.settled();
  const after = server.status();
  const applied = after.applied - before.applied;
  process.stdout.write(`${rate.toLocaleString('en')} packets/s for ${seconds} s: sent ${result.sent.toLocaleString('en')}, applied ${applied.toLocaleString('en')}, answered ${result.answered.toLocaleString('en')}${applied === result.sent ? ' — no loss' : ` — lost ${(result.sent - applied).toLocaleString('en')}`}\n`);
}
process.stdout.write(`index holds ${index.size.toLocaleString('en')} sessions\n`);
await server.stop();
