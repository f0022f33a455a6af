/**
 * C&C domain lists for M3: strict reading (every skipped line named), IDN,
 * hosts files, duplicates and covered names merged, reserved names refused,
 * a file that is not a list refused whole; the zone built from what is valid.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BlocklistError, buildCcZone, parseDomainList } from '../../src/measures/cc-dns-blocking/blocklist.js';
import { OptOutZone } from '../../src/measures/cc-dns-blocking/optout-zone.js';
import { RpzZone } from '../../src/dns/rpz.js';
import { SessionIndex } from '../../src/subscriber/sessions.js';
import { parseBlockedLine, readNewLines } from '../../src/dns/resolver-log.js';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/fixtures.js';

describe('M3 domain lists', () => {
  it('reads names, skipping and explaining every bad line', () => {
    const r = parseDomainList(
      [
        '# Feed of C&C domains',
        'c2.bad.example.net',
        'C2.Bad.Example.NET.',
        'sub.c2.bad.example.net',
        'テスト.example.jp',
        '*.wild.example.org',
        'two words.example',
        '-bad-.example.com',
        'com',
        'localhost',
        `${'a'.repeat(70)}.example.com`,
        'ok.example.com ; trailing comment',
      ].join('\n'),
      'domains',
    );
    assert.deepEqual(r.names, ['c2.bad.example.net', 'ok.example.com', 'wild.example.org', 'xn--zckzah.example.jp']);
    assert.equal(r.duplicates, 2, 'one repeat, one name covered by its parent');
    assert.deepEqual(
      r.skipped.map((s) => s.line),
      [7, 8, 9, 10, 11],
    );
    assert.match(r.skipped[0]!.reason, /more than one field/);
    assert.match(r.skipped[2]!.reason, /top-level or reserved/);
  });

  it('reads hosts files, and refuses a file with no usable name at all', () => {
    assert.deepEqual(
      parseDomainList('0.0.0.0 c2.example.net\n127.0.0.1 other.example.org # x\n192.0.2.1 not-sinkholed.example.com\n', 'hosts').names,
      ['c2.example.net', 'other.example.org'],
    );
    assert.throws(() => parseDomainList('first_seen_utc,dst_ip,dst_port\n2026-01-01,192.0.2.1,443\n', 'domains'), BlocklistError);
  });

  it('never throws anything but a BlocklistError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (s) => {
        try {
          parseDomainList(s, 'domains');
          parseDomainList(s, 'hosts');
        } catch (err) {
          if (!(err instanceof BlocklistError)) throw err;
        }
      }),
      { numRuns: 2000, seed: 14 },
    );
  });

  it('builds the zone from the entries valid at a time', () => {
    const zone = buildCcZone(
      'cc.rpz.isp.example',
      [
        { name: 'c2.example.net', source: 'feed', validFrom: '2026-01-01T00:00:00Z', validUntil: '2027-01-01T00:00:00Z' },
        { name: 'old.example.net', source: 'feed', validFrom: '2025-01-01T00:00:00Z', validUntil: '2025-06-01T00:00:00Z' },
      ],
      new Date('2026-11-24T00:00:00Z'),
    );
    assert.deepEqual(
      zone.list().map((r) => r.name),
      ['*.c2.example.net.cc.rpz.isp.example', 'c2.example.net.cc.rpz.isp.example'],
    );
  });
});

describe('M3 opt-out zone', () => {
  it('follows opted-out subscribers across sessions, opt-out and opt-in', () => {
    const oz = new OptOutZone(new RpzZone('optout.rpz.isp.example'));
    const owners = () => {
      if (oz.zone.dirty) oz.zone.bump();
      return oz.zone.list().map((r) => r.name.split('.rpz-client-ip')[0]);
    };
    oz.onSession({ kind: 'begin', key: 'bras1|a', subscriber: 'alice', address: '100.64.0.10', at: 1 });
    oz.onSession({ kind: 'begin', key: 'bras1|a#1', subscriber: 'alice', address: '2001:db8::/56', at: 1 });
    oz.onSession({ kind: 'begin', key: 'bras1|b', subscriber: 'bob', address: '100.64.0.11', at: 1 });
    assert.equal(oz.flush(), false, 'nobody opted out yet');
    oz.setOptedOut('alice', true);
    assert.equal(oz.flush(), true);
    assert.deepEqual(owners(), ['32.10.0.64.100']);
    oz.onSession({ kind: 'finish', key: 'bras1|a', at: 2 });
    assert.equal(oz.flush(), true);
    assert.deepEqual(owners(), []);
    oz.onSession({ kind: 'begin', key: 'bras2|c', subscriber: 'alice', address: '100.64.9.9', at: 3 });
    assert.deepEqual(owners(), ['32.9.9.64.100']);
    oz.onSession({ kind: 'finish-all', nas: 'bras2', at: 4 });
    assert.deepEqual(owners(), []);
    oz.onSession({ kind: 'begin', key: 'bras2|d', subscriber: 'alice', address: '100.64.7.7', at: 5 });
    oz.setOptedOut('alice', false);
    assert.deepEqual(owners(), [], 'opted back in: filtered again');
    assert.equal(oz.zone.serial > 1, true);
  });
});

describe('M3 opt-out zone, seeded from the sessions open now', () => {
  it('lists an opted-out subscriber whose session began before M3 started', () => {
    const index = new SessionIndex({ interimTimeoutSeconds: 3600, mergeAt: 2 });
    const svcFeed = {
      current: () =>
        index.openSessions().map((s) => ({ kind: 'begin' as const, key: s.key, subscriber: s.subscriber, address: s.address, at: 0 })),
    };
    index.begin({ key: 'bras1|x', subscriber: 'carol', address: '100.64.3.3', start: 10 });
    index.begin({ key: 'bras1|y', subscriber: 'dave', address: '100.64.4.4', start: 10 });
    index.begin({ key: 'bras1|z', subscriber: 'erin', address: '100.64.5.5', start: 10 }); // merged into the base: both paths read
    index.finish('bras1|y', 20);
    const oz = new OptOutZone(new RpzZone('optout.rpz.isp.example'));
    oz.setOptedOut('carol', true);
    oz.setOptedOut('dave', true);
    oz.seed(svcFeed.current());
    oz.zone.bump();
    assert.deepEqual(
      oz.zone.list().map((r) => r.name.split('.rpz-client-ip')[0]),
      ['32.3.3.64.100'],
    );
  });
});

describe('resolver logs for M3', () => {
  const ZONES = ['cc.rpz.isp.test', 'optout.rpz.isp.test'];

  it('reads a BIND rpz line into time, client, zone and the listed rule, and nothing from other lines', () => {
    const q = parseBlockedLine(
      '24-Nov-2026 11:58:35.123 client @0x7f3c5c012345 198.51.100.7#53211 (x.evil.example): rpz QNAME ' +
        'NXDOMAIN rewrite x.evil.example/A/IN via x.evil.example.cc.rpz.isp.test',
      'bind',
      ZONES,
    );
    assert.deepEqual(q && { ...q, at: q.at.toISOString() }, {
      at: '2026-11-24T11:58:35.123Z',
      client: '198.51.100.7',
      zone: 'cc.rpz.isp.test',
      rule: 'x.evil.example',
      action: 'qname nxdomain',
    });
    assert.equal(
      parseBlockedLine('24-Nov-2026 11:58:35.123 general: info: zone example.test/IN: loaded serial 1', 'bind', ZONES),
      undefined,
    );
    // A name asked that ends like our zone does not make the rule ours: the trigger must be in one of M3's zones.
    assert.equal(
      parseBlockedLine(
        'client @0x1 192.0.2.1#1 (a.cc.rpz.isp.test.evil): rpz QNAME NXDOMAIN rewrite a/A/IN via a.other.rpz',
        'bind',
        ZONES,
      ),
      undefined,
    );
  });

  it("never throws on arbitrary lines, and takes rules only from M3's zones", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 600 }), fc.constantFrom<'bind' | 'unbound'>('bind', 'unbound'), (line, format) => {
        const q = parseBlockedLine(line, format, ZONES);
        if (q) assert.ok(ZONES.includes(q.zone));
      }),
      { numRuns: 3000, seed: 7 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (name) => {
        const q = parseBlockedLine(
          `info: rpz: applied [cc.rpz.isp.test] ${name || 'x'}. rpz-nxdomain 192.0.2.1@1 x. A IN`,
          'unbound',
          ZONES,
        );
        if (q) assert.equal(q.zone, 'cc.rpz.isp.test');
      }),
      { numRuns: 1000, seed: 8 },
    );
  });

  it('reads only whole new lines, and a replaced or truncated file from its start', () => {
    const file = join(tempDir(), 'rpz.log');
    writeFileSync(file, 'one\ntwo\npart');
    const first = readNewLines(file, undefined)!;
    assert.deepEqual(first.lines, ['one', 'two']);
    appendFileSync(file, 'ial\n');
    const second = readNewLines(file, first.cursor)!;
    assert.deepEqual(second.lines, ['partial']);
    assert.deepEqual(readNewLines(file, second.cursor)!.lines, []);
    writeFileSync(file, 'new\n'); // truncated and rewritten
    assert.deepEqual(readNewLines(file, second.cursor)!.lines, ['new']);
    assert.equal(readNewLines(join(tempDir(), 'missing.log'), undefined), undefined);
  });
});
