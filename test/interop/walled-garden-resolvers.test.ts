/**
 * Evidence for M7's walled garden (docs/en/infected-host-alert.md, "Walled garden"): whether the resolvers
 * apply an RPZ client-IP trigger to one subscriber address and not to another. BIND 9.18 and Unbound 1.17
 * as recursors on loopback, a policy zone listing 127.0.0.2 only, the answers asked from 127.0.0.2 and
 * 127.0.0.3 with kdig. The names live under wgtest.net, served by BIND itself (Unbound answers .test itself).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kdig, startNamed, type Named } from '../support/bind.js';
import { have } from '../support/flow-peers.js';
import { tempDir } from '../support/fixtures.js';
import { freePort } from '../support/freeradius.js';
import { clientIpOwner } from '../../src/dns/rpz.js';

const SOA = '$TTL 60\n@ IN SOA localhost. root.localhost. 1 60 30 600 60\n@ IN NS localhost.\n';
const GARDEN = '192.0.2.99';
const REAL = '192.0.2.10';
const LISTED = '127.0.0.2';
const OTHER = '127.0.0.3';

/** The A records kdig printed for good.wgtest.net asked from `source`. */
async function answer(port: number, source: string): Promise<{ status: string; a: string[] }> {
  const out = await kdig(['-b', source, '@127.0.0.1', '-p', String(port), 'good.wgtest.net', 'A']);
  const status = /status: (\w+)/.exec(out)?.[1] ?? 'no answer';
  const a = [...out.matchAll(/^[^;\s]\S*\s+\d+\s+IN\s+A\s+(\S+)$/gm)].map((m) => m[1]!);
  return { status, a };
}

async function startUnbound(
  dir: string,
  port: number,
  forward: number,
  zoneText: string,
): Promise<{ port: number; stop(): Promise<void> }> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'wg.zone'), `$ORIGIN wg.rpz.mamori.\n${SOA}${zoneText}`);
  writeFileSync(
    join(dir, 'unbound.conf'),
    `server:\n\tinterface: 127.0.0.1\n\tport: ${port}\n\tdo-ip6: no\n\tchroot: ""\n\tusername: ""\n\tdirectory: "${dir}"\n` +
      `\tpidfile: "${dir}/unbound.pid"\n\tuse-syslog: no\n\tlogfile: ""\n\tverbosity: 1\n\tdo-not-query-localhost: no\n` +
      `\tmodule-config: "respip iterator"\n\taccess-control: 127.0.0.0/8 allow\n` +
      `rpz:\n\tname: "wg.rpz.mamori"\n\tzonefile: "${dir}/wg.zone"\n` +
      // Everything else goes to BIND on loopback: Unbound never asks the root servers.
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
    port,
    stop: async () => {
      if (p.exitCode === null && p.signalCode === null) await new Promise((r) => (p.once('exit', r), p.kill()));
    },
  };
}

const skip = !(have('named') && have('unbound') && have('kdig')) && 'bind9, unbound or knot-dnsutils not installed';

describe('RPZ client-IP trigger for a walled garden: which resolvers apply it', { skip }, () => {
  let named: Named | undefined;
  const dir = tempDir();

  before(async () => {
    named = await startNamed(dir, await freePort(), {
      files: {
        'wgtest.db': `${SOA}good IN A ${REAL}\ngarden IN A ${GARDEN}\n`,
        // The garden's policy: every query from 127.0.0.2 is answered with the notice page's name.
        'wg.db': `${SOA}32.2.0.0.127.rpz-client-ip IN CNAME garden.wgtest.net.\n`,
      },
      options: '\trecursion yes;\n\tallow-recursion { 127.0.0.0/8; };\n\tresponse-policy { zone "wg.rpz.mamori"; } recursive-only no;',
      zones: 'zone "wgtest.net" { type primary; file "wgtest.db"; };\nzone "wg.rpz.mamori" { type primary; file "wg.db"; };',
      ready: /rpz: wg\.rpz\.mamori: reload done/,
    });
  });
  after(async () => {
    await named?.stop();
  });

  it('BIND 9.18 sends the listed subscriber address to the garden and answers another normally', async () => {
    assert.deepEqual(await answer(named!.port, LISTED), { status: 'NOERROR', a: [GARDEN] });
    assert.deepEqual(await answer(named!.port, OTHER), { status: 'NOERROR', a: [REAL] });
  });

  it('BIND 9.18 applies the trigger with local data (an A record) too: what Mamori publishes', async () => {
    const sub = join(dir, 'b-a');
    mkdirSync(sub, { recursive: true });
    const b = await startNamed(sub, await freePort(), {
      files: {
        'wgtest.db': `${SOA}good IN A ${REAL}\n`,
        'wg.db': `${SOA}32.2.0.0.127.rpz-client-ip IN A ${GARDEN}\n`,
      },
      options: '\trecursion yes;\n\tallow-recursion { 127.0.0.0/8; };\n\tresponse-policy { zone "wg.rpz.mamori"; } recursive-only no;',
      zones: 'zone "wgtest.net" { type primary; file "wgtest.db"; };\nzone "wg.rpz.mamori" { type primary; file "wg.db"; };',
      ready: /rpz: wg\.rpz\.mamori: reload done/,
    });
    try {
      assert.deepEqual(await answer(b.port, LISTED), { status: 'NOERROR', a: [GARDEN] });
      assert.deepEqual(await answer(b.port, OTHER), { status: 'NOERROR', a: [REAL] });
    } finally {
      await b.stop();
    }
  });

  it('BIND 9.18 reads an IPv6 client-IP owner as Mamori writes it (the longest zero run as zz)', async () => {
    const sub = join(dir, 'b-6');
    mkdirSync(sub, { recursive: true });
    // ::1 is the only IPv6 source on loopback: 128.1.zz (clientIpOwner('::1'), test/unit/walled-garden.test.ts).
    const owner = clientIpOwner('::1');
    const b = await startNamed(sub, await freePort(), {
      ipv6: true,
      files: { 'wgtest.db': `${SOA}good IN A ${REAL}\n`, 'wg.db': `${SOA}${owner} IN A ${GARDEN}\n` },
      options: '\trecursion yes;\n\tallow-recursion { 127.0.0.0/8; ::1; };\n\tresponse-policy { zone "wg.rpz.mamori"; } recursive-only no;',
      zones: 'zone "wgtest.net" { type primary; file "wgtest.db"; };\nzone "wg.rpz.mamori" { type primary; file "wg.db"; };',
      ready: /rpz: wg\.rpz\.mamori: reload done/,
    });
    try {
      const ask = async (source: string, server: string) => {
        const out = await kdig(['-b', source, `@${server}`, '-p', String(b.port), 'good.wgtest.net', 'A']);
        return [...out.matchAll(/^[^;\s]\S*\s+\d+\s+IN\s+A\s+(\S+)$/gm)].map((m) => m[1]!);
      };
      assert.deepEqual(await ask('::1', '::1'), [GARDEN], 'the IPv6 client is gardened');
      assert.deepEqual(await ask('127.0.0.1', '127.0.0.1'), [REAL], 'an IPv4 client is not');
    } finally {
      await b.stop();
    }
  });

  it('Unbound 1.17 applies the trigger with local data (an A record), but answers a CNAME action with nothing', async () => {
    // BIND answers Unbound's forwarded queries from 127.0.0.1, which its policy does not list.
    const a = await startUnbound(join(dir, 'u-a'), await freePort(), named!.port, `32.2.0.0.127.rpz-client-ip IN A ${GARDEN}\n`);
    try {
      assert.deepEqual(await answer(a.port, LISTED), { status: 'NOERROR', a: [GARDEN] });
      assert.deepEqual(await answer(a.port, OTHER), { status: 'NOERROR', a: [REAL] });
    } finally {
      await a.stop();
    }
    // The same policy as BIND's: the trigger matches (the real answer is gone) but the garden's name is not given.
    const cname = 'garden.wgtest.net.';
    const c = await startUnbound(join(dir, 'u-c'), await freePort(), named!.port, `32.2.0.0.127.rpz-client-ip IN CNAME ${cname}\n`);
    try {
      assert.deepEqual(await answer(c.port, LISTED), { status: 'NOERROR', a: [] });
      assert.deepEqual(await answer(c.port, OTHER), { status: 'NOERROR', a: [REAL] });
    } finally {
      await c.stop();
    }
  });
});
