/**
 * The STIX 2.1 pattern parser against the forms of the specification, the
 * errors it must give, the endpoints M1 and M2 read from patterns, and fuzzing:
 * patterns come from partners over the network.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { endpointsOfPattern } from '../../src/core/stix/endpoints.js';
import { parsePattern, PatternError, stringLiteral } from '../../src/core/stix/pattern.js';
import { patternOf } from '../../src/measures/cc-sharing/stix.js';

const VALID = [
  "[ipv4-addr:value = '198.51.100.1/32']",
  "[ipv4-addr:value = '198.51.100.1/32' OR ipv4-addr:value = '203.0.113.33/32']",
  "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.33/32' AND network-traffic:dst_port = 443]",
  "[network-traffic:protocols[*] = 'tcp' AND network-traffic:dst_port IN (80, 443, 8080)]",
  "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f'] " +
    "FOLLOWEDBY [file:name = 'x.exe'] WITHIN 300 SECONDS",
  "[file:extensions.'windows-pebinary-ext'.sections[*].entropy > 7.0]",
  "([ipv4-addr:value = '198.51.100.5'] AND [domain-name:value LIKE '%.example.com']) REPEATS 5 TIMES",
  "[user-account:account_type = 'unix' AND user-account:user_id = '1007'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00.123Z'",
  "[x509-certificate:issuer MATCHES '^CN=.*' AND x509-certificate:serial_number NOT = '1']",
  "[artifact:payload_bin = b'dGhpcyBpcyBhIHRlc3Q=' OR artifact:payload_bin = h'00ff']",
  '[EXISTS windows-registry-key:values[0].data OR network-traffic:is_active = true]',
  "[process:pid <= -1 /* comment */ AND process:name != 'it\\'s']",
  "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
];

const INVALID: Array<[string, RegExp]> = [
  ['', /expected "\[" or "\("/],
  ["ipv4-addr:value = '1.2.3.4'", /expected "\[" or "\("/],
  ["[ipv4-addr:value = '1.2.3.4'", /expected \]/],
  ["[ipv4-addr:value = '1.2.3.4]", /unterminated string/],
  ["[ipv4-addr:value '1.2.3.4']", /comparison operator/],
  ["[ipv4-addr:val-ue = 'x']", /property name/],
  ["[a:b = t'2016-13-01T00:00:00Z']", /not a timestamp/],
  ['[a:b = 1] WITHIN -5 SECONDS', /positive/],
  ['[a:b = 1] REPEATS 1.5 TIMES', /positive whole number/],
  ['[a:b = 1] garbage', /the end of the pattern/],
  ['[a:b > true]', /boolean/],
  ["[a:b = h'abc']", /pairs of hex digits/],
  ['[a:b = 1] AND', /expected "\[" or "\("/],
  ["[a:b = 'x\\n']", /escaped/],
  ['[a:b = 1] ~', /unexpected character/],
];

describe('STIX pattern parser', () => {
  it('parses every form of the specification', () => {
    for (const p of VALID) assert.doesNotThrow(() => parsePattern(p), p);
  });

  it("builds the tree with the grammar's precedence: FOLLOWEDBY < OR < AND, qualifiers on the left operand", () => {
    const t = parsePattern('[a:b = 1] AND [c:d = 2] OR [e:f = 3] FOLLOWEDBY [g:h = 4] WITHIN 5 SECONDS');
    assert.equal(t.kind, 'followedby');
    if (t.kind !== 'followedby') return;
    assert.equal(t.left.kind, 'or');
    assert.equal(t.right.kind, 'within');
    if (t.left.kind === 'or') assert.equal(t.left.left.kind, 'and');
  });

  it('names the position and the problem in every error', () => {
    for (const [p, why] of INVALID) {
      assert.throws(
        () => parsePattern(p),
        (err: unknown) => {
          assert.ok(err instanceof PatternError, `${p}: ${String(err)}`);
          assert.match(err.message, /^STIX pattern, at character \d+: /);
          assert.match(err.message, why, p);
          return true;
        },
      );
    }
  });

  it('refuses deep nesting and huge patterns without exhausting the stack', () => {
    assert.throws(() => parsePattern(`${'('.repeat(50_000)}[a:b = 1]${')'.repeat(50_000)}`), /nested too deeply|longer than/);
    assert.throws(() => parsePattern(`[${'a:b = 1 AND '.repeat(10_000)}a:b = 1]`), /longer than/);
    assert.throws(() => parsePattern(`${'('.repeat(300)}[a:b = 1]${')'.repeat(300)}`), /nested too deeply/);
  });

  it('escapes string literals so that they read back', () => {
    for (const s of ["it's", 'back\\slash', "'", '']) {
      const t = parsePattern(`[a:b = ${stringLiteral(s)}]`);
      assert.ok(t.kind === 'observation' && t.comparison.kind === 'test' && t.comparison.value.value === s);
    }
  });

  it('never throws anything but a PatternError on arbitrary input', () => {
    const alphabet = fc.constantFrom(
      ...'[]():,.*=!<>\'"tbh -+0123456789abcxyz_ANDORNOTINLIKEWITHINSECONDSREPEATSTIMESSTARTSTOPFOLLOWEDBY\n\\/'.split(''),
    );
    fc.assert(
      fc.property(
        fc.array(alphabet, { maxLength: 80 }).map((a) => a.join('')),
        (s) => {
          try {
            parsePattern(s);
          } catch (err) {
            if (!(err instanceof PatternError)) throw err;
          }
        },
      ),
      { numRuns: 5000, seed: 7 },
    );
    // Mutations of valid patterns: a character dropped, swapped or inserted.
    fc.assert(
      fc.property(
        fc.constantFrom(...VALID),
        fc.nat(),
        fc.constantFrom('[', ']', "'", '(', ')', ' ', 'A', '='),
        fc.nat(2),
        (p, at, ch, how) => {
          const i = at % (p.length + 1);
          const m =
            how === 0 ? p.slice(0, i) + p.slice(i + 1) : how === 1 ? p.slice(0, i) + ch + p.slice(i + 1) : p.slice(0, i) + ch + p.slice(i);
          try {
            parsePattern(m);
          } catch (err) {
            if (!(err instanceof PatternError)) throw err;
          }
        },
      ),
      { numRuns: 5000, seed: 11 },
    );
  });
});

describe('endpoints of a pattern', () => {
  it('reads addresses, ports and protocols, with OR and IN as alternatives', () => {
    assert.deepEqual(
      endpointsOfPattern(
        "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '198.51.100.7' " +
          "AND network-traffic:dst_port = 443 AND network-traffic:protocols[*] = 'tcp']",
      ),
      [{ prefix: '198.51.100.7', port: 443, protocol: 'tcp' }],
    );
    assert.deepEqual(endpointsOfPattern("[ipv4-addr:value = '198.51.100.0/24'] OR [ipv6-addr:value = '2001:db8::1']"), [
      { prefix: '198.51.100.0/24', port: null, protocol: null },
      { prefix: '2001:db8::1', port: null, protocol: null },
    ]);
    assert.deepEqual(endpointsOfPattern("[network-traffic:dst_ref.value = '198.51.100.7' AND network-traffic:dst_port IN (80, 8080)]"), [
      { prefix: '198.51.100.7', port: 80, protocol: null },
      { prefix: '198.51.100.7', port: 8080, protocol: null },
    ]);
  });

  it('says which part is not an endpoint', () => {
    assert.match(String(endpointsOfPattern("[file:hashes.'SHA-256' = 'aa']")), /file:hashes\.SHA-256 is not an endpoint/);
    assert.match(String(endpointsOfPattern("[ipv4-addr:value != '198.51.100.7']")), /does not name an endpoint/);
    assert.match(
      String(endpointsOfPattern("[ipv4-addr:value = '198.51.100.7'] FOLLOWEDBY [ipv4-addr:value = '198.51.100.8']")),
      /FOLLOWEDBY/,
    );
    assert.match(
      String(endpointsOfPattern("[network-traffic:dst_port = 70000 AND network-traffic:dst_ref.value = '198.51.100.7']")),
      /not a port/,
    );
    assert.match(String(endpointsOfPattern('[a:b = ')), /STIX pattern, at character/);
  });

  it('reads back every pattern M2 writes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 1, max: 65535 }), fc.constantFrom(6, 17), (address, port, proto) => {
        const e = endpointsOfPattern(patternOf({ address, port, proto }));
        assert.deepEqual(e, [{ prefix: address, port, protocol: proto === 6 ? 'tcp' : 'udp' }]);
      }),
      { numRuns: 500, seed: 3 },
    );
  });
});
