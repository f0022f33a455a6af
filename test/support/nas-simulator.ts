/**
 * A NAS's Dynamic Authorization Server (RFC 5176) for the tests, its checks
 * written from the RFCs independently of src/: the Request Authenticator
 * (RFC 5176 §2.3) and the Message-Authenticator (RFC 3579 §3.2, with the
 * Request Authenticator zeroed). It answers ACK, NAK (Error-Cause 503),
 * nothing, or a forged answer, and records every request it saw.
 */
import { createHash, createHmac } from 'node:crypto';
import dgram from 'node:dgram';

export const SECRET = 'dm-secret';

export interface Seen {
  ok: boolean;
  why?: string;
  attrs: Map<number, Buffer[]>;
}

export class NasSimulator {
  readonly seen: Seen[] = [];
  mode: 'ack' | 'nak' | 'silent' | 'forge' = 'ack';
  private socket = dgram.createSocket('udp4');
  port = 0;

  async start(): Promise<void> {
    this.socket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', r));
    this.port = this.socket.address().port;
  }

  stop(): void {
    this.socket.close();
  }

  private receive(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const secret = Buffer.from(SECRET);
    const attrs = new Map<number, Buffer[]>();
    let maAt = -1;
    for (let o = 20; o < msg.length;) {
      const t = msg[o]!,
        l = msg[o + 1]!;
      if (l < 2) break;
      (attrs.get(t) ?? attrs.set(t, []).get(t)!).push(msg.subarray(o + 2, o + l));
      if (t === 80) maAt = o + 2;
      o += l;
    }
    // RFC 5176 §2.3: Request Authenticator = MD5(Code + Identifier + Length + 16 zero octets + Attributes + Secret).
    const zeroed = Buffer.from(msg);
    zeroed.fill(0, 4, 20);
    const reqAuthOk = createHash('md5').update(zeroed).update(secret).digest().equals(msg.subarray(4, 20));
    // RFC 3579 §3.2 for these requests: HMAC-MD5 over the packet with the Request Authenticator and the attribute zeroed.
    let maOk = maAt < 0 ? false : true;
    if (maAt >= 0) {
      const z = Buffer.from(zeroed);
      z.fill(0, maAt, maAt + 16);
      maOk = createHmac('md5', secret)
        .update(z)
        .digest()
        .equals(msg.subarray(maAt, maAt + 16));
    }
    const ok = msg[0] === 40 && reqAuthOk && maOk;
    this.seen.push({
      ok,
      ...(ok ? {} : { why: `code ${msg[0]}, request authenticator ${reqAuthOk}, message authenticator ${maOk}` }),
      attrs,
    });
    if (!ok || this.mode === 'silent') return;
    const body = this.mode === 'nak' ? Buffer.from([101, 6, 0, 0, 0x01, 0xf7]) : Buffer.alloc(0); // Error-Cause 503
    const r = Buffer.alloc(20 + body.length);
    r[0] = this.mode === 'nak' ? 42 : 41;
    r[1] = msg[1]!;
    r.writeUInt16BE(r.length, 2);
    body.copy(r, 20);
    createHash('md5')
      .update(r.subarray(0, 4))
      .update(msg.subarray(4, 20))
      .update(r.subarray(20))
      .update(this.mode === 'forge' ? Buffer.from('not-the-secret') : secret)
      .digest()
      .copy(r, 4);
    this.socket.send(r, rinfo.port, rinfo.address);
  }
}
