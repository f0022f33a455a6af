/**
 * M6's random-subdomain rules mean the same on Unbound 1.17 and BIND 9.18 as
 * the resolver (issue 18): one rule (attacked zone victim-bank.lab.example,
 * exceptions www, login and a.b below it) written by BlockDecisions into
 * Mamori's RPZ primary, both resolvers its secondaries, a loopback BIND with a
 * wildcard zone as the "Internet" so that every name resolves unless a policy
 * answers. The same matrix of names is asked of both: random labels at every
 * depth below the zone and below the exceptions are blocked, the zone and
 * the exceptions resolve. Before issue 18, both let `<random>.www.…` through
 * (an exact passthru hides the zone's wildcard below it), and they disagreed
 * on `b.…` above the exception `a.b.…` (BIND resolved it, Unbound blocked it).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RpzPrimary } from '../../src/dns/primary.js';
import { RpzZone } from '../../src/dns/rpz.js';
import { BlockDecisions } from '../../src/measures/ddos-dns-blocking/decisions.js';
import { kdig, startNamed, type Named } from '../support/bind.js';
import { tempDir } from '../support/fixtures.js';
import { have } from '../support/flow-peers.js';
import { freePort } from '../support/freeradius.js';
import { startUnbound, type Unbound } from '../support/unbound.js';

const ZONE = 'victim-bank.lab.example';
const POLICY = 'ddos.rpz.isp.example';
/** Name → whether the policy must block it (NXDOMAIN) or let it resolve. */
const MATRIX: Array<[string, 'blocked' | 'resolves']> = [
  [ZONE, 'resolves'],
  [`www.${ZONE}`, 'resolves'],
  [`login.${ZONE}`, 'resolves'],
  [`a.b.${ZONE}`, 'resolves'],
  [`q8x2k7zp1v.${ZONE}`, 'blocked'],
  [`zz.${ZONE}`, 'blocked'],
  [`k3j9.x7.${ZONE}`, 'blocked'],
  [`q8x2k7zp1v.www.${ZONE}`, 'blocked'],
  [`a1.b2.www.${ZONE}`, 'blocked'],
  [`zzzz.login.${ZONE}`, 'blocked'],
  [`b.${ZONE}`, 'resolves'], // between the zone and the exception a.b: an empty non-terminal of the policy zone
  [`rnd9.b.${ZONE}`, 'blocked'],
  [`rnd9.a.b.${ZONE}`, 'blocked'],
  ['www.other.lab.example', 'resolves'],
];

describe(
  'M6 rules on Unbound 1.17 and BIND 9.18 as the resolver',
  { skip: !(have('unbound') && have('named') && have('kdig')) && 'unbound, bind9 or knot-dnsutils not installed' },
  () => {
    const dir = tempDir();
    const zone = new RpzZone(POLICY);
    let primary: RpzPrimary;
    let upstream: Named | undefined;
    let bindResolver: Named | undefined;
    let unbound: Unbound | undefined;
    let unboundPort: number;
    let bindPort: number;

    before(async () => {
      const decisions = new BlockDecisions(
        zone,
        { autoBlock: { enabled: false, minConfidence: 0.9, ttlMs: 600_000 }, quietAfterMs: 600_000, maxRuleMs: 86_400_000, rejectForMs: 0 },
        () => false,
        () => [`www.${ZONE}`, `login.${ZONE}`, `a.b.${ZONE}`],
      );
      decisions.onCandidates(
        [
          {
            domain: ZONE,
            at: Date.now(),
            distinct: 3000,
            baseline: 5,
            queries: 3000,
            failureShare: 1,
            randomness: 0.7,
            confidence: 0.95,
            explanation: { ja: '', en: '' },
          },
        ],
        Date.now(),
      );
      decisions.approve(ZONE, 'user:test', Date.now());
      zone.bump();
      const upstreamPort = await freePort();
      unboundPort = await freePort();
      bindPort = await freePort();
      mkdirSync(join(dir, 'up'));
      mkdirSync(join(dir, 'bind'));
      mkdirSync(join(dir, 'u'));
      const lab =
        '$TTL 60\n@ IN SOA localhost. root.localhost. 1 60 ' +
        '30 600 60\n@ IN NS localhost.\n@ IN A 192.0.2.1\n* ' +
        ('IN A 192.0.2.2\nvictim-bank IN A 192.0.2.4\n*.victim-bank ' + 'IN A 192.0.2.5\n');
      upstream = await startNamed(join(dir, 'up'), upstreamPort, {
        files: { 'lab.db': lab },
        options: '\trecursion no;',
        zones: 'zone "lab.example" { type primary; file "lab.db"; };',
        ready: /running/,
      });
      primary = await RpzPrimary.start([zone], { host: '127.0.0.1', port: 0, transferTo: ['127.0.0.1'], refresh: 3600 });
      // BIND as the resolver holds the same data itself (its own root zone leaves no way to forward below it);
      // `recursive-only no` applies the policy to those answers as to recursive ones.
      bindResolver = await startNamed(join(dir, 'bind'), bindPort, {
        files: { 'lab.db': lab },
        options: `\trecursion yes;\n\tallow-recursion { 127.0.0.0/8; };\n\tresponse-policy { zone "${POLICY}"; } recursive-only no;`,
        zones:
          `zone "lab.example" { type primary; file "lab.db"; ` +
          `};\nzone "${POLICY}" { type secondary; primaries ` +
          `{ 127.0.0.1 port ${primary.port}; }; file "policy.db"; };`,
        ready: /Transfer completed/,
      });
      unbound = await startUnbound(join(dir, 'u'), {
        port: unboundPort,
        rpzZone: POLICY,
        primaryPort: primary.port,
        forwardPort: upstreamPort,
      });
      for (let i = 0; i < 100 && !/NXDOMAIN/.test(await kdig(['@127.0.0.1', '-p', String(unboundPort), `zz.${ZONE}`, 'A'])); i++)
        await new Promise((r) => setTimeout(r, 100));
    });
    after(async () => {
      await unbound?.stop();
      await bindResolver?.stop();
      await upstream?.stop();
      await primary?.stop();
    });

    const outcome = async (port: number, name: string) => {
      const answer = await kdig(['@127.0.0.1', '-p', String(port), name, 'A']);
      if (/status: NXDOMAIN/.test(answer)) return 'blocked';
      if (/status: NOERROR/.test(answer) && /192\.0\.2\.\d/.test(answer)) return 'resolves';
      return `unexpected: ${answer.slice(0, 300)}`;
    };

    for (const [resolver, port] of [
      ['Unbound', () => unboundPort],
      ['BIND', () => bindPort],
    ] as const) {
      it(
        `${resolver}: random labels at every depth below the ` +
          `zone and below its exceptions are blocked; ` +
          `the zone and the exceptions resolve`,
        async () => {
          const got: string[] = [];
          for (const [name] of MATRIX) got.push(`${name} ${await outcome(port(), name)}`);
          assert.deepEqual(
            got,
            MATRIX.map(([name, want]) => `${name} ${want}`),
          );
        },
      );
    }
  },
);
