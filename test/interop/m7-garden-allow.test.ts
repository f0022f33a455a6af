/**
 * The walled garden's allow-list with real resolvers, and how it sits with M3: Mamori's one RPZ primary serves the
 * allow zone (passthru for `av.wgtest.net` and the names under it), the garden zone, and M3's opt-out and C&C zones;
 * BIND 9.18 (and Unbound 1.17) list them in that order. Alice (127.0.0.2) is gardened; Bob (127.0.0.3) is not;
 * Carol (127.0.0.4) is gardened and opted out of M3; Dave (127.0.0.5) only opted out of M3. Every expectation is
 * waited for through the zones' serials and BIND's "reload done", or asked until it holds (bounded).
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
import {
  ALLOW_ZONE,
  CC_ZONE,
  GARDEN_ZONE,
  M3,
  OPTOUT_ZONE,
  reportAndAnalyze,
  rpzApplied,
  rpzReloads,
  sameSerial,
  startGardenServer,
  type GardenServer,
} from '../support/garden.js';

const SOA = '$TTL 60\n@ IN SOA localhost. root.localhost. 1 60 30 600 60\n@ IN NS localhost.\n';
const GARDEN = '192.0.2.80';
const REAL: Record<string, string> = {
  'good.wgtest.net': '192.0.2.10',
  'av.wgtest.net': '192.0.2.11',
  'www.av.wgtest.net': '192.0.2.12',
  'evil.av.wgtest.net': '192.0.2.13',
  'bad.wgtest.net': '192.0.2.14',
};
const WGTEST = `${SOA}${Object.entries(REAL)
  .map(([n, a]) => `${n}. IN A ${a}`)
  .join('\n')}\n`;
const ALICE = '127.0.0.2';
const BOB = '127.0.0.3';
const CAROL = '127.0.0.4';
const DAVE = '127.0.0.5';
/** The resolvers' order: allow, garden, M3's opt-out, M3's C&C zone. */
const ORDER = [ALLOW_ZONE, GARDEN_ZONE, OPTOUT_ZONE, CC_ZONE];

/** What a client gets for a name: its addresses, or "NXDOMAIN". */
async function ask(port: number, source: string, name: string): Promise<string> {
  const out = await kdig(['-b', source, '@127.0.0.1', '-p', String(port), name, 'A']);
  if (/status: NXDOMAIN/.test(out)) return 'NXDOMAIN';
  return [...out.matchAll(/^[^;\s]\S*\s+\d+\s+IN\s+A\s+(\S+)$/gm)].map((m) => m[1]!).join(',') || 'NODATA';
}

/** Every (client, name) answer at once, to compare with what is expected as one table. */
async function table(port: number, clients: Record<string, string>, names: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [who, source] of Object.entries(clients)) for (const n of names) out[`${who} ${n}`] = await ask(port, source, n);
  return out;
}

/** Asks until the table is the expected one (the resolver has loaded the zones), bounded; returns the last table. */
async function untilTable(port: number, want: Record<string, string>, ms = 20_000): Promise<Record<string, string>> {
  const clients = Object.fromEntries(Object.keys(want).map((k) => [k.split(' ')[0]!, SOURCES[k.split(' ')[0]!]!]));
  const names = [...new Set(Object.keys(want).map((k) => k.split(' ')[1]!))];
  let last: Record<string, string> = {};
  for (const deadline = Date.now() + ms; Date.now() < deadline;) {
    last = await table(port, clients, names);
    if (JSON.stringify(last) === JSON.stringify(want)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  return last;
}

const SOURCES: Record<string, string> = { alice: ALICE, bob: BOB, carol: CAROL, dave: DAVE };

/** The expected table: `gardened` clients get the page except for allowed names, `blocked` names are NXDOMAIN for `filtered` clients. */
function expected(o: { allowed: string[]; blocked: string[]; gardened?: string[] }): Record<string, string> {
  const out: Record<string, string> = {};
  const gardened = new Set(o.gardened ?? ['alice', 'carol']);
  const filtered = new Set(['alice', 'bob']);
  const allowedName = (n: string) => o.allowed.some((a) => n === a || n.endsWith(`.${a}`));
  for (const who of Object.keys(SOURCES))
    for (const n of Object.keys(REAL))
      out[`${who} ${n}`] =
        gardened.has(who) && !allowedName(n)
          ? GARDEN
          : filtered.has(who) && o.blocked.some((b) => n === b || n.endsWith(`.${b}`))
            ? 'NXDOMAIN'
            : REAL[n]!;
  return out;
}

async function startUnbound(dir: string, port: number, primary: number): Promise<{ log(): string; stop(): Promise<void> }> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'wgtest.zone'), WGTEST.replace(/^@/gm, 'wgtest.net.'));
  const rpz = ORDER.map(
    (z) => `rpz:\n\tname: "${z}"\n\tprimary: 127.0.0.1@${primary}\n\tallow-notify: 127.0.0.1\n\tzonefile: "${dir}/${z}.zone"\n`,
  ).join('');
  writeFileSync(
    join(dir, 'unbound.conf'),
    `server:\n\tinterface: 127.0.0.1\n\tport: ${port}\n\tdo-ip6: no\n\tchroot: ""\n\tusername: ""\n\tdirectory: "${dir}"\n` +
      `\tpidfile: "${dir}/unbound.pid"\n\tuse-syslog: no\n\tlogfile: ""\n\tverbosity: 3\n\tdo-not-query-localhost: no\n` +
      `\tmodule-config: "respip iterator"\n\taccess-control: 127.0.0.0/8 allow\n` +
      // The names' real answers from a zone of Unbound's own (not from BIND, whose policy would apply first).
      `auth-zone:\n\tname: "wgtest.net"\n\tzonefile: "${dir}/wgtest.zone"\n\tfor-downstream: no\n\tfor-upstream: yes\n` +
      rpz,
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

const skip = !(have('named') && have('kdig') && have('radclient')) && 'bind9, knot-dnsutils or radclient not installed';

describe('M7 walled garden allow-list: its own zone before the garden, M3 kept intact (BIND 9.18, Unbound 1.17)', { skip }, () => {
  let g: GardenServer;
  let named: Named | undefined;
  let unbound: { log(): string; stop(): Promise<void> } | undefined;
  let bindPort: number;
  let unboundPort: number;
  const dir = tempDir();
  const m3 = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${g.server.url}/api/v1/measures/${M3}${path}`, {
      method,
      headers: { authorization: `Bearer ${g.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as Record<string, any>;
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  /** Waits until BIND holds the primary's serial of each zone and has applied it as policy. */
  const bindApplied = async (zones: string[], reloads: Record<string, number>) => {
    for (const z of zones) {
      await sameSerial(g.primaryPort, bindPort, 15_000, z);
      await rpzApplied(named!.log, reloads[z]!, 15_000, z);
    }
  };
  /** The allow zone's counts on the garden-page listener (/api/v1/listeners). */
  const allowCounts = async () => {
    const res = await fetch(`${g.server.url}/api/v1/listeners`, { headers: { authorization: `Bearer ${g.token}` } });
    const all = (await res.json()) as { listeners: Array<{ owner: string; listener: string; counts: Record<string, number> }> };
    const c = all.listeners.find((l) => l.listener === 'garden-page')!.counts;
    return { allowNames: c.allowNames, allowWithheld: c.allowWithheld, allowWithdrawn: c.allowWithdrawn, allowRestored: c.allowRestored };
  };
  const reloadsNow = () => Object.fromEntries(ORDER.map((z) => [z, rpzReloads(named!.log(), z)]));

  before(async () => {
    bindPort = await freePort();
    unboundPort = await freePort();
    g = await startGardenServer(dir, {
      sessions: { 'alice@isp': ALICE, 'bob@isp': BOB, 'carol@isp': CAROL, 'dave@isp': DAVE },
      gardenAddress: GARDEN,
      notify: [bindPort, unboundPort],
      allow: ['av.wgtest.net'],
      m3: true,
    });
    // M3 blocks bad.wgtest.net; Carol and Dave opted out of M3's filtering.
    await m3('POST', '/entries', { name: 'bad.wgtest.net', reason: 'C&C (test)' });
    for (const s of ['carol@isp', 'dave@isp']) await m3('PUT', `/consent/${s}`, { choice: 'opt-out', channel: 'support-desk' });
    named = await startNamed(dir, bindPort, {
      files: { 'wgtest.db': WGTEST },
      options:
        '\trecursion yes;\n\tallow-recursion { 127.0.0.0/8; };\n' +
        `\tresponse-policy { ${ORDER.map((z) => `zone "${z}";`).join(' ')} } recursive-only no min-update-interval 1;`,
      zones: [
        'zone "wgtest.net" { type primary; file "wgtest.db"; };',
        ...ORDER.map((z) => `zone "${z}" { type secondary; primaries { 127.0.0.1 port ${g.primaryPort}; }; file "${z}.db"; };`),
      ].join('\n'),
      ready: new RegExp(`transfer of '${CC_ZONE.replace(/\./g, '\\.')}/IN' from .*Transfer completed`),
    });
    if (have('unbound')) unbound = await startUnbound(join(dir, 'unbound'), unboundPort, g.primaryPort);
  });
  after(async () => {
    await unbound?.stop();
    await named?.stop();
    await g?.server.close();
  });

  it('before any garden: M3 blocks bad.wgtest.net for the filtered, not for the opted-out; the allow zone changes nothing', async () => {
    for (const z of ORDER) await sameSerial(g.primaryPort, bindPort, 15_000, z);
    const want = expected({ allowed: ['av.wgtest.net'], blocked: ['bad.wgtest.net'], gardened: [] });
    assert.deepEqual(await untilTable(bindPort, want), want);
  });

  it('gardened: the allowed name and the names under it resolve, other names give the page; the M3 opt-out does not lift it', async () => {
    const reloads = reloadsNow();
    for (const address of [ALICE, CAROL]) assert.equal((await reportAndAnalyze(g, address)).garden.started, 1);
    await bindApplied([GARDEN_ZONE], reloads);
    const want = expected({ allowed: ['av.wgtest.net'], blocked: ['bad.wgtest.net'] });
    // Two gardens, two serials: BIND may apply the second a moment after its first "reload done".
    assert.deepEqual(await untilTable(bindPort, want), want);
    const axfr = await kdig(['@127.0.0.1', '-p', String(g.primaryPort), GARDEN_ZONE, 'AXFR']);
    assert.match(axfr, /32\.4\.0\.0\.127\.rpz-client-ip/, 'Carol is in the garden zone');
    // Spelled out, the rows that matter most:
    assert.equal(want['alice av.wgtest.net'], REAL['av.wgtest.net']);
    assert.equal(want['alice www.av.wgtest.net'], REAL['www.av.wgtest.net']);
    assert.equal(want['alice good.wgtest.net'], GARDEN);
    assert.equal(want['carol good.wgtest.net'], GARDEN, "M3's opt-out (a client-IP passthru listed after the garden) does not lift it");
    assert.equal(want['bob bad.wgtest.net'], 'NXDOMAIN');
    assert.equal(want['dave bad.wgtest.net'], REAL['bad.wgtest.net']);
  });

  it('a C&C block M3 adds under an allowed name withholds that name while it lasts: M3 blocks it for all', async () => {
    let reloads = reloadsNow();
    const entry = await m3('POST', '/entries', { name: 'evil.av.wgtest.net', reason: 'C&C under an allowed name (test)' });
    await bindApplied([CC_ZONE, ALLOW_ZONE], reloads);
    const withheld = expected({ allowed: [], blocked: ['bad.wgtest.net', 'evil.av.wgtest.net'] });
    assert.deepEqual(await table(bindPort, SOURCES, Object.keys(REAL)), withheld);
    // Unbound takes both zones' IXFRs (a qname rule's deletion included).
    if (unbound) assert.deepEqual(await untilTable(unboundPort, withheld), withheld, 'Unbound');
    assert.deepEqual(await allowCounts(), { allowNames: 1, allowWithheld: 1, allowWithdrawn: 1, allowRestored: 0 });
    reloads = reloadsNow();
    await m3('POST', `/entries/${entry.id}/withdraw`, { reason: 'test over' });
    await bindApplied([CC_ZONE, ALLOW_ZONE], reloads);
    assert.deepEqual(
      await table(bindPort, SOURCES, Object.keys(REAL)),
      expected({ allowed: ['av.wgtest.net'], blocked: ['bad.wgtest.net'] }),
      'the block ended: the name is allowed again',
    );
    assert.deepEqual(await allowCounts(), { allowNames: 2, allowWithheld: 0, allowWithdrawn: 1, allowRestored: 1 });
  });

  it('Unbound 1.17 with the same order gives the same answers', { skip: !have('unbound') && 'unbound not installed' }, async () => {
    const want = expected({ allowed: ['av.wgtest.net'], blocked: ['bad.wgtest.net'] });
    assert.deepEqual(await untilTable(unboundPort, want), want);
  });
});
