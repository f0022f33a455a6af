/**
 * M3 in the server, end to end with real peers on loopback: analysts' entries
 * and an imported list make the `cc` zone; BIND 9.18 transfers it from
 * Mamori's primary (TSIG) and blocks the names; a subscriber's session comes in
 * as RADIUS accounting (radclient); the subscriber opts out through the consent
 * API and, from their address only, the listed name resolves again — then opts
 * back in and is protected again. Withdrawing an entry unblocks it for all.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { have } from '../support/flow-peers.js';
import { freePort, radclient } from '../support/freeradius.js';
import { tempDir, testConfig } from '../support/fixtures.js';
import { kdig, startNamed, type Named } from '../support/bind.js';
import type { UntypedDb } from '../../src/store/state/untyped.js';

const ACCT_SECRET = 'acct-secret';
const acct = async (port: number, attributes: string) => (await radclient(port, 'acct', ACCT_SECRET, attributes)).status;

describe(
  'M3 in the server with BIND as the resolver',
  { skip: !(have('named') && have('kdig') && have('radclient')) && 'bind9, knot-dnsutils or radclient not installed' },
  () => {
    let server: Server;
    let named: Named | undefined;
    let bindPort: number;
    let analyst: string;
    let support: string;
    let aaa: string;
    const KEY = { name: 'mamori-xfr', secret: randomBytes(32).toString('base64') };
    const dir = tempDir();

    const call = async (method: 'GET' | 'POST' | 'PUT', url: string, token: string, payload?: object) => {
      const r = await server.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });
      return {
        status: r.statusCode,
        body: r.headers['content-type']?.toString().startsWith('application/json')
          ? (JSON.parse(r.body) as Record<string, any>)
          : (r.body as unknown as Record<string, any>),
      };
    };
    const ask = (name: string, from = '127.0.0.1') => kdig([`@127.0.0.1`, '-p', String(bindPort), '-b', from, name, 'A']);
    const until = async (name: string, from: string, want: RegExp, ms = 10_000) => {
      let last = '';
      for (const deadline = Date.now() + ms; Date.now() < deadline;) {
        last = await ask(name, from);
        if (want.test(last)) return last;
        await new Promise((r) => setTimeout(r, 200));
      }
      return last;
    };

    before(async () => {
      bindPort = await freePort();
      const config = testConfig(
        join(dir, 'data'),
        [
          'server:\n  port: 0',
          'rpz:',
          '  primary: { host: 127.0.0.1, port: 0 }',
          '  transferTo: [127.0.0.1]',
          `  notify: [{ host: 127.0.0.1, port: ${bindPort} }]`,
          `  tsig: [{ name: ${KEY.name}, secret: "${KEY.secret}" }]`,
          'measures:',
          '  cc-dns-blocking:',
          '    enabled: true',
          '    unfilteredResolvers: { ipv4: [192.0.2.21, 192.0.2.22], ipv6: ["2001:db8::21"] }',
          `    resolverLogs: [{ name: bind1, path: ${JSON.stringify(join(dir, 'bind-rpz.log'))}, format: bind }]`,
          '    notice: { optOut: "https://member.isp.example.jp/dns", support: "0120-000-000", unfilteredResolver: "192.0.2.21" }',
          '    zones: { cc: cc.rpz.isp.test, optOut: optout.rpz.isp.test }',
          'ingest:\n  radius:\n    listeners: [{ host: "127.0.0.1", ' +
            'port: 0 }]\n    clients: [{ address: ' +
            '"127.0.0.1", secret: "acct-secret", name: "bras1" }]',
        ].join('\n'),
      );
      server = await serve(config, { out: new PassThrough(), logger: createLogger('silent') });
      analyst = (await server.mamori.accounts.createToken('module:test', 'soc', 'analyst')).token;
      support = (await server.mamori.accounts.createToken('module:test', 'support-desk', 'operator')).token;
      aaa = (await server.mamori.accounts.createToken('module:test', 'freeradius', 'aaa')).token;
      const primaryPort = Number(server.endpoints['cc-dns-blocking']!.rpzPrimary!.split(':').pop());
      named = await startNamed(dir, bindPort, {
        files: {
          'example.test.db':
            '$TTL 60\n@ IN SOA localhost. root.localhost. 1 60 ' +
            '30 600 60\n@ IN NS localhost.\ngood IN A ' +
            '192.0.2.10\nevil IN A 192.0.2.66\nc2.bad IN A 192.0.2.77\n',
        },
        options:
          '\trecursion yes;\n\tallow-recursion { 127.0.0.0/8; ' +
          '};\n\tresponse-policy { zone "optout.rpz.isp.test"; ' +
          'zone "cc.rpz.isp.test"; } recursive-only no min-update-interval 1;',
        zones: [
          `key "${KEY.name}" { algorithm hmac-sha256; secret "${KEY.secret}"; };`,
          'zone "example.test" { type primary; file "example.test.db"; };',
          ...['optout.rpz.isp.test', 'cc.rpz.isp.test'].map(
            (z) => `zone "${z}" { type secondary; primaries { 127.0.0.1 port ${primaryPort} key "${KEY.name}"; }; file "${z}.db"; };`,
          ),
        ].join('\n'),
        ready: /transfer of 'cc\.rpz\.isp\.test\/IN' from .*Transfer completed/,
      });
    });
    after(async () => {
      await named?.stop();
      await server?.close();
    });

    it("blocks an analyst's entry and an imported list at BIND, and leaves the rest alone", async () => {
      const added = await call('POST', '/api/v1/measures/cc-dns-blocking/entries', analyst, {
        name: 'evil.example.test',
        reason: 'C&C of a botnet seen by M1',
        validFor: '30d',
      });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      const list = await call('POST', '/api/v1/measures/cc-dns-blocking/lists', analyst, {
        source: 'partner-feed',
        format: 'domains',
        text: '# C&C\nbad.example.test\nnot a name\nlocalhost\n',
      });
      assert.equal(list.status, 200, JSON.stringify(list.body));
      assert.equal(list.body.added, 1);
      assert.deepEqual(
        list.body.skipped.map((s: { line: number }) => s.line),
        [3, 4],
        'bad lines are reported with their number',
      );
      assert.match(await until('evil.example.test', '127.0.0.1', /NXDOMAIN/), /status: NXDOMAIN/);
      assert.match(await until('c2.bad.example.test', '127.0.0.1', /NXDOMAIN/), /status: NXDOMAIN/, 'subdomains of a listed name too');
      assert.match(await ask('good.example.test'), /192\.0\.2\.10/);
    });

    it('refuses a bad entry with the reason, and entries only to analysts', async () => {
      const bad = await call('POST', '/api/v1/measures/cc-dns-blocking/entries', analyst, { name: 'com', reason: 'oops' });
      assert.equal(bad.status, 400);
      assert.match(bad.body.message, /top-level or reserved/);
      assert.equal(
        (await call('POST', '/api/v1/measures/cc-dns-blocking/entries', support, { name: 'x.example.test', reason: 'r' })).status,
        403,
      );
    });

    it('lets an opted-out subscriber through from their address only, and protects them again when they opt back in', async (t) => {
      const now = Math.floor(Date.now() / 1000);
      assert.equal(
        await acct(
          server.radius!.addresses[0]!.port,
          `Acct-Status-Type = Start\nUser-Name = "sub-42@isp"\nAcct-Session-Id ` +
            `= "s42"\nFramed-IP-Address ` +
            `= 127.0.0.2\nEvent-Timestamp = ${now}\n`,
        ),
        0,
      );
      await server.radius!.settled();
      const before = await call('GET', '/api/v1/measures/cc-dns-blocking/consent/sub-42@isp', support);
      assert.equal(before.body.choice, 'contract-default');
      assert.equal(before.body.blocked, true, 'comprehensive consent in the contract: blocked unless opted out');

      const changedAt = Date.now();
      const out = await call('PUT', '/api/v1/measures/cc-dns-blocking/consent/sub-42@isp', support, {
        choice: 'opt-out',
        channel: 'support-desk',
      });
      assert.equal(out.status, 200);
      assert.equal(out.body.blocked, false);
      const through = await until('evil.example.test', '127.0.0.2', /192\.0\.2\.66/);
      const took = Date.now() - changedAt;
      t.diagnostic(`opt-out to the real answer at BIND: ${took} ms (min-update-interval 1)`);
      assert.match(through, /192\.0\.2\.66/, 'the opted-out subscriber gets the real answer');
      assert.ok(took < 60_000, `opt-out took ${took} ms`);
      assert.match(await ask('evil.example.test', '127.0.0.1'), /NXDOMAIN/, 'everyone else is still protected');
      // The AAA alternative: at the next connection the opted-out subscriber gets the unfiltered resolvers.
      const userName = { 'User-Name': { type: 'string', value: ['sub-42@isp'] } };
      const assigned = await call('POST', '/api/v1/measures/cc-dns-blocking/aaa/post-auth', aaa, userName);
      assert.equal(assigned.status, 200);
      assert.deepEqual(assigned.body, {
        'reply:MS-Primary-DNS-Server': '192.0.2.21',
        'reply:MS-Secondary-DNS-Server': '192.0.2.22',
        'reply:DNS-Server-IPv6-Address': ['2001:db8::21'],
      });
      assert.equal(
        (await call('POST', '/api/v1/measures/cc-dns-blocking/aaa/post-auth', aaa, { 'User-Name': 'someone-else@isp' })).status,
        204,
        'everyone else: the default (filtering) resolvers',
      );
      assert.equal(
        (await call('POST', '/api/v1/measures/cc-dns-blocking/aaa/post-auth', support, userName)).status,
        403,
        'only the AAA calls it',
      );

      await call('PUT', '/api/v1/measures/cc-dns-blocking/consent/sub-42@isp', support, { choice: 'opt-in', channel: 'member-site' });
      assert.match(await until('evil.example.test', '127.0.0.2', /NXDOMAIN/), /NXDOMAIN/);
      const history = await call('GET', '/api/v1/measures/cc-dns-blocking/consent/sub-42@isp', support);
      assert.deepEqual(
        history.body.history.map((h: { choice: string; channel: string }) => [h.choice, h.channel]),
        [
          ['opt-out', 'support-desk'],
          ['opt-in', 'member-site'],
        ],
      );
    });

    it('unblocks a withdrawn entry for everyone', async () => {
      const { body } = await call('GET', '/api/v1/measures/cc-dns-blocking/entries?source=analyst', analyst);
      const id = body.entries.find((e: { name: string }) => e.name === 'evil.example.test').id;
      assert.equal(
        (await call('POST', `/api/v1/measures/cc-dns-blocking/entries/${id}/withdraw`, analyst, { reason: 'taken down' })).body.withdrawn,
        true,
      );
      assert.match(await until('evil.example.test', '127.0.0.1', /192\.0\.2\.66/), /192\.0\.2\.66/);
    });

    it('counts what BIND blocked per day and name, and tells the blocked subscriber once, without keeping who asked what', async () => {
      const now = Math.floor(Date.now() / 1000);
      assert.equal(
        await acct(
          server.radius!.addresses[0]!.port,
          `Acct-Status-Type = Start\nUser-Name = "sub-7@isp"\nAcct-Session-Id ` +
            `= "s7"\nFramed-IP-Address ` +
            `= 127.0.0.3\nEvent-Timestamp = ${now}\n`,
        ),
        0,
      );
      await server.radius!.settled();
      await server.mamori.notices.importContacts('sub-7@isp,sub7@example.net,契約 七子,ja', 'cli:test');
      for (let i = 0; i < 3; i++) assert.match(await ask('c2.bad.example.test', '127.0.0.3'), /NXDOMAIN/);
      // named runs with -g (all logging to stderr): its own rpz lines are handed to the log file M3 tails.
      const rpzLines = () =>
        named!
          .log()
          .split('\n')
          .filter((l) => l.includes(' rpz ') && l.includes('127.0.0.3#'));
      for (const deadline = Date.now() + 5000; rpzLines().length < 3 && Date.now() < deadline;)
        await new Promise((r) => setTimeout(r, 100));
      assert.ok(rpzLines().length >= 3, `BIND logged no rewrites: ${named!.log().slice(-800)}`);
      writeFileSync(
        join(dir, 'bind-rpz.log'),
        named!
          .log()
          .split('\n')
          .filter((l) => l.includes(' rpz '))
          .join('\n') + '\n',
      );
      const day = new Date().toISOString().slice(0, 10);
      let counts: Array<{ rule: string; count: number; resolver: string }> = [];
      for (const deadline = Date.now() + 8000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
        counts = (await call('GET', `/api/v1/measures/cc-dns-blocking/blocked?from=${day}&to=${day}`, analyst)).body.counts;
        if (counts.some((c) => c.rule === 'bad.example.test' && c.count >= 3)) break;
      }
      const bad = counts.find((c) => c.rule === 'bad.example.test');
      assert.ok(bad && bad.count >= 3 && bad.resolver === 'bind1', JSON.stringify(counts));
      assert.ok(!JSON.stringify(counts).includes('127.0.0.3'), 'no client address in the counts');
      // One case and one notice for the three blocked queries, in Japanese, with the opt-out explained.
      let open: Array<{ id: string; kind: string; subscriber: string }> = [];
      for (const deadline = Date.now() + 8000; Date.now() < deadline && open.length === 0; await new Promise((r) => setTimeout(r, 200))) {
        open = (await call('GET', '/api/v1/cases?kind=cc-blocking', analyst)).body.cases.filter(
          (c: { subscriber: string }) => c.subscriber === 'sub-7@isp',
        );
      }
      assert.equal(open.length, 1, 'one case for the subscriber, whatever the number of queries');
      const notices = (await (server.mamori.state.db as unknown as UntypedDb)
        .selectFrom('notices')
        .select(['subject', 'body'])
        .where('case_id', '=', open[0]!.id)
        .execute()) as Array<{ subject: string; body: string }>;
      assert.equal(notices.length, 1);
      assert.match(notices[0]!.subject, /マルウェア感染の可能性/);
      assert.match(notices[0]!.body, /契約 七子 様/);
      assert.match(notices[0]!.body, /https:\/\/member\.isp\.example\.jp\/dns/);
      assert.match(notices[0]!.body, /192\.0\.2\.21/);
      assert.doesNotMatch(notices[0]!.body, /bad\.example\.test/, 'the notice does not repeat the name asked');
    });

    it("gives copy-paste resolver configuration naming this installation's zones and primary", async () => {
      const bind = await call('GET', '/api/v1/measures/cc-dns-blocking/resolver-config/bind', support);
      assert.equal(bind.status, 200);
      assert.match(String(bind.body), /zone "optout\.rpz\.isp\.test"[\s\S]*zone "cc\.rpz\.isp\.test"/);
      assert.doesNotMatch(String(bind.body), new RegExp(KEY.secret.replace(/[+/=]/g, '.')), 'the key secret is not handed out by the API');
    });

    it('audits every change by reference, with no subscriber ID or queried name in the audit log', async () => {
      const m3 = [];
      for await (const e of server.mamori.audit.entries()) if (e.measure === 'cc-dns-blocking') m3.push(e);
      assert.ok(m3.some((e) => e.action === 'm3.consent.opt-out'));
      assert.ok(m3.some((e) => e.action === 'm3.list.import'));
      assert.ok(!JSON.stringify(m3).includes('sub-42'), 'no subscriber ID in the audit log');
    });
  },
);
