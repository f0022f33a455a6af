/**
 * dnstap at the edge: the Frame Streams handshake and its bad cases, frames
 * minimised into events that keep no client address, and fuzzing of both
 * decoders (only their own errors, never a crash).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeDnstap, DnstapDecodeError, readQuestion } from '../../src/ingest/dnstap/dnstap.js';
import {
  CONTROL,
  controlFrame,
  dataFrame,
  DNSTAP_CONTENT_TYPE,
  FrameStreamError,
  FrameStreamReader,
} from '../../src/ingest/dnstap/frame-stream.js';
import { DnstapReceiver } from '../../src/ingest/dnstap/receiver.js';
import { dnsMessage, dnstapFrame } from '../support/dnstap.js';
import { tempDir } from '../support/fixtures.js';

function run(chunks: Buffer[], maxFrame = 256 * 1024) {
  const frames: Buffer[] = [];
  const replies: Buffer[] = [];
  let finished = false;
  const r = new FrameStreamReader(
    {
      data: (f) => frames.push(Buffer.from(f)),
      reply: (b) => replies.push(b),
      finished: () => {
        finished = true;
      },
    },
    maxFrame,
  );
  for (const c of chunks) r.feed(c);
  return { frames, replies, finished };
}

const ready = controlFrame(CONTROL.READY, [DNSTAP_CONTENT_TYPE]);
const start = controlFrame(CONTROL.START, [DNSTAP_CONTENT_TYPE]);
const stop = controlFrame(CONTROL.STOP);

describe('Frame Streams reader', () => {
  it('does the bidirectional handshake: READY → ACCEPT, START, data, STOP → FINISH', () => {
    const payloads = [Buffer.from('one'), Buffer.alloc(5000, 7), Buffer.from('three')];
    const stream = Buffer.concat([ready, start, ...payloads.map(dataFrame), stop]);
    const whole = run([stream]);
    assert.deepEqual(whole.frames, payloads);
    assert.deepEqual(whole.replies, [controlFrame(CONTROL.ACCEPT, [DNSTAP_CONTENT_TYPE]), controlFrame(CONTROL.FINISH)]);
    assert.equal(whole.finished, true);
    // The same stream a byte at a time: the same frames.
    const bytes = run([...stream].map((b) => Buffer.from([b])));
    assert.deepEqual(bytes.frames, payloads);
    assert.equal(bytes.finished, true);
  });

  it('takes a unidirectional stream (START without READY)', () => {
    assert.deepEqual(run([Buffer.concat([start, dataFrame(Buffer.from('x')), stop])]).frames, [Buffer.from('x')]);
  });

  it('ends the stream with a reason on bad input', () => {
    const reason = (chunks: Buffer[], max?: number) => {
      try {
        run(chunks, max);
      } catch (err) {
        if (err instanceof FrameStreamError) return err.reason;
        throw err;
      }
      return 'none';
    };
    assert.equal(reason([Buffer.concat([ready, start, dataFrame(Buffer.alloc(2000))])], 1000), 'frame-too-large');
    assert.equal(reason([dataFrame(Buffer.from('x'))]), 'data-before-start');
    assert.equal(reason([Buffer.concat([ready, ready])]), 'control-out-of-order');
    assert.equal(reason([Buffer.concat([ready, stop])]), 'control-out-of-order');
    assert.equal(reason([Buffer.concat([start, start])]), 'control-out-of-order');
    assert.equal(reason([controlFrame(CONTROL.READY, ['protobuf:other.Thing'])]), 'unsupported-content-type');
    assert.equal(reason([controlFrame(CONTROL.ACCEPT)]), 'bad-control');
    const huge = Buffer.alloc(12);
    huge.writeUInt32BE(0, 0);
    huge.writeUInt32BE(100_000, 4);
    assert.equal(reason([huge]), 'control-too-large');
    const lying = Buffer.from(controlFrame(CONTROL.READY, [DNSTAP_CONTENT_TYPE]));
    lying.writeUInt32BE(9999, 16);
    assert.equal(reason([lying]), 'bad-control');
  });

  it('never fails with anything but its own error, and never keeps more than a frame', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), fc.boolean(), (chunks, handshake) => {
        const r = new FrameStreamReader({ data: () => {}, reply: () => {}, finished: () => {} }, 4096);
        try {
          if (handshake) r.feed(Buffer.concat([ready, start]));
          for (const c of chunks) r.feed(Buffer.from(c));
        } catch (err) {
          assert.ok(err instanceof FrameStreamError, String(err));
        }
        assert.ok((r as unknown as { pending: Buffer }).pending.length <= 4096 + 8);
      }),
      { numRuns: 5000, seed: 11 },
    );
  });
});

describe('dnstap decoding, minimised', () => {
  it('keeps the name, type, response code, size and time — and no client address', () => {
    const frame = dnstapFrame({ type: 6, client: '198.51.100.77', qname: 'Abc123.Victim.Example', qtype: 16, rcode: 3, size: 300 });
    assert.ok(frame.includes(Buffer.from([198, 51, 100, 77])), 'the frame carries the client address');
    const e = decodeDnstap(frame);
    assert.deepEqual(e, { kind: 'response', timeMs: 1_795_520_000_456, qname: 'abc123.victim.example', qtype: 16, rcode: 3, size: 300 });
    assert.ok(!JSON.stringify(e).includes('198.51.100.77'));
    assert.deepEqual(decodeDnstap(dnstapFrame({ type: 5, client: '192.0.2.1', qname: 'www.example.jp' })), {
      kind: 'query',
      timeMs: 1_795_520_000_123,
      qname: 'www.example.jp',
      qtype: 1,
      rcode: 0,
      size: 0,
    });
  });

  it('says why a frame is not used', () => {
    const reason = (b: Uint8Array) => {
      try {
        decodeDnstap(b);
        return 'none';
      } catch (err) {
        return (err as DnstapDecodeError).reason;
      }
    };
    assert.equal(reason(dnstapFrame({ type: 3, client: '192.0.2.1', qname: 'x.example' })), 'ignored-type');
    assert.equal(reason(Buffer.from([0xff, 0xff, 0xff])), 'bad-protobuf');
    assert.equal(reason(Buffer.from([])), 'not-a-message');
  });

  it('reads odd bytes in names as \\DDD and refuses what is not a question', () => {
    assert.equal(readQuestion(dnsMessage('a\u0001b.Ex_ample', 1))?.qname, 'a\\001b.ex_ample');
    const pointer = dnsMessage('x.example', 1);
    pointer[12] = 0xc0;
    assert.equal(readQuestion(pointer), undefined);
    assert.equal(readQuestion(Buffer.alloc(11)), undefined);
  });

  it('never fails with anything but its own error on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        try {
          decodeDnstap(bytes);
        } catch (err) {
          assert.ok(err instanceof DnstapDecodeError, String(err));
        }
        readQuestion(bytes);
      }),
      { numRuns: 10000, seed: 12 },
    );
    // Mutated valid frames.
    const base = dnstapFrame({ type: 6, client: '192.0.2.1', qname: 'a.b.example', rcode: 2 });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.nat(base.length),
        (edits, cut) => {
          const b = Buffer.from(base.subarray(0, cut));
          for (const [i, v] of edits) if (i < b.length) b[i] = v;
          try {
            decodeDnstap(b);
          } catch (err) {
            assert.ok(err instanceof DnstapDecodeError, String(err));
          }
        },
      ),
      { numRuns: 10000, seed: 13 },
    );
  });
});

describe('dnstap receiver', () => {
  const connect = (path: string, bytes: Buffer, end = true) =>
    new Promise<void>((resolve) => {
      const s = net.connect(path, () => {
        s.write(bytes);
        if (end) s.end();
        else setTimeout(() => s.destroy(), 50);
      });
      s.resume(); // read the receiver's replies (ACCEPT, FINISH) and its end
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
  const frames = (n: number) =>
    Array.from({ length: n }, (_, i) =>
      dataFrame(dnstapFrame({ type: 5, client: '192.0.2.1', qname: `q${i}.example`, timeSec: Math.floor(Date.now() / 1000) })),
    );

  it('counts garbage and a writer that leaves mid-frame, and goes on with the others', async () => {
    const path = join(tempDir(), 'r.sock');
    const got: string[] = [];
    const r = await DnstapReceiver.start({ unix: [path] }, (batch) => {
      got.push(...batch.map((e) => e.qname));
    });
    try {
      await connect(path, Buffer.from('GET / HTTP/1.1\r\n\r\n'));
      const whole = Buffer.concat([
        controlFrame(CONTROL.READY, [DNSTAP_CONTENT_TYPE]),
        controlFrame(CONTROL.START, [DNSTAP_CONTENT_TYPE]),
        ...frames(3),
      ]);
      await connect(path, whole.subarray(0, whole.length - 5), false); // cut inside the last frame
      await connect(path, Buffer.concat([controlFrame(CONTROL.START), ...frames(2), controlFrame(CONTROL.STOP)]));
      await r.drained();
      const s = r.status();
      assert.equal(s.errors['frame-too-large'], 1, JSON.stringify(s)); // "GET " read as a frame length
      assert.ok((s.errors['closed-without-stop'] ?? 0) >= 2, JSON.stringify(s));
      assert.deepEqual(got.sort(), ['q0.example', 'q0.example', 'q1.example', 'q1.example'], 'whole frames are kept, the cut one is not');
    } finally {
      await r.stop();
    }
  });

  it('drops and counts when the sink is behind, and never queues more than its bound', async () => {
    const path = join(tempDir(), 'r.sock');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let taken = 0;
    const r = await DnstapReceiver.start({ unix: [path], maxQueuedEvents: 100, batchSize: 10 }, async (batch) => {
      taken += batch.length;
      await gate;
    });
    try {
      await connect(path, Buffer.concat([controlFrame(CONTROL.START), ...frames(500), controlFrame(CONTROL.STOP)]));
      for (let i = 0; i < 50 && r.status().events + r.status().dropped < 500; i++) await new Promise((res) => setTimeout(res, 20));
      const s = r.status();
      assert.equal(s.events + s.dropped, 500);
      assert.ok(s.events <= 100 && s.dropped >= 400, JSON.stringify(s));
      release();
      await r.drained();
      assert.equal(taken, s.events);
    } finally {
      release();
      await r.stop();
    }
  });
});
