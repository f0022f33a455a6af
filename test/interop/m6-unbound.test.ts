/**
 * M6 end to end with the resolver applying the block (the scenario of
 * bench/m6-eval.ts, smaller and shorter for CI): dnsperf load through Unbound
 * 1.17 writing dnstap to Mamori and transferring M6's zone; a random-subdomain
 * attack from 10 s on. The rule must reach Unbound within 15 s of the onset,
 * no benign name may be blocked, and without the attack nothing is a candidate.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { have } from '../support/flow-peers.js';
import { runM6Scenario } from '../support/m6-scenario.js';

describe(
  'M6 with Unbound as dnstap source and RPZ secondary, under dnsperf load',
  {
    skip:
      !(have('unbound') && have('named') && have('dnsperf') && have('kdig')) && 'unbound, bind9, dnsperf or knot-dnsutils not installed',
  },
  () => {
    it('blocks the attack at Unbound within 15 s and no benign name', async (t) => {
      const r = await runM6Scenario({ seconds: 30, benignQps: 2000, attackQps: 500, withAttack: true });
      t.diagnostic(r.lines.join(' | '));
      assert.deepEqual(r.candidates, ['random-subdomain:victim.example:active']);
      assert.ok(r.blockedAfterS !== undefined && r.blockedAfterS <= 15, `block effective after ${r.blockedAfterS} s`);
      assert.ok(r.blocked > 0);
      assert.equal(r.benignBlocked, 0);
      assert.ok(r.passedByException > 0, 'the known name www.victim.example was let through');
      assert.equal(r.dnstapDropped, 0);
    });

    it('makes no candidate without an attack', async (t) => {
      const r = await runM6Scenario({ seconds: 20, benignQps: 2000, attackQps: 500, withAttack: false });
      t.diagnostic(r.lines.join(' | '));
      assert.deepEqual(r.candidates, []);
      assert.equal(r.blocked, 0);
    });
  },
);
