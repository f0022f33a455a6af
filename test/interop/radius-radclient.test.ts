/**
 * RADIUS accounting from the real `radclient` (freeradius-utils) into the
 * server, over loopback: Start, Interim-Update, Stop, address reuse, IPv6
 * delegated prefixes, Accounting-On; a wrong secret unanswered and counted; a
 * retransmission answered again but applied once; the index surviving a
 * restart. Lookups go through the broker: allowed to a measure that declares
 * identification, refused to M1 and M2, and each one audited with its case.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { serve, type Server } from '../../src/app/serve.js';
import { CapabilityRefusedError } from '../../src/core/capabilities.js';
import { createLogger } from '../../src/core/logger.js';
import { encodeAccounting, STATUS } from '../../src/ingest/radius/packet.js';
import { RadiusAccountingServer } from '../../src/ingest/radius/server.js';
import { SessionIndex } from '../../src/subscriber/sessions.js';
import type { SubscriberLookup } from '../../src/subscriber/service.js';
import { have } from '../support/flow-peers.js';
import { radclient } from '../support/freeradius.js';
import { measuresWithM1InletOnly, tempDir, testConfig, identifyingMeasure } from '../support/fixtures.js';

const SECRET = 'testing123';
// Thirty days ago, to the second: well inside the declared retention whenever the test runs.
const T0 = Math.floor(Date.now() / 1000) - 30 * 86_400;

const identifier = identifyingMeasure();

const acct = (port: number, attributes: string, secret = SECRET) => radclient(port, 'acct', secret, attributes);

describe('RADIUS accounting from radclient', { skip: !have('radclient') && 'radclient not installed (freeradius-utils)' }, () => {
  let server: Server;
  let dataDir: string;
  let lookup: SubscriberLookup;
  // M2 and M6 with do-nothing implementations, so that they can be enabled and ask the broker: it must refuse them.
  const idle = {
    async start() {
      return { async stop() {} };
    },
  };
  const measures = [
    ...measuresWithM1InletOnly().map((m) =>
      m.declaration.id === 'cc-sharing' || m.declaration.id === 'ddos-dns-blocking' ? { ...m, implementation: idle } : m,
    ),
    identifier,
  ];
  const config = (dir: string) =>
    testConfig(
      dir,
      [
        'server:\n  port: 0',
        'measures:\n  lookup-test: { enabled: true }\n  cc-detection: ' +
          '{ enabled: true }\n  cc-sharing: ' +
          '{ enabled: true }\n  ddos-dns-blocking: { enabled: true }',
        'ingest:\n  flows:\n    listeners: [{ host: "127.0.0.1", ' +
          'port: 0 }]\n  radius:\n    listeners: ' +
          ('[{ host: "127.0.0.1", port: 0 }]\n    clients: [{ ' + 'address: "127.0.0.1", secret: "testing123", ') +
          'name: "bras1" }]\n    interimTimeout: 1h',
      ].join('\n'),
    );
  const port = () => server.radius!.addresses[0]!.port;
  const at = (s: number) => new Date(s * 1000);

  before(async () => {
    dataDir = join(tempDir(), 'data');
    server = await serve(config(dataDir), { measures, out: new PassThrough(), logger: createLogger('silent') });
    lookup = await server.mamori.broker.forMeasure('lookup-test').action<SubscriberLookup>('subscriber-lookup');
  });
  after(() => server?.close());

  it('answers Start, Interim-Update and Stop, and the index follows them', async () => {
    const start = await acct(
      port(),
      `Acct-Status-Type = Start\nUser-Name = "alice@isp"\nAcct-Session-Id ` +
        `= "s-1"\nFramed-IP-Address ` +
        `= 100.64.0.10\nNAS-IP-Address = 127.0.0.1\nEvent-Timestamp = ${T0}\n`,
    );
    assert.equal(start.status, 0, start.out);
    assert.match(start.out, /Accounting-Response/);
    assert.equal(
      (
        await acct(
          port(),
          `Acct-Status-Type = Interim-Update\nUser-Name = "alice@isp"\nAcct-Session-Id ` +
            `= "s-1"\nFramed-IP-Address ` +
            `= 100.64.0.10\nEvent-Timestamp = ${T0 + 3000}\n`,
        )
      ).status,
      0,
    );
    assert.equal(
      (
        await acct(
          port(),
          `Acct-Status-Type = Stop\nUser-Name = "alice@isp"\nAcct-Session-Id ` +
            `= "s-1"\nFramed-IP-Address ` +
            (`= 100.64.0.10\nEvent-Timestamp = ${T0 + 5000}\nAcct-Session-Time ` + `= 5000\nAcct-Input-Octets = 12345\n`),
        )
      ).status,
      0,
    );
    // The address goes to bob afterwards: reuse.
    assert.equal(
      (
        await acct(
          port(),
          `Acct-Status-Type = Start\nUser-Name = "bob@isp"\nAcct-Session-Id ` +
            `= "s-2"\nFramed-IP-Address ` +
            `= 100.64.0.10\nEvent-Timestamp = ${T0 + 6000}\n`,
        )
      ).status,
      0,
    );
    await server.radius!.settled();
    assert.deepEqual(await lookup.lookup({ caseId: 'case-1', address: '100.64.0.10', at: at(T0 + 100) }), {
      found: true,
      subscriber: 'alice@isp',
      start: T0,
      end: T0 + 5000,
    });
    assert.deepEqual(await lookup.lookup({ caseId: 'case-1', address: '100.64.0.10', at: at(T0 + 7000) }), {
      found: true,
      subscriber: 'bob@isp',
      start: T0 + 6000,
      end: null,
    });
    assert.deepEqual(await lookup.lookup({ caseId: 'case-1', address: '100.64.0.10', at: at(T0 + 5500) }), {
      found: false,
      reason: 'no-session',
    });
    assert.deepEqual(await lookup.lookup({ caseId: 'case-1', address: '100.64.0.11', at: at(T0 + 100) }), {
      found: false,
      reason: 'no-session',
    });
  });

  it('indexes delegated IPv6 prefixes: any address inside answers', async () => {
    assert.equal(
      (
        await acct(
          port(),
          `Acct-Status-Type = Start\nUser-Name = "carol@isp"\nAcct-Session-Id ` +
            `= "s-3"\nDelegated-IPv6-Prefix ` +
            `= 2001:db8:100::/56\nEvent-Timestamp = ${T0}\n`,
        )
      ).status,
      0,
    );
    await server.radius!.settled();
    const r = await lookup.lookup({ caseId: 'case-2', address: '2001:db8:100:ff::1', at: at(T0 + 60) });
    assert.equal(r.found && r.subscriber, 'carol@isp');
    assert.equal((await lookup.lookup({ caseId: 'case-2', address: '2001:db8:101::1', at: at(T0 + 60) })).found, false);
  });

  it('leaves a packet with the wrong secret unanswered, and counts it', async () => {
    const before = server.radius!.status().dropped.authenticator ?? 0;
    const r = await acct(
      port(),
      `Acct-Status-Type = Start\nUser-Name = "mallory"\nAcct-Session-Id = "s-9"\nFramed-IP-Address = 100.64.0.99\n`,
      'wrong-secret',
    );
    assert.notEqual(r.status, 0, 'radclient got an answer to a forged packet');
    await server.radius!.settled();
    assert.ok((server.radius!.status().dropped.authenticator ?? 0) > before);
  });

  it('answers a retransmission again but applies it once; counts garbage without crashing', async () => {
    const pkt = encodeAccounting(
      { identifier: 77, statusType: STATUS.START, userName: 'dave@isp', sessionId: 's-4', framedIp: '100.64.0.20', eventTimestamp: T0 },
      Buffer.from(SECRET),
    );
    const sock = dgram.createSocket('udp4');
    const answers: Buffer[] = [];
    sock.on('message', (m) => answers.push(m));
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const send = (b: Buffer) => new Promise<void>((r, j) => sock.send(b, port(), '127.0.0.1', (e) => (e ? j(e) : r())));
    const s0 = server.radius!.status();
    await send(pkt);
    await send(pkt);
    for (const junk of [
      Buffer.alloc(3),
      Buffer.from([4, 1, 0, 200, ...Array(16).fill(0)]),
      Buffer.concat([pkt.subarray(0, 20), Buffer.from([1, 40])]),
    ])
      await send(junk);
    for (let i = 0; i < 50 && answers.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    sock.close();
    await server.radius!.settled();
    const s1 = server.radius!.status();
    assert.equal(answers.length, 2, 'both copies answered');
    assert.ok(answers[0]!.equals(answers[1]!));
    assert.equal(s1.duplicates - s0.duplicates, 1);
    assert.equal(s1.applied - s0.applied, 1);
    assert.ok((s1.dropped.short ?? 0) >= 1 && (s1.dropped.length ?? 0) >= 1);
  });

  it('refuses the lookup to M1, M2 and M6, which may not identify subscribers, and audits every lookup with its case only', async () => {
    for (const id of ['cc-detection', 'cc-sharing', 'ddos-dns-blocking']) {
      await assert.rejects(
        server.mamori.broker.forMeasure(id).action('subscriber-lookup'),
        (err: unknown) => err instanceof CapabilityRefusedError && /may not identify subscribers/.test(err.message),
      );
    }
    const entries = [];
    for await (const e of server.mamori.audit.entries()) entries.push(e);
    const lookups = entries.filter((e) => e.action === 'subscriber.lookup');
    assert.ok(lookups.length >= 6);
    assert.ok(
      lookups.every(
        (e) => e.measure === 'lookup-test' && e.caseId?.startsWith('case-') && !/\d+\.\d+\.\d+\.\d+|alice|bob/.test(JSON.stringify(e)),
      ),
    );
    assert.equal(entries.filter((e) => e.action === 'capability.refused' && e.object === 'capability:subscriber-lookup').length, 3);
    await assert.rejects(lookup.lookup({ caseId: 'no spaces allowed', address: '100.64.0.10', at: at(T0) }), /names the case/);
    assert.deepEqual(await lookup.lookup({ caseId: 'case-3', address: '100.64.0.10', at: new Date('2000-01-01T00:00:00Z') }), {
      found: false,
      reason: 'outside-retention',
    });
  });

  it('closes every session of a NAS on Accounting-On, and keeps the index across a restart', async () => {
    assert.equal(
      (await acct(port(), `Acct-Status-Type = Accounting-On\nNAS-IP-Address = 127.0.0.1\nEvent-Timestamp = ${T0 + 8000}\n`)).status,
      0,
    );
    await server.radius!.settled();
    assert.equal(
      (await lookup.lookup({ caseId: 'case-4', address: '100.64.0.10', at: at(T0 + 9000) })).found,
      false,
      "bob's session ended when the NAS restarted",
    );
    await server.close();
    server = await serve(config(dataDir), { measures, out: new PassThrough(), logger: createLogger('silent') });
    lookup = await server.mamori.broker.forMeasure('lookup-test').action<SubscriberLookup>('subscriber-lookup');
    assert.deepEqual(await lookup.lookup({ caseId: 'case-5', address: '100.64.0.10', at: at(T0 + 100) }), {
      found: true,
      subscriber: 'alice@isp',
      start: T0,
      end: T0 + 5000,
    });
    assert.deepEqual(await lookup.lookup({ caseId: 'case-5', address: '100.64.0.10', at: at(T0 + 7000) }), {
      found: true,
      subscriber: 'bob@isp',
      start: T0 + 6000,
      end: T0 + 8000,
    });
  });
});

describe('RADIUS accounting from a NAS it does not know', () => {
  it('neither answers nor applies, and counts the packet', async () => {
    const index = new SessionIndex({ interimTimeoutSeconds: 3600 });
    const server = await RadiusAccountingServer.start(
      { listeners: [{ host: '127.0.0.1', port: 0 }], clients: [{ address: '127.0.0.2', secret: SECRET }] },
      index,
    );
    try {
      const sock = dgram.createSocket('udp4');
      const answers: Buffer[] = [];
      sock.on('message', (m) => answers.push(m));
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
      const pkt = encodeAccounting(
        { identifier: 1, statusType: STATUS.START, userName: 'eve', sessionId: 'x', framedIp: '100.64.9.9' },
        Buffer.from(SECRET),
      );
      await new Promise<void>((r, j) => sock.send(pkt, server.addresses[0]!.port, '127.0.0.1', (e) => (e ? j(e) : r())));
      await new Promise((r) => setTimeout(r, 200));
      await server.settled();
      sock.close();
      assert.equal(answers.length, 0);
      assert.equal(server.status().dropped['unknown-nas'], 1);
      assert.equal(index.lookup('100.64.9.9', Math.floor(Date.now() / 1000)).found, false);
    } finally {
      await server.stop();
    }
  });
});
