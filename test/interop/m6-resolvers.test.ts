/**
 * M6 end to end with the resolver applying the blocks, once with Unbound 1.17
 * and once with BIND 9.18 (the scenario of bench/m6-eval.ts, smaller and
 * shorter for CI: 1,000 benign qps, a 15 s warm-up): from a cold start with a
 * DNSBL, a hash lookup and a CDN in the benign load, five random-subdomain
 * attacks of 200 qps (hex labels directly under jp, long labels under a
 * customer's zone below a provider's domain, short labels under a new zone in
 * co.jp, dictionary words below www, a mix) and TXT queries with a 24×
 * answer. Outcomes, not timings: every attacked zone becomes an automatic
 * rule at the default confidence 0.9 and its random names are refused by the
 * resolver itself, the amplification is found, no benign name is blocked,
 * and without the attacks nothing is a candidate.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { have } from '../support/flow-peers.js';
import { runM6Scenario, VICTIMS } from '../support/m6-scenario.js';

const peers = have('unbound') && have('named') && have('dnsperf') && have('kdig');

for (const resolver of ['unbound', 'bind'] as const) {
  describe(
    `M6 with ${resolver === 'unbound' ? 'Unbound' : 'BIND'} as dnstap source and RPZ secondary, under dnsperf load`,
    { skip: !peers && 'unbound, bind9, dnsperf or knot-dnsutils not installed' },
    () => {
      it(
        'blocks every attacked zone at the resolver (each label ' +
          'shape, at any depth, under any suffix), ' +
          'finds the amplification, blocks no benign name',
        async (t) => {
          const r = await runM6Scenario({
            resolver,
            seconds: 50,
            benignQps: 1000,
            attackQps: 200,
            ampQps: 500,
            withAttack: true,
            onsetS: 25,
            warmUp: '15s',
          });
          t.diagnostic(r.lines.join(' | '));
          const zones = r.candidates.filter((c) => c.startsWith('random-subdomain:')).sort();
          assert.deepEqual(zones, VICTIMS.map((v) => `random-subdomain:${v.zone}:active`).sort());
          // Both abused names are found, 24× and about 10× (the default factor), each at half the amplification rate: blocked
          // automatically or waiting for review, as their confidence says.
          const amps = r.candidates.filter((c) => c.startsWith('amplification:')).sort();
          assert.equal(amps.length, 2, JSON.stringify(amps));
          assert.match(amps[0]!, /^amplification:amp\.abused\.example:(active|pending)$/);
          assert.match(amps[1]!, /^amplification:amp10\.abused\.example:(active|pending)$/);
          for (const v of r.victims)
            assert.ok(v.blockedAfterS !== undefined, `${v.zone}: the resolver never refused a probe by the policy`);
          assert.equal(r.benignBlocked, 0);
          assert.ok(r.passedByException > 0, "the victims' usual names were let through");
          assert.equal(r.dnstapDropped, 0);
        },
      );

      it('makes no candidate without an attack, from a cold start with DNSBL, hash-lookup and CDN zones', async (t) => {
        const r = await runM6Scenario({
          resolver,
          seconds: 30,
          benignQps: 1000,
          attackQps: 0,
          ampQps: 0,
          withAttack: false,
          onsetS: 0,
          warmUp: '15s',
        });
        t.diagnostic(r.lines.join(' | '));
        assert.deepEqual(r.candidates, []);
        assert.equal(r.blocked, 0);
      });
    },
  );
}
