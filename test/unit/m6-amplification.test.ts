/**
 * M6's amplification names: a name whose large ANY/TXT answers are suddenly
 * asked far more than usual is a candidate; normal large answers (a busy
 * domain's DNSKEY, a mail domain's TXT) are not; a honeypot list becomes
 * candidates with its source; the rule blocks the name alone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RpzZone } from '../../src/dns/rpz.js';
import type { DnsEvent } from '../../src/ingest/dnstap/dnstap.js';
import { AmplificationDetector, listedAmplificationNames } from '../../src/measures/ddos-dns-blocking/amplification.js';
import { BlockDecisions } from '../../src/measures/ddos-dns-blocking/decisions.js';

const T0 = 1_795_520_000_000;
const answers = (name: string, qtype: number, size: number, perSecond: number, from: number, seconds: number): DnsEvent[] =>
  Array.from({ length: perSecond * seconds }, (_, i) => ({
    kind: 'response' as const,
    timeMs: T0 + from * 1000 + Math.floor(i * (1000 / perSecond)),
    qname: name,
    qtype,
    rcode: 0,
    size,
  }));

describe('M6 amplification names', () => {
  it('finds a name whose large answers surge, and leaves steady large answers alone', () => {
    const events = [
      ...answers('isp-dnssec.example.jp', 48, 1500, 300, 0, 60), // a busy signed zone: steady DNSKEY answers
      ...answers('mail.example.jp', 16, 1300, 50, 0, 60), // SPF-style TXT, steady
      ...answers('abused.example', 255, 3800, 2, 0, 30), // rare before …
      ...answers('abused.example', 255, 3800, 400, 30, 30), // … then 400 a second
      ...answers('small.example', 255, 300, 2000, 0, 60), // many ANY answers, but small: no amplification
    ].sort((a, b) => a.timeMs - b.timeMs);
    const d = new AmplificationDetector();
    const found = [...d.add(events), ...d.closeInterval()];
    assert.deepEqual([...new Set(found.map((c) => c.domain))], ['abused.example']);
    assert.equal(found[0]!.kind, 'amplification');
    assert.ok(found[0]!.at - (T0 + 30_000) <= 10_000, 'within two intervals');
    assert.match(found[0]!.explanation.en, /ANY queries for abused\.example/);
    assert.match(found[0]!.explanation.ja, /増幅攻撃/);
  });

  it('finds amplification by factor, not absolute size: a 1,114-byte TXT answer (24× its 47-byte query) at 500 qps (issue 18)', () => {
    const events = [
      ...answers('amp.abused.example', 16, 1114, 1, 0, 60), // asked now and then …
      ...answers('amp.abused.example', 16, 1114, 500, 40, 20), // … then 500 a second
      ...answers('www.big-rrset.example', 1, 600, 300, 0, 60), // a steady large A RRset: ~17×, but no surge
      ...answers('plain.example', 255, 300, 2000, 0, 60), // many ANY answers 7× the query: below the factor
    ].sort((a, b) => a.timeMs - b.timeMs);
    const d = new AmplificationDetector();
    const found = [...d.add(events), ...d.closeInterval()];
    assert.deepEqual([...new Set(found.map((c) => c.domain))], ['amp.abused.example']);
    assert.ok(found[0]!.at - (T0 + 40_000) <= 10_000, 'within two intervals');
    assert.match(found[0]!.explanation.en, /answers 24× the size of the query \(1114 bytes on average; usually 1114\) to TXT queries/);
  });

  it('takes a honeypot list as candidates with its source, and blocks the abused name alone', () => {
    const zone = new RpzZone('ddos.rpz.isp.test');
    const decisions = new BlockDecisions(
      zone,
      {
        autoBlock: { enabled: false, minConfidence: 0.9, ttlMs: 600_000 },
        quietAfterMs: 3_600_000,
        maxRuleMs: 7 * 86_400_000,
        rejectForMs: 3_600_000,
      },
      (d) => d === 'example.jp',
      () => ['www.x'],
    );
    const listed = listedAmplificationNames(['amp.abused.example', 'big.example.jp'], 'amppot-feed', T0);
    assert.match(listed[0]!.explanation.en, /Listed by amppot-feed/);
    decisions.onCandidates(listed, T0);
    assert.equal(decisions.get('big.example.jp', 'amplification')!.status, 'whitelisted', 'whitelisted by its registrable domain');
    decisions.approve('amp.abused.example', 'user:noc', T0, 'amplification');
    zone.bump();
    assert.deepEqual(
      zone.list().map((r) => `${r.name} ${r.data}`),
      ['amp.abused.example.ddos.rpz.isp.test .'],
    );
  });
});
