/**
 * Sequence accounting against nfcapd on the same streams. softflowd exports
 * the same traffic as NetFlow v5, v9 and IPFIX; the streams go to Mamori's
 * decoder and to nfcapd whole, and again with three datagrams taken out
 * (two adjacent, one alone: two gaps). nfcapd counts gaps ("sequence
 * failures"), Mamori estimates what they held: both must agree on the gaps,
 * and Mamori's estimate must be exactly what was taken out.
 *
 * Where nfcapd is wrong: softflowd's IPFIX sequence number counts the data
 * records *including* those of its own message (RFC 7011 §3.1: those sent
 * before it), so nfcapd reports a failure on almost every message of a
 * lossless stream; and it leaves its options data record out of the count.
 * Mamori learns which reading the stream follows and reports no loss; the
 * test shows nfcapd's figure beside it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../support/fixtures.js';
import { FlowBatch, FlowOutput } from '../../src/ingest/flow/batch.js';
import { decodeDatagram } from '../../src/ingest/flow/decode.js';
import { ExporterTable } from '../../src/ingest/flow/exporters.js';
import { have, nfcapdCounters, softflowdExport } from '../support/flow-peers.js';
import { decodeAll } from '../support/flow-records.js';
import { syntheticTraffic, writeTrafficPcap } from '../support/traffic.js';

const peers = have('softflowd') && have('nfcapd') && have('nfdump');
let port = 39600 + (process.pid % 200);

/** Flow records each datagram of a stream carries, decoded in order (templates first, as sent). */
function recordsPerDatagram(datagrams: readonly Buffer[]): number[] {
  const exporters = new ExporterTable();
  const out = new FlowOutput(new FlowBatch(4096), () => {});
  return datagrams.map((d) => decodeDatagram(d, '127.0.0.1', exporters, out, 1));
}

describe('sequence accounting beside nfcapd (softflowd streams)', { skip: !peers && 'softflowd/nfdump not installed' }, () => {
  const dir = tempDir();
  const pcap = join(dir, 'traffic.pcap');
  writeTrafficPcap(pcap, syntheticTraffic(7, 3000));
  // Two adjacent datagrams and one alone: two gaps. None of them carries a template or options data.
  const DROP = new Set([10, 11, 30]);

  for (const version of [5, 9, 10] as const) {
    it(`NetFlow ${version === 10 ? 'IPFIX' : `v${version}`}: no loss on the whole stream, exactly the dropped ones otherwise`, async () => {
      const datagrams = await softflowdExport(pcap, version, dir);
      assert.ok(datagrams.length > 40, `softflowd sent ${datagrams.length} datagrams`);
      const whole = decodeAll(datagrams).exporters.list()[0]!;
      const theirsWhole = await nfcapdCounters(datagrams, join(dir, `nf-${version}-whole`), port++);
      assert.equal(whole.lost(), 0, `Mamori on the lossless stream (nfcapd: ${theirsWhole.sequenceFailures} sequence failures)`);
      assert.equal(whole.sequenceStatus().gaps, 0);

      const kept = datagrams.filter((_, i) => !DROP.has(i));
      const partial = decodeAll(kept).exporters.list()[0]!;
      const theirs = await nfcapdCounters(kept, join(dir, `nf-${version}-partial`), port++);
      // What was taken out, in the unit each protocol's sequence counts: v9 datagrams, v5 and IPFIX records.
      const perDatagram = recordsPerDatagram(datagrams);
      const missing = version === 9 ? DROP.size : [...DROP].reduce((n, i) => n + perDatagram[i]!, 0);
      assert.ok(missing > 0);
      assert.equal(partial.lost(), missing, 'estimated loss = what was taken out');
      assert.equal(partial.sequenceStatus().gaps, 2);
      if (version === 10) {
        assert.deepEqual(partial.sequenceStatus().units, ['ipfix:flows-including'], 'softflowd counts flows, options data aside');
        assert.ok(
          theirsWhole.sequenceFailures > datagrams.length / 2,
          `nfcapd reads softflowd's IPFIX numbers as failures (${theirsWhole.sequenceFailures})`,
        );
      } else {
        assert.equal(theirsWhole.sequenceFailures, 0);
        assert.equal(theirs.sequenceFailures, 2, 'nfcapd sees the same two gaps');
      }
    });
  }
});
