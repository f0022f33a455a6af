/**
 * Issue 15: the commands of M3, M4 and M6 (their cli.ts), as an operator runs them — a real `mamori`
 * process against a running server, with an API token: the server's permissions, subscriber-data rules
 * and audit apply as they do to the API.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import type { CaseApi } from '../../src/notify/cases.js';
import { dnstapFrame, sendDnstap } from '../support/dnstap.js';
import { CLI, tempDir, testConfig } from '../support/fixtures.js';
import { freePort } from '../support/freeradius.js';

/** The CLI in its own process (the server answers on this one's event loop, so never spawnSync). */
function mamori(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, MAMORI_URL: '', MAMORI_TOKEN: '', ...env },
      timeout: 60_000,
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    p.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

describe('measure commands against the running server (M3, M4, M6)', () => {
  let server: Server;
  const tokens: Record<string, string> = {};
  let caseId = '';
  let dnstapSocket = '';
  const as = (role: string) => ({ MAMORI_URL: server.url, MAMORI_TOKEN: tokens[role]! });

  before(async () => {
    const dir = tempDir();
    dnstapSocket = join(dir, 'dnstap.sock');
    const config = testConfig(
      join(dir, 'data'),
      [
        'server:\n  port: 0',
        'rpz:\n  primary: { host: 127.0.0.1, port: 0 }\n  transferTo: [127.0.0.1]',
        'measures:',
        '  cc-dns-blocking:\n    enabled: true',
        '  credential-misuse:\n    enabled: true\n    analysisInterval: 1h',
        '  ddos-dns-blocking:',
        '    enabled: true',
        `    dnstap: { unix: [${JSON.stringify(join(dir, 'dnstap.sock'))}] }`,
        '    zone: ddos.rpz.isp.test',
        'ingest:\n  radius:\n    listeners: [{ host: "127.0.0.1", port: 0 }]',
      ].join('\n'),
    );
    server = await serve(config, { analytics: false, out: new PassThrough(), logger: createLogger('silent') });
    for (const role of ['admin', 'operator', 'analyst'] as const)
      tokens[role] = (await server.mamori.accounts.createToken('module:test', `${role} cli`, role)).token;
    // A suspension as M4 makes one: its case first (the audit log refers to it), then the row.
    const cases = await server.mamori.broker.forMeasure('credential-misuse').action<CaseApi>('cases');
    caseId = (await cases.open({ kind: 'credential-misuse', subscriber: 'taro@isp.example', summary: 'test' })).case.id;
    await sql`insert into m4_suspensions (account, since, until, case_id, detector, lifted_at, lifted_by, reminded)
      values ('taro@isp.example', ${new Date().toISOString()}, ${new Date(Date.now() + 86_400_000).toISOString()}, ${caseId}, 'burst',
        null, null, 0)`.execute(server.mamori.state.db);
  });
  after(() => server?.close());

  it('M4: lists suspensions (account IDs only for case roles), and lifts one, audited under the token', async () => {
    const admin = await mamori(['credential-misuse', 'suspensions'], as('admin'));
    assert.equal(admin.code, 0, admin.err);
    assert.match(admin.out, /^suspension\ttaro@isp\.example\tburst\t/m);
    const noc = await mamori(['credential-misuse', 'suspensions'], as('operator'));
    assert.equal(noc.code, 0, noc.err);
    assert.doesNotMatch(noc.out, /taro/);
    assert.ok(!noc.out.includes(caseId));
    assert.match(noc.out, /^suspension\t\(hidden\)\tburst/m);
    const lifted = await mamori(['credential-misuse', 'lift', 'taro@isp.example', '--reason', 'reached by phone'], as('analyst'));
    assert.equal(lifted.code, 0, lifted.err);
    assert.match(lifted.out, /taro@isp\.example: suspension lifted/);
    let audited = false;
    for await (const e of server.mamori.audit.entries()) if (e.action === 'm4.lift' && e.actor.startsWith('token:')) audited = true;
    assert.ok(audited, 'the lift is audited under the token');
  });

  it("M3: lists an entry an analyst adds; an operator may not add one (the server's permission)", async () => {
    const add = await mamori(['dns-blocking', 'add', 'bad.example.net', '--reason', 'ticket 4711'], as('analyst'));
    assert.equal(add.code, 0, add.err);
    assert.match(add.out, /^entry \d+: bad\.example\.net blocked until /);
    const list = await mamori(['dns-blocking', 'entries', '--active'], as('operator'));
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /\tbad\.example\.net\tanalyst\tactive\t/);
    assert.match(list.out, /^zone cc\.rpz\.mamori: serial \d+, 1 names blocked$/m);
    const refused = await mamori(['dns-blocking', 'add', 'x.example.net', '--reason', 'r'], as('operator'));
    assert.equal(refused.code, 2);
    assert.match(refused.err, /the server answered 403: role operator may not blocklist:manage/);
  });

  it('M6: shows attacks and the receiver; a rejection needs its reason', async () => {
    const r = await mamori(['ddos', 'attacks'], as('operator'));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^dnstap: 0 connections, 0 events, 0 dropped; 0 domains tracked$/m);
    const noReason = await mamori(['ddos', 'reject', 'victim.example'], as('analyst'));
    assert.equal(noReason.code, 1);
    assert.match(noReason.err, /required option '--reason <text>'/);
  });

  it("M6: shows what each resolver's dnstap delivered, beside Mamori's own drops", async () => {
    const timeSec = Math.floor(Date.now() / 1000);
    const frames = ['www.example.jp', 'mail.example.jp', 'api.example.jp'].flatMap((qname) => [
      dnstapFrame({ type: 5, client: '198.51.100.7', qname, timeSec, identity: 'resolver-x' }),
      dnstapFrame({ type: 6, client: '198.51.100.7', qname, timeSec, identity: 'resolver-x' }),
    ]);
    await sendDnstap(dnstapSocket, frames);
    let r = { code: null as number | null, out: '', err: '' };
    for (let i = 0; i < 20 && !/responses 3\t/m.test(r.out); i++) {
      if (i > 0) await new Promise((res) => setTimeout(res, 250));
      r = await mamori(['ddos', 'resolvers'], as('operator'));
      assert.equal(r.code, 0, r.err);
    }
    assert.match(r.out, /^resolver-x\tframes 6\tqueries 3\tresponses 3\tdropped 0\tlast seen \d{4}-\d\d-\d\dT[\d:.]+Z$/m);
    assert.match(r.out, /^Mamori: 6 events, 0 dropped$/m);
  });

  it('says what is missing: no token, or no server where the configuration points', async () => {
    const noToken = await mamori(['credential-misuse', 'suspensions'], { MAMORI_URL: server.url });
    assert.equal(noToken.code, 2);
    assert.match(noToken.err, /set MAMORI_TOKEN to an API token/);
    const port = await freePort();
    const nobody = await mamori(['credential-misuse', 'suspensions'], {
      MAMORI_URL: `http://127.0.0.1:${port}`,
      MAMORI_TOKEN: tokens.admin!,
    });
    assert.equal(nobody.code, 2);
    assert.match(
      nobody.err,
      new RegExp(`cannot reach the Mamori server at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\): is \`mamori serve\` running\\?`),
    );
  });
});
