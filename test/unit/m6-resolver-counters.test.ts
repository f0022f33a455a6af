/**
 * dnstap loss beside the resolver's own counters (issue 18): M6 counts what it
 * received per resolver identity (bounded), reads `unbound-control stats`
 * lines and BIND's statistics-channel dnstap counters, and gives the share lost.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DnsEvent } from '../../src/ingest/dnstap/dnstap.js';
import {
  bindDnstapCounters,
  countByResolver,
  lossShare,
  parseUnboundStats,
  type ResolverCounts,
} from '../../src/measures/ddos-dns-blocking/resolver-counters.js';

const ev = (kind: 'query' | 'response'): DnsEvent => ({ kind, timeMs: 0, qname: 'a.example', qtype: 1, rcode: 0, size: 0 });

describe("M6 dnstap loss against the resolvers' counters", () => {
  it('counts queries and responses per resolver, with a bounded number of identities', () => {
    const c: ResolverCounts = new Map();
    countByResolver(c, [ev('query'), ev('response'), ev('query')], 'resolver-a');
    assert.deepEqual(c.get('resolver-a'), { queries: 2, responses: 1 });
    for (let i = 0; i < 1000; i++) countByResolver(c, [ev('query')], `r${i}`);
    assert.ok(c.size <= 257, String(c.size));
    assert.ok(c.get('(other)')!.queries > 0);
  });

  it("reads Unbound's stats lines and BIND's dnstap counters, and gives the share lost", () => {
    const u = parseUnboundStats('thread0.num.queries=10\ntotal.num.queries=1000\ntotal.requestlist.avg=0.5\nnot a line\n');
    assert.equal(u.get('total.num.queries'), 1000);
    assert.equal(u.get('total.requestlist.avg'), 0.5);
    assert.deepEqual(bindDnstapCounters({ nsstats: { Requestv4: 5 }, dnstap: { DNSTAPsuccess: 90, DNSTAPdropped: 10 } }), {
      success: 90,
      dropped: 10,
    });
    assert.deepEqual(bindDnstapCounters({ nsstats: {} }), {});
    assert.equal(lossShare(1000, 920), 0.08);
    assert.equal(lossShare(0, 5), 0);
    assert.equal(lossShare(100, 120), 0);
  });
});
