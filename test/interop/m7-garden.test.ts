/**
 * M7's walled garden end to end with real peers on loopback: sessions from radclient (alice on 127.0.0.2,
 * bob on 127.0.0.3), a list of infected hosts imported through the API naming alice's address, the analysis
 * pass notifying and gardening her; BIND 9.18 as the recursor, a secondary of the garden zone on Mamori's
 * RPZ primary (AXFR/IXFR with NOTIFY): asked from 127.0.0.2 every name gives the notice page's address,
 * from 127.0.0.3 the real answer. The page answers by source address only (it never echoes the Host or
 * path), the self-release lifts the garden at BIND once the new serial arrives, an address not in the
 * garden gets a neutral page, a stale token is refused; the abuse desk ends a garden; the report counts
 * the channel. Unbound 1.17 too, as a second secondary (BIND transfers from 127.0.0.5, Unbound from 127.0.0.1), which
 * the primary sends the whole zone instead of an IXFR that deletes a client-IP rule (wholeZoneOnClientIpRemoval):
 * Unbound 1.17.1 ignores such a deletion in an IXFR, from BIND as from Mamori (unbound-rpz-ixfr.test.ts).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { kdig, startNamed, type Named } from '../support/bind.js';
import { have } from '../support/flow-peers.js';
import { CLI, tempDir } from '../support/fixtures.js';
import { freePort } from '../support/freeradius.js';
import {
  GARDEN_ZONE,
  reportAndAnalyze,
  rpzApplied,
  rpzReloads,
  sameSerial,
  serialAt,
  startGardenServer,
  type GardenServer,
} from '../support/garden.js';

const SOA = '$TTL 60\n@ IN SOA localhost. root.localhost. 1 60 30 600 60\n@ IN NS localhost.\n';
const GARDEN = '192.0.2.80';
const REAL = '192.0.2.10';
const ALICE = '127.0.0.2';
const BOB = '127.0.0.3';
/** BIND transfers from here (transfer-source), so the primary tells it from Unbound (127.0.0.1). */
const BIND_SOURCE = '127.0.0.5';
// What the subscriber asked for: the content of their communication, which must never come back or be kept.
const SECRET_HOST = 'private-bank-login.example';
const SECRET_PATH = '/account/12345?session=s3cr3t';

async function answer(port: number, source: string): Promise<string[]> {
  const out = await kdig(['-b', source, '@127.0.0.1', '-p', String(port), 'good.wgtest.net', 'A']);
  return [...out.matchAll(/^[^;\s]\S*\s+\d+\s+IN\s+A\s+(\S+)$/gm)].map((m) => m[1]!);
}

/** An HTTP request to the page from a chosen loopback source, as a browser would send it. */
function fetchFrom(
  page: { host: string; port: number },
  source: string,
  o: { method?: string; body?: string } = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: page.host,
        port: page.port,
        localAddress: source,
        method: o.method ?? 'GET',
        path: SECRET_PATH,
        headers: { host: SECRET_HOST, ...(o.body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

function mamori(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

const token = (html: string) => /name="token" value="([^"]+)"/.exec(html)?.[1];

async function startUnbound(
  dir: string,
  port: number,
  forward: number,
  primary: number,
): Promise<{ log(): string; stop(): Promise<void> }> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'unbound.conf'),
    `server:\n\tinterface: 127.0.0.1\n\tport: ${port}\n\tdo-ip6: no\n\tchroot: ""\n\tusername: ""\n\tdirectory: "${dir}"\n` +
      `\tpidfile: "${dir}/unbound.pid"\n\tuse-syslog: no\n\tlogfile: ""\n\tverbosity: 3\n\tdo-not-query-localhost: no\n` +
      `\tmodule-config: "respip iterator"\n\taccess-control: 127.0.0.0/8 allow\n` +
      `rpz:\n\tname: "${GARDEN_ZONE}"\n\tprimary: 127.0.0.1@${primary}\n\tallow-notify: 127.0.0.1\n\tzonefile: "${dir}/garden.zone"\n` +
      `forward-zone:\n\tname: "."\n\tforward-addr: 127.0.0.1@${forward}\n`,
  );
  const p: ChildProcess = spawn('unbound', ['-d', '-c', join(dir, 'unbound.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  p.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  for (let i = 0; i < 100 && !/start of service/.test(log); i++) await new Promise((r) => setTimeout(r, 100));
  if (!/start of service/.test(log)) {
    p.kill();
    throw new Error(`unbound did not start: ${log.slice(-2000)}`);
  }
  return {
    log: () => log,
    stop: async () => {
      if (p.exitCode === null && p.signalCode === null) await new Promise((r) => (p.once('exit', r), p.kill()));
    },
  };
}

/** Asks until `want` holds (the resolver has the zone's new version), bounded; returns the last answer. */
async function until(port: number, source: string, want: (a: string[]) => boolean, ms = 15_000): Promise<string[]> {
  let last: string[] = [];
  for (const deadline = Date.now() + ms; Date.now() < deadline;) {
    last = await answer(port, source);
    if (want(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}

const skip = !(have('named') && have('kdig') && have('radclient')) && 'bind9, knot-dnsutils or radclient not installed';

describe('M7 walled garden: Mamori primary, BIND (and Unbound) as resolvers, the page, self-release', { skip }, () => {
  let g: GardenServer;
  let named: Named | undefined;
  let unbound: { log(): string; stop(): Promise<void> } | undefined;
  let bindPort: number;
  let unboundPort: number;
  const dir = tempDir();

  before(async () => {
    bindPort = await freePort();
    unboundPort = await freePort();
    g = await startGardenServer(dir, {
      sessions: { 'alice@isp': ALICE, 'bob@isp': BOB },
      gardenAddress: GARDEN,
      notify: [bindPort, unboundPort],
      transferTo: [BIND_SOURCE, '127.0.0.1'],
      wholeZoneOnClientIpRemoval: ['127.0.0.1'],
    });
    named = await startNamed(dir, bindPort, {
      files: { 'wgtest.db': `${SOA}good IN A ${REAL}\n` },
      options:
        '\trecursion yes;\n\tallow-recursion { 127.0.0.0/8; };\n' +
        `\tresponse-policy { zone "${GARDEN_ZONE}"; } recursive-only no min-update-interval 1;`,
      zones: [
        'zone "wgtest.net" { type primary; file "wgtest.db"; };',
        `zone "${GARDEN_ZONE}" { type secondary; primaries { 127.0.0.1 port ${g.primaryPort}; }; file "garden.db";\n` +
          `\ttransfer-source ${BIND_SOURCE}; };`,
      ].join('\n'),
      ready: new RegExp(`transfer of '${GARDEN_ZONE.replace(/\./g, '\\.')}/IN' from .*Transfer completed`),
    });
    if (have('unbound')) unbound = await startUnbound(join(dir, 'unbound'), unboundPort, bindPort, g.primaryPort);
  });
  after(async () => {
    await unbound?.stop();
    await named?.stop();
    await g?.server.close();
  });

  it('answers every name from the gardened address with the page, and others normally', async () => {
    assert.deepEqual(await answer(bindPort, ALICE), [REAL], 'before the garden');
    const before = await serialAt(g.primaryPort);
    const reloads = rpzReloads(named!.log());
    const r = await reportAndAnalyze(g, ALICE);
    assert.equal(r.notified, 1, JSON.stringify(r));
    assert.equal(r.garden.started, 1, JSON.stringify(r));
    assert.ok((await serialAt(g.primaryPort)) > before, 'a new serial');
    await sameSerial(g.primaryPort, bindPort);
    await rpzApplied(named!.log, reloads);
    assert.deepEqual(await answer(bindPort, ALICE), [GARDEN]);
    assert.deepEqual(await answer(bindPort, BOB), [REAL]);
    const list = await g.call('GET', '/garden');
    assert.deepEqual(
      list.json.gardens.map((x: { subscriber: string; releasesLeft: number }) => [x.subscriber, x.releasesLeft]),
      [['alice@isp', 2]],
    );
  });

  it(
    'Unbound 1.17 applies the same zone (local data) to the gardened address only',
    { skip: !have('unbound') && 'unbound not installed' },
    async () => {
      assert.deepEqual(await until(unboundPort, ALICE, (a) => a.includes(GARDEN)), [GARDEN]);
      assert.deepEqual(await answer(unboundPort, BOB), [REAL]);
    },
  );

  it('serves the page by source address only: the case to alice, a neutral page to bob, never the Host or path', async () => {
    const mine = await fetchFrom(g.page, ALICE);
    assert.equal(mine.status, 200);
    assert.match(mine.body, /お使いの機器がマルウェアに感染しているおそれがあります/);
    assert.match(mine.body, /mirai/);
    assert.match(mine.body, /ルータを再起動し、初期パスワードを変更してください/, 'the remediation text for the family');
    assert.match(mine.body, /0120-000-000/);
    assert.ok(mine.body.indexOf('lang="ja"') < mine.body.indexOf('lang="en"'), 'Japanese first');
    assert.match(String(mine.headers['content-security-policy']), /default-src 'none'/);
    assert.doesNotMatch(mine.body, /<script/i);
    assert.equal(mine.headers['cache-control'], 'no-store');
    const other = await fetchFrom(g.page, BOB);
    assert.equal(other.status, 200);
    assert.doesNotMatch(other.body, /mirai|alice|token/);
    for (const body of [mine.body, other.body]) {
      assert.ok(!body.includes(SECRET_HOST) && !body.includes('s3cr3t') && !body.includes('12345'), 'nothing of the request is echoed');
    }
    // Bob cannot release alice with her page's token: it is bound to her address.
    const stolen = await fetchFrom(g.page, BOB, { method: 'POST', body: `token=${encodeURIComponent(token(mine.body)!)}` });
    assert.equal(stolen.status, 403);
    const forged = await fetchFrom(g.page, ALICE, { method: 'POST', body: 'token=1.AAAA' });
    assert.equal(forged.status, 403);
  });

  it('self-release lifts the garden at BIND once the new serial arrives; audited, and the report counts the channel', async () => {
    const page = await fetchFrom(g.page, ALICE);
    const reloads = rpzReloads(named!.log());
    const released = await fetchFrom(g.page, ALICE, { method: 'POST', body: `token=${encodeURIComponent(token(page.body)!)}` });
    assert.equal(released.status, 200);
    assert.match(released.body, /表示を解除しました/);
    await sameSerial(g.primaryPort, bindPort);
    await rpzApplied(named!.log, reloads);
    assert.deepEqual(await answer(bindPort, ALICE), [REAL]);
    if (unbound) {
      // Unbound 1.17.1 ignores the deletion of a client-IP rule in an IXFR (unbound-rpz-ixfr.test.ts): the primary sent
      // it the whole zone for this release, and the garden is lifted once its log shows the new serial.
      const serial = await serialAt(g.primaryPort);
      await until(unboundPort, ALICE, () => unbound!.log().includes(`updated to serial ${serial}`));
      assert.match(unbound.log(), new RegExp(`auth zone ${GARDEN_ZONE.replace(/\./g, '\\.')}\\. updated to serial ${serial}`));
      assert.deepEqual(await answer(unboundPort, ALICE), [REAL], 'Unbound lifts the garden after the release');
      assert.equal(g.server.mamori.policyZones.listener()?.counts.wholeForClientIpRemoval, 1, 'sent as the whole zone');
    }
    assert.deepEqual((await g.call('GET', '/garden')).json.gardens, []);
    const after = await fetchFrom(g.page, ALICE);
    assert.doesNotMatch(after.body, /mirai/, 'released: the neutral page');

    const db = g.server.mamori.state.db;
    const audit = await sql<{ action: string; actor: string }>`select action, actor from audit_log where action like 'm7.garden.%'`.execute(
      db,
    );
    assert.ok(audit.rows.some((a) => a.action === 'm7.garden.start'));
    assert.ok(audit.rows.some((a) => a.action === 'm7.garden.release' && a.actor === 'subscriber:self-release'));
    // Nothing the subscriber asked for is in the audit log, the notices or the state.
    const everything = JSON.stringify((await sql`select * from audit_log`.execute(db)).rows);
    assert.ok(!everything.includes(SECRET_HOST) && !everything.includes('s3cr3t'));
    const report = await g.call('GET', '/report');
    const channels = report.json.rows.map((x: { channel: string; notified: number }) => `${x.channel}:${x.notified}`).sort();
    assert.deepEqual(channels, ['email:1', 'walled-garden:1']);
  });

  it('gardens again on a new report after the release, and the abuse desk ends it at once', async () => {
    let reloads = rpzReloads(named!.log());
    // A sighting from before the release does not garden again; one after it does.
    assert.equal((await reportAndAnalyze(g, ALICE, { at: new Date(Date.now() - 3_600_000 + 120_000) })).garden.started, 0);
    const r = await reportAndAnalyze(g, ALICE, { at: new Date() });
    assert.equal(r.garden.started, 1, JSON.stringify(r));
    await sameSerial(g.primaryPort, bindPort);
    await rpzApplied(named!.log, reloads);
    assert.deepEqual(await answer(bindPort, ALICE), [GARDEN]);
    const page = await fetchFrom(g.page, ALICE);
    assert.match(page.body, /残り1回/);
    reloads = rpzReloads(named!.log());
    const ended = await g.call('POST', `/garden/${encodeURIComponent('alice@isp')}/end`);
    assert.equal(ended.status, 200, JSON.stringify(ended.json));
    await sameSerial(g.primaryPort, bindPort);
    await rpzApplied(named!.log, reloads);
    assert.deepEqual(await answer(bindPort, ALICE), [REAL]);
    assert.equal((await g.call('POST', `/garden/${encodeURIComponent('alice@isp')}/end`)).status, 404);
  });

  it('never gardens a subscriber who opted out of the garden (recorded with the command)', async () => {
    const env = { MAMORI_URL: g.server.url, MAMORI_TOKEN: g.token };
    const out = await mamori(['infected-host-alert', 'garden', 'opt-out', 'bob@isp'], env);
    assert.equal(out.code, 0, out.err);
    assert.match(out.out, /bob@isp: never gardened/);
    const list = await mamori(['infected-host-alert', 'garden', 'list'], env);
    assert.equal(list.code, 0, list.err);
    assert.equal(list.out.trim(), 'subscriber\tfamily\tcase\tstarted\tends\treleasesLeft', 'nobody gardened now');
    const r = await reportAndAnalyze(g, BOB);
    assert.equal(r.notified, 1, 'still told by e-mail');
    assert.equal(r.garden.started, 0);
    assert.deepEqual(await answer(bindPort, BOB), [REAL]);
    // The page's outbox holds no request content either.
    const outbox = join(dir, 'data', 'outbox');
    const mails = (() => {
      try {
        return readdirSync(outbox).map((f) => readFileSync(join(outbox, f), 'utf8'));
      } catch {
        return [];
      }
    })();
    assert.ok(mails.every((m) => !m.includes(SECRET_HOST)));
  });
});
