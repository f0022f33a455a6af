/**
 * How M1's window and the deletion after analysis interact: a detection run
 * deletes only flows some run has analysed and that have left the window
 * (except a current candidate's evidence). Flows no run has analysed — a day
 * simulated or imported into the past — stay for training until the 7-day
 * retention, and the run says how many it kept.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Mamori } from '../../src/app/mamori.js';
import { FlowBatch, FlowRowBinaryWriter } from '../../src/ingest/flow/batch.js';
import { FLOW_DATASET } from '../../src/ingest/flow/dataset.js';
import { detectOnce } from '../../src/measures/cc-detection/detect.js';
import { extractFeatures } from '../../src/measures/cc-detection/features.js';
import { defaultProfile } from '../../src/measures/cc-detection/profile.js';
import { ccDetectionSettings } from '../../src/measures/cc-detection/settings.js';
import { measuresWithM1InletOnly, openTest } from '../support/fixtures.js';

const HOUR = 3_600_000;
const DAY1 = Date.UTC(2026, 10, 1);
const DAY3 = DAY1 + 48 * HOUR;
const SCOPE = { subscriberPrefixes: ['10.0.0.0/16'], infrastructurePrefixes: [] };

async function store(m: Mamori, from: number, n: number): Promise<void> {
  const batch = new FlowBatch(n);
  const exporter = batch.exporterId('192.0.2.1');
  for (let k = 0; k < n; k++) {
    const i = batch.next(exporter);
    const t = from + Math.floor((k * 23 * HOUR) / n);
    batch.startMs[i] = t;
    batch.endMs[i] = t + 500;
    batch.src.set([10, 0, 0, 1 + (k % 20)], i * 16);
    batch.dst.set([198, 51, 100, 1 + (k % 7)], i * 16);
    batch.srcPort[i] = 40000 + k;
    batch.dstPort[i] = 443;
    batch.proto[i] = 6;
    batch.bytes[i] = 900;
    batch.packets[i] = 8;
    batch.tcpFlags[i] = 0x1b;
  }
  await m.analytics!.insert(FLOW_DATASET.table, 'RowBinary', Buffer.from(new FlowRowBinaryWriter(n).write(batch)));
}

async function count(m: Mamori, from: number, to: number): Promise<number> {
  const [r] = await m.analytics!.query<{ n: string }>(
    `SELECT count() AS n FROM ${FLOW_DATASET.table} WHERE start >= fromUnixTimestamp64Milli(toInt64(${from}), 'UTC') ` +
      `AND start < fromUnixTimestamp64Milli(toInt64(${to}), 'UTC')`,
  );
  return Number(r!.n);
}

describe('M1: the window and deletion after analysis', () => {
  let m: Mamori;
  const settings = { ...ccDetectionSettings.parse({ scope: SCOPE }), enabled: true };

  before(async () => {
    m = await openTest('measures:\n  cc-detection: { enabled: true }\n', { analytics: true, measures: measuresWithM1InletOnly() });
    await store(m, DAY1, 3000); // a day simulated into the past: no run has analysed it
    await store(m, DAY3, 2000); // the day the first run analyses
  });

  const run = async (now: number) => {
    const flows = await m.broker.forMeasure('cc-detection').analyticsRead(['flows']);
    return detectOnce({
      flows,
      state: m.state,
      audit: m.audit,
      settings,
      model: defaultProfile(),
      modelVersion: 0,
      now: new Date(now),
      actor: 'measure:cc-detection',
    });
  };

  it('the first run deletes nothing it has not analysed, and says how many older flows it kept', async () => {
    const r = await run(DAY3 + 24 * HOUR);
    assert.equal(r.flowsDeleted, 0);
    assert.equal(r.unanalysedKept, 3000);
    assert.equal(await count(m, DAY1, DAY1 + 24 * HOUR), 3000);
  });

  it('so a model can still be trained on that older day', async () => {
    const flows = await m.broker.forMeasure('cc-detection').analyticsRead(['flows']);
    const features = await extractFeatures(flows, SCOPE, new Date(DAY1), new Date(DAY1 + 24 * HOUR));
    assert.equal(features.length, 7);
  });

  it('a later run deletes what the earlier one analysed once it has left the window, and still not the older day', async () => {
    const r = await run(DAY3 + 36 * HOUR);
    const analysedAndGone = 2000 - (await count(m, DAY3 + 12 * HOUR, DAY3 + 24 * HOUR));
    assert.equal(r.flowsDeleted, analysedAndGone);
    assert.ok(r.flowsDeleted > 900 && r.flowsDeleted < 1200, String(r.flowsDeleted));
    assert.equal(await count(m, DAY3, DAY3 + 12 * HOUR), 0);
    assert.equal(await count(m, DAY1, DAY1 + 24 * HOUR), 3000, 'never analysed: left to the 7-day retention');
    let audited;
    for await (const e of m.audit.entries()) if (e.action === 'analytics.delete') audited = e;
    assert.deepEqual([audited?.measure, audited?.counts?.rows], ['cc-detection', r.flowsDeleted]);
  });
});
