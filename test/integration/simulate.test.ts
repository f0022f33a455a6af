/**
 * The synthetic ISP through the real collector: IPFIX over UDP into the inlet,
 * stored, then M1's features over it, checked against the ground truth.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { FLOW_DATASET } from '../../src/ingest/flow/dataset.js';
import { extractFeatures } from '../../src/measures/cc-detection/features.js';
import { sendIpfix } from '../../src/simulate/ipfix-exporter.js';
import { DEFAULT_FAMILIES, simulateIsp } from '../../src/simulate/isp.js';
import { measuresWithM1InletOnly, tempDir, testConfig } from '../support/fixtures.js';
import { readInputFile } from '../../src/cli/context.js';
import { importLabels } from '../../src/measures/cc-detection/label-store.js';
import { latestModel, trainOnWindow } from '../../src/measures/cc-detection/training.js';
import type { ProfileModel } from '../../src/measures/cc-detection/profile.js';
import { writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';

const START = new Date('2026-11-23T00:00:00Z');

describe('synthetic ISP through the collector', () => {
  let server: Server;
  const sim = simulateIsp({ seed: 3, subscribers: 300, hours: 12, start: START, families: DEFAULT_FAMILIES });

  before(async () => {
    const config = testConfig(
      join(tempDir(), 'data'),
      'server:\n  port: 0\nmeasures:\n  cc-detection: { enabled: ' +
        'true }\ningest:\n  flows:\n    listeners: ' +
        '[{ host: "127.0.0.1", port: 0 }]',
    );
    server = await serve(config, { measures: measuresWithM1InletOnly(), out: new PassThrough(), logger: createLogger('silent') });
  });
  after(() => server?.close());

  it('is reproducible from its seed', () => {
    const again = simulateIsp({ seed: 3, subscribers: 300, hours: 12, start: START, families: DEFAULT_FAMILIES });
    assert.deepEqual(again.truth, sim.truth);
    let a = 0,
      b = 0;
    for (const f of sim.flows()) a = (a * 31 + f.startMs + f.dst + f.bytes) % 1e12;
    for (const f of again.flows()) b = (b * 31 + f.startMs + f.dst + f.bytes) % 1e12;
    assert.equal(a, b);
  });

  it('arrives whole through IPFIX and the inlet', async () => {
    // Paced well below what the machine sustains while the rest of the suite runs: UDP may drop
    // under load, and this test is about correctness, not speed (that is bench/flow-e2e).
    const sent = await sendIpfix(sim.flows(), '127.0.0.1', server.inlet!.addresses[0]!.port, 40_000);
    await server.inlet!.flush();
    const [row] = await server.mamori.analytics!.query<{ n: string }>(`SELECT count() AS n FROM ${FLOW_DATASET.table}`);
    const status = server.inlet!.status();
    assert.equal(
      status.kernelDrops + status.ringDrops + status.droppedRecords,
      0,
      'datagrams were dropped: the machine was too busy for this pace',
    );
    assert.equal(Number(row!.n), sent.records);
    assert.ok(sent.records > 50_000, `only ${sent.records} records`);
  });

  it('exports IPv6 flows too, in their own template, read back whole by the collector', async () => {
    const v6 = (last: number) => Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, last]);
    const t = START.getTime() + 3_600_000;
    const flows = [0, 1, 2].map((k) => ({
      startMs: t + k,
      endMs: t + k + 10,
      src: 0,
      dst: 0,
      sport: 50000 + k,
      dport: 4433,
      proto: 6,
      bytes: 500 + k,
      packets: 4,
      tcpFlags: 0x02,
      v6: { src: v6(1), dst: v6(0x99) },
    }));
    // A mixed message: one IPv4 set and one IPv6 set.
    const v4 = {
      startMs: t,
      endMs: t + 10,
      src: ((10 << 24) + 5) >>> 0,
      dst: ((198 << 24) | (18 << 16) | 77) >>> 0,
      sport: 1,
      dport: 4433,
      proto: 6,
      bytes: 60,
      packets: 1,
      tcpFlags: 0x02,
    };
    const sent = await sendIpfix([...flows, v4], '127.0.0.1', server.inlet!.addresses[0]!.port, 1000);
    assert.equal(sent.records, 4);
    // Two datagrams: wait until the receiver has stored them (flush writes only what it has received), 10 s at most.
    const query = () =>
      server.mamori.analytics!.query<{ src: string; dst: string; size: string }>(
        'SELECT IPv6NumToString(src_addr) AS src, IPv6NumToString(dst_addr) AS dst, toString(bytes) AS size ' +
          `FROM ${FLOW_DATASET.table} WHERE dst_port = 4433 ORDER BY bytes`,
      );
    let rows = await query();
    for (const deadline = Date.now() + 10_000; rows.length < 4 && Date.now() < deadline; rows = await query()) {
      await server.inlet!.flush();
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(
      rows.map((r) => [r.src, r.dst, r.size]),
      [
        ['::ffff:10.0.0.5', '::ffff:198.18.0.77', '60'],
        ['2001:db8:0:7::1', '2001:db8:0:7::99', '500'],
        ['2001:db8:0:7::1', '2001:db8:0:7::99', '501'],
        ['2001:db8:0:7::1', '2001:db8:0:7::99', '502'],
      ],
    );
  });

  it('trains M1 on the window with a reputation list, storing numbered model versions', async () => {
    const list = join(tempDir(), 'cc.txt');
    // A reputation list that knows only some of the botnets, as real lists do.
    writeFileSync(
      list,
      sim.truth
        .filter((t) => t.truth === 'cc')
        .slice(0, 4)
        .map((t) => t.address)
        .join('\n') + '\n',
    );
    const m = server.mamori;
    await importLabels(m.state, m.audit, {
      file: readInputFile(list),
      format: 'ip-list',
      source: 'partial-list',
      validityDays: 30,
      actor: 'cli:test',
      now: START,
    });
    const handle = await m.broker.forMeasure('cc-detection').analyticsRead(['flows']);
    const req = {
      flows: handle,
      state: m.state,
      audit: m.audit,
      scope: { subscriberPrefixes: ['10.0.0.0/8'], infrastructurePrefixes: [] },
      from: START,
      to: new Date(START.getTime() + 12 * 3_600_000),
      seed: 7,
      trees: 20,
      targetPrecision: 0.95,
      actor: 'cli:test',
    };
    const first = await trainOnWindow(req);
    const second = await trainOnWindow(req);
    assert.deepEqual([first.version, second.version], [1, 2]);
    assert.deepEqual(JSON.stringify(first.model), JSON.stringify(second.model), 'same data, same model');
    assert.equal((await latestModel(m.state))!.version, 2);
    const profile = first.model as ProfileModel;
    assert.ok(profile.labelled.positives >= 3);
    // Four labels are too few to calibrate on: the model says so, and keeps the default calibration.
    assert.equal(profile.calibration, null);
    assert.ok(
      first.notes.some((n) => /too few to calibrate/.test(n)),
      first.notes.join('; '),
    );
    // …and far too few for a forest, which is refused rather than stored with a threshold of 1.
    await assert.rejects(trainOnWindow({ ...req, kind: 'forest' }), /a forest needs at least 20/);
  });

  it('gives M1 features in which the botnets and the benign timers both look periodic', async () => {
    const handle = await server.mamori.broker.forMeasure('cc-detection').analyticsRead(['flows']);
    const rows = await extractFeatures(
      handle,
      { subscriberPrefixes: ['10.0.0.0/8'], infrastructurePrefixes: [] },
      START,
      new Date(START.getTime() + 12 * 3_600_000),
    );
    const find = (a: string, p: number) => rows.find((r) => r.address === a && r.port === p);
    for (const t of sim.truth.filter((x) => x.truth === 'cc' && x.family !== 'office-hours')) {
      const f = find(t.address, t.port);
      assert.ok(f, `${t.family} endpoint has no features`);
      // Uniform jitter of ±j gives a MAD of about j/2 of the period: families up to ±15% count as periodic;
      // the more jittered ones must be caught by the other features (and the model).
      const family = DEFAULT_FAMILIES.find((x) => x.name === t.family)!;
      if (family.jitter <= 0.15 && family.periodSeconds * 4 < 12 * 3600)
        assert.ok(f.periodicShare > 0.5, `${t.family}: periodic share ${f.periodicShare}`);
    }
    const ntp = sim.truth
      .filter((x) => x.family === 'ntp')
      .map((t) => find(t.address, t.port))
      .filter(Boolean);
    assert.ok(ntp.length > 0 && ntp.every((f) => f!.periodicShare > 0.9), 'NTP is a benign timer');
    // The CDN-hosted top sites: big fan-in, not periodic.
    const busiest = [...rows].sort((a, b) => b.clients - a.clients)[0]!;
    assert.ok(busiest.clients > 100);
  });
});
