/** Back-fill from pcaps: the reader, the import path, and the refusal while M1 is not running. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { importFlowPcap, importNfdump } from '../../src/ingest/flow/import.js';
import { have, nfdumpDecode } from '../support/flow-peers.js';
import { FLOW_DATASET } from '../../src/ingest/flow/dataset.js';
import { PcapError, readPcapUdp, type PcapStats } from '../../src/ingest/pcap.js';
import { CLI, openTest, tempDir, measuresWithM1InletOnly } from '../support/fixtures.js';
import { dataSet, ipfix, IPFIX_V4_TEMPLATE, ipfixV4Record, templateSet } from '../support/flow-builders.js';
import { decodeAll } from '../support/flow-records.js';
import { writeUdpPcap } from '../support/traffic.js';

const WITH_M1 = measuresWithM1InletOnly();

function exportStream(datagrams: number): Buffer[] {
  const out = [ipfix({ exportTime: 1_764_000_000, sequence: 0, domain: 1 }, [templateSet(true, 300, IPFIX_V4_TEMPLATE)])];
  for (let i = 0; i < datagrams; i++) {
    const records = Array.from({ length: 20 }, (_, k) => ipfixV4Record({
      src: `10.0.${(i >> 8) & 255}.${i & 255}`, dst: `198.51.100.${k}`, sport: 1000 + k, dport: 443, proto: 6, flags: 0x18,
      startMs: 1_764_000_000_000 + i, endMs: 1_764_000_001_000 + i, bytes: 100 + k, packets: 1,
    }));
    out.push(ipfix({ exportTime: 1_764_000_000, sequence: 1 + i * 20, domain: 1 }, [dataSet(300, records)]));
  }
  return out;
}

describe('pcap reader', () => {
  it('reads captures larger than its read chunk, across chunk boundaries', () => {
    const file = join(tempDir(), 'big.pcap');
    const datagrams = exportStream(6000); // ≈ 7 MiB
    writeUdpPcap(file, datagrams);
    const stats: PcapStats = { packets: 0, udp: 0, skipped: 0, fragments: 0, bytesRead: 0 };
    let n = 0;
    let same = true;
    for (const p of readPcapUdp(file, stats)) {
      if (!p.payload.equals(datagrams[n]!)) same = false;
      n += 1;
    }
    assert.equal(n, datagrams.length);
    assert.ok(same, 'payloads differ from what was written');
    assert.deepEqual({ ...stats, bytesRead: 0 }, { packets: n, udp: n, skipped: 0, fragments: 0, bytesRead: 0 });
  });

  it('names what is wrong with a file that is not a usable pcap', () => {
    const dir = tempDir();
    const cases: Array<[string, Buffer, RegExp]> = [
      ['short', Buffer.alloc(10), /too short/],
      ['text', Buffer.from('this is not a capture at all, just words'), /not a pcap file/],
      ['pcapng', Buffer.from([0x0a, 0x0d, 0x0d, 0x0a, ...Array(40).fill(0)]), /pcapng is not supported/],
    ];
    const good = join(dir, 'good.pcap');
    writeUdpPcap(good, exportStream(3));
    const whole = readFileSync(good);
    cases.push(['cut', whole.subarray(0, whole.length - 7), /truncated/]);
    for (const [name, bytes, pattern] of cases) {
      const f = join(dir, `${name}.pcap`);
      writeFileSync(f, bytes);
      assert.throws(() => [...readPcapUdp(f)], (err: unknown) => err instanceof PcapError && pattern.test(err.message), name);
    }
  });
});

describe('flows import', () => {
  it('stores what the capture holds, and audits the import', async () => {
    const m = await openTest('measures:\n  cc-detection: { enabled: true }\n', { analytics: true, measures: WITH_M1 });
    const file = join(tempDir(), 'export.pcap');
    const datagrams = exportStream(200);
    writeUdpPcap(file, datagrams);
    const r = await importFlowPcap(m, file, 'cli:test');
    const expected = decodeAll(datagrams, { exporter: '192.0.2.1' }).records.length;
    assert.equal(r.records, expected);
    const [row] = await m.analytics!.query<{ n: string }>(`SELECT count() AS n FROM ${FLOW_DATASET.table}`);
    assert.equal(Number(row!.n), expected);
    let audited;
    for await (const e of m.audit.entries()) if (e.action === 'flows.import') audited = e;
    assert.deepEqual(audited?.counts, { datagrams: 201, records: expected, skippedPackets: 0 });
    await m.close(); // one embedded analytics store per process
  });

  it('imports what nfcapd wrote, read through nfdump', { skip: !have('nfcapd') && 'nfcapd not installed' }, async () => {
    const m = await openTest('measures:\n  cc-detection: { enabled: true }\n', { analytics: true, measures: WITH_M1 });
    const dir = tempDir();
    const reference = await nfdumpDecode(exportStream(40), dir, 39400 + (process.pid % 300));
    const r = await importNfdump(m, dir, true, 'cli:test');
    assert.equal(r.records, reference.length);
    assert.deepEqual(r.exporters, ['127.0.0.1']);
    const [row] = await m.analytics!.query<{ n: string; b: string; p: string }>(`SELECT count() AS n, sum(bytes) AS b, sum(dst_port) AS p FROM ${FLOW_DATASET.table}`);
    assert.deepEqual([Number(row!.n), Number(row!.b), Number(row!.p)], [reference.length, reference.reduce((a, x) => a + x.bytes, 0), reference.reduce((a, x) => a + x.dport, 0)]);
  });

  it('refuses to store flows while M1 is disabled, with a clear message', () => {
    const dir = tempDir();
    const file = join(dir, 'export.pcap');
    writeUdpPcap(file, exportStream(2));
    const config = join(dir, 'mamori.yaml');
    writeFileSync(config, `dataDir: ${JSON.stringify(join(dir, 'data'))}\n`);
    const r = spawnSync(process.execPath, [CLI, '-c', config, 'flows', 'import', file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /flow records may be stored only for M1, which is disabled/);
  });
});
