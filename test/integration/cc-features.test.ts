/**
 * M1's features computed by the real engine over flows stored by the real
 * writer, through M1's purpose-bound handle: a beaconing C&C endpoint, a CDN
 * with large fan-in, a benign periodic service (NTP), a dead endpoint.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Mamori } from '../../src/app/mamori.js';
import { FlowBatch, FlowRowBinaryWriter } from '../../src/ingest/flow/batch.js';
import { FLOW_DATASET } from '../../src/ingest/flow/dataset.js';
import { extractFeatures, prefixRange, type EndpointFeatures } from '../../src/measures/cc-detection/features.js';
import { measuresWithM1InletOnly, openTest, tempDir } from '../support/fixtures.js';
import { readInputFile } from '../../src/cli/context.js';
import { decide, getCandidate, listCandidates } from '../../src/measures/cc-detection/candidates.js';
import { detectOnce, windowHealth } from '../../src/measures/cc-detection/detect.js';
import { trainModel } from '../../src/measures/cc-detection/model.js';
import { labelEndpoints, latestModel, trainOnWindow } from '../../src/measures/cc-detection/training.js';
import { importLabels } from '../../src/measures/cc-detection/label-store.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ccDetectionSettings } from '../../src/measures/cc-detection/settings.js';

const FROM = new Date('2026-11-23T00:00:00Z');
const TO = new Date('2026-11-24T00:00:00Z');
const HOUR = 3_600_000;

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 4294967296;
}

interface Flow {
  t: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  bytes: number;
  packets: number;
  flags: number;
}

function ip4(text: string, into: Uint8Array, row: number): void {
  text.split('.').forEach((o, i) => {
    into[row * 16 + i] = Number(o);
  });
}

async function store(m: Mamori, flows: Flow[]): Promise<void> {
  const batch = new FlowBatch(flows.length);
  const exporter = batch.exporterId('192.0.2.1');
  for (const f of flows) {
    const i = batch.next(exporter);
    batch.startMs[i] = f.t;
    batch.endMs[i] = f.t + 1500;
    ip4(f.src, batch.src, i);
    ip4(f.dst, batch.dst, i);
    batch.srcPort[i] = f.sport;
    batch.dstPort[i] = f.dport;
    batch.proto[i] = f.proto;
    batch.bytes[i] = f.bytes;
    batch.packets[i] = f.packets;
    batch.tcpFlags[i] = f.flags;
  }
  await m.analytics!.insert(FLOW_DATASET.table, 'RowBinary', Buffer.from(new FlowRowBinaryWriter(flows.length).write(batch)));
}

function scenario(): Flow[] {
  const r = seeded(7);
  const flows: Flow[] = [];
  const client = (i: number) => `10.0.${i >> 8}.${i & 255}`;
  // C&C: 20 infected clients, a contact every 300 s ± 2 s, ~300-byte messages.
  for (let c = 0; c < 20; c++) {
    for (let t = FROM.getTime() + r() * 300_000; t < TO.getTime(); t += 300_000 + (r() - 0.5) * 4000) {
      flows.push({
        t,
        src: client(c),
        dst: '203.0.113.50',
        sport: 40000 + c,
        dport: 8080,
        proto: 6,
        bytes: 300 + Math.floor(r() * 10),
        packets: 5,
        flags: 0x1b,
      });
    }
  }
  // CDN: 500 clients, random visits, heavy-tailed sizes, with return traffic.
  for (let c = 100; c < 600; c++) {
    const visits = 1 + Math.floor(r() * 30);
    for (let k = 0; k < visits; k++) {
      const t = FROM.getTime() + r() * 24 * HOUR;
      const bytes = Math.floor(2000 / Math.max(0.001, r()));
      flows.push({ t, src: client(c), dst: '198.51.100.10', sport: 50000, dport: 443, proto: 6, bytes: 1500, packets: 10, flags: 0x1b });
      flows.push({ t, src: '198.51.100.10', dst: client(c), sport: 443, dport: 50000, proto: 6, bytes, packets: 20, flags: 0x1b });
    }
  }
  // NTP: 200 clients polling every 1024 s exactly: periodic, and benign.
  for (let c = 700; c < 900; c++) {
    for (let t = FROM.getTime() + r() * 1_024_000; t < TO.getTime(); t += 1_024_000) {
      flows.push({ t, src: client(c), dst: '192.0.2.123', sport: 123, dport: 123, proto: 17, bytes: 76, packets: 1, flags: 0 });
    }
  }
  // A few ordinary web servers, so that 443 is the busiest port.
  for (let w = 0; w < 5; w++) {
    for (let c = 0; c < 3; c++)
      flows.push({
        t: FROM.getTime() + (w * 3 + c) * HOUR,
        src: client(c),
        dst: `198.51.100.${20 + w}`,
        sport: 51000,
        dport: 443,
        proto: 6,
        bytes: 900,
        packets: 8,
        flags: 0x1b,
      });
  }
  // A dead C&C: SYNs that never get an answer.
  for (let c = 0; c < 10; c++) {
    for (let k = 0; k < 6; k++)
      flows.push({
        t: FROM.getTime() + c * HOUR + k * 60_000,
        src: client(c),
        dst: '203.0.113.99',
        sport: 45000,
        dport: 4444,
        proto: 6,
        bytes: 60,
        packets: 1,
        flags: 0x02,
      });
  }
  // The ISP's own resolver and subscriber-to-subscriber traffic: out of scope.
  for (let c = 0; c < 50; c++)
    flows.push({
      t: FROM.getTime() + c * 1000,
      src: client(c),
      dst: '10.255.0.53',
      sport: 5353,
      dport: 53,
      proto: 17,
      bytes: 80,
      packets: 1,
      flags: 0,
    });
  // Outside the window: ignored.
  flows.push({ t: TO.getTime() + HOUR, src: client(1), dst: '203.0.113.77', sport: 1, dport: 1, proto: 6, bytes: 1, packets: 1, flags: 0 });
  return flows;
}

describe('M1 features', () => {
  let m: Mamori;
  let rows: EndpointFeatures[];
  const byEndpoint = (a: string, p: number) => rows.find((x) => x.address === a && x.port === p)!;
  /** Stores `flows` and extracts one day's features from `day`, subscribers in 10.1.0.0/16. */
  const dayFeatures = async (flows: Flow[], day: number) => {
    await store(m, flows);
    const handle = await m.broker.forMeasure('cc-detection').analyticsRead(['flows']);
    return extractFeatures(
      handle,
      { subscriberPrefixes: ['10.1.0.0/16'], infrastructurePrefixes: [] },
      new Date(day),
      new Date(day + 24 * HOUR),
    );
  };

  before(async () => {
    m = await openTest('measures:\n  cc-detection: { enabled: true }\n', { analytics: true, measures: measuresWithM1InletOnly() });
    await store(m, scenario());
    const handle = await m.broker.forMeasure('cc-detection').analyticsRead(['flows']);
    rows = await extractFeatures(handle, { subscriberPrefixes: ['10.0.0.0/16'], infrastructurePrefixes: ['10.255.0.0/16'] }, FROM, TO);
  });

  it('gives one row per external endpoint, none for internal or out-of-window traffic', () => {
    assert.deepEqual(rows.map((r) => `${r.address}:${r.port}`).sort(), [
      '192.0.2.123:123',
      '198.51.100.10:443',
      '198.51.100.20:443',
      '198.51.100.21:443',
      '198.51.100.22:443',
      '198.51.100.23:443',
      '198.51.100.24:443',
      '203.0.113.50:8080',
      '203.0.113.99:4444',
    ]);
  });

  it('sees the beacon: every client periodic at ~300 s, regular small messages, high beacon score', () => {
    const cc = byEndpoint('203.0.113.50', 8080);
    assert.equal(cc.clients, 20);
    assert.equal(cc.periodicShare, 1);
    assert.ok(Math.abs(cc.periodSeconds - 300) < 5, String(cc.periodSeconds));
    assert.ok(cc.beaconScore > 0.8, String(cc.beaconScore));
    assert.ok(cc.bytesCv < 0.05, String(cc.bytesCv));
    assert.equal(cc.hoursActive, 24);
    assert.ok(Math.abs(cc.portRarity - 5 / 6) < 1e-9, `port 8080 has 1 endpoint, port 443 has 6: ${cc.portRarity}`);
  });

  it('sees the CDN: large fan-in, no periodicity, large and variable answers', () => {
    const cdn = byEndpoint('198.51.100.10', 443);
    assert.equal(cdn.clients, 500);
    assert.ok(cdn.periodicShare < 0.05, String(cdn.periodicShare));
    assert.ok(cdn.beaconScore < cc().beaconScore);
    assert.ok(cdn.returnRatio > 1, String(cdn.returnRatio));
    function cc() {
      return byEndpoint('203.0.113.50', 8080);
    }
  });

  it('sees NTP as periodic too: the hard false positive the model must learn from other features', () => {
    const ntp = byEndpoint('192.0.2.123', 123);
    assert.equal(ntp.periodicShare, 1);
    assert.ok(Math.abs(ntp.periodSeconds - 1024) < 1);
    assert.equal(ntp.proto, 17);
  });

  it('sees the dead endpoint: every TCP attempt failed', () => {
    assert.equal(byEndpoint('203.0.113.99', 4444).failedShare, 1);
  });

  it('returns aggregates only: no subscriber address in any result', () => {
    assert.ok(!JSON.stringify(rows).includes('10.0.'));
  });

  it("went through M1's purpose-bound handle, audited with the row count", async () => {
    let read;
    for await (const e of m.audit.entries()) if (e.action === 'analytics.read') read = e;
    assert.deepEqual([read?.measure, read?.object, read?.counts], ['cc-detection', 'dataset:flows', { rows: 9 }]);
  });

  it('runs a detection: candidates with explanations, the allow-list honoured, no subscriber data', async () => {
    // A functional check of the pipeline, not of accuracy (that is `mamori cc eval`): the model learns this scenario.
    const labels = rows.map((r) => (r.address.startsWith('203.0.113.') ? 1 : 0));
    const model = trainModel([...rows, ...rows, ...rows], [...labels, ...labels, ...labels], {
      trees: 15,
      maxDepth: 4,
      minLeaf: 1,
      seed: 5,
      targetPrecision: 0.95,
    });
    model.threshold = 0.5; // three copies of nine endpoints leave little out-of-bag data to choose it from
    const settings = ccDetectionSettings.parse({
      scope: {
        subscriberPrefixes: ['10.0.0.0/16'],
        infrastructurePrefixes: ['10.255.0.0/16'],
        allowList: [{ endpoint: '203.0.113.99:4444', reason: 'sinkhole run by our CSIRT' }],
      },
    });
    const handle = await m.broker.forMeasure('cc-detection').analyticsRead(['flows']);
    const run = await detectOnce({
      flows: handle,
      state: m.state,
      audit: m.audit,
      settings: { ...settings, enabled: true },
      model,
      now: TO,
      actor: 'measure:cc-detection',
    });
    assert.equal(run.allowListed, 1);
    assert.equal(run.created, 1);
    const [c] = await listCandidates(m.state);
    assert.deepEqual([c!.address, c!.port, c!.proto, c!.status], ['203.0.113.50', 8080, 6, 'new']);
    assert.ok(c!.evidence.explanation.length > 0 && c!.evidence.explanation.every((e) => e.ja.length > 0 && e.en.length > 0));
    assert.ok(!JSON.stringify(c).includes('10.0.'), 'candidates hold no subscriber address');

    // An analyst withdraws it as a false positive: detection does not raise it again.
    await decide(m.state, m.audit, c!.id, 'withdraw', 'vendor update server, checked with the vendor', 'user:analyst1');
    const again = await detectOnce({
      flows: handle,
      state: m.state,
      audit: m.audit,
      settings: { ...settings, enabled: true },
      model,
      now: TO,
      actor: 'measure:cc-detection',
    });
    assert.deepEqual([again.created, again.stillWithdrawn], [0, 1]);
    assert.equal((await listCandidates(m.state))[0]!.status, 'withdrawn');
    await assert.rejects(decide(m.state, m.audit, c!.id, 'confirm', 'x', 'user:analyst1'), /a withdrawn candidate cannot be confirmed/);
    await assert.rejects(decide(m.state, m.audit, c!.id, 'withdraw', ' ', 'user:analyst1'), /give a reason/);

    let audited = 0;
    for await (const e of m.audit.entries()) if (e.action === 'cc.detect' || e.action === 'cc.candidate.withdraw') audited += 1;
    assert.equal(audited, 3);
  });

  it('deletes, after the window, the flows that are not evidence of a current candidate', async () => {
    // A detection a day later: the first day's flows are out of the window. Only the
    // confirmed candidate's flows may stay; everything else from that day goes, audited.
    const id = (await listCandidates(m.state))[0]!.id;
    await m.state.db
      .withTables<{ cc_candidates: { id: string; status: string } }>()
      .updateTable('cc_candidates')
      .set({ status: 'confirmed' })
      .where('id', '=', id)
      .execute();
    const settings = ccDetectionSettings.parse({ scope: { subscriberPrefixes: ['10.0.0.0/16'] } });
    const handle = await m.broker.forMeasure('cc-detection').analyticsRead(['flows']);
    const labels = rows.map((r) => (r.address.startsWith('203.0.113.') ? 1 : 0));
    const model = trainModel([...rows, ...rows], [...labels, ...labels], {
      trees: 5,
      maxDepth: 3,
      minLeaf: 1,
      seed: 5,
      targetPrecision: 0.95,
    });
    const before = await m.analytics!.query<{ n: string; kept: string }>(
      `SELECT count() AS n, countIf(dst_addr = toIPv6('203.0.113.50') ` +
        `AND dst_port = 8080) AS kept ` +
        (`FROM ${FLOW_DATASET.table} WHERE start < toDateTime64('2026-11-24 ` + `00:00:00', 3, 'UTC')`),
    );
    const run = await detectOnce({
      flows: handle,
      state: m.state,
      audit: m.audit,
      settings: { ...settings, enabled: true },
      model,
      now: new Date(TO.getTime() + 24 * HOUR),
      actor: 'measure:cc-detection',
    });
    const after = await m.analytics!.query<{ n: string; kept: string }>(
      `SELECT count() AS n, countIf(dst_addr = toIPv6('203.0.113.50') ` +
        `AND dst_port = 8080) AS kept ` +
        (`FROM ${FLOW_DATASET.table} WHERE start < toDateTime64('2026-11-24 ` + `00:00:00', 3, 'UTC')`),
    );
    assert.ok(Number(before[0]!.kept) > 5000);
    assert.equal(Number(after[0]!.kept), Number(before[0]!.kept), "the candidate's evidence stays");
    assert.equal(Number(after[0]!.n), Number(after[0]!.kept), 'nothing else of that day stays');
    assert.equal(run.flowsDeleted, Number(before[0]!.n) - Number(before[0]!.kept));
    let audited;
    for await (const e of m.audit.entries()) if (e.action === 'analytics.delete') audited = e;
    const current = (await listCandidates(m.state)).filter((c) => c.status === 'new' || c.status === 'confirmed');
    assert.deepEqual(
      [audited?.measure, audited?.object, audited?.counts],
      ['cc-detection', 'dataset:flows', { rows: run.flowsDeleted, kept: current.length }],
    );
  });

  it('refuses M1 any subscriber identification, and audits the refusal', async () => {
    await assert.rejects(m.broker.forMeasure('cc-detection').action('subscriber-lookup'), /M1 may not identify subscribers/);
    let last;
    for await (const e of m.audit.entries()) last = e;
    assert.deepEqual([last?.action, last?.measure, last?.outcome], ['capability.refused', 'cc-detection', 'refused']);
  });

  it('says so when the window holds no flows, and then expires nothing', async () => {
    const active = (await listCandidates(m.state)).filter((c) => c.status === 'new' || c.status === 'confirmed');
    assert.ok(active.length >= 1);
    const settings = ccDetectionSettings.parse({ scope: { subscriberPrefixes: ['10.0.0.0/16'] } });
    const handle = await m.broker.forMeasure('cc-detection').analyticsRead(['flows']);
    const labels = rows.map((r) => (r.address.startsWith('203.0.113.') ? 1 : 0));
    const model = trainModel([...rows, ...rows], [...labels, ...labels], {
      trees: 5,
      maxDepth: 3,
      minLeaf: 1,
      seed: 5,
      targetPrecision: 0.95,
    });
    const later = new Date(TO.getTime() + 16 * 24 * HOUR); // an empty window, past the 14-day expiry
    const run = await detectOnce({
      flows: handle,
      state: m.state,
      audit: m.audit,
      settings: { ...settings, enabled: true },
      model,
      now: later,
      actor: 'measure:cc-detection',
    });
    assert.deepEqual(run.health.problems, ['no flows in the window: nothing was analysed']);
    assert.equal(run.expired, 0);
    for (const c of active) assert.notEqual((await getCandidate(m.state, c.id))!.status, 'expired');
  });

  it('notices a silent exporter and a clock ahead, and expires nothing on partial data', async () => {
    // A second router that stopped exporting at mid-window, and a third whose clock runs two hours ahead.
    const batch = new FlowBatch(4);
    const silent = batch.exporterId('192.0.2.2');
    const ahead = batch.exporterId('192.0.2.3');
    const day2 = TO.getTime() + 24 * HOUR;
    for (const [exp, t] of [
      [silent, day2 + 6 * HOUR],
      [ahead, day2 + 26 * HOUR],
    ] as const) {
      const i = batch.next(exp);
      batch.startMs[i] = t;
      batch.endMs[i] = t;
      batch.dst.set([203, 0, 113, 50], i * 16);
      batch.src.set([10, 0, 0, 1], i * 16);
      batch.dstPort[i] = 8080;
      batch.proto[i] = 6;
      batch.bytes[i] = 300;
      batch.packets[i] = 1;
    }
    await m.analytics!.insert(FLOW_DATASET.table, 'RowBinary', Buffer.from(new FlowRowBinaryWriter(4).write(batch)));
    const handle = await m.broker.forMeasure('cc-detection').analyticsRead(['flows']);
    const health = await windowHealth(handle, new Date(day2), new Date(day2 + 24 * HOUR));
    assert.deepEqual(health.silentExporters, ['192.0.2.2']);
    assert.equal(health.futureFlows, 1);
    assert.equal(health.problems.length, 2);
  });

  it("trains on the window with reputation labels and analysts' decisions, and keeps model versions", async () => {
    const file = join(tempDir(), 'list.txt');
    writeFileSync(file, '203.0.113.0/24\n');
    await importLabels(m.state, m.audit, {
      file: readInputFile(file),
      format: 'ip-list',
      source: 'test-list',
      validityDays: 30,
      actor: 'cli:test',
      now: FROM,
    });
    const handle = await m.broker.forMeasure('cc-detection').analyticsRead(['flows']);
    // 203.0.113.50:8080 is a confirmed candidate by now, and the list names 203.0.113.0/24.
    let labels = await labelEndpoints(m.state, rows, TO);
    assert.deepEqual(
      rows
        .filter((_, i) => labels[i])
        .map((r) => `${r.address}:${r.port}`)
        .sort(),
      ['203.0.113.50:8080', '203.0.113.99:4444'],
    );
    // An analyst withdraws it: their word beats the list.
    const c = (await listCandidates(m.state)).find((x) => x.address === '203.0.113.50')!;
    await decide(m.state, m.audit, c.id, 'withdraw', 'false positive after all', 'user:analyst1');
    labels = await labelEndpoints(m.state, rows, TO);
    assert.deepEqual(
      rows
        .filter((_, i) => labels[i])
        .map((r) => `${r.address}:${r.port}`)
        .sort(),
      ['203.0.113.99:4444'],
    );
    await assert.rejects(
      trainOnWindow({
        flows: handle,
        state: m.state,
        audit: m.audit,
        scope: { subscriberPrefixes: ['10.0.0.0/16'], infrastructurePrefixes: [] },
        from: FROM,
        to: TO,
        seed: 1,
        trees: 5,
        targetPrecision: 0.95,
        actor: 'cli:test',
      }),
      /no endpoint in the window is labelled C&C/,
    );
    assert.equal(await latestModel(m.state), undefined);
  });

  it('counts the other networks reached by exactly the same 2–64 subscribers, and nothing for one subscriber', async () => {
    // Its own day and its own subscribers (10.1.0.0/16), in the same store (one engine per process).
    const day = TO.getTime() + 30 * 24 * HOUR;
    const flows: Flow[] = [];
    const reach = (dst: string, dport: number, clients: number[]) => {
      for (const c of clients) {
        for (let k = 0; k < 5; k++) {
          flows.push({
            t: day + c * HOUR + k * 60_000,
            src: `10.1.0.${c}`,
            dst,
            sport: 40000 + k,
            dport,
            proto: 6,
            bytes: 300,
            packets: 4,
            flags: 0x1b,
          });
        }
      }
    };
    reach('203.0.113.7', 443, [1, 2, 3]);
    reach('203.0.113.8', 443, [1, 2, 3]); // the same network as .7: not a second network
    reach('198.18.5.9', 8443, [1, 2, 3]);
    reach('192.0.2.77', 80, [1, 2, 3, 4]); // one more subscriber: another group
    reach('198.51.100.5', 80, [1]); // one subscriber is no group
    reach('198.51.100.6', 80, [1]);
    const got = await dayFeatures(flows, day);
    const at = (a: string, p: number) => got.find((x) => x.address === a && x.port === p)!;
    assert.deepEqual(
      [
        at('203.0.113.7', 443),
        at('203.0.113.8', 443),
        at('198.18.5.9', 8443),
        at('192.0.2.77', 80),
        at('198.51.100.5', 80),
        at('198.51.100.6', 80),
      ].map((f) => f.sharedClientNetworks),
      [1, 1, 1, 0, 0, 0],
    );
    assert.ok(!JSON.stringify(got).includes('10.1.'), 'no subscriber address, and no set of them, comes back');
  });

  it("counts the other subscribers that reach an endpoint's wider network (/16) at all: novelty against the population", async () => {
    const day = TO.getTime() + 40 * 24 * HOUR;
    const flows: Flow[] = [];
    const reach = (dst: string, dport: number, proto: number, clients: number[]) => {
      for (const c of clients)
        for (let k = 0; k < 3; k++)
          flows.push({
            t: day + c * HOUR + k * 60_000,
            src: `10.1.0.${c}`,
            dst,
            sport: 41000 + k,
            dport,
            proto,
            bytes: 300,
            packets: 4,
            flags: 0x1b,
          });
    };
    reach('203.0.113.7', 443, 6, [1, 2]);
    reach('203.0.200.9', 80, 6, [3]); // the same /16 as .7, another port: subscriber 3 reaches .7's network
    reach('203.0.200.9', 123, 17, [3, 4]); // and another protocol: subscriber 4 too
    reach('198.18.5.9', 8443, 6, [5]); // a network nobody else reaches
    reach('192.0.2.77', 80, 6, [1, 2]); // its network's other endpoint is reached by one of its own clients: nobody else
    reach('192.0.9.1', 443, 6, [1]); // subscriber 2 reaches .77, in the same /16
    const got = await dayFeatures(flows, day);
    const at = (a: string, p: number) => got.find((x) => x.address === a && x.port === p)!;
    assert.deepEqual(
      [
        at('203.0.113.7', 443),
        at('203.0.200.9', 80),
        at('203.0.200.9', 123),
        at('198.18.5.9', 8443),
        at('192.0.2.77', 80),
        at('192.0.9.1', 443),
      ].map((f) => f.wideNetOtherClients),
      [2, 3, 2, 0, 0, 1],
    );
  });

  it('computes prefix ranges for IPv4 (mapped) and IPv6', () => {
    assert.deepEqual(prefixRange('10.0.0.0/16'), ['0:0:0:0:0:ffff:a00:0', '0:0:0:0:0:ffff:a00:ffff']);
    assert.deepEqual(prefixRange('2001:db8::/32'), ['2001:db8:0:0:0:0:0:0', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff']);
  });
});
