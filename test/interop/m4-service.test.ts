/**
 * M4 in the server, end to end: accounting from radclient, authentication
 * events through the rlm_rest endpoints as FreeRADIUS would send them, the
 * trigger and detectors, a case, an RFC 5176 Disconnect-Request to a NAS
 * simulator (ACK), the ID suspended (authorize answers 401) until the
 * customer system reports a password change, a notice asking for it — and a
 * NAS reboot that makes many IDs re-authenticate at once disconnecting no one.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { have } from '../support/flow-peers.js';
import { tempDir, testConfig } from '../support/fixtures.js';
import { radclient } from '../support/freeradius.js';
import { NasSimulator, SECRET as DM_SECRET } from '../support/nas-simulator.js';

const ACCT_SECRET = 'acct-secret';
const acct = async (port: number, attributes: string) => (await radclient(port, 'acct', ACCT_SECRET, attributes)).status;

/** An attribute list as rlm_rest sends it with `body = 'json'`. */
const rest = (user: string, station: string, nas = '127.0.0.1') => ({
  'User-Name': { type: 'string', value: [user] },
  'NAS-IP-Address': { type: 'ipaddr', value: [nas] },
  'Calling-Station-Id': { type: 'string', value: [station] },
});

describe('M4 in the server', { skip: !have('radclient') && 'radclient not installed' }, () => {
  let server: Server;
  let aaa: string;
  let operator: string;
  const nas = new NasSimulator();

  const call = async (url: string, token: string, payload: object) => {
    const r = await server.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}` }, payload });
    return { status: r.statusCode, body: r.body ? (JSON.parse(r.body) as Record<string, unknown>) : {} };
  };
  const waitFor = async (what: () => Promise<boolean>, ms = 15_000) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (await what()) return true;
      await new Promise((r) => setTimeout(r, 200));
    }
    return false;
  };

  before(async () => {
    await nas.start();
    const config = testConfig(
      join(tempDir(), 'data'),
      [
        'server:\n  port: 0',
        'measures:',
        '  credential-misuse:',
        '    enabled: true',
        '    analysisInterval: 1s',
        '    trigger: { serverRequestsPerMinute: 50, accountRequestsPerMinute: 5 }',
        '    burst: { accepts: 5, withinSeconds: 300, distinctPlaces: 3 }',
        '    regions: [{ name: Tokyo, lat: 35.68, lon: 139.69 }, { name: Fukuoka, lat: 33.59, lon: 130.4 }]',
        '    pools: [{ prefix: 100.64.0.0/16, regions: [Tokyo] }, { prefix: 100.66.0.0/16, regions: [Fukuoka] }]',
        `    nas: [{ name: bras1, address: 127.0.0.1, port: ${nas.port}, secret: ${DM_SECRET} }]`,
        'ingest:\n  radius:\n    listeners: [{ host: "127.0.0.1", ' +
          'port: 0 }]\n    clients: [{ address: ' +
          '"127.0.0.1", secret: "acct-secret", name: "bras1" }]',
      ].join('\n'),
    );
    server = await serve(config, { out: new PassThrough(), logger: createLogger('silent') });
    aaa = (await server.mamori.accounts.createToken('module:test', 'freeradius', 'aaa')).token;
    operator = (await server.mamori.accounts.createToken('module:test', 'noc', 'operator')).token;
    await server.mamori.notices.importContacts('victim@isp,victim@example.net,被害 太郎,ja', 'cli:test');
  });
  after(async () => {
    await server?.close();
    nas.stop();
  });

  it('lets the AAA endpoints be called only with an AAA token', async () => {
    assert.equal((await call('/api/v1/aaa/authorize', operator, rest('x', 'y'))).status, 403);
    assert.equal((await call('/api/v1/aaa/authorize', aaa, rest('nobody@isp', 'cpe'))).status, 204);
  });

  it('a NAS reboot: 60 IDs re-authenticate at once from their usual place — the trigger fires, no one is disconnected', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 60; i++) {
      assert.equal(
        await acct(
          server.radius!.addresses[0]!.port,
          `Acct-Status-Type = Start\nUser-Name = "u${i}@isp"\nAcct-Session-Id ` +
            `= "r${i}"\nFramed-IP-Address ` +
            `= 100.64.1.${i}\nEvent-Timestamp = ${now}\n`,
        ),
        0,
      );
      await call('/api/v1/aaa/authorize', aaa, rest(`u${i}@isp`, `cpe-${i}`));
      await call('/api/v1/aaa/post-auth/accept', aaa, rest(`u${i}@isp`, `cpe-${i}`));
    }
    await new Promise((r) => setTimeout(r, 2500)); // two analysis passes
    const view = (
      await server.app.inject({
        method: 'GET',
        url: '/api/v1/measures/credential-misuse/suspensions',
        headers: { authorization: `Bearer ${operator}` },
      })
    ).json() as { suspensions: unknown[]; findings: unknown[] };
    assert.deepEqual([view.suspensions.length, view.findings.length], [0, 0]);
    assert.equal(nas.seen.length, 0, 'no Disconnect-Request was sent');
  });

  it('a router retrying a wrong password: a burst of rejects from one place disconnects no one', async () => {
    const before = nas.seen.length;
    for (let i = 0; i < 15; i++) {
      await call('/api/v1/aaa/authorize', aaa, rest('retry@isp', 'cpe-r'));
      await call('/api/v1/aaa/post-auth/reject', aaa, rest('retry@isp', 'cpe-r'));
    }
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal((await call('/api/v1/aaa/authorize', aaa, rest('retry@isp', 'cpe-r'))).status, 204, 'not suspended');
    assert.equal(nas.seen.length, before);
  });

  it(
    'finds a stolen ID (two sessions, Tokyo then Fukuoka ' +
      'within minutes, logins from many places), ' +
      'disconnects it, suspends it and asks for a new password',
    async (t) => {
      const port = server.radius!.addresses[0]!.port;
      const now = Math.floor(Date.now() / 1000);
      assert.equal(
        await acct(
          port,
          `Acct-Status-Type = Start\nUser-Name = "victim@isp"\nAcct-Session-Id ` +
            `= "v1"\nFramed-IP-Address ` +
            `= 100.64.7.7\nEvent-Timestamp = ${now - 300}\n`,
        ),
        0,
      );
      assert.equal(
        await acct(
          port,
          `Acct-Status-Type = Start\nUser-Name = "victim@isp"\nAcct-Session-Id ` +
            `= "v2"\nFramed-IP-Address ` +
            `= 100.66.9.9\nEvent-Timestamp = ${now}\n`,
        ),
        0,
      );
      await server.radius!.settled();
      const triggeredAt = Date.now();
      for (let i = 0; i < 6; i++) {
        await call('/api/v1/aaa/authorize', aaa, rest('victim@isp', `cpe-x${i}`));
        await call('/api/v1/aaa/post-auth/accept', aaa, rest('victim@isp', `cpe-x${i}`));
      }
      const suspended = await waitFor(async () => (await call('/api/v1/aaa/authorize', aaa, rest('victim@isp', 'cpe-x9'))).status === 401);
      assert.ok(suspended, 'not suspended within 15 s');
      const detectedWithin = Date.now() - triggeredAt;
      assert.ok(detectedWithin < 60_000, `detection took ${detectedWithin} ms`);
      // The newest session was disconnected at the NAS, with the attributes it needs.
      const dm = nas.seen.at(-1)!;
      assert.equal(dm.ok, true, dm.why);
      assert.equal(dm.attrs.get(1)![0]!.toString(), 'victim@isp');
      assert.equal(dm.attrs.get(44)![0]!.toString(), 'v2');
      const r = await call('/api/v1/aaa/authorize', aaa, rest('victim@isp', 'cpe-x9'));
      assert.match(String(r.body['reply:Reply-Message']), /suspended/);
      // Case ids name a subscriber's case: the abuse desk (analyst) sees them, the NOC (operator) does not.
      const desk = (await server.mamori.accounts.createToken('module:test', 'desk', 'analyst')).token;
      type Findings = { findings: Array<{ detector: string; case_id?: string; detection_to_ack_ms: number | null; ja: string }> };
      const suspensions = async (token: string) =>
        (
          await server.app.inject({
            method: 'GET',
            url: '/api/v1/measures/credential-misuse/suspensions',
            headers: { authorization: `Bearer ${token}` },
          })
        ).json() as Findings;
      // The burst finding may come a pass after the suspension the others caused: wait for it rather than race it.
      let view = await suspensions(desk);
      await waitFor(async () => (view = await suspensions(desk)).findings.some((f) => f.detector === 'burst'));
      const noc = await suspensions(operator);
      assert.equal(noc.findings.length, view.findings.length);
      assert.ok(
        noc.findings.every((f) => f.case_id === undefined),
        'the NOC sees no case ids',
      );
      assert.deepEqual(view.findings.map((f) => f.detector).sort(), ['burst', 'concurrent', 'travel']);
      assert.ok(
        view.findings.every((f) => typeof f.detection_to_ack_ms === 'number'),
        'the time to Disconnect-ACK is recorded',
      );
      t.diagnostic(`trigger to suspension: ${detectedWithin} ms; detection to Disconnect-ACK: ${view.findings[0]!.detection_to_ack_ms} ms`);
      const caseUrl = `/api/v1/cases/${view.findings[0]!.case_id!}`;
      const c = (await server.app.inject({ method: 'GET', url: caseUrl, headers: { authorization: `Bearer ${desk}` } })).json() as {
        kind: string;
        timeline: Array<{ event: string }>;
      };
      assert.equal(c.kind, 'credential-misuse');
      const events = c.timeline.map((e) => e.event);
      for (const e of ['opened', 'disconnect:ack', 'suspended', 'notice.queued'])
        assert.ok(events.includes(e), `${e} missing from ${events.join(', ')}`);
    },
  );

  it('lifts the suspension when the customer system reports the password change', async () => {
    const lifted = await call('/api/v1/measures/credential-misuse/aaa/password-changed', aaa, { account: 'victim@isp' });
    assert.deepEqual(lifted.body, { lifted: true });
    assert.equal((await call('/api/v1/aaa/authorize', aaa, rest('victim@isp', 'cpe-home'))).status, 204);
    const actions = [];
    for await (const e of server.mamori.audit.entries()) if (e.measure === 'credential-misuse') actions.push(e.action);
    for (const a of ['case.open', 'm4.disconnect', 'm4.suspend', 'm4.finding', 'm4.lift'])
      assert.ok(actions.includes(a), `${a} not audited`);
  });
});

describe('M4 in dry-run', { skip: !have('radclient') && 'radclient not installed' }, () => {
  it('opens a case for a finding and does nothing else: no disconnect, no suspension', async () => {
    const nas = new NasSimulator();
    await nas.start();
    const server = await serve(
      testConfig(
        join(tempDir(), 'data'),
        [
          'server:\n  port: 0',
          `measures:\n  credential-misuse:\n    enabled: true\n ` +
            `   dryRun: true\n    analysisInterval: ` +
            (`1s\n    trigger: { accountRequestsPerMinute: 5 }\n ` + `   nas: [{ name: bras1, address: 127.0.0.1, `) +
            `port: ${nas.port}, secret: ${DM_SECRET} }]`,
        ].join('\n'),
      ),
      { out: new PassThrough(), logger: createLogger('silent') },
    );
    try {
      const token = (await server.mamori.accounts.createToken('module:test', 'freeradius', 'aaa')).token;
      for (let i = 0; i < 6; i++) {
        for (const url of ['/api/v1/aaa/authorize', '/api/v1/aaa/post-auth/accept']) {
          await server.app.inject({
            method: 'POST',
            url,
            headers: { authorization: `Bearer ${token}` },
            payload: rest('dry@isp', `cpe-${i}`, `192.0.2.${i}`),
          });
        }
      }
      const view = async () =>
        (
          await server.app.inject({
            method: 'GET',
            url: '/api/v1/measures/credential-misuse/suspensions',
            headers: { authorization: `Bearer ${(await server.mamori.accounts.createToken('module:test', 'noc', 'operator')).token}` },
          })
        ).json() as { suspensions: unknown[]; findings: Array<{ action: string }> };
      const deadline = Date.now() + 15_000;
      while ((await view()).findings.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      const v = await view();
      assert.equal(v.findings[0]?.action, 'dry-run: no action taken');
      assert.equal(v.suspensions.length, 0);
      assert.equal(nas.seen.length, 0);
    } finally {
      await server.close();
      nas.stop();
    }
  });
});
