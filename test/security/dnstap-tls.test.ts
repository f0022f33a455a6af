/**
 * Issue 16, Medium 2 (TLS): dnstap over TCP with TLS and client certificates,
 * Unbound 1.17 as the real resolver (dnstap-tls with its client key and
 * certificate). A client with no certificate, one from another CA, or plain
 * TCP from the resolver's own address, is closed and counted; Unbound's
 * frames arrive under its identity.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { kdig } from '../support/bind.js';
import { dnstapFrame, sendDnstap } from '../support/dnstap.js';
import { tempDir, testConfig } from '../support/fixtures.js';
import { have } from '../support/flow-peers.js';
import { freePort } from '../support/freeradius.js';
import { makePki, type TestPki } from '../support/tls.js';
import { startUnbound, type Unbound } from '../support/unbound.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
interface ReceiverView {
  connections: number;
  events: number;
  errors: Record<string, number>;
}

describe(
  'security: dnstap over TLS with client certificates, Unbound as the resolver',
  { skip: !(have('unbound') && have('kdig') && have('openssl')) && 'unbound, knot-dnsutils or openssl not installed' },
  () => {
    const dir = tempDir();
    let pki: TestPki;
    let server: Server;
    let unbound: Unbound | undefined;
    let port: number;
    let unboundPort: number;
    let noc: string;

    const receiver = async (): Promise<ReceiverView> => {
      const r = await server.app.inject({
        method: 'GET',
        url: '/api/v1/measures/ddos-dns-blocking/attacks',
        headers: { authorization: `Bearer ${noc}` },
      });
      return (JSON.parse(r.body) as { receiver: ReceiverView }).receiver;
    };
    const frames = () =>
      Array.from({ length: 10 }, (_, i) =>
        dnstapFrame({ type: 5, client: '198.51.100.9', qname: `n${i}.victim.example`, timeSec: Math.floor(Date.now() / 1000) }),
      );

    before(async () => {
      mkdirSync(join(dir, 'pki'));
      pki = makePki(join(dir, 'pki'), 'mamori.test');
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
          `    dnstap: { tcp: [{ host: 127.0.0.1, port: 0 }], ` +
            `allow: [127.0.0.1], tls: { cert: ${JSON.stringify(pki.serverCert)}, ` +
            `key: ${JSON.stringify(pki.serverKey)}, ca: ${JSON.stringify(pki.ca)} } }`,
          '    zone: ddos.rpz.isp.test',
        ].join('\n'),
      );
      server = await serve(config, { out: new PassThrough(), logger: createLogger('silent') });
      noc = (await server.mamori.accounts.createToken('module:test', 'noc', 'operator')).token;
      port = Number(server.endpoints['ddos-dns-blocking']!.dnstap!.split(':').pop());
      const client = pki.client('unbound');
      unboundPort = await freePort();
      mkdirSync(join(dir, 'u'));
      unbound = await startUnbound(join(dir, 'u'), {
        port: unboundPort,
        rpzZone: '',
        primaryPort: 0,
        forwardPort: await freePort(),
        extra: [
          'server:',
          '\tlocal-zone: "lab.example." static',
          '\tlocal-data: "a.lab.example. A 192.0.2.1"',
          'dnstap:',
          '\tdnstap-enable: yes',
          '\tdnstap-bidirectional: yes',
          `\tdnstap-ip: 127.0.0.1@${port}`,
          '\tdnstap-tls: yes',
          '\tdnstap-tls-server-name: "mamori.test"',
          `\tdnstap-tls-cert-bundle: "${pki.ca}"`,
          `\tdnstap-tls-client-key-file: "${client.key}"`,
          `\tdnstap-tls-client-cert-file: "${client.cert}"`,
          '\tdnstap-send-identity: yes',
          '\tdnstap-identity: "resolver-tls"',
          '\tdnstap-log-client-query-messages: yes',
          '\tdnstap-log-client-response-messages: yes',
        ].join('\n'),
      });
    });
    after(async () => {
      await unbound?.stop();
      await server?.close();
    });

    it("receives Unbound's dnstap over TLS with its client certificate", async () => {
      const before = await receiver();
      let now = before;
      for (let i = 0; i < 50 && now.events < before.events + 2; i++) {
        assert.match(await kdig(['@127.0.0.1', '-p', String(unboundPort), `q${i}.a.lab.example`, 'A']), /status: NXDOMAIN|status: NOERROR/);
        await sleep(100);
        now = await receiver();
      }
      assert.ok(now.events >= before.events + 2, `events from Unbound: ${JSON.stringify(now)}`);
      assert.ok(now.connections >= 1);
      assert.equal(now.errors['tls-failed'] ?? 0, 0, JSON.stringify(now.errors));
    });

    it('closes a client with no certificate, one from another CA, and plain TCP — counted, nothing taken', async () => {
      const before = await receiver();
      const other = makePki(join(dir, 'pki'), 'mamori.test', 'other-ca').client('intruder');
      const attempts: Array<() => tls.TLSSocket | import('node:net').NetConnectOpts> = [
        () => tls.connect({ host: '127.0.0.1', port, servername: 'mamori.test', ca: readFileSync(pki.ca) }),
        () =>
          tls.connect({
            host: '127.0.0.1',
            port,
            servername: 'mamori.test',
            ca: readFileSync(pki.ca),
            cert: readFileSync(other.cert),
            key: readFileSync(other.key),
          }),
      ];
      for (const a of attempts) await assert.rejects(sendDnstap(a as () => tls.TLSSocket, frames()));
      await assert.rejects(sendDnstap({ host: '127.0.0.1', port }, frames()), /closed before ACCEPT|ECONNRESET/);
      let after = await receiver();
      for (let i = 0; i < 50 && (after.errors['tls-failed'] ?? 0) < (before.errors['tls-failed'] ?? 0) + 3; i++) {
        await sleep(20);
        after = await receiver();
      }
      assert.equal((after.errors['tls-failed'] ?? 0) - (before.errors['tls-failed'] ?? 0), 3, JSON.stringify(after.errors));
      // Unbound keeps sending meanwhile: only its events may have arrived, none of the 30 test names.
      assert.ok(after.events - before.events < 30);
    });
  },
);
