/**
 * Issue 16, Low: the RADIUS and DNS-primary drop counters existed but were
 * exposed nowhere. Against a running server (M3, M4 and M6, RADIUS), each
 * listener is made to refuse something real — a DNS query from an address
 * that is no secondary, RADIUS from an unknown NAS and with a wrong secret,
 * dnstap from an address not allowed and dated year 3005 — and the refusals
 * must show, by reason, on /metrics and on /api/v1/listeners, with the same
 * figures.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { dnstapFrame, sendDnstap } from '../support/dnstap.js';
import { tempDir, testConfig } from '../support/fixtures.js';

const SECRET = 'acct-secret';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An Accounting-Request Start (RFC 2866 §3), signed with `secret`. */
function accounting(secret: string, n: number): Buffer {
  const attrs = [
    Buffer.from([40, 6, 0, 0, 0, 1]),
    Buffer.concat([Buffer.from([1, 2 + `u${n}`.length]), Buffer.from(`u${n}`)]),
    Buffer.concat([Buffer.from([44, 2 + `s${n}`.length]), Buffer.from(`s${n}`)]),
    Buffer.from([8, 6, 100, 64, 9, n & 255]),
  ];
  const body = Buffer.concat(attrs);
  const p = Buffer.alloc(20 + body.length);
  p[0] = 4;
  p[1] = n & 255;
  p.writeUInt16BE(p.length, 2);
  body.copy(p, 20);
  createHash('md5').update(p.subarray(0, 4)).update(Buffer.alloc(16)).update(p.subarray(20)).update(secret).digest().copy(p, 4);
  return p;
}

const sendFrom = async (localAddress: string, port: number, bytes: Buffer) => {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, localAddress, () => r()));
  await new Promise<void>((r, j) => s.send(bytes, port, '127.0.0.1', (e) => (e ? j(e) : r())));
  s.close();
};

describe("security: every listener's refusals on /metrics and the API", () => {
  let server: Server;
  let noc: string;

  before(async () => {
    const config = testConfig(
      join(tempDir(), 'data'),
      [
        'server:\n  port: 0',
        'rpz:',
        '  primary: { host: 127.0.0.1, port: 0 }',
        '  transferTo: [127.0.0.1]',
        'measures:',
        '  credential-misuse: { enabled: true }',
        '  cc-dns-blocking:',
        '    enabled: true',
        '    notice: { optOut: "https://member.isp.example.jp/dns", support: "0120-000-000", unfilteredResolver: "192.0.2.21" }',
        '  ddos-dns-blocking:',
        '    enabled: true',
        '    dnstap: { tcp: [{ host: 127.0.0.1, port: 0 }], allow: [127.0.0.1] }',
        `ingest:\n  radius:\n    listeners: [{ host: "127.0.0.1", ` +
          `port: 0 }]\n    clients: [{ address: ` +
          `"127.0.0.1", secret: "${SECRET}", name: "bras1" }]`,
      ].join('\n'),
    );
    server = await serve(config, { out: new PassThrough(), logger: createLogger('silent') });
    noc = (await server.mamori.accounts.createToken('module:test', 'noc', 'operator')).token;
  });
  after(async () => {
    await server?.close();
  });

  it('shows RPZ, RADIUS and dnstap refusals by reason, the same on both', async () => {
    const m3Port = Number(server.endpoints['cc-dns-blocking']!.rpzPrimary!.split(':').pop());
    const m6Port = Number(server.endpoints['ddos-dns-blocking']!.rpzPrimary!.split(':').pop());
    // One RPZ primary, the core's, serves both measures' zones: one port, one listener, one count.
    assert.equal(m3Port, m6Port);
    const dnstapPort = Number(server.endpoints['ddos-dns-blocking']!.dnstap!.split(':').pop());
    const radiusPort = server.radius!.addresses[0]!.port;
    const query = dnsPacket.encode({
      type: 'query',
      id: 1,
      questions: [{ name: '32.2.1.64.100.rpz-client-ip.optout.rpz.mamori', type: 'CNAME' }],
    });
    for (let i = 0; i < 3; i++) await sendFrom('127.0.0.2', m3Port, query);
    await sendFrom('127.0.0.2', m6Port, query);
    for (let i = 0; i < 2; i++) await sendFrom('127.0.0.2', radiusPort, accounting(SECRET, i)); // unknown NAS
    await sendFrom('127.0.0.1', radiusPort, accounting('not-the-secret', 9)); // known NAS, wrong secret
    await assert.rejects(sendDnstap({ host: '127.0.0.1', port: dnstapPort, localAddress: '127.0.0.2' }, []));
    const y3005 = Math.floor(Date.UTC(3005, 0, 1) / 1000);
    await sendDnstap(
      { host: '127.0.0.1', port: dnstapPort },
      Array.from({ length: 5 }, (_, i) => dnstapFrame({ type: 5, client: '192.0.2.1', qname: `n${i}.example`, timeSec: y3005 })),
    );
    await server.radius!.settled();

    const want: Array<[string, string, string, number]> = [
      ['server', 'rpz-primary', 'address', 4],
      ['server', 'radius', 'unknown-nas', 2],
      ['server', 'radius', 'authenticator', 1],
      ['ddos-dns-blocking', 'dnstap', 'refused-address', 1],
      ['ddos-dns-blocking', 'dnstap', 'clock-skew', 5],
    ];
    let metrics = '';
    for (let i = 0; i < 50; i++) {
      const r = await server.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${noc}` } });
      assert.equal(r.statusCode, 200);
      metrics = r.body;
      if (
        want.every(([o, l, reason, n]) =>
          metrics.includes(`mamori_listener_refused_total{owner="${o}",listener="${l}",reason="${reason}"} ${n}`),
        )
      )
        break;
      await sleep(50);
    }
    for (const [o, l, reason, n] of want) {
      assert.ok(
        metrics.includes(`mamori_listener_refused_total{owner="${o}",listener="${l}",reason="${reason}"} ${n}`),
        `${o} ${l} ${reason} ${n}:\n${metrics
          .split('\n')
          .filter((x) => x.startsWith('mamori_listener'))
          .join('\n')}`,
      );
    }
    assert.match(metrics, /mamori_listener_count\{owner="server",listener="radius",kind="packets"\} 3\n/, 'three RADIUS packets came in');

    const api = await server.app.inject({ method: 'GET', url: '/api/v1/listeners', headers: { authorization: `Bearer ${noc}` } });
    assert.equal(api.statusCode, 200, api.body);
    const listeners = (JSON.parse(api.body) as { listeners: Array<{ owner: string; listener: string; refused: Record<string, number> }> })
      .listeners;
    for (const [o, l, reason, n] of want)
      assert.equal(listeners.find((x) => x.owner === o && x.listener === l)?.refused[reason], n, `${o} ${l} ${reason}`);
    // Nothing that names a subscriber, a client or a name appears among the labels.
    assert.doesNotMatch(
      metrics
        .split('\n')
        .filter((x) => x.startsWith('mamori_listener'))
        .join('\n'),
      /127\.0\.0\.2|100\.64|rpz-client-ip|example/,
    );
    const auditor = (await server.mamori.accounts.createToken('module:test', 'audit', 'auditor')).token;
    assert.equal(
      (await server.app.inject({ method: 'GET', url: '/api/v1/listeners', headers: { authorization: `Bearer ${auditor}` } })).statusCode,
      403,
      'as /metrics: admin and operator',
    );
  });
});
