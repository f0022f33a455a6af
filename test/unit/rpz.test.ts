/**
 * Policy zones are strict (one bad name is refused with its reason, never
 * breaks the zone), and the primary never throws on what arrives on the wire.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import dnsPacket from 'dns-packet';

/** dns-packet decodes the response code; its type definitions leave it out. */
const rcode = (b: Buffer) => (dnsPacket.decode(b) as unknown as { rcode: string }).rcode;
import { RpzPrimary } from '../../src/dns/primary.js';
import { canonicalName, RpzNameError, RpzZone } from '../../src/dns/rpz.js';
import { signRequest, TsigError, verifyRequest } from '../../src/dns/tsig.js';

describe('RPZ zones', () => {
  it('writes a blocked name and its subdomains, and an opted-out client as passthru', () => {
    const z = new RpzZone('rpz.mamori.test');
    assert.deepEqual(z.block('Evil.Example.TEST.'), ['evil.example.test.rpz.mamori.test', '*.evil.example.test.rpz.mamori.test']);
    z.block('garden.example.test', { kind: 'walled-garden', target: 'warning.isp.example' });
    assert.equal(z.passthruClient('100.64.1.2'), '32.2.1.64.100.rpz-client-ip.rpz.mamori.test');
    assert.deepEqual(z.list(), [], 'staged until published');
    assert.equal(z.bump(), 2);
    assert.deepEqual(
      z.list().map((r) => [r.name, r.data]),
      [
        ['*.evil.example.test.rpz.mamori.test', '.'],
        ['*.garden.example.test.rpz.mamori.test', 'warning.isp.example'],
        ['32.2.1.64.100.rpz-client-ip.rpz.mamori.test', 'rpz-passthru.'],
        ['evil.example.test.rpz.mamori.test', '.'],
        ['garden.example.test.rpz.mamori.test', 'warning.isp.example'],
      ],
    );
    assert.equal(z.unblock('evil.example.test'), true);
    z.bump();
    assert.equal(z.size, 3);
    assert.deepEqual(
      z.diffsSince(2)!.map((d) => [d.from, d.to, d.removed.length, d.added.length]),
      [[2, 3, 2, 0]],
    );
    assert.deepEqual(z.diffsSince(3), []);
    assert.equal(z.diffsSince(0), undefined, 'older than the journal: AXFR');
  });

  it('lets a name and the names under it through (the garden allow-list), and removes both', () => {
    const z = new RpzZone('garden-allow.rpz.test');
    assert.deepEqual(z.passthru('Update.AV-Vendor.example.'), [
      'update.av-vendor.example.garden-allow.rpz.test',
      '*.update.av-vendor.example.garden-allow.rpz.test',
    ]);
    assert.throws(() => z.passthru('*.av.example'), /list the domain; its subdomains are let through with it/);
    assert.throws(() => z.passthru('bad name.example'), RpzNameError);
    z.bump();
    assert.deepEqual(
      z.list().map((r) => [r.name, r.type, r.data]),
      [
        ['*.update.av-vendor.example.garden-allow.rpz.test', 'CNAME', 'rpz-passthru.'],
        ['update.av-vendor.example.garden-allow.rpz.test', 'CNAME', 'rpz-passthru.'],
      ],
    );
    assert.equal(z.unpassthru('update.av-vendor.example'), true);
    z.bump();
    assert.equal(z.size, 0);
  });

  it('finds which allowed names a QNAME rule of a zone acts on: at, under, or a wildcard above; not passthru, not client-IP', () => {
    const cc = new RpzZone('cc.rpz.test');
    cc.block('evil.av.example'); // under av.example
    cc.block('update.os.example'); // exactly an allowed name
    cc.blockUnder('cloud.example'); // a wildcard above app.cloud.example
    cc.blockExact('vendor.example'); // an exact rule above shop.vendor.example: does not act on it
    cc.passthruName('safe.example'); // passthru: lifts nothing
    cc.passthruClient('100.64.0.1');
    cc.client('100.64.0.2', { kind: 'local-data', a: ['192.0.2.80'], aaaa: [] });
    cc.bump();
    const names = ['av.example', 'update.os.example', 'app.cloud.example', 'shop.vendor.example', 'safe.example', 'other.example'];
    assert.deepEqual(cc.qnameRulesOver(names), ['av.example', 'update.os.example', 'app.cloud.example']);
    assert.deepEqual(cc.qnameRulesOver(['os.example']), ['os.example'], 'a rule under it (update.os.example)');
    assert.deepEqual(cc.qnameRulesOver(['x.evil.av.example']), ['x.evil.av.example'], 'under a blocked name (its wildcard)');
    assert.deepEqual(new RpzZone('empty.rpz.test').qnameRulesOver(names), []);
  });

  it('refuses names that are not DNS names, naming the problem', () => {
    for (const [bad, why] of [
      ['', /empty/],
      ['a..b', /label ""/],
      ['-bad.example', /label "-bad"/],
      [`${'a'.repeat(64)}.example`, /label/],
      [`${'a.'.repeat(130)}example`, /longer than 253/],
      ['a.*.example', /wildcard/],
      ['exa mple.com', /label/],
    ] as const) {
      assert.throws(
        () => canonicalName(bad),
        (err: unknown) => err instanceof RpzNameError && why.test(err.message),
        bad,
      );
    }
    const z = new RpzZone('rpz.mamori.test');
    assert.throws(() => z.block('*.evil.example'), /subdomains are blocked with it/);
    assert.throws(() => z.block(`${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(55)}`), /too long to fit/);
    assert.throws(() => z.passthruClient('300.1.1.1'), /not an IPv4/);
    assert.equal(z.size, 0, 'nothing half-written');
  });

  it('never throws on arbitrary datagrams, and answers what it can parse', async () => {
    const z = new RpzZone('rpz.mamori.test');
    z.block('evil.example.test');
    z.bump();
    const p = await RpzPrimary.start([z], { host: '127.0.0.1', port: 0, transferTo: ['127.0.0.1'] });
    try {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
          p.answer(Buffer.from(bytes), '127.0.0.1', 'udp');
        }),
        { numRuns: 3000, seed: 9 },
      );
      const q = dnsPacket.encode({ type: 'query', id: 7, questions: [{ name: 'evil.example.test.rpz.mamori.test', type: 'CNAME' }] });
      const [a] = p.answer(q, '127.0.0.1', 'udp');
      const r = dnsPacket.decode(a!);
      assert.equal(rcode(a!), 'NOERROR');
      assert.equal((r.answers?.[0] as { data: string }).data, '.');
      assert.equal(
        rcode(
          p.answer(dnsPacket.encode({ type: 'query', id: 8, questions: [{ name: 'example.com', type: 'A' }] }), '127.0.0.1', 'udp')[0]!,
        ),
        'REFUSED',
      );
      assert.equal(
        rcode(
          p.answer(
            dnsPacket.encode({ type: 'query', id: 9, questions: [{ name: 'rpz.mamori.test', type: 'AXFR' }] }),
            '127.0.0.1',
            'udp',
          )[0]!,
        ),
        'REFUSED',
        'AXFR only over TCP, only to allowed secondaries',
      );
    } finally {
      await p.stop();
    }
  });

  it('answers an IXFR that deletes a client-IP rule with the whole zone to a wholeZoneOnClientIpRemoval secondary only', async () => {
    const z = new RpzZone('garden.rpz.test');
    z.client('127.0.0.2', { kind: 'local-data', a: ['192.0.2.80'], aaaa: [] });
    z.client('127.0.0.3', { kind: 'local-data', a: ['192.0.2.80'], aaaa: [] });
    z.bump();
    const unbound = '127.0.0.9';
    const p = await RpzPrimary.start([z], {
      host: '127.0.0.1',
      port: 0,
      transferTo: ['127.0.0.1', unbound],
      wholeZoneOnClientIpRemoval: [unbound],
    });
    try {
      /** The serials of the SOAs in an IXFR answer, and its other records (owner type data). */
      const ixfr = (serial: number, from: string) => {
        const q = dnsPacket.encode({
          type: 'query',
          id: 7,
          questions: [{ name: z.origin, type: 'IXFR', class: 'IN' }],
          authorities: [{ name: z.origin, type: 'SOA', ttl: 0, class: 'IN', data: { ...SOA, serial } }],
        });
        const answers = p.answer(q, from, 'tcp').flatMap((m) => dnsPacket.decode(m).answers ?? []);
        const data = (a: (typeof answers)[number]) => (a as { data: unknown }).data;
        return {
          soas: answers.filter((a) => a.type === 'SOA').map((a) => (data(a) as { serial: number }).serial),
          records: answers.filter((a) => a.type !== 'SOA').map((a) => `${a.name} ${a.type} ${String(data(a))}`),
        };
      };
      // Adding a rule: the diff, to every secondary.
      const one = z.serial;
      z.block('evil.example');
      z.bump();
      assert.deepEqual(ixfr(one, unbound).soas, [3, 2, 3, 3]);
      // Deleting a client-IP rule (a garden's release): the whole zone to Unbound, the diff to the others.
      const two = z.serial;
      assert.equal(z.removeClient('127.0.0.2'), true);
      z.bump();
      const whole = ixfr(two, unbound);
      assert.deepEqual(whole.soas, [4, 4], 'AXFR-style: the current SOA, every record, the current SOA');
      assert.deepEqual(whole.records.sort(), [
        '*.evil.example.garden.rpz.test CNAME .',
        '32.3.0.0.127.rpz-client-ip.garden.rpz.test A 192.0.2.80',
        'evil.example.garden.rpz.test CNAME .',
        'garden.rpz.test NS localhost',
      ]);
      assert.deepEqual(ixfr(one, unbound).soas, [4, 4], 'a span that includes the deletion, too');
      assert.equal(p.secondaries().find((t) => t.secondary === unbound)?.kind, 'axfr', 'recorded as a whole-zone transfer');
      const diff = ixfr(two, '127.0.0.1');
      assert.deepEqual(diff.soas, [4, 3, 4, 4]);
      assert.deepEqual(diff.records, ['32.2.0.0.127.rpz-client-ip.garden.rpz.test A 192.0.2.80']);
      // A later change that deletes no client-IP rule: the diff again.
      const three = z.serial;
      assert.equal(z.unblock('evil.example'), true);
      z.bump();
      assert.deepEqual(ixfr(three, unbound).soas, [5, 4, 5, 5]);
      assert.equal(p.status().wholeForClientIpRemoval, 2);
      assert.equal(p.secondaries().find((t) => t.secondary === unbound)?.kind, 'ixfr');
    } finally {
      await p.stop();
    }
  });
});

const SOA = { mname: 'localhost', rname: 'hostmaster.garden.rpz.test', refresh: 60, retry: 30, expire: 600, minimum: 60 };

describe('TSIG (HMAC-SHA256)', () => {
  const key = { name: 'mamori-xfr', secret: Buffer.alloc(32, 7) };
  const query = () => dnsPacket.encode({ type: 'query', id: 4242, questions: [{ name: 'rpz.mamori.test', type: 'AXFR' }] });

  it('verifies what it signed, and refuses an altered message, another key or an old time', () => {
    const signed = signRequest(query(), key, 1_800_000_000);
    assert.ok(verifyRequest(signed, [key], 1_800_000_010));
    const altered = Buffer.from(signed);
    altered[13]! ^= 1;
    assert.throws(
      () => verifyRequest(altered, [key], 1_800_000_010),
      (e: unknown) => e instanceof TsigError && e.rcode === 'BADSIG',
    );
    assert.throws(
      () => verifyRequest(signed, [{ name: 'other', secret: key.secret }], 1_800_000_010),
      (e: unknown) => e instanceof TsigError && e.rcode === 'BADKEY',
    );
    assert.throws(
      () => verifyRequest(signed, [key], 1_800_001_000),
      (e: unknown) => e instanceof TsigError && e.rcode === 'BADTIME',
    );
    assert.equal(verifyRequest(query(), [key]), undefined, 'unsigned: nothing to verify');
  });

  it('never throws anything but a TsigError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 12, maxLength: 300 }), (bytes) => {
        try {
          verifyRequest(Buffer.from(bytes), [key]);
        } catch (err) {
          if (!(err instanceof TsigError)) throw err;
        }
      }),
      { numRuns: 3000, seed: 12 },
    );
  });
});
