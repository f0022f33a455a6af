/**
 * The live flow path: softflowd → UDP → inlet worker → embedded ClickHouse,
 * through `serve` as an operator runs it. M1's detection has not landed, so
 * this test build gives M1 a do-nothing implementation to enable it: the
 * inlet runs only while M1 runs.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serve, type Server } from '../../src/app/serve.js';
import { FLOW_COLUMNS } from '../../src/ingest/flow/batch.js';
import { FLOW_DATASET } from '../../src/ingest/flow/dataset.js';
import { createLogger } from '../../src/core/logger.js';
import { tempDir, testConfig, measuresWithM1InletOnly } from '../support/fixtures.js';
import { have, softflowdExport } from '../support/flow-peers.js';
import { decodeAll, diff } from '../support/flow-records.js';
import { syntheticTraffic, writeTrafficPcap } from '../support/traffic.js';
import type { ReferenceRecord } from '../support/flow-peers.js';
import { dataSet, ipfix, ipfixV4Record, IPFIX_V4_TEMPLATE, templateSet } from '../support/flow-builders.js';

const WITH_M1 = measuresWithM1InletOnly();

async function send(datagrams: Buffer[], port: number, host = '127.0.0.1'): Promise<void> {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  for (const d of datagrams) await new Promise<void>((r, j) => s.send(d, port, host, (e) => (e ? j(e) : r())));
  s.close();
}

async function storedRecords(server: Server): Promise<ReferenceRecord[]> {
  const rows = await server.mamori.analytics!.query<Record<string, string | number>>(
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

describe('flow inlet end to end', { skip: !have('softflowd') && 'softflowd not installed' }, () => {
  let server: Server;
  let token: string;
  const logLines: string[] = [];

  before(async () => {
    const dir = tempDir();
    const config = testConfig(
      join(dir, 'data'),
      [
        'server:\n  port: 0',
        'measures:\n  cc-detection: { enabled: true }',
        'ingest:\n  flows:\n    listeners: [{ host: "127.0.0.1", ' +
          'port: 0 }, { host: "::1", port: 0 ' +
          '}]\n    batchSize: 500\n    flushInterval: 1s',
      ].join('\n'),
    );
    const sink = new (await import('node:stream')).PassThrough();
    sink.on('data', (c: Buffer) => logLines.push(c.toString()));
    server = await serve(config, {
      measures: WITH_M1,
      out: new (await import('node:stream')).PassThrough(),
      logger: createLogger('info', sink),
    });
    token = (await server.mamori.accounts.createToken('module:test', 'noc', 'operator')).token;
  });
  after(() => server?.close());

  it('runs the inlet while M1 is enabled', () => {
    assert.ok(server.inlet);
    assert.equal(server.inlet.addresses.length, 2);
    assert.equal(server.inlet.receiver, 'native', 'the native receiver is built by npm install (binding.gyp)');
  });

  it('stores exactly what was decoded, from softflowd over UDP (IPv4 and IPv6 listeners)', async () => {
    const dir = tempDir();
    const pcap = join(dir, 'traffic.pcap');
    writeTrafficPcap(pcap, syntheticTraffic(11, 600));
    const datagrams = await softflowdExport(pcap, 10, dir);
    const expected = decodeAll(datagrams).records;
    assert.ok(expected.length >= 500);
    const [v4, v6] = server.inlet!.addresses;
    // The same stream from two exporters, one per listener: each keeps its own templates.
    await send(datagrams, v4!.port, '127.0.0.1');
    await send(datagrams, v6!.port, '::1');
    // Under a loaded suite the receiving worker may still be reading its socket: wait (bounded)
    // until it has counted every datagram of both exporters, then flush what it decoded.
    const received = () =>
      ['127.0.0.1', '::1'].every((a) => server.inlet!.status().exporters.find((x) => x.address === a)?.datagrams === datagrams.length);
    for (const deadline = Date.now() + 15_000; !received() && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 100));
    await server.inlet!.flush();
    const stored = await storedRecords(server);
    assert.deepEqual(diff(stored, [...expected, ...expected]), { onlyOurs: [], onlyTheirs: [] }, 'stored records differ from decoded ones');
    const status = server.inlet!.status();
    for (const address of ['127.0.0.1', '::1']) {
      const e = status.exporters.find((x) => x.address === address);
      assert.equal(e?.datagrams, datagrams.length, `exporter ${address}`);
      assert.equal(e?.records, expected.length, `exporter ${address}`);
    }
  });

  it('stores only the declared columns', async () => {
    const cols = await server.mamori.analytics!.query<{ name: string }>(
      `SELECT name FROM system.columns WHERE database = 'mamori_m1' AND table = 'flows' ORDER BY position`,
    );
    assert.deepEqual(
      cols.map((c) => c.name),
      [...FLOW_COLUMNS],
    );
  });

  it('reports exporters, templates and errors through the API and metrics', async () => {
    await send([Buffer.from([0, 7, 1, 2, 3, 4])], server.inlet!.addresses[0]!.port); // unknown version
    await new Promise((r) => setTimeout(r, 1300)); // one status tick
    const res = await fetch(`${server.url}/api/v1/flows/exporters`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as {
      running: boolean;
      exporters: Array<{ address: string; templates: number; records: number; versions: string[]; errors: Record<string, number> }>;
    };
    assert.equal(body.running, true);
    const e = body.exporters.find((x) => x.address === '127.0.0.1')!;
    assert.ok(e.templates >= 1 && e.records >= 500, JSON.stringify(e));
    assert.deepEqual(e.versions, ['ipfix']);
    assert.equal(e.errors['bad-version'], 1);
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    assert.match(metrics, /mamori_flow_records_total\{exporter="127\.0\.0\.1"\} \d{3,}/);
    assert.match(metrics, /mamori_flow_errors_total\{exporter="127\.0\.0\.1",reason="bad-version"\} 1/);
    const refused = logLines
      .join('')
      .split('\n')
      .filter((l) => l.includes('"flows.refused"'))
      .map((l) => JSON.parse(l) as { exporter: string; reason: string; count: number });
    assert.deepEqual(
      refused.map((r) => [r.exporter, r.reason, r.count]),
      [['127.0.0.1', 'bad-version', 1]],
    );
  });

  it('audits the storing of flow data with counts, and logs no flow addresses', async () => {
    await server.inlet!.stop(); // writes the last interval's counts
    const entries = [];
    for await (const e of server.mamori.audit.entries()) if (e.action === 'flows.store') entries.push(e);
    assert.ok(entries.length >= 1);
    assert.deepEqual([entries[0]!.measure, entries[0]!.object], ['cc-detection', 'dataset:flows']);
    assert.ok(entries.reduce((n, e) => n + e.counts!.records!, 0) >= 500);
    const log = logLines.join('');
    for (const a of ['198.51.100.', '2001:db8:ffff', '10.0.']) assert.ok(!log.includes(a), `log contains ${a}`);
  });
});

describe('flow inlet with node:dgram instead of the native receiver', { skip: !have('softflowd') && 'softflowd not installed' }, () => {
  let server: Server;
  before(async () => {
    const config = testConfig(
      join(tempDir(), 'data'),
      [
        'server:\n  port: 0',
        'measures:\n  cc-detection: { enabled: true }',
        'ingest:\n  flows:\n    listeners: [{ host: "127.0.0.1", port: 0 }]\n    receiver: dgram',
      ].join('\n'),
    );
    server = await serve(config, {
      measures: WITH_M1,
      out: new (await import('node:stream')).PassThrough(),
      logger: createLogger('silent'),
    });
  });
  after(() => server?.close());

  it('stores exactly what was decoded', async () => {
    assert.equal(server.inlet!.receiver, 'dgram');
    const dir = tempDir();
    const pcap = join(dir, 'traffic.pcap');
    writeTrafficPcap(pcap, syntheticTraffic(12, 300));
    const datagrams = await softflowdExport(pcap, 10, dir);
    const expected = decodeAll(datagrams).records;
    await send(datagrams, server.inlet!.addresses[0]!.port);
    const received = () => server.inlet!.status().exporters.find((x) => x.address === '127.0.0.1')?.datagrams === datagrams.length;
    for (const deadline = Date.now() + 15_000; !received() && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 100));
    await server.inlet!.flush();
    assert.deepEqual(diff(await storedRecords(server), expected), { onlyOurs: [], onlyTheirs: [] });
  });
});

/**
 * A router whose datagrams get corrupted on the way (one flipped byte in the
 * domain id), or a spoofer using its address, must not lock the router out:
 * before, 256 distinct domain ids filled the exporter's table for good and
 * every later datagram — valid ones included — was refused until restart.
 */
describe('flow inlet under a stream of corrupt datagrams from a valid router', () => {
  let server: Server;
  before(async () => {
    const config = testConfig(
      join(tempDir(), 'data'),
      [
        'server:\n  port: 0',
        'measures:\n  cc-detection: { enabled: true }',
        'ingest:\n  flows:\n    listeners: [{ host: "127.0.0.1", port: 0 }]\n    flushInterval: 1s',
      ].join('\n'),
    );
    server = await serve(config, {
      measures: WITH_M1,
      out: new (await import('node:stream')).PassThrough(),
      logger: createLogger('silent'),
    });
  });
  after(() => server?.close());

  it('keeps storing the valid datagrams during and after the corrupt ones', async () => {
    const valid = { exportTime: 1_764_000_000, domain: 1 };
    const record = (i: number) =>
      ipfixV4Record({
        src: `192.0.2.${1 + (i % 200)}`,
        dst: '198.51.100.9',
        sport: 40_000 + i,
        dport: 443,
        proto: 6,
        flags: 0x18,
        startMs: 1_764_000_000_000,
        endMs: 1_764_000_001_000,
        bytes: 1500,
        packets: 3,
      });
    let seq = 0;
    const data = () => {
      const records = Array.from({ length: 20 }, (_, k) => record(seq + k));
      const d = ipfix({ ...valid, sequence: seq }, [dataSet(300, records)]);
      seq += 20;
      return d;
    };
    const flipped = (domain: number, withTemplate: boolean) =>
      ipfix(
        { exportTime: 1_764_000_000, sequence: 0, domain },
        withTemplate ? [templateSet(true, 300, IPFIX_V4_TEMPLATE)] : [dataSet(300, [record(0)])],
      );

    const stream: Buffer[] = [];
    // Corrupt data first (as from a spoofer before the router comes up), then the router.
    for (let k = 0; k < 300; k++) stream.push(flipped(1_000 + k, false));
    stream.push(ipfix({ ...valid, sequence: 0 }, [templateSet(true, 300, IPFIX_V4_TEMPLATE)]));
    for (let k = 0; k < 10; k++) stream.push(data());
    // Then corrupt datagrams that even carry a template, far more than the domain bound, among the router's data.
    for (let round = 0; round < 10; round++) {
      for (let k = 0; k < 50; k++) stream.push(flipped(2_000 + round * 50 + k, true));
      stream.push(data());
    }
    const expected = seq;
    await send(stream, server.inlet!.addresses[0]!.port);
    const received = () => server.inlet!.status().exporters.find((x) => x.address === '127.0.0.1')?.datagrams === stream.length;
    for (const deadline = Date.now() + 15_000; !received() && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 100));
    await server.inlet!.flush();
    const [row] = await server.mamori.analytics!.query<{ n: string }>(
      `SELECT count() AS n FROM ${FLOW_DATASET.table} WHERE dst_addr = toIPv6('::ffff:198.51.100.9')`,
    );
    const e = server.inlet!.status().exporters.find((x) => x.address === '127.0.0.1')!;
    assert.equal(Number(row!.n), expected, `valid records stored (exporter errors: ${JSON.stringify(e.errors)})`);
    assert.ok((e.errors['domain-evicted'] ?? 0) > 0, 'the corrupt domains beyond the bound were evicted, and counted');
    assert.ok(e.domains <= 256);
  });
});
