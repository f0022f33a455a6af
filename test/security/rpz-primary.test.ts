/**
 * Issue 16, Medium 1: the RPZ primary answered anyone. A subscriber opts out
 * (M3), their session comes in by RADIUS (radclient), and the opt-out zone
 * gets `32.2.1.64.100.rpz-client-ip.<zone>` — then a plain query for that
 * name from an address that is no secondary told the world that 100.64.1.2
 * belongs to an opted-out subscriber, and a valid TSIG key from such an
 * address transferred the whole zone. kdig is the client (a real DNS tool,
 * its own TSIG); 127.0.0.2 plays the outsider, 127.0.0.1 the secondary.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { kdig } from '../support/bind.js';
import { have } from '../support/flow-peers.js';
import { radclient } from '../support/freeradius.js';
import { tempDir, testConfig } from '../support/fixtures.js';

const KEY = { name: 'mamori-xfr', secret: randomBytes(32).toString('base64') };
const OPTED_OUT = '32.2.1.64.100.rpz-client-ip.optout.rpz.isp.test';

describe(
  'security: the RPZ primary answers only its secondaries',
  { skip: !(have('kdig') && have('radclient')) && 'knot-dnsutils or radclient not installed' },
  () => {
    let server: Server;
    let port: number;
    const dir = tempDir();

    before(async () => {
      const config = testConfig(
        join(dir, 'data'),
        [
          'server:\n  port: 0',
          'rpz:',
          '  primary: { host: 127.0.0.1, port: 0 }',
          '  transferTo: [127.0.0.1]',
          `  tsig: [{ name: ${KEY.name}, secret: "${KEY.secret}" }]`,
          'measures:',
          '  cc-dns-blocking:',
          '    enabled: true',
          '    notice: { optOut: "https://member.isp.example.jp/dns", support: "0120-000-000", unfilteredResolver: "192.0.2.21" }',
          '    zones: { cc: cc.rpz.isp.test, optOut: optout.rpz.isp.test }',
          'ingest:\n  radius:\n    listeners: [{ host: "127.0.0.1", ' +
            'port: 0 }]\n    clients: [{ address: ' +
            '"127.0.0.1", secret: "acct-secret", name: "bras1" }]',
        ].join('\n'),
      );
      server = await serve(config, { out: new PassThrough(), logger: createLogger('silent') });
      port = Number(server.endpoints['cc-dns-blocking']!.rpzPrimary!.split(':').pop());
      const support = (await server.mamori.accounts.createToken('module:test', 'support-desk', 'operator')).token;
      const r = await server.app.inject({
        method: 'PUT',
        url: '/api/v1/measures/cc-dns-blocking/consent/sub-7@isp',
        headers: { authorization: `Bearer ${support}` },
        payload: { choice: 'opt-out', channel: 'support-desk' },
      });
      assert.equal(r.statusCode, 200, r.body);
      const start =
        `Acct-Status-Type = Start\nUser-Name = "sub-7@isp"\nAcct-Session-Id ` +
        `= "s7"\nFramed-IP-Address ` +
        `= 100.64.1.2\nEvent-Timestamp = ${Math.floor(Date.now() / 1000)}\n`;
      assert.equal((await radclient(server.radius!.addresses[0]!.port, 'acct', 'acct-secret', start)).status, 0);
      // The opt-out zone follows sessions twice a second: wait until the secondary sees the record.
      let seen = '';
      for (let i = 0; i < 50 && !/rpz-passthru/.test(seen); i++) {
        await new Promise((res) => setTimeout(res, 100));
        seen = await dig('127.0.0.1', OPTED_OUT, 'CNAME', true);
      }
      assert.match(seen, /rpz-passthru/, 'the secondary (address and key) still gets its answers');
    });
    after(async () => {
      await server?.close();
    });

    const dig = (from: string, name: string, type: string, signed: boolean, tcp = false) =>
      kdig([
        '@127.0.0.1',
        '-p',
        String(port),
        '-b',
        from,
        ...(signed ? ['-y', `hmac-sha256:${KEY.name}:${KEY.secret}`] : []),
        ...(tcp ? ['+tcp'] : []),
        name,
        type,
      ]);

    it('refuses a plain query from an address that is no secondary: the opt-out stays unknown', async () => {
      const outsider = await dig('127.0.0.2', OPTED_OUT, 'CNAME', false);
      assert.match(outsider, /status: REFUSED/);
      assert.doesNotMatch(outsider, /rpz-passthru/);
      assert.match(await dig('127.0.0.2', 'optout.rpz.isp.test', 'SOA', false), /status: REFUSED/);
      assert.match(await dig('127.0.0.2', 'cc.rpz.isp.test', 'SOA', false), /status: REFUSED/, 'the cc zone too');
    });

    it('refuses a transfer signed with the right key from an address that is no secondary', async () => {
      const axfr = await dig('127.0.0.2', 'optout.rpz.isp.test', 'AXFR', true);
      assert.doesNotMatch(axfr, /rpz-client-ip/);
      assert.doesNotMatch(axfr, /SOA/);
      assert.doesNotMatch(await dig('127.0.0.2', OPTED_OUT, 'CNAME', true), /rpz-passthru/);
    });

    it("refuses an unsigned query from the secondary's address while keys are set", async () => {
      assert.match(await dig('127.0.0.1', OPTED_OUT, 'CNAME', false), /status: REFUSED/);
      const axfr = await dig('127.0.0.1', 'optout.rpz.isp.test', 'AXFR', false);
      assert.doesNotMatch(axfr, /rpz-client-ip/);
    });

    it('still serves the secondary: signed SOA (refresh), signed AXFR', async () => {
      assert.match(await dig('127.0.0.1', 'optout.rpz.isp.test', 'SOA', true), /status: NOERROR[\s\S]*IN\s+SOA/);
      assert.match(
        await dig('127.0.0.1', 'optout.rpz.isp.test', 'AXFR', true),
        /32\.2\.1\.64\.100\.rpz-client-ip\.optout\.rpz\.isp\.test\.\s+60\s+IN\s+CNAME\s+rpz-passthru\./,
      );
    });
  },
);
