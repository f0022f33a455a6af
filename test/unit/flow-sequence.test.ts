/**
 * Sequence accounting: loss estimated from sequence numbers must be loss —
 * not corruption, reordering, restarts, the 32-bit wrap, or an exporter that
 * counts differently from its RFC. Each case below once produced a wrong
 * figure (50,591,932,502 "lost" over 4,000 datagrams with corrupt numbers;
 * 826 for a lossless softflowd IPFIX replay).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExporterTable, LIMITS, SequenceTracker } from '../../src/ingest/flow/exporters.js';
import { decodeDatagram } from '../../src/ingest/flow/decode.js';
import { FlowBatch, FlowOutput } from '../../src/ingest/flow/batch.js';
import { dataSet, ipfix, ipfixV4Record, IPFIX_V4_TEMPLATE, templateSet } from '../support/flow-builders.js';

/** A stream of `n` datagrams of `records` each, starting at `first`, counted the RFC 7011 way. */
function stream(n: number, records: (i: number) => number, first = 0): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let seq = first;
  for (let i = 0; i < n; i++) {
    const r = records(i);
    out.push([seq >>> 0, r]);
    seq += r;
  }
  return out;
}

function feed(t: SequenceTracker, datagrams: ReadonlyArray<[number, number]>, msPerDatagram = 1): void {
  datagrams.forEach(([seq, records], i) => t.observe(seq, records, records, 1_000_000 + i * msPerDatagram));
}

const recordsUnits = ['records-before', 'records-including', 'datagrams'] as const;

describe('sequence accounting', () => {
  it('counts exactly the records of the datagrams that did not arrive', () => {
    const all = stream(1_000, (i) => 1 + (i % 30));
    const dropped = new Set([10, 11, 500, 998]);
    const t = new SequenceTracker(recordsUnits);
    feed(
      t,
      all.filter((_, i) => !dropped.has(i)),
    );
    assert.equal(
      t.lost,
      [...dropped].reduce((n, i) => n + all[i]![1], 0),
    );
    assert.equal(t.gaps, 3, 'three gaps: 10–11, 500, 998');
    assert.equal(t.unit, 'records-before');
  });

  it('does not turn corrupt sequence numbers into loss', () => {
    const all = stream(4_000, () => 20);
    let x = 12345;
    const rand = () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x;
    };
    // Every other datagram's sequence number is garbage (as from a flipped byte or a spoofer).
    const corrupted = all.map(([seq, r], i): [number, number] => (i % 2 ? [rand(), r] : [seq, r]));
    const t = new SequenceTracker(recordsUnits);
    feed(t, corrupted);
    assert.equal(t.lost, 0);
    assert.ok(t.outliers >= 1_900, `outliers ${t.outliers}`);
  });

  it('is bounded by what the exporter could have sent since its previous datagram', () => {
    const t = new SequenceTracker(['records-before']);
    feed(t, [
      [0, 10],
      [10, 10],
      [5_000_000_000 % 2 ** 32, 10],
      [(5_000_000_000 + 10) % 2 ** 32, 10],
    ]);
    assert.equal(t.lost, 0, 'a jump of 705 M records 1 ms later is a restart, not loss');
    assert.equal(t.resets, 1);
  });

  it('reads a reordered pair as late, not lost', () => {
    const all = stream(100, () => 10);
    const swapped = [...all];
    [swapped[40], swapped[41]] = [swapped[41]!, swapped[40]!];
    const t = new SequenceTracker(recordsUnits);
    feed(t, swapped);
    assert.equal(t.lost, 0);
    assert.equal(t.late, 1);
  });

  it('reads an exporter restart as a reset, and goes on counting loss after it', () => {
    const before = stream(50, () => 10, 70_000);
    const after = stream(50, () => 10, 0);
    after.splice(20, 1); // one datagram lost after the restart
    const t = new SequenceTracker(recordsUnits);
    feed(t, [...before, ...after]);
    assert.equal(t.resets, 1);
    assert.equal(t.lost, 10);
  });

  it('crosses the 32-bit wrap without loss', () => {
    const t = new SequenceTracker(recordsUnits);
    feed(
      t,
      stream(100, () => 25, 2 ** 32 - 1_000),
    );
    assert.equal(t.lost, 0);
    assert.equal(t.resets, 0);
  });

  it('learns an exporter that counts the records including its own datagram (softflowd IPFIX)', () => {
    const rfc = stream(200, (i) => 1 + ((i * 7) % 29));
    const including = rfc.map(([seq, r]): [number, number] => [(seq + r) >>> 0, r]);
    including.splice(100, 1);
    const t = new SequenceTracker(recordsUnits);
    feed(t, including);
    assert.equal(t.unit, 'records-including');
    assert.equal(t.lost, rfc[100]![1]);
  });

  it('counts datagrams for NetFlow v9, by its RFC', () => {
    const t = new SequenceTracker(['datagrams', 'records-before', 'records-including']);
    feed(
      t,
      Array.from({ length: 100 }, (_, i): [number, number] => [i + 1, 5 + (i % 3)]).filter(([s]) => s !== 50),
    );
    assert.equal(t.unit, 'datagrams');
    assert.equal(t.lost, 1);
  });
});

describe('domain state', () => {
  it('forgets a domain idle for longer than the bound, and a live router re-creates it with its next template', () => {
    const exporters = new ExporterTable();
    const out = new FlowOutput(new FlowBatch(64), () => {});
    const t = ipfix({ exportTime: 1, sequence: 0, domain: 7 }, [templateSet(true, 300, IPFIX_V4_TEMPLATE)]);
    decodeDatagram(t, '192.0.2.1', exporters, out, 1_000);
    const e = exporters.find('192.0.2.1')!;
    assert.ok(e.existing('ipfix', 7));
    exporters.expireIdle(1_000 + LIMITS.domainIdleMs + 1);
    assert.equal(e.existing('ipfix', 7), undefined);
    assert.equal(e.domainsExpired, 1);
    const r = ipfixV4Record({
      src: '192.0.2.9',
      dst: '198.51.100.1',
      sport: 1,
      dport: 2,
      proto: 6,
      flags: 0,
      startMs: 1,
      endMs: 2,
      bytes: 1,
      packets: 1,
    });
    const later = 2_000 + LIMITS.domainIdleMs;
    decodeDatagram(t, '192.0.2.1', exporters, out, later);
    assert.equal(
      decodeDatagram(ipfix({ exportTime: 1, sequence: 0, domain: 7 }, [dataSet(300, [r])]), '192.0.2.1', exporters, out, later),
      1,
    );
  });

  it('keeps v9 and IPFIX domains with the same id apart', () => {
    const exporters = new ExporterTable();
    const out = new FlowOutput(new FlowBatch(64), () => {});
    decodeDatagram(
      ipfix({ exportTime: 1, sequence: 0, domain: 0 }, [templateSet(true, 300, IPFIX_V4_TEMPLATE)]),
      '192.0.2.1',
      exporters,
      out,
      1,
    );
    const e = exporters.find('192.0.2.1')!;
    assert.ok(e.existing('ipfix', 0));
    assert.equal(e.existing('netflow9', 0), undefined);
  });
});
