/**
 * Issue 16, Medium 6: an acknowledged RADIUS Start could be lost. The server
 * answered before the session was stored (written every 250 ms), so a crash
 * lost Starts the NAS had been told were kept, and the NAS never sent them
 * again. Here `mamori serve` runs in its own process (M4 enabled, so RADIUS
 * accounting runs); a raw UDP client — written from RFC 2866 here, not from
 * src/ — sends Starts of distinct sessions and counts each Accounting-Response
 * it gets; the server is killed with SIGKILL mid-stream; then the store is
 * opened again and every acknowledged session must be in it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { CLI, tempDir } from '../support/fixtures.js';
import { freePort } from '../support/freeradius.js';

const SECRET = 'kill-test-secret';
const PER_SOCKET = 256; // one identifier per packet on each socket: an answer names its packet

/** Accounting-Request (code 4) with its Request Authenticator, RFC 2866 §3: MD5(code+id+length+16 zero octets+attributes+secret). */
function startPacket(identifier: number, n: number, eventTime: number): Buffer {
  const attrs: Buffer[] = [];
  const add = (type: number, value: Buffer) => attrs.push(Buffer.concat([Buffer.from([type, value.length + 2]), value]));
  const u32 = (x: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(x >>> 0);
    return b;
  };
  add(40, u32(1)); // Acct-Status-Type = Start
  add(1, Buffer.from(`user${n}@isp`));
  add(44, Buffer.from(`s${n}`));
  add(8, Buffer.from([100, 64 + ((n >> 16) & 63), (n >> 8) & 255, n & 255]));
  add(55, u32(eventTime));
  const body = Buffer.concat(attrs);
  const p = Buffer.alloc(20 + body.length);
  p[0] = 4;
  p[1] = identifier;
  p.writeUInt16BE(p.length, 2);
  body.copy(p, 20);
  createHash('md5').update(p.subarray(0, 4)).update(Buffer.alloc(16)).update(p.subarray(20)).update(SECRET).digest().copy(p, 4);
  return p;
}

describe('security: RADIUS answers a Start only once it is stored', () => {
  it('loses no acknowledged Start when the server is killed with SIGKILL', async (t) => {
    const dir = tempDir();
    const port = await freePort();
    const config = join(dir, 'mamori.yaml');
    writeFileSync(
      config,
      [
        `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
        'server: { host: 127.0.0.1, port: 0 }',
        'measures:\n  credential-misuse: { enabled: true }',
        `ingest:\n  radius:\n    listeners: [{ host: "127.0.0.1", port: ${port} }]\n    clients: [{ ` +
          `address: "127.0.0.1", secret: "${SECRET}", name: "bras1" }]`,
      ].join('\n'),
    );
    const child = spawn(process.execPath, [CLI, '-c', config, 'serve'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    for (const deadline = Date.now() + 60_000; !/serving at/.test(out) && Date.now() < deadline;)
      await new Promise((r) => setTimeout(r, 100));
    assert.match(out, /serving at/, `server did not start: ${out.slice(-2000)}`);

    const acked = new Set<number>();
    const sockets: dgram.Socket[] = [];
    const eventTime = Math.floor(Date.now() / 1000);
    let sent = 0;
    let killed = false;
    try {
      // 40 packets every 10 ms (about 4,000 a second), on a new socket every 256; killed once 1,500 are acknowledged.
      for (const deadline = Date.now() + 30_000; !killed && Date.now() < deadline;) {
        for (let k = 0; k < 40; k++, sent++) {
          if (sent % PER_SOCKET === 0) {
            const s = dgram.createSocket('udp4');
            const base = sent;
            s.on('message', (m) => {
              if (m[0] === 5) acked.add(base + m[1]!);
            });
            await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
            sockets.push(s);
          }
          sockets.at(-1)!.send(startPacket(sent % PER_SOCKET, sent, eventTime), port, '127.0.0.1');
        }
        await new Promise((r) => setTimeout(r, 10));
        if (acked.size >= 1500) {
          child.kill('SIGKILL');
          killed = true;
        }
      }
      assert.ok(killed, `only ${acked.size} of ${sent} Starts were acknowledged within 30 s`);
      await exited;
      await new Promise((r) => setTimeout(r, 100)); // answers already on their way
    } finally {
      if (!killed) child.kill('SIGKILL');
      for (const s of sockets) s.close();
    }
    const count = acked.size;
    const db = new Database(join(dir, 'data', 'state.sqlite'), { readonly: true, fileMustExist: true });
    const stored = new Set((db.prepare('select key from ip_sessions').all() as Array<{ key: string }>).map((r) => r.key));
    db.close();
    const lost = [...acked].filter((n) => !stored.has(`bras1|s${n}`));
    t.diagnostic(`${count} of ${sent} Starts acknowledged before SIGKILL, ${lost.length} of them missing from the store`);
    assert.ok(count >= 1500, `${count} acknowledged`);
    assert.deepEqual(
      lost.length,
      0,
      `${lost.length} of ${count} acknowledged Starts (of ${sent} sent) were not in the store after SIGKILL`,
    );
  });
});
