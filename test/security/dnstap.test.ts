/**
 * Issue 16, Medium 2: dnstap over TCP heard anyone, timed nothing out and
 * trusted the resolver's clock. Against M6 in a running server, on loopback:
 * 127.0.0.2 and 127.0.0.3 are not resolvers, 127.0.0.1 is.
 *  - a stranger's frames (attack names) became M6 evidence;
 *  - 70 idle connections from a stranger locked the resolver out (the 65th
 *    and later were reset, nothing timed the idle ones out);
 *  - frames dated year 3005 were taken (an M6 decision pending for ever);
 *  - the unix socket was 0666: any local user could write to it.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { CONTROL, controlFrame, dataFrame, DNSTAP_CONTENT_TYPE } from '../../src/ingest/dnstap/frame-stream.js';
import { dnstapFrame, sendDnstap } from '../support/dnstap.js';
import { tempDir, testConfig } from '../support/fixtures.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowSec = () => Math.floor(Date.now() / 1000);
/** Machine-made names under one domain, as a water-torture attack (what M6 would turn into a candidate). */
const attackFrames = (n: number, timeSec = nowSec()) =>
  Array.from({ length: n }, (_, i) =>
    dnstapFrame({
      type: i % 2 ? 6 : 5,
      client: '198.51.100.9',
      qname: `x${(i * 7919).toString(36)}q.victim.example`,
      rcode: 2,
      timeSec,
      identity: 'resolver-x',
    }),
  );

interface ReceiverView {
  connections: number;
  events: number;
  frames: number;
  errors: Record<string, number>;
}

describe('security: dnstap hears only resolvers, times out idle connections, bounds event time', () => {
  const dir = tempDir();
  const socket = join(dir, 'dnstap.sock');
  let server: Server;
  let port: number;
  let noc: string;
  const group = process.getuid?.() === 0 ? 'daemon' : String(process.getgid?.() ?? 0);

  const receiver = async (): Promise<ReceiverView> => {
    const r = await server.app.inject({
      method: 'GET',
      url: '/api/v1/measures/ddos-dns-blocking/attacks',
      headers: { authorization: `Bearer ${noc}` },
    });
    assert.equal(r.statusCode, 200, r.body);
    return (JSON.parse(r.body) as { receiver: ReceiverView }).receiver;
  };
  const from = (localAddress: string): net.NetConnectOpts => ({ host: '127.0.0.1', port, localAddress });
  /** Opens a connection and keeps it idle; resolves `closed` when the server closes it. */
  const idle = (localAddress: string) => {
    const s = net.connect(from(localAddress));
    s.on('error', () => {});
    return { socket: s, closed: new Promise<void>((r) => s.once('close', () => r())) };
  };

  before(async () => {
    const config = testConfig(
      join(dir, 'data'),
      [
        'server:\n  port: 0',
        'rpz:',
        '  primary: { host: 127.0.0.1, port: 0 }',
        '  transferTo: [127.0.0.1]',
        'measures:',
        '  ddos-dns-blocking:',
        '    enabled: true',
        `    dnstap: { unix: [${JSON.stringify(socket)}], unixGroup: ${group}, tcp: [{ host: 127.0.0.1, port: 0 }], allow: [127.0.0.1],`,
        '              maxConnectionsPerSource: 4, handshakeTimeout: 1s, idleTimeout: 2s }',
        '    zone: ddos.rpz.isp.test',
      ].join('\n'),
    );
    server = await serve(config, { out: new PassThrough(), logger: createLogger('silent') });
    noc = (await server.mamori.accounts.createToken('module:test', 'noc', 'operator')).token;
    port = Number(
      server.endpoints['ddos-dns-blocking']!.dnstap!.split(' ')
        .find((e) => e.startsWith('127.0.0.1:'))!
        .split(':')[1],
    );
  });
  after(async () => {
    await server?.close();
  });

  it('takes nothing from an address that is not a resolver', async () => {
    const before = await receiver();
    await assert.rejects(sendDnstap(from('127.0.0.2'), attackFrames(300)), /closed before ACCEPT|ECONNRESET/);
    const after = await receiver();
    assert.equal(after.events, before.events, 'no injected event reached M6');
    assert.ok((after.errors['refused-address'] ?? 0) >= 1, JSON.stringify(after.errors));
  });

  it('stays open to the resolver while a stranger holds 70 idle connections', async () => {
    const held = Array.from({ length: 70 }, () => idle('127.0.0.3'));
    try {
      await sleep(200);
      const before = await receiver();
      await sendDnstap(from('127.0.0.1'), attackFrames(20));
      let now = before;
      for (let i = 0; i < 50 && now.events < before.events + 20; i++) {
        await sleep(20);
        now = await receiver();
      }
      assert.equal(now.events, before.events + 20, "the resolver's frames arrived");
    } finally {
      for (const h of held) h.socket.destroy();
    }
  });

  it('caps connections per resolver and closes those that never finish the handshake', async () => {
    const before = await receiver();
    const held = Array.from({ length: 6 }, () => idle('127.0.0.1'));
    // Every one is closed by the server: two at once (cap of 4), four after the 1 s handshake timeout.
    const deadline = sleep(6000).then(() => 'timeout');
    assert.notEqual(
      await Promise.race([Promise.all(held.map((h) => h.closed)).then(() => 'closed'), deadline]),
      'timeout',
      'idle connections were closed',
    );
    const after = await receiver();
    assert.equal((after.errors['refused-source-cap'] ?? 0) - (before.errors['refused-source-cap'] ?? 0), 2, JSON.stringify(after.errors));
    assert.equal((after.errors['handshake-timeout'] ?? 0) - (before.errors['handshake-timeout'] ?? 0), 4, JSON.stringify(after.errors));
  });

  it('closes a resolver connection that goes silent after its handshake', async () => {
    const before = await receiver();
    const s = net.connect(from('127.0.0.1'));
    s.on('error', () => {});
    const closed = new Promise<number>((r) => s.once('close', () => r(Date.now())));
    s.once('connect', () => s.write(controlFrame(CONTROL.READY, [DNSTAP_CONTENT_TYPE])));
    s.once('data', () => s.write(Buffer.concat([controlFrame(CONTROL.START, [DNSTAP_CONTENT_TYPE]), dataFrame(attackFrames(1)[0]!)])));
    const opened = Date.now();
    const at = await Promise.race([closed, sleep(8000).then(() => 0)]);
    assert.ok(at > 0, 'the silent connection was closed');
    assert.ok(at - opened >= 1500, `closed after ${at - opened} ms: the idle timeout is 2 s`);
    const after = await receiver();
    assert.equal((after.errors['idle-timeout'] ?? 0) - (before.errors['idle-timeout'] ?? 0), 1, JSON.stringify(after.errors));
  });

  it('drops and counts events dated far from their arrival (year 3005, two hours ago)', async () => {
    const before = await receiver();
    const y3005 = Math.floor(Date.UTC(3005, 0, 1) / 1000);
    await sendDnstap(from('127.0.0.1'), [...attackFrames(50, y3005), ...attackFrames(10, nowSec() - 7200)]);
    let after = before;
    for (let i = 0; i < 50 && after.frames < before.frames + 60; i++) {
      await sleep(20);
      after = await receiver();
    }
    assert.equal(after.frames, before.frames + 60);
    assert.equal(after.events, before.events, 'none of them reached the detectors');
    assert.equal((after.errors['clock-skew'] ?? 0) - (before.errors['clock-skew'] ?? 0), 60, JSON.stringify(after.errors));
  });

  it('makes the unix socket 0660, owned by the configured group', () => {
    const st = statSync(socket);
    assert.equal((st.mode & 0o777).toString(8), '660');
    if (group === 'daemon') assert.equal(st.gid, 1);
  });
});
