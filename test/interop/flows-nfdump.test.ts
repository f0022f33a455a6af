/**
 * Interop: the same export datagrams decoded by Mamori and by nfcapd/nfdump
 * must give the same records: addresses, ports, protocol, packets, bytes,
 * TCP flags, start and end time. Exporters: softflowd (v5, v9, IPFIX) over
 * generated traffic, and captures of real routers from
 * ../shared/data/flow-captures — every capture there: the NetFlow and IPFIX
 * ones against nfdump, the sFlow ones (which nfdump cannot read) against an
 * independent reading of the wire and against pmacct's sfacctd.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readPcapUdp } from '../../src/ingest/pcap.js';
import { REPO_ROOT, tempDir } from '../support/fixtures.js';
import {
  have,
  havePythonModule,
  nfdumpDecode,
  sfacctdDecode,
  sflowWire,
  softflowdExport,
  type ReferenceRecord,
} from '../support/flow-peers.js';
import { canonical, decodeAll, diff } from '../support/flow-records.js';
import { syntheticTraffic, writeTrafficPcap } from '../support/traffic.js';

const CAPTURES = join(REPO_ROOT, '../shared/data/flow-captures');
const peers = have('nfcapd') && have('nfdump');
let port = 39100 + (process.pid % 500);

/**
 * Known gaps on nfdump's side, each checked against the ground truth before it
 * is bridged. nfdump 1.7.1 reads ICMP type/code only from elements 32/139 of
 * NetFlow v9 and otherwise reports ICMP (or ICMPv6) with port 0: softflowd's v9
 * ICMPv6 and the router capture, which carries type/code in
 * destinationTransportPort as many routers do. Ours must hold the real
 * type·256+code: echo request/reply (8/0, 128/129) in these data.
 */
function bridgeIcmp(protos: number[], truth: number[]) {
  return (r: ReferenceRecord): ReferenceRecord => {
    if (!protos.includes(r.proto)) return r;
    assert.ok(truth.includes(r.dport), `ICMP type/code ${r.dport} is not one the data holds (${truth.join(', ')})`);
    return { ...r, dport: 0 };
  };
}
const ECHO = { v4: [8 * 256, 0], v6: [128 * 256, 129 * 256] };

/**
 * nfdump 1.7.1 does not decode IPFIX flowStart/EndMicroseconds (154/155, NTP
 * format) and reports time 0. The ipfixprobe capture is of Wireshark's sample
 * SMTP trace, recorded on 2009-10-05 from 06:06:07 UTC: ours must fall there.
 */
function bridgeMicroseconds(r: ReferenceRecord): ReferenceRecord {
  const from = Date.parse('2009-10-05T06:06:07Z');
  const to = Date.parse('2009-10-05T06:07:00Z');
  assert.ok(
    r.start >= from && r.end <= to && r.start <= r.end,
    `time ${new Date(r.start).toISOString()}..${new Date(r.end).toISOString()} is not in the trace`,
  );
  return { ...r, start: 0, end: 0 };
}

/**
 * nfdump 1.7.1 does not apply the sampling rate a v9 exporter announces
 * (options data, or elements 34/35 in the record); Mamori does, as the issue
 * requires. Our rate must be the one announced; undone, the counts must match.
 */
function unsample(expectedRate: number) {
  return (r: ReferenceRecord): ReferenceRecord => {
    assert.equal(r.samplingRate, expectedRate, 'sampling rate not learnt from the exporter');
    return { ...r, packets: r.packets / expectedRate, bytes: r.bytes / expectedRate };
  };
}

/** Where nfdump applies the announced rate too: ours must be that rate, and the counts equal nfdump's as they are. */
function checkRate(expectedRate: number) {
  return (r: ReferenceRecord): ReferenceRecord => {
    assert.equal(r.samplingRate, expectedRate, 'sampling rate not learnt from the exporter');
    return r;
  };
}

/**
 * nfcapd drops data that arrives before its template; Mamori holds it briefly.
 * The comparison runs Mamori with holding off; holding on must give the same
 * records plus the held ones.
 */
async function compare(datagrams: Buffer[], label: string, bridge: (r: ReferenceRecord) => ReferenceRecord = (r) => r): Promise<number> {
  const ours = decodeAll(datagrams, { holdMs: 0 }).records.map(bridge);
  const decoded = decodeAll(datagrams);
  const held = decoded.records.map(bridge);
  // Real exporters' datagrams are whole: nothing of them may be refused (no framing error, no record dropped).
  assert.deepEqual(
    decoded.exporters.status().map((e) => e.errors),
    [{}],
    `${label}: the decoder refused part of it`,
  );
  assert.deepEqual(diff(ours, held).onlyOurs, [], `${label}: holding data for its template lost records`);
  const theirs = await nfdumpDecode(datagrams, tempDir(), port++);
  const d = diff(ours, theirs);
  assert.deepEqual(d, { onlyOurs: [], onlyTheirs: [] }, `${label}: records differ (start|end|src|dst|sport|dport|proto|packets|bytes)`);
  assert.ok(ours.length > 0, `${label}: no records decoded, the comparison would prove nothing`);
  return ours.length;
}

describe('flow decoding matches nfdump record for record', { skip: !peers && 'nfcapd/nfdump not installed' }, () => {
  for (const version of [5, 9, 10] as const) {
    it(
      `softflowd NetFlow ${version === 10 ? 'IPFIX' : `v${version}`}`,
      { skip: !have('softflowd') && 'softflowd not installed' },
      async () => {
        const dir = tempDir();
        const pcap = join(dir, 'traffic.pcap');
        writeTrafficPcap(pcap, syntheticTraffic(version, 400));
        const datagrams = await softflowdExport(pcap, version, dir);
        assert.ok(datagrams.length > 0, 'softflowd exported nothing');
        const n = await compare(datagrams, `softflowd v${version}`, version === 9 ? bridgeIcmp([58], ECHO.v6.slice(0, 1)) : undefined);
        assert.ok(n >= (version === 5 ? 250 : 380), `only ${n} records`);
      },
    );
  }

  const sets: Array<[string, string[], ((r: ReferenceRecord) => ReferenceRecord)?]> = [
    ['NetFlow v5 router', ['netflow-nfv5.pcap']],
    ['NetFlow v9 templates then data', ['netflow-template.pcap', 'netflow-data.pcap']],
    // Here nfdump applies the rate: options data with no sampler id, for the whole domain (1:30000).
    [
      'NetFlow v9 options for the domain (sampling 1:30000), then templates and data',
      ['netflow-options-template.pcap', 'netflow-options-data.pcap', 'netflow-template.pcap', 'netflow-data.pcap'],
      checkRate(30000),
    ],
    ['NetFlow v9 data and templates, sampling 1:100 from options', ['netflow-data+templates.pcap'], unsample(100)],
    ['NetFlow v9 sampling 1:2048 in the records', ['netflow-samplingrate-template.pcap', 'netflow-samplingrate-data.pcap'], unsample(2048)],
    ['NetFlow v9 ICMP and IPv6', ['netflow-icmp-template.pcap', 'netflow-icmp-data.pcap'], bridgeIcmp([1, 58], [...ECHO.v4, ...ECHO.v6])],
    ['IPFIX from ipfixprobe', ['netflow-ipfixprobe-templates.pcap', 'netflow-ipfixprobe-data.pcap'], bridgeMicroseconds],
  ];
  for (const [label, files, bridge] of sets) {
    it(
      `capture: ${label}`,
      { skip: !existsSync(CAPTURES) && `../shared/data/flow-captures is absent: real-router captures not checked` },
      async () => {
        const datagrams = files.flatMap((f) => [...readPcapUdp(join(CAPTURES, f))].map((p) => p.payload));
        await compare(datagrams, label, bridge);
      },
    );
  }
});

/**
 * sFlow: nfdump has no sFlow reader. Two references instead, neither sharing
 * code with Mamori. The wire: test/support/sflow_wire.py walks the sFlow
 * structures itself and dissects every raw header with scapy's layers; its
 * records must equal ours field by field (sFlow carries no times: both take
 * the arrival time). And pmacct's sfacctd, a collector of its own, counting
 * per (addresses, ports, protocol, TCP flags), renormalised by the rate.
 */
describe(
  'sFlow captures match the wire and sfacctd',
  { skip: !existsSync(CAPTURES) && '../shared/data/flow-captures is absent: sFlow captures not checked' },
  () => {
    const wireReader = havePythonModule('scapy');
    const files = existsSync(CAPTURES)
      ? readdirSync(CAPTURES)
          .filter((f) => f.startsWith('sflow-'))
          .sort()
      : [];
    const RECEIVED = 1_700_000_000_000;
    for (const file of files) {
      it(`capture: ${file}`, { skip: !wireReader && 'python3-scapy not installed: no independent reading of the wire' }, async () => {
        const datagrams = [...readPcapUdp(join(CAPTURES, file))].map((p) => Buffer.from(p.payload));
        const decoded = decodeAll(datagrams, { receivedMs: RECEIVED });
        assert.deepEqual(
          decoded.exporters.status().map((e) => e.errors),
          [{}],
          `${file}: the decoder refused part of it`,
        );
        const ours = decoded.records;
        assert.ok(ours.length > 0, `${file}: no records decoded, the comparison would prove nothing`);

        const wire = sflowWire([join(CAPTURES, file)]);
        const asReference = wire.map((w): ReferenceRecord => ({ start: RECEIVED, end: RECEIVED, ...w }));
        assert.deepEqual(diff(ours, asReference), { onlyOurs: [], onlyTheirs: [] }, `${file}: records differ from the wire`);
        assert.deepEqual(
          ours.map((r) => r.samplingRate),
          wire.map((w) => w.samplingRate),
          `${file}: sampling rates differ from the wire`,
        );

        if (!have('sfacctd')) return;
        // pmacct counts the sampled frame as the agent sent it (frame length, link headers and FCS included);
        // Mamori counts the IP packet, as NetFlow's octet counts and sflowtool do: the wire gives both, record
        // by record (ours equal the wire's IP bytes above). pmacct puts no ICMP type/code in the ports.
        const perKey = new Map<string, { packets: number; bytes: number }>();
        const keyOf = (r: { src: string; dst: string; sport: number; dport: number; proto: number; tcpFlags?: number }) =>
          [canonical(r.src), canonical(r.dst), r.sport, r.proto === 1 || r.proto === 58 ? 0 : r.dport, r.proto, r.tcpFlags].join('|');
        ours.forEach((r, i) => {
          const k = keyOf(r);
          const sum = perKey.get(k) ?? { packets: 0, bytes: 0 };
          perKey.set(k, { packets: sum.packets + r.packets, bytes: sum.bytes + wire[i]!.frameBytes });
        });
        const theirs = await sfacctdDecode(datagrams, tempDir(), port++);
        const theirsPerKey = new Map<string, { packets: number; bytes: number }>();
        for (const r of theirs) {
          const k = keyOf(r);
          const sum = theirsPerKey.get(k) ?? { packets: 0, bytes: 0 };
          theirsPerKey.set(k, { packets: sum.packets + r.packets, bytes: sum.bytes + r.bytes });
        }
        assert.deepEqual(Object.fromEntries(theirsPerKey), Object.fromEntries(perKey), `${file}: sfacctd counted otherwise`);
      });
    }
  },
);
