/**
 * The native flow receiver on its own: what goes in comes out whole and in
 * order (sender, time, payload) across many turns of the ring; a full ring
 * drops and counts instead of growing; closing keeps what was received.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { describe, it } from 'node:test';
import { MIN_READ_BYTES, RECORD_HEADER_BYTES, nativeReceiver, type NativeFlowReceiver } from '../../src/ingest/flow/native-receiver.js';

const Receiver = nativeReceiver();
const skip = Receiver instanceof Error && Receiver.message;

/** A payload that says its own sequence number and length, so corruption or reordering shows. */
function payload(seq: number, length: number): Buffer {
  const b = Buffer.alloc(length, seq & 0xff);
  b.writeUInt32BE(seq, 0);
  b.writeUInt16BE(length, 4);
  return b;
}

interface Got {
  seq: number;
  length: number;
  family: number;
  from: string;
  ms: number;
  intact: boolean;
}

function parse(buf: Buffer, n: number, into: Got[]): void {
  for (let p = 0; p < n;) {
    const length = buf.readUInt16LE(p);
    const family = buf[p + 2]!;
    const body = buf.subarray(p + RECORD_HEADER_BYTES, p + RECORD_HEADER_BYTES + length);
    const seq = body.readUInt32BE(0);
    const intact = body.readUInt16BE(4) === length && body.subarray(6).every((x) => x === (seq & 0xff));
    const from = family === 4 ? [...buf.subarray(p + 12, p + 16)].join('.') : buf.subarray(p + 12, p + 28).toString('hex');
    into.push({ seq, length, family, from, ms: buf.readDoubleLE(p + 4), intact });
    p += (RECORD_HEADER_BYTES + length + 3) & ~3;
  }
}

async function sendAll(host: string, port: number, items: Buffer[]): Promise<void> {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  for (const d of items) await new Promise<void>((r, j) => s.send(d, port, host, (e) => (e ? j(e) : r())));
  s.close();
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; !cond() && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 20));
}

describe('native flow receiver', { skip }, () => {
  const Ctor = Receiver as Exclude<typeof Receiver, Error>;

  it('hands over every datagram whole, in order, with its sender and time, across many turns of the ring', async () => {
    const got: Got[] = [];
    const buf = Buffer.allocUnsafe(MIN_READ_BYTES);
    // eslint-disable-next-line prefer-const -- assigned below, after `take` that reads it is defined
    let r: NativeFlowReceiver | undefined;
    const take = () => {
      for (let n = r!.read(buf); n > 0; n = r!.read(buf)) parse(buf, n, got);
    };
    r = new Ctor('127.0.0.1', 0, 1 << 20, 1 << 20, () => {
      take();
      r!.arm();
    });
    r.arm();
    const before = Date.now();
    // 6,000 datagrams of 7 … 1,999 bytes: about 6 MB through a 1 MiB ring, so it wraps several times.
    const items = Array.from({ length: 6000 }, (_, i) => payload(i, 7 + ((i * 7919) % 1993)));
    for (let i = 0; i < items.length; i += 500) {
      await sendAll('127.0.0.1', r.port, items.slice(i, i + 500));
      await until(() => r!.stats().received >= i + 500, 5000);
      take();
    }
    take();
    const stats = r.stats();
    r.close();
    assert.equal(stats.ringDrops, 0);
    assert.equal(got.length, items.length);
    got.forEach((g, i) => {
      assert.equal(g.seq, i);
      assert.equal(g.length, items[i]!.length);
      assert.ok(g.intact, `datagram ${i} corrupted`);
      assert.equal(g.family, 4);
      assert.equal(g.from, '127.0.0.1');
      assert.ok(g.ms >= before - 1000 && g.ms <= Date.now() + 1000);
    });
  });

  it('names IPv6 senders, and IPv4 senders on a dual-stack socket as IPv4', async (t) => {
    let r: NativeFlowReceiver;
    try {
      r = new Ctor('::', 0, 1 << 20, 1 << 20, () => {});
    } catch (err) {
      t.skip(`no IPv6 here: ${(err as Error).message}`);
      return;
    }
    await sendAll('::1', r.port, [payload(1, 100)]);
    await sendAll('127.0.0.1', r.port, [payload(2, 100)]);
    await until(() => r.stats().received >= 2);
    const got: Got[] = [];
    const buf = Buffer.allocUnsafe(MIN_READ_BYTES);
    parse(buf, r.read(buf), got);
    r.close();
    assert.deepEqual(
      got.map((g) => [g.seq, g.family, g.from]),
      [
        [1, 6, '00000000000000000000000000000001'],
        [2, 4, '127.0.0.1'],
      ],
    );
  });

  it('drops and counts when the ring is full, never grows, and goes on once read', async () => {
    const r = new Ctor('127.0.0.1', 0, 4 << 20, 1 << 20, () => {});
    // Nobody reads: 2,000 × 1,400 bytes cannot fit in 1 MiB.
    const burst = Array.from({ length: 2000 }, (_, i) => payload(i, 1400));
    await sendAll('127.0.0.1', r.port, burst);
    await until(() => r.stats().received === 2000, 5000);
    const full = r.stats();
    assert.equal(full.received, 2000);
    assert.ok(full.ringDrops > 0, 'a full ring must drop');
    assert.ok(full.ringUsed <= 1 << 20);
    const buf = Buffer.allocUnsafe(4 << 20);
    const got: Got[] = [];
    parse(buf, r.read(buf), got);
    assert.equal(got.length, 2000 - full.ringDrops, 'what was not dropped is all there');
    assert.deepEqual(
      got.map((g) => g.seq),
      got.map((_, i) => i),
      'the first ones are kept, later ones dropped',
    );
    await sendAll('127.0.0.1', r.port, [payload(9999, 64)]);
    await until(() => r.stats().received === 2001);
    const after: Got[] = [];
    parse(buf, r.read(buf), after);
    r.close();
    assert.deepEqual(
      after.map((g) => g.seq),
      [9999],
    );
  });

  it('keeps what was received when closed, and refuses bad arguments with a reason', async () => {
    const r = new Ctor('127.0.0.1', 0, 1 << 20, 1 << 20, () => {});
    await sendAll('127.0.0.1', r.port, [payload(5, 300)]);
    await until(() => r.stats().received === 1);
    r.close();
    const got: Got[] = [];
    const buf = Buffer.allocUnsafe(MIN_READ_BYTES);
    parse(buf, r.read(buf), got);
    assert.deepEqual(
      got.map((g) => g.seq),
      [5],
    );
    assert.equal(r.read(buf), 0);
    assert.equal(r.arm(), false);
    assert.throws(() => r.read(Buffer.alloc(1000)), /at least one largest datagram/);
    assert.throws(() => new Ctor('not-an-address', 0, 0, 1 << 20, () => {}), /not an IP address: not-an-address/);
    assert.throws(() => new Ctor('127.0.0.1', 0, 0, 1000, () => {}), /ringBytes/);
    const a = new Ctor('127.0.0.1', 0, 0, 1 << 20, () => {});
    assert.throws(
      () => new Ctor('127.0.0.1', a.port, 0, 1 << 20, () => {}),
      new RegExp(`bind 127.0.0.1:${a.port}: Address already in use`),
    );
    a.close();
  });
});
