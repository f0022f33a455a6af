/**
 * Back-fill from pcaps and nfdump files, offline (the server stopped): the
 * reader, what is stored and audited when a file is cut short, held data at
 * the end of a file, refusal of repeats, and failures part-way. The same
 * import through a running server is in flow-backfill-server.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Mamori } from '../../src/app/mamori.js';
import type { AuditEntry } from '../../src/core/audit/chain.js';
import { FlowImportError, FlowImportRefusedError, importFlowPcap, importNfdump } from '../../src/ingest/flow/import.js';
import { ImportRegistry } from '../../src/ingest/flow/import-registry.js';
import { have, nfdumpDecode, type ReferenceRecord } from '../support/flow-peers.js';
import { FLOW_DATASET } from '../../src/ingest/flow/dataset.js';
import { PcapError, readPcapUdp, scanPcap, type PcapStats } from '../../src/ingest/pcap.js';
import type { AnalyticsStore } from '../../src/store/analytics/store.js';
import { CLI, REPO_ROOT, openTest, tempDir, measuresWithM1InletOnly } from '../support/fixtures.js';
import { dataSet, ipfix, IPFIX_V4_TEMPLATE, ipfixV4Record, templateSet } from '../support/flow-builders.js';
import { decodeAll, diff } from '../support/flow-records.js';
import { writeUdpPcap } from '../support/traffic.js';

const WITH_M1 = measuresWithM1InletOnly();
const CAPTURES = join(REPO_ROOT, '../shared/data/flow-captures');
const NO_CAPTURES = !existsSync(CAPTURES) && '../shared/data/flow-captures is absent: real-router captures not checked';
const DAY_MS = 86_400_000;

/** An IPFIX stream: a template, then `datagrams` data sets of 20 records; `seed` makes the content (and its hash) differ. */
function exportStream(datagrams: number, seed = 0, template = true, startMs = 1_764_000_000_000): Buffer[] {
  const exportTime = Math.floor(startMs / 1000);
  const out = template ? [ipfix({ exportTime, sequence: 0, domain: 1 }, [templateSet(true, 300, IPFIX_V4_TEMPLATE)])] : [];
  for (let i = 0; i < datagrams; i++) {
    const records = Array.from({ length: 20 }, (_, k) =>
      ipfixV4Record({
        src: `10.${seed & 255}.${(i >> 8) & 255}.${i & 255}`,
        dst: `198.51.100.${k}`,
        sport: 1000 + k,
        dport: 443,
        proto: 6,
        flags: 0x18,
        startMs: startMs + i,
        endMs: startMs + 1000 + i,
        bytes: 100 + k,
        packets: 1,
      }),
    );
    out.push(ipfix({ exportTime, sequence: 1 + i * 20, domain: 1 }, [dataSet(300, records)]));
  }
  return out;
}

/** Byte offsets where each record of a (well-formed) pcap starts. */
function recordOffsets(bytes: Buffer): number[] {
  const offsets: number[] = [];
  for (let p = 24; p + 16 <= bytes.length; p += 16 + bytes.readUInt32LE(p + 8)) offsets.push(p);
  return offsets;
}

/** One pcap made of several single-packet captures (same link type), in the order given. */
function concatCaptures(files: string[]): Buffer {
  const parts = files.map((f) => readFileSync(join(CAPTURES, f)));
  return Buffer.concat([parts[0]!.subarray(0, 24), ...parts.map((p) => p.subarray(24))]);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function storedRecords(m: Mamori): Promise<ReferenceRecord[]> {
  const rows = await m.analytics!.query<Record<string, string | number>>(
    `SELECT toUnixTimestamp64Milli(start) AS s, toUnixTimestamp64Milli(end) AS e,
            IPv6NumToString(src_addr) AS sa, IPv6NumToString(dst_addr) AS da,
            src_port, dst_port, proto, packets, bytes FROM ${FLOW_DATASET.table}`,
  );
  const unmap = (a: string) => (a.startsWith('::ffff:') ? a.slice(7) : a);
  return rows.map((r) => ({
    start: Number(r.s),
    end: Number(r.e),
    src: unmap(String(r.sa)),
    dst: unmap(String(r.da)),
    sport: Number(r.src_port),
    dport: Number(r.dst_port),
    proto: Number(r.proto),
    packets: Number(r.packets),
    bytes: Number(r.bytes),
  }));
}

async function rowCount(m: Mamori): Promise<number> {
  const [row] = await m.analytics!.query<{ n: string }>(`SELECT count() AS n FROM ${FLOW_DATASET.table}`);
  return Number(row!.n);
}

async function importEntries(m: Mamori): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  for await (const e of m.audit.entries()) if (e.action === 'flows.import') entries.push(e);
  return entries;
}

/** Decodes packets as the import does: each exporter by its source address, each packet at its capture time. */
function decodeBySource(file: string): ReferenceRecord[] {
  const bySource = new Map<string, Array<{ payload: Buffer; t: number }>>();
  for (const p of readPcapUdp(file)) bySource.set(p.source, [...(bySource.get(p.source) ?? []), { payload: p.payload, t: p.timestampMs }]);
  return [...bySource].flatMap(
    ([source, packets]) =>
      decodeAll(
        packets.map((p) => p.payload),
        { exporter: source, receivedMs: packets[0]!.t },
      ).records,
  );
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
    cases.push(['cut', whole.subarray(0, whole.length - 7), /record 4 is truncated/]);
    cases.push(['cut-header', whole.subarray(0, recordOffsets(whole)[3]! + 9), /record 4 is cut inside its 16-byte header/]);
    for (const [name, bytes, pattern] of cases) {
      const f = join(dir, `${name}.pcap`);
      writeFileSync(f, bytes);
      assert.throws(
        () => [...readPcapUdp(f)],
        (err: unknown) => err instanceof PcapError && pattern.test(err.message),
        name,
      );
    }
  });

  it('scans a file cut short: where its whole records end, and the hashes of those bytes and of the file', async () => {
    const dir = tempDir();
    const good = join(dir, 'good.pcap');
    writeUdpPcap(good, exportStream(50, 1));
    const whole = readFileSync(good);
    const offsets = recordOffsets(whole);
    const cutAt = offsets[40]! + 30; // inside record 41
    const cut = join(dir, 'cut.pcap');
    writeFileSync(cut, whole.subarray(0, cutAt));
    const scan = await scanPcap(cut, new Set([offsets[10]!, offsets[10]! + 1]));
    assert.equal(scan.validBytes, offsets[40]);
    assert.equal(scan.packets, 40);
    const announced = 16 + whole.readUInt32LE(offsets[40]! + 8);
    const reason = `record 41 is truncated: ${announced} bytes announced, 30 in the file (file cut short)`;
    assert.deepEqual(scan.truncation, { offset: offsets[40], reason });
    assert.equal(scan.validSha256, sha256(whole.subarray(0, offsets[40])));
    assert.equal(scan.fileSha256, sha256(whole.subarray(0, cutAt)));
    // Prefix hashes only on record boundaries: the second length is inside a record.
    assert.deepEqual([...scan.prefixes], [[offsets[10], sha256(whole.subarray(0, offsets[10]))]]);
    const full = await scanPcap(good);
    assert.equal(full.truncation, undefined);
    assert.equal(full.validSha256, full.fileSha256);
    assert.equal(full.fileSha256, sha256(whole));
  });
});

describe('flows import (offline)', () => {
  let m: Mamori;
  before(async () => {
    // insertRows at its minimum: imports of a few thousand records still take several inserts.
    const yaml = 'measures:\n  cc-detection: { enabled: true }\ningest:\n  flows:\n    insertRows: 64\n';
    m = await openTest(yaml, { analytics: true, measures: WITH_M1 });
  });
  after(() => m.close()); // one embedded analytics store per process
  beforeEach(() => m.analytics!.exec(`TRUNCATE TABLE ${FLOW_DATASET.table}`));

  it('stores what the capture holds, and audits the import with its counts', async () => {
    const file = join(tempDir(), 'export.pcap');
    const datagrams = exportStream(200, 2);
    writeUdpPcap(file, datagrams);
    const r = await importFlowPcap(m, file, { actor: 'cli:test' });
    const expected = decodeAll(datagrams, { exporter: '192.0.2.1' }).records;
    assert.equal(r.records, expected.length);
    assert.equal(r.stored, expected.length);
    assert.equal(r.outcome, 'stored');
    assert.deepEqual(diff(await storedRecords(m), expected), { onlyOurs: [], onlyTheirs: [] });
    const audited = (await importEntries(m)).at(-1)!;
    assert.deepEqual([audited.outcome, audited.measure, audited.object], ['ok', 'cc-detection', 'dataset:flows']);
    const old = 1_764_000_001_200 < Date.now() - 7 * DAY_MS; // the stream's times, against M1's 7-day retention
    assert.deepEqual(audited.counts, {
      importId: r.importId,
      datagrams: 201,
      records: expected.length,
      stored: expected.length,
      noTemplateAtEnd: 0,
      olderThanRetention: old ? expected.length : 0,
      skippedPackets: 0,
      fragments: 0,
    });
    const [entry] = await new ImportRegistry(m.state).find('pcap', [r.sha256]);
    assert.deepEqual(
      [entry!.id, entry!.actor, entry!.outcome, entry!.records, entry!.sha256],
      [r.importId, 'cli:test', 'stored', expected.length, sha256(readFileSync(file))],
    );
  });

  it('stores the whole records of a file cut mid-packet, and names and audits where it stops', async () => {
    // Before: the import threw "truncated" after storing what it had read, and audited nothing.
    const dir = tempDir();
    const good = join(dir, 'good.pcap');
    writeUdpPcap(good, exportStream(2000, 3)); // 40,000 records: more than one insert before the cut
    const whole = readFileSync(good);
    const offsets = recordOffsets(whole);
    const cutAt = offsets[1800]! + 100;
    const cut = join(dir, 'cut.pcap');
    writeFileSync(cut, whole.subarray(0, cutAt));
    const expected = decodeAll(exportStream(2000, 3).slice(0, 1800), { exporter: '192.0.2.1' }).records;
    const r = await importFlowPcap(m, cut, { actor: 'cli:test' });
    assert.equal(r.outcome, 'partial');
    assert.deepEqual(r.truncation, { offset: offsets[1800], unreadBytes: cutAt - offsets[1800]!, reason: r.truncation!.reason });
    assert.match(r.truncation!.reason, /record 1801 is truncated/);
    assert.equal(r.stored, expected.length);
    assert.equal(await rowCount(m), expected.length);
    const audited = (await importEntries(m)).at(-1)!;
    assert.equal(audited.counts!.stored, expected.length);
    assert.equal(audited.counts!.truncatedAtByte, offsets[1800]);
    assert.equal(audited.counts!.unreadBytes, cutAt - offsets[1800]!);
    const [entry] = await new ImportRegistry(m.state).find('pcap', [r.sha256]);
    assert.deepEqual([entry!.outcome, entry!.bytes, entry!.fileBytes], ['partial', offsets[1800], cutAt]);
  });

  it('stores the whole packets of a real capture cut mid-packet', { skip: NO_CAPTURES }, async () => {
    const dir = tempDir();
    // Real exporters' datagrams (templates before their data), the last one (sFlow) cut in the middle.
    const bytes = concatCaptures([
      'netflow-icmp-template.pcap',
      'netflow-icmp-data.pcap',
      'netflow-nfv5.pcap',
      'netflow-template.pcap',
      'netflow-data.pcap',
      'sflow-data-1140.pcap',
    ]);
    const offsets = recordOffsets(bytes);
    const complete = join(dir, 'complete.pcap');
    writeFileSync(complete, bytes.subarray(0, offsets[5]));
    const cut = join(dir, 'cut.pcap');
    const cutAt = offsets[5]! + 16 + 600; // inside the sFlow datagram (1,250 bytes captured)
    writeFileSync(cut, bytes.subarray(0, cutAt));
    const expected = decodeBySource(complete);
    assert.ok(expected.length >= 30, `only ${expected.length} records in the whole packets`);
    const r = await importFlowPcap(m, cut, { actor: 'cli:test' });
    assert.equal(r.outcome, 'partial');
    assert.equal(r.truncation!.offset, offsets[5]);
    assert.equal(r.pcap.packets, 5);
    assert.deepEqual(diff(await storedRecords(m), expected), { onlyOurs: [], onlyTheirs: [] });
    assert.equal((await importEntries(m)).at(-1)!.counts!.stored, expected.length);
  });

  it('says how many records are already older than the retention of flow records', async () => {
    const file = join(tempDir(), 'old-and-new.pcap');
    const now = Date.now();
    writeUdpPcap(file, [...exportStream(10, 13, true, now - 30 * DAY_MS), ...exportStream(5, 13, false, now - 3_600_000)]);
    const r = await importFlowPcap(m, file, { actor: 'cli:test' });
    assert.deepEqual([r.stored, r.olderThanRetention], [300, 200]);
    assert.equal((await importEntries(m)).at(-1)!.counts!.olderThanRetention, 200);
  });

  it('counts data still waiting for its template at the end of the file as no-template', async () => {
    // Before: held data sets were dropped silently at the end and the exporter showed "no errors".
    const file = join(tempDir(), 'no-template.pcap');
    writeUdpPcap(file, exportStream(3, 4, false)); // three data sets, their template never sent
    const r = await importFlowPcap(m, file, { actor: 'cli:test' });
    assert.equal(r.records, 0);
    assert.equal(r.noTemplateAtEnd, 3);
    assert.equal(r.exporters[0]!.errors['no-template'], 3);
    assert.equal((await importEntries(m)).at(-1)!.counts!.noTemplateAtEnd, 3);
  });

  it("counts a real router's data without its template at the end of the file as no-template", { skip: NO_CAPTURES }, async () => {
    const r = await importFlowPcap(m, join(CAPTURES, 'netflow-data.pcap'), { actor: 'cli:test', force: true });
    assert.equal(r.records, 0);
    assert.ok(r.noTemplateAtEnd >= 1);
    assert.equal(r.exporters[0]!.errors['no-template'], r.noTemplateAtEnd);
  });

  it('refuses a file imported before, says which import it was, and stores it again only when forced', async () => {
    // Before: the second import stored every flow a second time, silently.
    const file = join(tempDir(), 'twice.pcap');
    writeUdpPcap(file, exportStream(50, 5));
    const first = await importFlowPcap(m, file, { actor: 'cli:alice' });
    const copy = join(tempDir(), 'renamed-copy.pcap');
    writeFileSync(copy, readFileSync(file));
    await assert.rejects(importFlowPcap(m, copy, { actor: 'cli:bob' }), (err: unknown) => {
      assert.ok(err instanceof FlowImportRefusedError);
      assert.equal(err.reason, 'already-imported');
      assert.match(err.message, new RegExp(`import #${first.importId} on \\S+ by cli:alice: ${first.stored} records stored`));
      assert.match(err.message, /Nothing was stored/);
      return true;
    });
    assert.equal(await rowCount(m), first.stored);
    const refused = (await importEntries(m)).at(-1)!;
    assert.deepEqual([refused.outcome, refused.actor, refused.counts], ['refused', 'cli:bob', { previousImportId: first.importId }]);
    const again = await importFlowPcap(m, copy, { actor: 'cli:bob', force: true });
    assert.equal(await rowCount(m), 2 * first.stored);
    assert.deepEqual(
      (await new ImportRegistry(m.state).find('pcap', [first.sha256])).map((e) => e.id),
      [first.importId, again.importId],
    );
  });

  it('refuses a capture that begins with one imported while cut short, or stores only what follows it', async () => {
    const dir = tempDir();
    const full = join(dir, 'full.pcap');
    const datagrams = exportStream(300, 6);
    writeUdpPcap(full, datagrams);
    const whole = readFileSync(full);
    const offsets = recordOffsets(whole);
    const cut = join(dir, 'cut.pcap');
    writeFileSync(cut, whole.subarray(0, offsets[200]! + 50));
    const first = await importFlowPcap(m, cut, { actor: 'cli:test' });
    assert.equal(first.outcome, 'partial');
    await assert.rejects(
      importFlowPcap(m, full, { actor: 'cli:test' }),
      (err: unknown) =>
        err instanceof FlowImportRefusedError &&
        err.reason === 'begins-with-imported' &&
        new RegExp(`first ${offsets[200]} bytes .*import #${first.importId}`).test(err.message),
    );
    const rest = await importFlowPcap(m, full, { actor: 'cli:test', continueAfterImported: true });
    assert.deepEqual(rest.continuedAfter, { importId: first.importId, bytes: offsets[200], skippedRecords: first.stored });
    // Together the two imports hold every record of the capture exactly once.
    const all = decodeAll(datagrams, { exporter: '192.0.2.1' }).records;
    assert.deepEqual(diff(await storedRecords(m), all), { onlyOurs: [], onlyTheirs: [] });
  });

  it('stores nothing when the engine fails before the end of the file, and audits the failure', async () => {
    // Before: the first 32,768 rows were stored, the import threw, and nothing was audited.
    const file = join(tempDir(), 'engine-fails.pcap');
    writeUdpPcap(file, exportStream(2000, 7));
    const store = m.analytics!;
    let inserts = 0;
    const failing: AnalyticsStore = {
      ...store,
      async insertStaged(table, f) {
        if (++inserts === 2) throw new Error('disk full (injected)');
        return store.insertStaged(table, f);
      },
    };
    await assert.rejects(
      importFlowPcap({ ...m, analytics: failing }, file, { actor: 'cli:test' }),
      (err: unknown) => err instanceof FlowImportError && err.stored === 0 && /stored nothing: .*disk full/.test(err.message),
    );
    assert.equal(await rowCount(m), 0);
    const audited = (await importEntries(m)).at(-1)!;
    assert.deepEqual([audited.outcome, audited.counts], ['error', { stored: 0 }]);
    const tables = await store.query<{ name: string }>("SELECT name FROM system.tables WHERE database = 'mamori_m1'");
    assert.deepEqual(
      tables.map((t) => t.name),
      ['flows'],
      'the staging table is dropped',
    );
    // Nothing was stored, so nothing blocks a retry.
    assert.equal((await importFlowPcap(m, file, { actor: 'cli:test' })).stored, 40_000);
  });

  it('audits exactly the days stored when moving them in fails part-way, and refuses a blind retry', async () => {
    const file = join(tempDir(), 'two-days.pcap');
    const day1 = exportStream(100, 8, true, 1_764_000_000_000);
    const day2 = exportStream(150, 8, false, 1_764_000_000_000 + DAY_MS);
    writeUdpPcap(file, [...day1, ...day2]);
    const store = m.analytics!;
    let moves = 0;
    const failing: AnalyticsStore = {
      ...store,
      async exec(sql, params) {
        if (/MOVE PARTITION/.test(sql) && ++moves === 2) throw new Error('engine stopped (injected)');
        return store.exec(sql, params);
      },
    };
    await assert.rejects(
      importFlowPcap({ ...m, analytics: failing }, file, { actor: 'cli:test' }),
      (err: unknown) => err instanceof FlowImportError && err.stored === 2000 && /after 2000 of 5000 records were stored/.test(err.message),
    );
    assert.equal(await rowCount(m), 2000);
    const [intent, failure] = (await importEntries(m)).slice(-2);
    assert.deepEqual([intent!.outcome, intent!.counts!.stored], ['ok', 5000]);
    assert.deepEqual([failure!.outcome, failure!.counts], ['error', { importId: intent!.counts!.importId, stored: 2000, notStored: 3000 }]);
    await assert.rejects(
      importFlowPcap(m, file, { actor: 'cli:test' }),
      (err: unknown) => err instanceof FlowImportRefusedError && /2000 records stored, failed part-way/.test(err.message),
    );
  });

  it('lets a retry through when moving failed before any day was stored', async () => {
    const file = join(tempDir(), 'first-move-fails.pcap');
    writeUdpPcap(file, exportStream(20, 14));
    const store = m.analytics!;
    const failing: AnalyticsStore = {
      ...store,
      async exec(sql, params) {
        if (/MOVE PARTITION/.test(sql)) throw new Error('engine stopped (injected)');
        return store.exec(sql, params);
      },
    };
    await assert.rejects(
      importFlowPcap({ ...m, analytics: failing }, file, { actor: 'cli:test' }),
      (err: unknown) => err instanceof FlowImportError && err.stored === 0 && /stored nothing/.test(err.message),
    );
    assert.equal(await rowCount(m), 0);
    const [intent, failure] = (await importEntries(m)).slice(-2);
    assert.deepEqual(failure!.counts, { importId: intent!.counts!.importId, stored: 0, notStored: 400 });
    assert.equal((await importFlowPcap(m, file, { actor: 'cli:test' })).stored, 400);
  });

  const noNfcapd = !have('nfcapd') && 'nfcapd not installed';
  it('imports a directory of nfcapd files, and on a second run only the files added since', { skip: noNfcapd }, async () => {
    const dir = tempDir();
    const port = 39400 + (process.pid % 300);
    const reference = await nfdumpDecode(exportStream(40, 9), join(dir, 'a'), port);
    const r = await importNfdump(m, dir, true, { actor: 'cli:test' });
    assert.equal(r.stored, reference.length);
    assert.deepEqual(r.exporters, ['127.0.0.1']);
    const [row] = await m.analytics!.query<{ n: string; b: string; p: string }>(
      `SELECT count() AS n, sum(bytes) AS b, sum(dst_port) AS p FROM ${FLOW_DATASET.table}`,
    );
    assert.deepEqual(
      [Number(row!.n), Number(row!.b), Number(row!.p)],
      [reference.length, reference.reduce((a, x) => a + x.bytes, 0), reference.reduce((a, x) => a + x.dport, 0)],
    );
    await assert.rejects(
      importNfdump(m, dir, true, { actor: 'cli:test' }),
      (err: unknown) => err instanceof FlowImportRefusedError && /all 1 files under this directory were imported before/.test(err.message),
    );
    const more = await nfdumpDecode(exportStream(10, 10), join(dir, 'b'), port + 1);
    const second = await importNfdump(m, dir, true, { actor: 'cli:test' });
    assert.equal(second.files, 1);
    assert.equal(second.skipped.length, 1);
    assert.equal(second.stored, more.length);
    assert.equal(await rowCount(m), reference.length + more.length);
  });
});

describe('flows import (the command, offline)', () => {
  function setup(yaml: string): { dir: string; config: string } {
    const dir = tempDir();
    const config = join(dir, 'mamori.yaml');
    // server.port 0: no configured server to look for; the command opens the store itself.
    writeFileSync(config, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nserver:\n  port: 0\n${yaml}`);
    mkdirSync(join(dir, 'data'), { recursive: true });
    return { dir, config };
  }

  it('refuses to store flows while M1 is disabled, with a clear message', () => {
    const { dir, config } = setup('');
    const file = join(dir, 'export.pcap');
    writeUdpPcap(file, exportStream(2));
    const r = spawnSync(process.execPath, [CLI, '-c', config, 'flows', 'import', file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /flow records may be stored only for M1, which is disabled/);
  });

  it('exits 3 for a file cut short and names the offset, counts no-template, and refuses a repeat with exit 2', () => {
    // M1 may be enabled only with the ISP's customer prefixes (its readiness check).
    const { dir, config } = setup('measures:\n  cc-detection:\n    enabled: true\n    scope: { subscriberPrefixes: ["10.0.0.0/8"] }\n');
    const full = join(dir, 'export.pcap');
    // Two data sets for template 301, which is never sent.
    const orphans = exportStream(2, 12, false).map((d) => {
      const b = Buffer.from(d);
      b.writeUInt16BE(301, 16);
      return b;
    });
    writeUdpPcap(full, [...exportStream(20, 11), ...orphans]);
    const whole = readFileSync(full);
    const cut = join(dir, 'cut.pcap');
    writeFileSync(cut, whole.subarray(0, whole.length - 5));
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [CLI, '-c', config, 'flows', 'import', ...args], {
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, MAMORI_TOKEN: '' },
      });
    const r = run(cut);
    assert.equal(r.status, 3, r.stderr);
    const offset = recordOffsets(whole).at(-1)!;
    assert.match(r.stderr, new RegExp(`cut short at byte ${offset} \\(record 23 is truncated`));
    assert.match(r.stdout, /imported 400 flow records from 22 datagrams/);
    assert.match(r.stdout, /no-template=1/);
    const again = run(cut);
    assert.equal(again.status, 2, again.stderr);
    assert.match(again.stderr, /refused: this file \(its whole records: the first \d+ bytes\) was imported before: import #1/);
  });
});
