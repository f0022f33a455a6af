/**
 * M6 in the server: dnstap frames from a resolver (written as Unbound and
 * BIND write them) into the receiver; a random-subdomain attack on a victim
 * domain among benign traffic is found; with automatic blocking enabled above
 * a confidence, the rule goes to BIND 9.18 as RPZ secondary: machine-made
 * names under the victim get NXDOMAIN, its known name and everything else
 * resolve. Candidates and rules through the API; all of it audited.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import type { UntypedDb } from '../../src/store/state/untyped.js';
import { kdig, startNamed, type Named } from '../support/bind.js';
import { dnstapFrame, sendDnstap } from '../support/dnstap.js';
import { tempDir, testConfig } from '../support/fixtures.js';
import { have } from '../support/flow-peers.js';
import { m6Settings } from '../support/m6-scenario.js';
import { freePort } from '../support/freeradius.js';

describe(
  'M6 in the server with BIND applying its rules',
  { skip: !(have('named') && have('kdig')) && 'bind9 or knot-dnsutils not installed' },
  () => {
    const dir = tempDir();
    const socket = join(dir, 'dnstap.sock');
    let server: Server;
    let named: Named | undefined;
    let bindPort: number;
    let noc: string;

    const call = async (method: 'GET' | 'POST', url: string, payload?: object) => {
      const r = await server.app.inject({ method, url, headers: { authorization: `Bearer ${noc}` }, ...(payload ? { payload } : {}) });
      return { status: r.statusCode, body: JSON.parse(r.body) as Record<string, any> };
    };

    // The popularity list as a file in Tranco's "rank,domain" CSV, read through the broker (settingsFile).
    const whitelistFile = join(dir, 'top-1m.csv');
    const configFor = () =>
      testConfig(
        join(dir, 'data'),
        ['server:\n  port: 0', ...m6Settings(socket, bindPort, [`whitelist: { file: ${JSON.stringify(whitelistFile)} }`])].join('\n'),
      );

    before(async () => {
      bindPort = await freePort();
      writeFileSync(whitelistFile, '1,google.com\n2,popular.example\n');
      const config = configFor();
      server = await serve(config, { out: new PassThrough(), logger: createLogger(process.env.M6_DEBUG ? 'error' : 'silent') });
      noc = (await server.mamori.accounts.createToken('module:test', 'noc', 'operator')).token;
      const primaryPort = Number(server.endpoints['ddos-dns-blocking']!.rpzPrimary!.split(':').pop());
      named = await startNamed(dir, bindPort, {
        files: {
          'victim.db':
            '$TTL 60\n@ IN SOA localhost. root.localhost. 1 60 ' +
            '30 600 60\n@ IN NS localhost.\n@ IN A 192.0.2.30\nwww ' +
            'IN A 192.0.2.31\n* IN A 192.0.2.32\n',
        },
        options:
          '\trecursion yes;\n\tallow-recursion { 127.0.0.0/8; ' +
          '};\n\tresponse-policy { zone "ddos.rpz.isp.test"; ' +
          '} recursive-only no min-update-interval 1;',
        zones:
          `zone "victim.example" { type primary; file "victim.db"; ` +
          `};\nzone "ddos.rpz.isp.test" { type ` +
          (`secondary; primaries { 127.0.0.1 port ${primaryPort}; ` + `}; file "ddos.db"; };`),
        ready: /transfer of 'ddos\.rpz\.isp\.test\/IN' from .*Transfer completed/,
      });
    });
    after(async () => {
      await named?.stop();
      await server?.close();
    });

    it('finds the attack, blocks the machine-made names at BIND, and lets the known name and everything else through', async () => {
      assert.match(
        await kdig(['@127.0.0.1', '-p', String(bindPort), 'q8x2k7zp1v.victim.example', 'A']),
        /192\.0\.2\.32/,
        'before: any name resolves',
      );
      // 55 s of resolver traffic (timestamps from the resolver): benign names, www.victim.example among them;
      // from 35 s on (after the 30 s warm-up), 300 random names a second under victim.example that fail (SERVFAIL).
      const t0 = Math.floor(Date.now() / 1000) - 70;
      const frames: Buffer[] = [];
      let seed = 7;
      const rand = () => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed / 0x7fffffff;
      };
      const label = () => Array.from({ length: 12 }, () => 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(rand() * 36)]).join('');
      for (let sec = 0; sec < 55; sec++) {
        const names: Array<[string, number]> = [];
        for (let k = 0; k < 200; k++) names.push([k % 10 === 0 ? 'www.victim.example' : `www.site${k % 40}.co.jp`, 0]);
        for (let k = 0; k < 30; k++) names.push([`cdn${k}.popular.example`, 0]);
        if (sec >= 35) for (let k = 0; k < 300; k++) names.push([`${label()}.victim.example`, 2]);
        for (const [qname, rcode] of names) {
          frames.push(dnstapFrame({ type: 5, client: '198.51.100.9', qname, timeSec: t0 + sec, identity: 'resolver-a' }));
          frames.push(dnstapFrame({ type: 6, client: '198.51.100.9', qname, rcode, timeSec: t0 + sec, identity: 'resolver-a' }));
        }
      }
      for (let i = 0; i < frames.length; i += 5000) await sendDnstap(socket, frames.slice(i, i + 5000));
      let attacks: Record<string, any> = {};
      for (let i = 0; i < 50; i++) {
        attacks = (await call('GET', '/api/v1/measures/ddos-dns-blocking/attacks')).body;
        if (attacks.decisions?.some((d: { domain: string; status: string }) => d.domain === 'victim.example' && d.status === 'active'))
          break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const victim = attacks.decisions.find((d: { domain: string }) => d.domain === 'victim.example');
      assert.equal(victim?.status, 'active', JSON.stringify(attacks));
      assert.deepEqual(victim.exceptions, ['www.victim.example'], 'the name that resolved in normal times is let through');
      assert.equal(victim.exceptionsLeftOut, 0, 'the API says how many normal names were beyond the bound');
      assert.match(victim.explanation.ja, /ランダムサブドメイン攻撃/);
      assert.deepEqual(
        attacks.decisions.map((d: { domain: string }) => d.domain),
        ['victim.example'],
        'no benign domain is a candidate',
      );
      assert.equal(attacks.receiver.dropped, 0);
      // Per resolver identity, what M6 received (to set beside the resolver's own counters): every frame sent.
      const sent = frames.length / 2;
      let resolvers: Record<string, any> = {};
      for (let i = 0; i < 50 && resolvers.resolvers?.['resolver-a']?.responses !== sent; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100));
        resolvers = (await call('GET', '/api/v1/measures/ddos-dns-blocking/resolvers')).body;
      }
      const a = resolvers.resolvers['resolver-a'];
      assert.deepEqual(Object.keys(resolvers.resolvers), ['resolver-a'], JSON.stringify(resolvers));
      // Every frame sent was received and none dropped; the last one just now (the console's per-resolver table).
      assert.deepEqual([a.queries, a.responses, a.frames, a.dropped], [sent, sent, frames.length, 0], JSON.stringify(resolvers));
      assert.ok(Date.now() - Date.parse(a.lastSeen) < 120_000, `last seen ${a.lastSeen}`);
      assert.ok(attacks.resolvers['resolver-a'].queries > 0, 'the same counts in /attacks');
      assert.ok(!JSON.stringify(attacks).includes('198.51.100.9'), 'no client address anywhere');

      let random = '';
      for (let i = 0; i < 50 && !/NXDOMAIN/.test(random); i++) {
        await new Promise((r) => setTimeout(r, 200));
        random = await kdig(['@127.0.0.1', '-p', String(bindPort), 'zz91kq3m7x.victim.example', 'A']);
      }
      assert.match(random, /status: NXDOMAIN/);
      assert.match(await kdig(['@127.0.0.1', '-p', String(bindPort), 'www.victim.example', 'A']), /192\.0\.2\.31/);
      assert.match(await kdig(['@127.0.0.1', '-p', String(bindPort), 'victim.example', 'A']), /192\.0\.2\.30/);
    });

    it('lets an operator end a rule by rejecting it, with the reason, and audits every step', async () => {
      assert.equal(
        (await call('POST', '/api/v1/measures/ddos-dns-blocking/decisions/reject', { domain: 'victim.example' })).status,
        400,
        'a rejection needs its reason',
      );
      const r = await call('POST', '/api/v1/measures/ddos-dns-blocking/decisions/reject', {
        domain: 'victim.example',
        reason: "test traffic of the victim's owner",
      });
      assert.equal(r.body.status, 'rejected');
      let answer = '';
      for (let i = 0; i < 50 && !/192\.0\.2\.32/.test(answer); i++) {
        await new Promise((res) => setTimeout(res, 200));
        answer = await kdig(['@127.0.0.1', '-p', String(bindPort), 'zz91kq3m7x.victim.example', 'A']);
      }
      assert.match(answer, /192\.0\.2\.32/, 'the rule left the zone');
      const actions: string[] = [];
      const entries: unknown[] = [];
      for await (const e of server.mamori.audit.entries())
        if (e.measure === 'ddos-dns-blocking') {
          actions.push(e.action);
          entries.push(e);
        }
      assert.ok(!JSON.stringify(entries).includes('victim.example'), 'the audit log names decisions by id, never a queried name');
      assert.deepEqual(
        actions.filter((a) => a.startsWith('m6.')),
        ['m6.candidate', 'm6.rule.auto', 'm6.rule.reject'],
      );
    });

    it("takes a honeypot operator's list of amplification names into the queue, whitelisted domains never blocked", async () => {
      const r = await call('POST', '/api/v1/measures/ddos-dns-blocking/lists', {
        source: 'amppot-feed',
        names: ['amp.abused.example', 'big.popular.example'],
        confidence: 0.5,
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const { decisions } = (await call('GET', '/api/v1/measures/ddos-dns-blocking/attacks')).body as {
        decisions: Array<{ kind: string; domain: string; status: string }>;
      };
      const status = (d: string) => decisions.find((x) => x.kind === 'amplification' && x.domain === d)?.status;
      assert.equal(status('amp.abused.example'), 'pending', 'below the automatic confidence: waits for a person');
      assert.equal(status('big.popular.example'), 'whitelisted');
      assert.equal(
        (
          await call('POST', '/api/v1/measures/ddos-dns-blocking/decisions/approve', {
            kind: 'amplification',
            domain: 'big.popular.example',
          })
        ).status,
        409,
      );
    });

    it('keeps the queue, the rules and the history across a restart, active rules back in the zone', async () => {
      const approved = await call('POST', '/api/v1/measures/ddos-dns-blocking/decisions/approve', {
        kind: 'amplification',
        domain: 'amp.abused.example',
      });
      assert.equal(approved.body.status, 'active', JSON.stringify(approved));
      await server.close();
      server = await serve(configFor(), { out: new PassThrough(), logger: createLogger('silent') });
      noc = (await server.mamori.accounts.createToken('module:test', 'noc2', 'operator')).token;
      const { decisions } = (await call('GET', '/api/v1/measures/ddos-dns-blocking/attacks')).body as {
        decisions: Array<{ kind: string; domain: string; status: string; reason?: string }>;
      };
      const find = (kind: string, domain: string) => decisions.find((d) => d.kind === kind && d.domain === domain);
      assert.equal(find('random-subdomain', 'victim.example')?.status, 'rejected');
      assert.equal(find('random-subdomain', 'victim.example')?.reason, "test traffic of the victim's owner");
      assert.equal(find('amplification', 'amp.abused.example')?.status, 'active');
      // The baselines were stored at stop and came back (issue 18: a restart is no cold start).
      const rows = (await (server.mamori.state.db as unknown as UntypedDb)
        .selectFrom('m6_baselines')
        .select(['kind', 'key', 'value'])
        .execute()) as Array<{ kind: string; key: string; value: string }>;
      assert.ok(
        rows.some((r) => r.kind === 'zone' && r.key === 'site1.co.jp' && (JSON.parse(r.value) as { intervals: number }).intervals >= 6),
        "a zone's baseline",
      );
      assert.ok(
        rows.some((r) => r.kind === 'name' && r.key === 'www.victim.example'),
        'a name that resolved in normal times',
      );
      const port = Number(server.endpoints['ddos-dns-blocking']!.rpzPrimary!.split(':').pop());
      assert.match(
        await kdig(['@127.0.0.1', '-p', String(port), 'ddos.rpz.isp.test', 'AXFR']),
        /amp\.abused\.example\.ddos\.rpz\.isp\.test\.\s+\d+\s+IN\s+CNAME\s+\./,
      );
    });
  },
);
