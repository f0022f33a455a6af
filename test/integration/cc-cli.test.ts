/**
 * M1's operator path from the command line, as real processes: a simulated day
 * that ends now, a detection over a window that ended in the past, and a model
 * made by an evaluation imported and promoted (a broken one refused whole).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openMamori } from '../../src/app/mamori.js';
import { loadConfig } from '../../src/core/config.js';
import { FlowBatch, FlowRowBinaryWriter } from '../../src/ingest/flow/batch.js';
import { FLOW_DATASET } from '../../src/ingest/flow/dataset.js';
import { defaultProfile, learnProfile } from '../../src/measures/cc-detection/profile.js';
import { modelFile } from '../../src/measures/cc-detection/training.js';
import { CLI, tempDir } from '../support/fixtures.js';

function mamori(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function workspace(): string {
  const dir = tempDir();
  const config = join(dir, 'mamori.yaml');
  writeFileSync(
    config,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nserver:\n  port: 0\n` +
      'measures:\n  cc-detection: { enabled: true, scope: { subscriberPrefixes: ["10.0.0.0/8"] } }\n',
  );
  return config;
}

describe('M1 from the command line', () => {
  it("simulate flows: by default the simulated period ends now, inside M1's window", async () => {
    const socket = dgram.createSocket('udp4');
    let datagrams = 0;
    socket.on('message', () => {
      datagrams += 1;
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const truth = join(tempDir(), 'truth.json');
    const child = spawn(process.execPath, [
      CLI,
      'simulate',
      'flows',
      '--subscribers',
      '20',
      '--hours',
      '2',
      '--to',
      `127.0.0.1:${socket.address().port}`,
      '--rate',
      '20000',
      '--truth',
      truth,
    ]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    socket.close();
    assert.equal(code, 0, out);
    const m = /period (\S+) – (\S+)/.exec(out);
    assert.ok(m, out);
    const end = new Date(m[2]!).getTime();
    assert.ok(Math.abs(end - Date.now()) < 5 * 60_000, `the period ends at ${m[2]}, not now`);
    assert.equal(new Date(m[1]!).getTime(), end - 2 * 3_600_000);
    assert.equal((JSON.parse(readFileSync(truth, 'utf8')) as { start: string }).start, m[1]);
    assert.ok(datagrams > 0);
  });

  it('cc detect --to analyses a window that ended in the past, and keeps what no run analysed', async () => {
    const config = workspace();
    const day = Date.UTC(2026, 9, 1);
    const m = await openMamori(loadConfig(config), { analytics: true });
    const n = 600;
    const batch = new FlowBatch(n);
    const exporter = batch.exporterId('192.0.2.1');
    for (let k = 0; k < n; k++) {
      const i = batch.next(exporter);
      const t = day + k * 60_000;
      batch.startMs[i] = t;
      batch.endMs[i] = t + 100;
      batch.src.set([10, 0, 0, 1 + (k % 5)], i * 16);
      batch.dst.set([198, 51, 100, 1 + (k % 3)], i * 16);
      batch.srcPort[i] = 40000 + k;
      batch.dstPort[i] = 443;
      batch.proto[i] = 6;
      batch.bytes[i] = 800;
      batch.packets[i] = 6;
      batch.tcpFlags[i] = 0x1b;
    }
    await m.analytics!.insert(FLOW_DATASET.table, 'RowBinary', Buffer.from(new FlowRowBinaryWriter(n).write(batch)));
    await m.close();
    const r = mamori(['-c', config, 'cc', 'detect', '--to', new Date(day + 86_400_000).toISOString()]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /window 2026-10-01T00:00:00\.000Z – 2026-10-02T00:00:00\.000Z, model 0 \(built-in profile\): 3 endpoints/);
    assert.match(r.out, /0 analysed flows deleted/);
  });

  it('cc models import and promote: a model made by an evaluation, used once promoted; a broken file refused whole', () => {
    const config = workspace();
    const file = join(tempDir(), 'model.json');
    const learnt = learnProfile(defaultProfile(), [{ features: [], labels: [] }]);
    writeFileSync(
      file,
      JSON.stringify(
        modelFile(learnt, { command: 'mamori cc eval --real DIR', figures: ['real traffic, 1000 subscribers: PR-AUC 1.000'] }),
      ),
    );
    const imported = mamori(['-c', config, 'cc', 'models', 'import', file]);
    assert.equal(imported.code, 0, imported.err);
    assert.match(imported.out, /model version 1 \(profile\) imported .*not used until promoted/);
    assert.match(mamori(['-c', config, 'cc', 'models']).out, /^\* 0\tbuilt-in profile/m);
    assert.equal(mamori(['-c', config, 'cc', 'models', 'promote', '1']).code, 0);
    const listed = mamori(['-c', config, 'cc', 'models']).out;
    assert.match(listed, /^\* 1\tprofile from eval/m);
    assert.match(listed, /made by: mamori cc eval --real DIR/);
    const broken = join(tempDir(), 'broken.json');
    writeFileSync(
      broken,
      JSON.stringify({
        ...modelFile(learnt, { command: 'x', figures: [] }),
        model: { ...learnt, c2: { ...learnt.c2, beacon: [0.5, 0.5] } },
      }),
    );
    const refused = mamori(['-c', config, 'cc', 'models', 'import', broken]);
    assert.equal(refused.code, 2);
    assert.match(refused.err, /the profile's "beacon" must be 4 probabilities in \(0, 1\)/);
    assert.match(mamori(['-c', config, 'cc', 'models', 'promote', '7']).err, /no model version 7/);
  });
});
