/**
 * What partners send is network input: every object is checked and reduced
 * to an endpoint, or refused with a reason — never an exception, whatever the
 * JSON — and nothing but the endpoint, validity and confidence survives.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { reduceIndicator } from '../../src/measures/cc-sharing/inbound.js';
import { parseMispEvent } from '../../src/measures/cc-sharing/partners.js';
import { LabelImportError } from '../../src/share/labels.js';

const GOOD = {
  type: 'indicator',
  spec_version: '2.1',
  id: 'indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f',
  created: '2026-11-20T00:00:00.000Z',
  modified: '2026-11-21T00:00:00.000Z',
  valid_from: '2026-11-20T00:00:00Z',
  pattern:
    "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value " +
    "= '203.0.113.50' " +
    "AND network-traffic:dst_port = 8443 AND network-traffic:protocols[*] = 'tcp']",
  pattern_type: 'stix',
  confidence: 80,
  name: 'Emotet tier 1',
  description: 'seen at 10.1.2.3',
  labels: ['x'],
};

describe("partners' indicators", () => {
  it('keeps the endpoint, validity and confidence, and nothing else', () => {
    const r = reduceIndicator(GOOD);
    assert.ok(typeof r === 'object');
    assert.deepEqual(r, {
      id: GOOD.id,
      version: GOOD.modified,
      rows: [{ address: '203.0.113.50', port: 8443, proto: 6 }],
      validFrom: '2026-11-20T00:00:00.000Z',
      validUntil: '2026-12-20T00:00:00.000Z',
      confidence: 80,
      revoked: false,
    });
  });

  it('refuses, with a reason, what is not a C&C endpoint indicator', () => {
    const cases: Array<[unknown, RegExp]> = [
      [null, /not a STIX object/],
      [[GOOD], /not a STIX object/],
      [{ ...GOOD, type: 'malware' }, /only indicator/],
      [{ ...GOOD, id: 'indicator--x' }, /identifier/],
      [{ ...GOOD, spec_version: '2.0' }, /spec_version/],
      [{ ...GOOD, valid_from: 'yesterday' }, /valid_from/],
      [{ ...GOOD, valid_until: '2026-11-01T00:00:00Z' }, /after valid_from/],
      [{ ...GOOD, pattern_type: 'sigma' }, /only STIX patterns/],
      [{ ...GOOD, confidence: 101 }, /confidence/],
      [{ ...GOOD, pattern: "[file:name = 'a.exe']" }, /not an endpoint/],
      [{ ...GOOD, pattern: '[' }, /STIX pattern, at character/],
      [{ ...GOOD, pattern: "[ipv4-addr:value = '999.1.1.1']" }, /./],
    ];
    for (const [o, why] of cases) {
      const r = reduceIndicator(o);
      assert.equal(typeof r, 'string', JSON.stringify(o));
      assert.match(r as string, why);
    }
  });

  it('never throws, whatever JSON arrives', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
        reduceIndicator(v);
      }),
      { numRuns: 3000, seed: 5 },
    );
    // Good objects with one property replaced by anything.
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(GOOD)), fc.jsonValue({ maxDepth: 3 }), (k, v) => {
        const r = reduceIndicator({ ...GOOD, [k]: v });
        assert.ok(typeof r === 'string' || Array.isArray(r.rows));
      }),
      { numRuns: 3000, seed: 6 },
    );
  });

  it('reads a MISP event, skipping what is not an endpoint, and refuses a file that is not one', () => {
    const r = parseMispEvent(
      JSON.stringify({
        Event: {
          Attribute: [
            { type: 'ip-dst|port', value: '198.51.100.7|443' },
            { type: 'ip-dst', value: '2001:db8::/48' },
            { type: 'url', value: 'x' },
          ],
        },
      }),
      new Date('2026-11-24T00:00:00Z'),
      7,
    );
    assert.deepEqual(
      r.labels.map((l) => [l.address, l.prefixLength, l.port]),
      [
        ['198.51.100.7', 32, 443],
        ['2001:db8::', 48, null],
      ],
    );
    assert.equal(r.skipped.length, 1);
    assert.throws(() => parseMispEvent('{"Event": {}}', new Date(), 7), LabelImportError);
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
        try {
          parseMispEvent(JSON.stringify(v), new Date(), 7);
        } catch (err) {
          if (!(err instanceof LabelImportError)) throw err;
        }
      }),
      { numRuns: 2000, seed: 8 },
    );
  });
});
