/**
 * The flow inlet's spool: receiving never waits for loading. Decoded records
 * wait in segment files beside the store until the loader inserts them; the
 * spool is bounded (beyond it batches are dropped and counted as
 * storage-backlog, per exporter), and what is left at stop, or cut short by a
 * crash, is loaded at the next start. The loader is held back here by a store
 * whose inserts wait for the test: a slow store, made deterministic.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { FLOW_ROW_BYTES, FlowBatch, FlowRowBinaryWriter } from '../../src/ingest/flow/batch.js';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { AuditLog } from '../../src/core/audit/log.js';
import { createLogger } from '../../src/core/logger.js';
import { FLOW_DATASET } from '../../src/ingest/flow/dataset.js';
import { FlowInlet } from '../../src/ingest/flow/inlet.js';
import { registerFlowMetrics } from '../../src/ingest/flow/metrics.js';
import { DECODER_NICE, type InletSettings } from '../../src/ingest/flow/inlet-protocol.js';
import { BACKGROUND_NICE, hasCapSysNice, openChdbStore } from '../../src/store/analytics/chdb.js';
import type { AnalyticsStore } from '../../src/store/analytics/store.js';
import { openSqliteStateStore } from '../../src/store/state/store.js';
import { dataSet, ipfix, IPFIX_V4_TEMPLATE, ipfixV4Record, templateSet } from '../support/flow-builders.js';
import { tempDir } from '../support/fixtures.js';

const PER_DATAGRAM = 22;
const DATAGRAMS = 200;
const SENT = PER_DATAGRAM * DATAGRAMS;
const BATCH = 64;

/** An IPFIX template and DATAGRAMS data datagrams of PER_DATAGRAM records each. */
function stream(): Buffer[] {
  const out = [ipfix({ exportTime: 1_764_000_000, sequence: 0, domain: 1 }, [templateSet(true, 300, IPFIX_V4_TEMPLATE)])];
  for (let d = 0; d < DATAGRAMS; d++) {
    out.push(
      ipfix({ exportTime: 1_764_000_000, sequence: d * PER_DATAGRAM, domain: 1 }, [
        dataSet(
          300,
          Array.from({ length: PER_DATAGRAM }, (_, k) =>
            ipfixV4Record({
              src: `10.0.${d}.${k}`,
              dst: '198.51.100.7',
              sport: 1024 + k,
              dport: 443,
              proto: 6,
              flags: 0x18,
              startMs: 1_764_000_000_000 + d,
              endMs: 1_764_000_001_000 + d,
              bytes: 1000 + k,
              packets: 1 + k,
            }),
          ),
        ),
      ]),
    );
  }
  return out;
}

async function send(datagrams: Buffer[], port: number): Promise<void> {
  const s = dgram.createSocket('udp4');
  for (const d of datagrams) await new Promise<void>((r, j) => s.send(d, port, '127.0.0.1', (e) => (e ? j(e) : r())));
  s.close();
}

/** The store, with inserts that wait until the test opens the gate; the rows of each file it was asked to insert. */
function gated(store: AnalyticsStore): { store: AnalyticsStore; open: () => void; inserts: number[] } {
  let open!: () => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  const inserts: number[] = [];
  return {
    store: {
      ...store,
      insertStaged: async (table, file) => {
        inserts.push(statSync(file).size / FLOW_ROW_BYTES);
        await gate;
        return store.insertStaged(table, file);
      },
    },
    open,
    inserts,
  };
}

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  for (const deadline = Date.now() + ms; !ok();) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const settings = (over: Partial<InletSettings>): InletSettings => ({
  listeners: [{ host: '127.0.0.1', port: 0 }],
  allowedExporters: [],
  recvBufferSize: 4 << 20,
  receiver: 'auto',
  receiveRingBytes: 4 << 20,
  batchSize: BATCH,
  insertRows: 640,
  spoolMaxBytes: 64 << 20,
  flushMs: 60_000,
  statusMs: 50,
  ...over,
});

const spoolBytes = (dir: string) => readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);

describe('flow inlet spool', async () => {
  const dir = tempDir();
  const state = await openSqliteStateStore(join(dir, 'state.sqlite'));
  const audit = await AuditLog.open(state, join(dir, 'anchors.jsonl'));
  const analytics = await openChdbStore(join(dir, 'analytics'));
  const rows = async () => Number((await analytics.query<{ n: string }>(`SELECT count() AS n FROM ${FLOW_DATASET.table}`))[0]!.n);
  after(async () => {
    await analytics.close();
    await state.close();
  });

  it('lives beside the store, in a private directory', () => {
    assert.equal(analytics.spoolDirectory, `${join(dir, 'analytics')}-spool`);
    assert.equal(statSync(analytics.spoolDirectory).mode & 0o777, 0o700);
  });

  it(
    'holds records while storage is behind, up to its bound; beyond it drops and counts them per ' + 'exporter; then stores what it held',
    async () => {
      await analytics.exec(`TRUNCATE TABLE IF EXISTS ${FLOW_DATASET.table}`);
      // Room for 20 batches: segments of 10 batches are handed over, the loader takes the first and waits.
      const bound = 20 * BATCH * FLOW_ROW_BYTES;
      const g = gated(analytics);
      const inlet = await FlowInlet.start({ analytics: g.store, audit }, settings({ spoolMaxBytes: bound }));
      try {
        await send(stream(), inlet.addresses[0]!.port);
        await until('every record is decoded', () => inlet.status().exporters[0]?.records === SENT);
        await until('the status is current', () => inlet.status().droppedRecords > 0 && inlet.status().inflight === 20 * BATCH);
        assert.deepEqual(g.inserts, [10 * BATCH], 'the loader is held at its first insert');
        assert.ok(spoolBytes(analytics.spoolDirectory) <= bound, `spool ${spoolBytes(analytics.spoolDirectory)} bytes > bound ${bound}`);
        assert.equal(inlet.status().spooledBytes, 20 * BATCH * FLOW_ROW_BYTES);
        const registry = new Registry();
        registerFlowMetrics(registry, () => inlet.status());
        assert.match(await registry.metrics(), new RegExp(`^mamori_flow_spool_bytes ${20 * BATCH * FLOW_ROW_BYTES}$`, 'm'));
        // Every full batch beyond the 20 the bound holds was dropped (the last, partial batch waits in the worker).
        const dropped = inlet.status().droppedRecords;
        assert.equal(dropped, (Math.floor(SENT / BATCH) - 20) * BATCH);
        g.open();
        await until('the held segments are loaded', () => inlet.status().spooledBytes === 0);
        await inlet.flush();
        const stored = await rows();
        assert.equal(stored + dropped, SENT, 'every record is stored or counted');
        assert.equal(stored, 20 * BATCH + (SENT % BATCH));
        const e = inlet.status().exporters.find((x) => x.address === '127.0.0.1')!;
        assert.equal(e.errors['storage-backlog'], dropped, 'the drops are counted against the exporter, with their reason');
        await until('the worker is told everything is stored', () => inlet.status().spooledBytes === 0 && inlet.status().inflight === 0);
        assert.equal(inlet.status().storedRecords, stored);
        assert.deepEqual(readdirSync(analytics.spoolDirectory), [], 'loaded segments are removed');
      } finally {
        g.open();
        await inlet.stop();
      }
    },
  );

  it(
    'leaves what is not loaded at stop in the spool, and loads it first at the next start, a crash-cut ' +
      'segment up to its last whole row',
    async () => {
      await analytics.exec(`TRUNCATE TABLE IF EXISTS ${FLOW_DATASET.table}`);
      assert.deepEqual(readdirSync(analytics.spoolDirectory), [], 'an earlier test left nothing behind');
      const g = gated(analytics);
      // flushMs 100: the worker hands over its last, partial segment by itself.
      const first = await FlowInlet.start({ analytics: g.store, audit }, settings({ flushMs: 100 }));
      try {
        await send(stream(), first.addresses[0]!.port);
        await until('every record is spooled', () => first.status().inflight === SENT);
      } finally {
        const stopping = first.stop();
        g.open();
        await stopping;
      }
      assert.equal(g.inserts.length, 1, 'stop finished the insert in progress and began no other');
      const loaded = g.inserts[0]!;
      assert.equal(await rows(), loaded);
      const left = readdirSync(analytics.spoolDirectory).sort();
      assert.ok(left.length >= 2 && left.every((f) => f.endsWith('.rowbinary')), left.join(' '));
      assert.equal(spoolBytes(analytics.spoolDirectory), (SENT - loaded) * FLOW_ROW_BYTES);

      // A crash while a segment was being written: two whole rows and part of a third.
      const crashed = join(analytics.spoolDirectory, 'flows-00000000000001-00000000.part');
      writeFileSync(crashed, readFileSync(join(analytics.spoolDirectory, left[0]!)).subarray(0, 2 * FLOW_ROW_BYTES + 50), { mode: 0o600 });
      // A file that is not a segment is left alone.
      copyFileSync(join(analytics.spoolDirectory, left[0]!), join(analytics.spoolDirectory, 'notes.txt'));

      const logged: string[] = [];
      const sink = new PassThrough();
      sink.on('data', (c: Buffer) => logged.push(c.toString()));
      const second = await FlowInlet.start({ analytics, audit, logger: createLogger('info', sink) }, settings({}));
      try {
        assert.deepEqual(second.recovered, { segments: left.length + 1, records: SENT - loaded + 2, partialRowBytes: 50 });
        await second.flush();
        assert.equal(await rows(), SENT + 2, 'everything sent, once, and the two whole rows of the cut segment');
        assert.deepEqual(readdirSync(analytics.spoolDirectory), ['notes.txt']);
        assert.ok(
          logged.some((l) => l.includes('"event":"flows.spool-recovered"')),
          'the recovery is logged',
        );
        assert.ok(
          logged.every((l) => !l.includes('10.0.')),
          'no flow address is logged',
        );
      } finally {
        await second.stop();
      }
    },
  );

  it('is used by one inlet at a time, and says so at start when the disk cannot hold its bound', async () => {
    const logged: string[] = [];
    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => logged.push(c.toString()));
    const inlet = await FlowInlet.start({ analytics, audit, logger: createLogger('info', sink) }, settings({ spoolMaxBytes: 2 ** 50 }));
    try {
      await assert.rejects(FlowInlet.start({ analytics, audit }, settings({})), /already spools to/);
      assert.ok(
        logged.some((l) => l.includes('"event":"flows.spool-space"')),
        logged.join(''),
      );
    } finally {
      await inlet.stop();
    }
  });

  it('loads and merges at a lower CPU priority than receiving and decoding, where the process may set it', async (t) => {
    assert.equal(hasCapSysNice('CapEff:\t0000000000800000\n'), true);
    assert.equal(hasCapSysNice('CapEff:\t000001ffff7fffff\n'), false, 'every capability but CAP_SYS_NICE');
    assert.equal(hasCapSysNice(''), false);
    const [merge] = await analytics.query<{ value: string }>(
      `SELECT value FROM system.server_settings WHERE name = 'os_threads_nice_value_merge_mutate'`,
    );
    assert.equal(Number(merge!.value), BACKGROUND_NICE);
    if (!hasCapSysNice()) {
      t.skip('no CAP_SYS_NICE here: ClickHouse leaves priorities alone (the inlet warns at start)');
      return;
    }
    // A large insert, and the nice values of this process's threads sampled while it runs.
    const rows = 400_000;
    const batch = new FlowBatch(rows);
    for (let i = 0; i < rows; i++) {
      const r = batch.next(batch.exporterId('192.0.2.1'));
      batch.startMs[r] = 1_764_000_000_000 + i;
    }
    const file = join(analytics.stagingDirectory, 'priority-test.rowbinary');
    writeFileSync(file, new FlowRowBinaryWriter(rows).write(batch));
    await analytics.exec(`CREATE DATABASE IF NOT EXISTS priority_test`);
    await analytics.exec(`CREATE TABLE IF NOT EXISTS priority_test.flows AS ${FLOW_DATASET.table}`);
    const seen = new Set<number>();
    let done = false;
    const inserting = analytics.insertStaged('priority_test.flows', file).finally(() => {
      done = true;
    });
    while (!done) {
      for (const task of readdirSync('/proc/self/task')) {
        try {
          seen.add(Number(readFileSync(`/proc/self/task/${task}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]));
        } catch {
          /* thread ended */
        }
      }
      await new Promise((r) => setImmediate(r));
    }
    await inserting;
    assert.equal(Number((await analytics.query<{ n: string }>('SELECT count() AS n FROM priority_test.flows'))[0]!.n), rows);
    assert.ok(seen.has(BACKGROUND_NICE), `nice values seen during the insert: ${[...seen].join(', ')}`);
    await analytics.exec('DROP DATABASE priority_test');
  });

  it(
    'decodes below the receiving threads and above loading; with node:dgram, where one thread does ' + 'both, at the same priority',
    async () => {
      const nices = () =>
        readdirSync('/proc/self/task').flatMap((task) => {
          try {
            return [Number(readFileSync(`/proc/self/task/${task}/stat`, 'utf8').split(') ')[1]!.split(' ')[16])];
          } catch {
            return [];
          }
        });
      for (const receiver of ['native', 'dgram'] as const) {
        const inlet = await FlowInlet.start({ analytics, audit }, settings({ receiver }));
        try {
          assert.equal(inlet.receiver, receiver);
          // One listener: one decoding thread lowered, and its receiving thread (started before) not.
          assert.equal(
            nices().filter((n) => n === DECODER_NICE).length,
            receiver === 'native' ? 1 : 0,
            `${receiver}: ${nices().join(' ')}`,
          );
        } finally {
          await inlet.stop();
        }
      }
    },
  );
});
