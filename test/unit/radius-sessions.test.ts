/**
 * The RADIUS accounting decoder (network input: fuzzed) and the session
 * index, checked against a plain list of sessions on random histories.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { accountingResponse, decodeAccounting, encodeAccounting, RadiusError, STATUS } from '../../src/ingest/radius/packet.js';
import { SessionIndex } from '../../src/subscriber/sessions.js';

const SECRET = Buffer.from('s3cret');

describe('RADIUS accounting packets', () => {
  it('decodes what it encodes, keeping only the attributes that say who had which address when', () => {
    const p = encodeAccounting(
      {
        identifier: 9,
        statusType: STATUS.START,
        userName: 'alice',
        sessionId: 'abc',
        nasIp: '192.0.2.1',
        framedIp: '100.64.1.2',
        eventTimestamp: 1_764_000_000,
        delayTime: 3,
      },
      SECRET,
    );
    const a = decodeAccounting(p, SECRET);
    assert.deepEqual(
      { ...a, authenticator: undefined },
      {
        identifier: 9,
        authenticator: undefined,
        statusType: 1,
        userName: 'alice',
        sessionId: 'abc',
        nasIp: '192.0.2.1',
        framedIp: '100.64.1.2',
        eventTimestamp: 1_764_000_000,
        delayTime: 3,
      },
    );
    const r = accountingResponse(9, a.authenticator, SECRET);
    assert.equal(r[0], 5);
    assert.equal(r.length, 20);
  });

  it('refuses a wrong secret, an altered octet, a bad length and a cut attribute, naming the reason', () => {
    const p = encodeAccounting({ identifier: 1, statusType: STATUS.STOP, userName: 'bob', sessionId: 'x' }, SECRET);
    const reason = (b: Buffer, s = SECRET) => {
      try {
        decodeAccounting(b, s);
        return 'ok';
      } catch (err) {
        assert.ok(err instanceof RadiusError);
        return err.reason;
      }
    };
    assert.equal(reason(p, Buffer.from('other')), 'authenticator');
    const altered = Buffer.from(p);
    altered[altered.length - 1]! ^= 1;
    assert.equal(reason(altered), 'authenticator');
    assert.equal(reason(p.subarray(0, 10)), 'short');
    const long = Buffer.from(p);
    long.writeUInt16BE(p.length + 10, 2);
    assert.equal(reason(long), 'length');
    const cut = Buffer.concat([p, Buffer.from([1, 30, 65])]);
    cut.writeUInt16BE(cut.length, 2);
    // Re-sign so that only the attribute is wrong.
    createHash('md5').update(cut.subarray(0, 4)).update(Buffer.alloc(16)).update(cut.subarray(20)).update(SECRET).digest().copy(cut, 4);
    assert.equal(reason(cut), 'attribute');
  });

  it('never throws anything but a RadiusError on arbitrary or mutated datagrams', () => {
    const good = encodeAccounting(
      { identifier: 3, statusType: STATUS.INTERIM, userName: 'carol', sessionId: 'y', framedIp: '100.64.0.1' },
      SECRET,
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeAccounting(Buffer.from(bytes), SECRET);
        } catch (err) {
          if (!(err instanceof RadiusError)) throw err;
        }
      }),
      { numRuns: 5000, seed: 21 },
    );
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 }), (i, v) => {
        const b = Buffer.from(good);
        b[i] = v;
        try {
          decodeAccounting(b, SECRET);
        } catch (err) {
          if (!(err instanceof RadiusError)) throw err;
        }
      }),
      { numRuns: 3000, seed: 22 },
    );
  });
});

describe('session index', () => {
  it('answers reuse, overlap, a missing Stop (interim timeout) and IPv6 prefixes', () => {
    const idx = new SessionIndex({ interimTimeoutSeconds: 600, mergeAt: 3 });
    idx.begin({ key: 'n|1', subscriber: 'alice', address: '100.64.0.1', start: 1000 });
    idx.finish('n|1', 2000);
    idx.begin({ key: 'n|2', subscriber: 'bob', address: '100.64.0.1', start: 2100 });
    idx.begin({ key: 'n|3', subscriber: 'carol', address: '100.64.0.1', start: 2500 }); // overlaps bob: the later start wins
    idx.begin({ key: 'n|4', subscriber: 'dave', address: '2001:db8:1::/48', start: 1000 });
    idx.touch('n|3', 3000);
    assert.equal(idx.lookup('100.64.0.1', 1500).found && 'alice', 'alice');
    assert.equal(idx.lookup('100.64.0.1', 2050).found, false);
    const at2200 = idx.lookup('100.64.0.1', 2200);
    assert.ok(at2200.found && at2200.subscriber === 'bob');
    const at2600 = idx.lookup('100.64.0.1', 2600);
    assert.ok(at2600.found && at2600.subscriber === 'carol');
    const late = idx.lookup('100.64.0.1', 3500);
    assert.ok(late.found && late.subscriber === 'carol', 'within the interim timeout of its last update');
    assert.equal(idx.lookup('100.64.0.1', 5000).found, false, 'every session without a Stop has timed out by then');
    const v6 = idx.lookup('2001:db8:1:ffff::9', 1200);
    assert.ok(v6.found && v6.subscriber === 'dave');
    assert.equal(idx.lookup('2001:db8:2::9', 1200).found, false);
  });

  it('reports every span a change newly covered (what an unresolved lookup may now answer), in any order of events', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            op: fc.constantFrom('begin', 'touch', 'finish'),
            k: fc.integer({ min: 0, max: 5 }),
            a: fc.integer({ min: 0, max: 2 }),
            at: fc.integer({ min: 0, max: 2000 }),
          }),
          { maxLength: 25 },
        ),
        fc.integer({ min: 1, max: 10 }),
        (ops, mergeAt) => {
          let spans: Array<[number, number]> = [];
          const idx = new SessionIndex({ interimTimeoutSeconds: 100, mergeAt, onCover: (f, t) => spans.push([f, t]) });
          const times = Array.from({ length: 180 }, (_, i) => i * 13);
          const found = () => [0, 1, 2].map((a) => times.map((t) => idx.lookup(`100.64.0.${a}`, t).found));
          for (const o of ops) {
            const before = found();
            spans = [];
            if (o.op === 'begin') idx.begin({ key: `n|${o.k}`, subscriber: `u${o.k}`, address: `100.64.0.${o.a}`, start: o.at });
            else if (o.op === 'touch') idx.touch(`n|${o.k}`, o.at);
            else idx.finish(`n|${o.k}`, o.at);
            found().forEach((row, a) =>
              row.forEach((now, i) => {
                const t = times[i]!;
                if (now && !before[a]![i])
                  assert.ok(
                    spans.some(([f, to]) => f <= t && t <= to),
                    JSON.stringify({ o, t, spans }),
                  );
              }),
            );
          }
        },
      ),
      { numRuns: 150, seed: 7 },
    );
  });

  it('agrees with a plain list of sessions on random histories, across merges and retention', () => {
    type S = { key: string; sub: string; addr: string; start: number; end: number | null; seen: number };
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            a: fc.integer({ min: 0, max: 7 }),
            start: fc.integer({ min: 0, max: 10_000 }),
            len: fc.option(fc.integer({ min: 1, max: 3000 })),
            touch: fc.integer({ min: 0, max: 2000 }),
          }),
          { maxLength: 60 },
        ),
        fc.array(fc.record({ a: fc.integer({ min: 0, max: 7 }), t: fc.integer({ min: 0, max: 14_000 }) }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 20 }),
        (events, queries, mergeAt) => {
          const idx = new SessionIndex({ interimTimeoutSeconds: 500, mergeAt });
          const all: S[] = [];
          events
            .sort((x, y) => x.start - y.start)
            .forEach((e, i) => {
              const s: S = {
                key: `n|${i}`,
                sub: `u${i}`,
                addr: `100.64.0.${e.a}`,
                start: e.start,
                end: e.len === null ? null : e.start + e.len,
                seen: e.start + e.touch,
              };
              all.push(s);
              idx.begin({ key: s.key, subscriber: s.sub, address: s.addr, start: s.start });
              idx.touch(s.key, s.seen);
              if (s.end !== null) idx.finish(s.key, s.end);
            });
          for (const q of queries) {
            const covering = all.filter(
              (s) => s.addr === `100.64.0.${q.a}` && s.start <= q.t && q.t <= (s.end ?? Math.max(s.seen, s.start) + 500),
            );
            const want = covering.reduce<S | undefined>((b, s) => (!b || s.start > b.start ? s : b), undefined);
            const got = idx.lookup(`100.64.0.${q.a}`, q.t);
            if (!want) assert.equal(got.found, false);
            else
              assert.ok(
                got.found && covering.some((s) => s.sub === got.subscriber && s.start === want.start),
                JSON.stringify({ q, want, got }),
              );
          }
        },
      ),
      { numRuns: 300, seed: 31 },
    );
  });

  it('answers the same through its /24 directory once large', () => {
    const idx = new SessionIndex({ interimTimeoutSeconds: 100, mergeAt: 50_000 });
    const truth = new Map<string, Array<[number, number, string]>>();
    for (let n = 0; n < 120_000; n++) {
      const address = `100.${64 + (n % 3)}.${(n >> 7) & 255}.${n & 127}`;
      const start = 1000 * (n % 5) + (n % 7);
      idx.begin({ key: `k${n}`, subscriber: `u${n}`, address, start });
      idx.finish(`k${n}`, start + 500);
      (truth.get(address) ?? truth.set(address, []).get(address)!).push([start, start + 500, `u${n}`]);
    }
    idx.finish('none', 0);
    let checked = 0;
    for (const [address, sessions] of [...truth].slice(0, 3000)) {
      for (const t of [10, 600, 2300, 4400]) {
        const want = sessions.filter(([s, e]) => s <= t && t <= e).sort((x, y) => y[0] - x[0])[0];
        const got = idx.lookup(address, t);
        if (!want) assert.equal(got.found, false, `${address} ${t}`);
        else assert.ok(got.found && got.start === want[0], `${address} ${t}: ${JSON.stringify(got)}`);
        checked++;
      }
    }
    assert.equal(checked, 12_000);
  });

  it('forgets closed sessions beyond retention and keeps open ones', () => {
    const idx = new SessionIndex({ interimTimeoutSeconds: 100 });
    idx.begin({ key: 'a', subscriber: 'old', address: '100.64.0.1', start: 10 });
    idx.finish('a', 20);
    idx.begin({ key: 'b', subscriber: 'open', address: '100.64.0.2', start: 10 });
    assert.equal(idx.forget(1000), 1);
    assert.equal(idx.lookup('100.64.0.1', 15).found, false);
    assert.ok(idx.finish('b', 2000), 'the open session can still be stopped after a merge');
    const b = idx.lookup('100.64.0.2', 1500);
    assert.ok(b.found && b.subscriber === 'open' && b.end === 2000);
  });
});
