/**
 * Back-fill through the running server: the `flows import` command finds the
 * configured server and uploads the capture to its API, and live collection
 * goes on while the import is stored. Also: who may import, repeats refused
 * before the upload is read, one import at a time, the size bound, the
 * start-up warning of an inlet open to any exporter, and staging tables left
 * by a crash.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { serve, warnOpenInlet, type Server } from '../../src/app/serve.js';
import { openMamori } from '../../src/app/mamori.js';
import { createLogger } from '../../src/core/logger.js';
import { looksLikeSecretData } from '../../src/core/secret-guard.js';
import { FLOW_DATASET } from '../../src/ingest/flow/dataset.js';
import { runningImport } from '../../src/ingest/flow/import.js';
import { CLI, tempDir, testConfig, measuresWithM1InletOnly } from '../support/fixtures.js';
import { dataSet, ipfix, IPFIX_V4_TEMPLATE, ipfixV4Record, templateSet } from '../support/flow-builders.js';
import { writeUdpPcap } from '../support/traffic.js';

const WITH_M1 = measuresWithM1InletOnly();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function exportStream(datagrams: number, seed: number, from = 0): Buffer[] {
  const out = from === 0 ? [ipfix({ exportTime: 1_764_000_000, sequence: 0, domain: 1 }, [templateSet(true, 300, IPFIX_V4_TEMPLATE)])] : [];
  for (let i = from; i < from + datagrams; i++) {
    const records = Array.from({ length: 20 }, (_, k) =>
      ipfixV4Record({
        src: `10.${seed}.${(i >> 8) & 255}.${i & 255}`,
        dst: `198.51.100.${k}`,
        sport: 1000 + k,
        dport: 443,
        proto: 6,
        flags: 0x18,
        startMs: 1_764_000_000_000 + i,
        endMs: 1_764_000_001_000 + i,
        bytes: 100 + k,
        packets: 1,
      }),
    );
    out.push(ipfix({ exportTime: 1_764_000_000, sequence: 1 + i * 20, domain: 1 }, [dataSet(300, records)]));
  }
  return out;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** A request to the API whose body can be held back: `send` writes a part, `end` finishes it. */
interface Upload {
  send(b: Buffer): void;
  end(b?: Buffer): void;
  answer: Promise<Answer>;
}

function upload(url: string, token: string, query: string, length: number): Upload {
  let req!: ReturnType<typeof request>;
  const answer = new Promise<Answer>((resolve, reject) => {
    req = request(
      `${url}/api/v1/flows/imports?${query}`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) as Answer['body'] }));
      },
    );
    // The server may answer and close before the whole body is sent (refusals): that is not a failure here.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
  });
  return { send: (b) => req.write(b), end: (b) => req.end(b), answer };
}

interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** An await that may not outlast `ms`: a hang becomes a failure that names what was awaited. */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The `mamori` command in a child process: `done` when it exits, `running()` until then. */
function runCli(args: string[], env: Record<string, string>): { done: Promise<CliRun>; running: () => boolean; stop: () => void } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const done = new Promise<CliRun>((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
  return { done, running: () => child.exitCode === null && child.signalCode === null, stop: () => child.kill('SIGTERM') };
}

describe('back-fill through the running server', () => {
  let server: Server;
  let dir: string;
  let cliConfig: string;
  const tokens: Record<string, string> = {};
  const logLines: string[] = [];

  before(async () => {
    dir = tempDir();
    const yaml = [
      'server:\n  port: 0',
      'measures:\n  cc-detection: { enabled: true }',
      'ingest:\n  flows:\n    listeners: [{ host: "127.0.0.1", port: 0 }]\n    insertRows: 64\n    maxUploadBytes: 67108864',
    ].join('\n');
    // A staging table left by an import that died with an earlier process.
    const before = await openMamori(testConfig(join(dir, 'data'), yaml), { analytics: true, measures: WITH_M1 });
    await before.analytics!.exec(`CREATE TABLE mamori_m1.flows_import_00112233aabbccdd AS ${FLOW_DATASET.table}`);
    await before.analytics!.exec(
      'INSERT INTO mamori_m1.flows_import_00112233aabbccdd (start, end, src_port) ' +
        'VALUES (now64(3), now64(3), 1), (now64(3), now64(3), 2), (now64(3), now64(3), 3)',
    );
    await before.close();
    mkdirSync(join(dir, 'data', 'imports'));
    writeFileSync(join(dir, 'data', 'imports', 'upload-0011223344556677'), 'an upload that was never imported');

    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => logLines.push(...c.toString().split('\n').filter(Boolean)));
    const logger = createLogger('info', sink);
    server = await serve(testConfig(join(dir, 'data'), yaml), { measures: WITH_M1, out: new PassThrough(), logger });
    for (const role of ['operator', 'analyst']) tokens[role] = (await server.mamori.accounts.createToken('module:test', role, role)).token;
    // The command's configuration names the running server (its port was chosen at start).
    cliConfig = join(dir, 'cli.yaml');
    writeFileSync(cliConfig, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nserver:\n  port: ${new URL(server.url).port}\n`);
  });
  after(() => server?.close());

  it('warns at start that any exporter is accepted, without an address in the warning', () => {
    // Before: the inlet listened for any source with no word in the log.
    const warnings = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'flows.any-exporter');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.level, 40);
    assert.deepEqual([warnings[0]!.listeners, warnings[0]!.wildcardListeners], [1, 0]);
    const line = logLines.find((l) => l.includes('"flows.any-exporter"'))!;
    assert.ok(!line.includes('127.0.0.1') && !looksLikeSecretData(line.replace(/"time":"[^"]*"/, '')), line);
    assert.match(String(warnings[0]!.msg), /accepts datagrams from any exporter/);
    assert.deepEqual(warnings[0]!.setting, ['ingest', 'flows', 'allowedExporters']);
  });

  it('says nothing when the exporters are listed', () => {
    const lines: string[] = [];
    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => lines.push(c.toString()));
    warnOpenInlet(testConfig(dir, 'ingest:\n  flows:\n    allowedExporters: ["192.0.2.1"]\n'), createLogger('info', sink));
    warnOpenInlet(testConfig(dir, ''), createLogger('info', sink));
    assert.equal(lines.filter((l) => l.includes('flows.any-exporter')).length, 1);
  });

  it('deletes what an import that died with an earlier process left (staging rows, upload), and audits it', async () => {
    const tables = await server.mamori.analytics!.query<{ name: string }>("SELECT name FROM system.tables WHERE database = 'mamori_m1'");
    assert.deepEqual(
      tables.map((t) => t.name),
      ['flows'],
    );
    const entries = [];
    for await (const e of server.mamori.audit.entries()) if (e.action === 'flows.import.abandoned') entries.push(e);
    assert.deepEqual(
      entries.map((e) => [e.actor, e.counts]),
      [['module:server', { tables: 1, deletedRecords: 3, uploads: 1 }]],
    );
    assert.ok(!existsSync(join(dir, 'data', 'imports', 'upload-0011223344556677')));
  });

  it('keeps storing live flows while a capture is imported through it by the command', async () => {
    // Before: `flows import` needed the server stopped, and with it live collection.
    const file = join(tempDir(), 'backfill.pcap');
    const imported = 30_000 * 20;
    writeUdpPcap(file, exportStream(30_000, 1)); // from 192.0.2.1
    const inlet = server.inlet!;
    const socket = dgram.createSocket('udp4');
    const port = inlet.addresses[0]!.port;
    const sendLive = (d: Buffer) => new Promise<void>((r, j) => socket.send(d, port, '127.0.0.1', (e) => (e ? j(e) : r())));
    const rowsFrom = async (exporter: string) =>
      Number(
        (
          await within(
            30_000,
            `counting the stored records of ${exporter}`,
            server.mamori.analytics!.query<{ n: string }>(
              `SELECT count() AS n FROM ${FLOW_DATASET.table} WHERE exporter = toIPv6({e:String})`,
              { e: `::ffff:${exporter}` },
            ),
          )
        )[0]!.n,
      );
    const flush = () => within(30_000, "flushing the inlet's batch", inlet.flush());
    const liveRows = () => rowsFrom('127.0.0.1');
    const importedRows = () => rowsFrom('192.0.2.1');
    await sendLive(exportStream(0, 2)[0]!); // the live exporter's template
    const cli = runCli(['-c', cliConfig, 'flows', 'import', file], { MAMORI_TOKEN: tokens.operator! });
    let sent = 0;
    let proof: { before: number; after: number } | undefined;
    for (const deadline = Date.now() + 180_000; cli.running() && Date.now() < deadline;) {
      await sendLive(exportStream(1, 2, sent).at(-1)!);
      sent += 1;
      if (!proof && runningImport(server.mamori)?.phase === 'storing') {
        const before = await liveRows();
        await flush();
        const after = await liveRows();
        // Stored while the import was still storing: the import neither stopped nor starved the inlet.
        if (after > before && runningImport(server.mamori)?.phase === 'storing') proof = { before, after };
      }
      await sleep(10);
    }
    // Bounded: an import still running after the loop is a failure with what it said and where the server's import is.
    if (cli.running()) {
      const phase = runningImport(server.mamori)?.phase ?? 'none';
      cli.stop();
      const late = await within(15_000, 'the import command after SIGTERM', cli.done);
      assert.fail(`the import did not end within 180 s (server import phase: ${phase}); stdout: ${late.stdout} stderr: ${late.stderr}`);
    }
    const r = await within(30_000, 'the import command to exit', cli.done);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(proof, `no live record was seen stored while the import was storing (${sent} live datagrams sent)`);
    assert.match(r.stdout, new RegExp(`imported ${imported} flow records from 30001 datagrams`));
    // Every live datagram is stored, and the import's records exactly once.
    const received = () => inlet.status().exporters.find((e) => e.address === '127.0.0.1')?.datagrams === sent + 1;
    for (const deadline = Date.now() + 15_000; !received() && Date.now() < deadline;) await sleep(100);
    await flush();
    const live = inlet.status();
    assert.equal(
      await liveRows(),
      sent * 20,
      JSON.stringify({
        sent,
        exporters: live.exporters,
        failed: live.insertFailedRecords,
        dropped: live.droppedRecords,
        log: logLines.filter((l) => /insert-failed|flows\.refused|import/.test(l)),
      }),
    );
    assert.equal(await importedRows(), imported);
    const audited = [];
    for await (const e of server.mamori.audit.entries()) if (e.action === 'flows.import') audited.push(e);
    assert.match(audited.at(-1)!.actor, /^token:/);
    assert.equal(audited.at(-1)!.counts!.stored, imported);
    socket.close();

    // The same file again: refused by its hash before the upload is read, exit 2, nothing stored.
    const again = await within(
      60_000,
      'the second import of the same file',
      runCli(['-c', cliConfig, 'flows', 'import', file], { MAMORI_TOKEN: tokens.operator! }).done,
    );
    assert.equal(again.status, 2, again.stderr);
    assert.match(again.stderr, /refused: this file was imported before: import #\d+ on \S+ by token:\S+: 600000 records stored\. /);
    assert.match(again.stderr, /Nothing was received or stored/);
    assert.equal(await importedRows(), imported);
  });

  it('says what it stored from a capture cut short (exit 3), and lists imports', async () => {
    const file = join(tempDir(), 'cut.pcap');
    writeUdpPcap(file, exportStream(30, 3));
    const whole = readFileSync(file);
    writeFileSync(file, whole.subarray(0, whole.length - 10));
    const r = await runCli(['-c', cliConfig, 'flows', 'import', file], { MAMORI_TOKEN: tokens.operator! }).done;
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stdout, /imported 580 flow records from 30 datagrams/);
    assert.match(r.stderr, /cut short at byte \d+ \(record 31 is truncated/);
    const list = await fetch(`${server.url}/api/v1/flows/imports`, { headers: { authorization: `Bearer ${tokens.analyst}` } });
    type Listed = { outcome: string; records: number; counts: Record<string, number> };
    const body = (await list.json()) as { running: unknown; imports: Listed[] };
    assert.equal(body.running, null);
    assert.deepEqual([body.imports[0]!.outcome, body.imports[0]!.records, body.imports[1]!.records], ['partial', 580, 600_000]);
    assert.ok(body.imports[0]!.counts.truncatedAtByte! > 0);
  });

  it('lets only admins and operators import, and finds no server without a token', async () => {
    const file = join(tempDir(), 'small.pcap');
    writeUdpPcap(file, exportStream(2, 4));
    const bytes = readFileSync(file);
    const none = await fetch(`${server.url}/api/v1/flows/imports`, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(none.status, 401);
    const analyst = upload(server.url, tokens.analyst!, 'format=pcap', bytes.length);
    analyst.end(bytes);
    const a = await analyst.answer;
    assert.equal(a.status, 403);
    assert.match(String(a.body.message), /role analyst may not flows:import/);
    const r = await runCli(['-c', cliConfig, 'flows', 'import', file], { MAMORI_TOKEN: '' }).done;
    assert.equal(r.status, 2);
    assert.match(r.stderr, /a Mamori server is running at http:\/\/127\.0\.0\.1:\d+: the import goes through it, so that live collection/);
  });

  it('runs one import at a time, and refuses an upload above the configured size', async () => {
    const file = join(tempDir(), 'slow.pcap');
    writeUdpPcap(file, exportStream(20, 5));
    const bytes = readFileSync(file);
    const slow = upload(server.url, tokens.operator!, 'format=pcap', bytes.length);
    slow.send(bytes.subarray(0, 100));
    const receiving = () => runningImport(server.mamori)?.phase === 'receiving';
    for (const deadline = Date.now() + 10_000; !receiving() && Date.now() < deadline;) await sleep(20);
    assert.equal(runningImport(server.mamori)?.phase, 'receiving');
    const second = upload(server.url, tokens.operator!, 'format=pcap', bytes.length);
    second.end(bytes);
    const s = await second.answer;
    assert.equal(s.status, 409);
    assert.equal(s.body.error, 'import-running');
    slow.end(bytes.subarray(100));
    const first = await slow.answer;
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.stored, 400);

    const big = 64 * 1024 * 1024 + 1;
    const tooBig = upload(server.url, tokens.operator!, 'format=pcap', big);
    const chunk = Buffer.alloc(1 << 20);
    for (let sentBytes = 0; sentBytes < big;) {
      const n = Math.min(chunk.length, big - sentBytes);
      if (sentBytes + n >= big) tooBig.end(chunk.subarray(0, n));
      else tooBig.send(chunk.subarray(0, n));
      sentBytes += n;
    }
    const t = await tooBig.answer;
    assert.equal(t.status, 413);
    assert.match(String(t.body.message), /larger than 67108864 bytes \(ingest\.flows\.maxUploadBytes\)/);
    assert.equal(runningImport(server.mamori), undefined);
  });
});
