/**
 * RFC 5176 Disconnect-Request against a NAS simulator on loopback. The
 * simulator's checks are written here from the RFCs, independently of
 * src/, and are first proven against FreeRADIUS's own `radclient`: a packet
 * radclient signs passes them, a packet signed with another secret fails. Then
 * Mamori's requests must pass the same checks, and ACK, NAK with Error-Cause,
 * silence (retries) and forged answers are handled.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { sendDisconnect } from '../../src/measures/credential-misuse/disconnect.js';
import { have } from '../support/flow-peers.js';

const SECRET = 'dm-secret';

interface Seen { ok: boolean; why?: string; attrs: Map<number, Buffer[]> }

/** A NAS's Dynamic Authorization Server, as simple as the RFCs allow. */
class NasSimulator {
  readonly seen: Seen[] = [];
  mode: 'ack' | 'nak' | 'silent' | 'forge' = 'ack';
  private socket = dgram.createSocket('udp4');
  port = 0;

  async start(): Promise<void> {
    this.socket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', r));
    this.port = this.socket.address().port;
  }

  stop(): void { this.socket.close(); }

  private receive(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const secret = Buffer.from(SECRET);
    const attrs = new Map<number, Buffer[]>();
    let maAt = -1;
    for (let o = 20; o < msg.length;) {
      const t = msg[o]!, l = msg[o + 1]!;
      if (l < 2) break;
      (attrs.get(t) ?? attrs.set(t, []).get(t)!).push(msg.subarray(o + 2, o + l));
      if (t === 80) maAt = o + 2;
      o += l;
    }
    // RFC 5176 §2.3: Request Authenticator = MD5(Code + Identifier + Length + 16 zero octets + Attributes + Secret).
    const zeroed = Buffer.from(msg); zeroed.fill(0, 4, 20);
    const reqAuthOk = createHash('md5').update(zeroed).update(secret).digest().equals(msg.subarray(4, 20));
    // RFC 3579 §3.2 for these requests: HMAC-MD5 over the packet with the Request Authenticator and the attribute zeroed.
    let maOk = maAt < 0 ? false : true;
    if (maAt >= 0) { const z = Buffer.from(zeroed); z.fill(0, maAt, maAt + 16); maOk = createHmac('md5', secret).update(z).digest().equals(msg.subarray(maAt, maAt + 16)); }
    const ok = msg[0] === 40 && reqAuthOk && maOk;
    this.seen.push({ ok, ...(ok ? {} : { why: `code ${msg[0]}, request authenticator ${reqAuthOk}, message authenticator ${maOk}` }), attrs });
    if (!ok || this.mode === 'silent') return;
    const body = this.mode === 'nak' ? Buffer.from([101, 6, 0, 0, 0x01, 0xf7]) : Buffer.alloc(0); // Error-Cause 503
    const r = Buffer.alloc(20 + body.length);
    r[0] = this.mode === 'nak' ? 42 : 41;
    r[1] = msg[1]!;
    r.writeUInt16BE(r.length, 2);
    body.copy(r, 20);
    createHash('md5').update(r.subarray(0, 4)).update(msg.subarray(4, 20)).update(r.subarray(20)).update(this.mode === 'forge' ? Buffer.from('not-the-secret') : secret).digest().copy(r, 4);
    this.socket.send(r, rinfo.port, rinfo.address);
  }
}

function radclient(port: number, input: string, secret: string): Promise<number | null> {
  return new Promise((resolve) => {
    const p = spawn('radclient', ['-r', '1', '-t', '1', `127.0.0.1:${port}`, 'disconnect', secret], { stdio: ['pipe', 'ignore', 'ignore'] });
    p.on('close', resolve);
    p.stdin.end(input);
  });
}

describe('RFC 5176 Disconnect-Request', () => {
  const nas = new NasSimulator();
  before(() => nas.start());
  after(() => nas.stop());

  it('the simulator agrees with FreeRADIUS on what a signed request is', { skip: !have('radclient') && 'radclient not installed' }, async () => {
    nas.mode = 'ack';
    assert.equal(await radclient(nas.port, 'User-Name = "alice@isp"\nAcct-Session-Id = "s-1"\nMessage-Authenticator = 0x00\n', SECRET), 0);
    assert.equal(nas.seen.at(-1)!.ok, true, nas.seen.at(-1)!.why);
    await radclient(nas.port, 'User-Name = "alice@isp"\nMessage-Authenticator = 0x00\n', 'wrong');
    assert.equal(nas.seen.at(-1)!.ok, false);
  });

  it('sends what the NAS needs to find the session, signed, and reads the ACK', async () => {
    nas.mode = 'ack';
    const r = await sendDisconnect({ nas: { address: '127.0.0.1', port: nas.port, secret: SECRET }, userName: 'alice@isp', sessionId: 'bras1-0042', framedIp: '100.64.3.4', timeoutMs: 500 });
    assert.equal(r.result, 'ack');
    assert.equal(r.attempts, 1);
    const s = nas.seen.at(-1)!;
    assert.equal(s.ok, true, s.why);
    assert.equal(s.attrs.get(1)![0]!.toString(), 'alice@isp');
    assert.equal(s.attrs.get(44)![0]!.toString(), 'bras1-0042');
    assert.deepEqual([...s.attrs.get(8)![0]!], [100, 64, 3, 4]);
    assert.ok(Math.abs(s.attrs.get(55)![0]!.readUInt32BE(0) - Date.now() / 1000) < 5, 'Event-Timestamp is now');
  });

  it('reports a NAK with its Error-Cause, retries on silence, and ignores a forged answer', async () => {
    nas.mode = 'nak';
    const nak = await sendDisconnect({ nas: { address: '127.0.0.1', port: nas.port, secret: SECRET }, userName: 'bob@isp', sessionId: 'gone', timeoutMs: 500 });
    assert.deepEqual({ ...nak, ms: 0 }, { result: 'nak', attempts: 1, ms: 0, errorCause: 503, errorText: 'Session Context Not Found' });
    nas.mode = 'silent';
    const before = nas.seen.length;
    const silent = await sendDisconnect({ nas: { address: '127.0.0.1', port: nas.port, secret: SECRET }, userName: 'carol@isp', timeoutMs: 150, retries: 3 });
    assert.equal(silent.result, 'timeout');
    assert.equal(nas.seen.length - before, 3, 'three attempts');
    nas.mode = 'forge';
    const forged = await sendDisconnect({ nas: { address: '127.0.0.1', port: nas.port, secret: SECRET }, userName: 'dave@isp', timeoutMs: 150, retries: 2 });
    assert.equal(forged.result, 'timeout', 'an answer signed with another secret is not believed');
  });
});
