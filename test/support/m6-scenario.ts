/**
 * The M6 scenario with real peers on loopback, for the benchmark
 * (bench/m6-eval.ts) and the interop test (test/interop/m6-unbound.test.ts):
 * dnsperf sends benign load (names from a realistic list: 500 sites with
 * Zipf-like popularity and their usual subdomains, a CDN with machine-made
 * hostnames) through Unbound 1.17, which forwards to BIND 9.18 as the
 * loopback "Internet" (wildcard zones for the sites; victim.example answers
 * NXDOMAIN for names it does not have), writes dnstap to Mamori's M6 and is
 * the RPZ secondary of M6's zone (NOTIFY). From a third of the way in, a
 * second dnsperf sends random names under victim.example. Measured: time from
 * onset to the rule and to the block taking effect at Unbound (its rpz-log
 * for a probe name), and the benign names blocked (every policy answer that
 * is not for a random attack or probe name; PASSTHRU answers apart).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { serve } from '../../src/api/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { parseConfig } from '../../src/core/config.js';
import { kdig, startNamed } from './bind.js';
import { freePort } from './freeradius.js';
import { startUnbound } from './unbound.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

function benignNames(n: number): string {
  const r = rng(1);
  const sites = Array.from({ length: 500 }, (_, i) => `site${i}.co.jp`);
  const subs = ['www', 'mail', 'api', 'static', 'img', 'cdn', 'login', 'm', 'shop', 'news'];
  const weights = sites.map((_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const cdn = Array.from(
    { length: 3000 },
    () => `r${Math.floor(r() * 9)}---sn-${Array.from({ length: 8 }, () => ALNUM[Math.floor(r() * 36)]).join('')}.videocdn.co.jp`,
  );
  const lines: string[] = [];
  for (let k = 0; k < n; k++) {
    if (r() < 0.08) {
      lines.push(`${cdn[Math.floor(r() ** 2 * cdn.length)]} A`);
      continue;
    }
    if (r() < 0.01) {
      lines.push(`www.victim.example A`);
      continue;
    }
    let x = r() * total;
    let i = 0;
    while (x > weights[i]! && i < weights.length - 1) x -= weights[i++]!;
    lines.push(`${subs[Math.floor(r() ** 1.5 * subs.length)]}.${sites[i]} ${r() < 0.1 ? 'AAAA' : 'A'}`);
  }
  return lines.join('\n') + '\n';
}

function attackNames(n: number): string {
  const r = rng(2);
  return (
    Array.from({ length: n }, () => `${Array.from({ length: 12 }, () => ALNUM[Math.floor(r() * 36)]).join('')}.victim.example A`).join(
      '\n',
    ) + '\n'
  );
}

const dnsperf = (args: string[]) =>
  new Promise<string>((resolve) => {
    const p = spawn('dnsperf', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    p.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    p.on('close', () => resolve(out));
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * M6 enabled for tests: dnstap on `socket`, its zone ddos.rpz.isp.test on a free port, NOTIFY to `notifyPort`, automatic rules at ≥ 0.6.
 */
export function m6Settings(socket: string, notifyPort: number, extra: string[] = []): string[] {
  return [
    'measures:',
    '  ddos-dns-blocking:',
    '    enabled: true',
    `    dnstap: { unix: [${JSON.stringify(socket)}] }`,
    '    primary: { host: 127.0.0.1, port: 0 }',
    '    zone: ddos.rpz.isp.test',
    '    transferTo: [127.0.0.1]',
    `    notify: [{ host: 127.0.0.1, port: ${notifyPort} }]`,
    '    autoBlock: { enabled: true, minConfidence: 0.6, ttl: 10m }',
    ...extra.map((l) => `    ${l}`),
  ];
}

export interface M6ScenarioResult {
  lines: string[];
  candidates: string[];
  /** Seconds from the onset to the rule, and to the block taking effect at Unbound (undefined: never). */
  ruleAfterS?: number;
  blockedAfterS?: number;
  blocked: number;
  benignBlocked: number;
  passedByException: number;
  dnstapDropped: number;
}

/** One run of the scenario: benign load for `seconds`, with or without the attack from a third of the way in. */
export async function runM6Scenario(o: {
  seconds: number;
  benignQps: number;
  attackQps: number;
  withAttack: boolean;
}): Promise<M6ScenarioResult> {
  const { seconds, benignQps, attackQps, withAttack } = o;
  const onsetS = Math.floor(seconds / 3);
  const dir = mkdtempSync(join(tmpdir(), 'mamori-m6-eval-'));
  const socket = join(dir, 'dnstap.sock');
  const bindPort = await freePort();
  const unboundPort = await freePort();
  const config = parseConfig(
    [`dataDir: ${JSON.stringify(join(dir, 'data'))}`, 'server: { port: 0 }', ...m6Settings(socket, unboundPort)].join('\n'),
    'm6-eval',
  );
  const server = await serve(config, { out: new PassThrough(), logger: createLogger('silent') });
  const primaryPort = Number(server.endpoints['ddos-dns-blocking']!.rpzPrimary!.split(':').pop());
  const named = await startNamed(dir, bindPort, {
    files: {
      'co.jp.db':
        '$TTL 300\n@ IN SOA localhost. root.localhost. 1 60 30 600 60\n@ IN NS localhost.\n* IN A 192.0.2.50\n* IN AAAA 2001:db8::50\n',
      'victim.db':
        '$TTL 300\n@ IN SOA localhost. root.localhost. 1 60 30 600 60\n@ IN NS localhost.\n@ IN A 192.0.2.30\nwww IN A 192.0.2.31\n',
    },
    options: '\trecursion no;',
    zones: 'zone "co.jp" { type primary; file "co.jp.db"; };\nzone "victim.example" { type primary; file "victim.db"; };',
    ready: /running/,
  });
  mkdirSync(join(dir, 'u'));
  const unbound = await startUnbound(join(dir, 'u'), {
    port: unboundPort,
    rpzZone: 'ddos.rpz.isp.test',
    primaryPort,
    forwardPort: bindPort,
    extra:
      `dnstap:\n\tdnstap-enable: yes\n\tdnstap-bidirectional: yes\n\tdnstap-socket-path: "${socket}"\n\tdnstap-send-identity: ` +
      `yes\n\tdnstap-identity: "resolver1"\n\tdnstap-log-client-query-messages: yes\n\tdnstap-log-client-response-messages: yes`,
  });
  writeFileSync(join(dir, 'benign.txt'), benignNames(200_000));
  writeFileSync(join(dir, 'attack.txt'), attackNames(attackQps * seconds));
  const started = Date.now();
  const benign = dnsperf([
    '-s',
    '127.0.0.1',
    '-p',
    String(unboundPort),
    '-d',
    join(dir, 'benign.txt'),
    '-Q',
    String(benignQps),
    '-l',
    String(seconds),
    '-c',
    '8',
    '-q',
    '2000',
  ]);
  let attack: Promise<string> | undefined;
  let onset = 0;
  let blockedAt = 0;
  let probeCount = 0;
  if (withAttack) {
    await sleep(onsetS * 1000);
    onset = Date.now();
    attack = dnsperf([
      '-s',
      '127.0.0.1',
      '-p',
      String(unboundPort),
      '-d',
      join(dir, 'attack.txt'),
      '-Q',
      String(attackQps),
      '-l',
      String(seconds - onsetS),
      '-c',
      '2',
    ]);
    // Probe with fresh random names until Unbound's own log says its policy answered one.
    while (Date.now() - onset < (seconds - onsetS) * 1000 && blockedAt === 0) {
      const probe = `probe${probeCount++}x${Math.random().toString(36).slice(2, 10)}.victim.example`;
      await kdig(['@127.0.0.1', '-p', String(unboundPort), probe, 'A']);
      if (unbound.log().includes(`[ddos.rpz.isp.test] *.victim.example. rpz-nxdomain`) && unbound.log().includes(probe))
        blockedAt = Date.now();
      else await sleep(200);
    }
  }
  const benignOut = await benign;
  const attackOut = attack ? await attack : '';
  const token = (await server.mamori.accounts.createToken('module:bench', 'bench', 'analyst')).token;
  const attacks = (
    await server.app.inject({ method: 'GET', url: '/api/v1/m6/attacks', headers: { authorization: `Bearer ${token}` } })
  ).json() as {
    decisions: Array<{
      kind: string;
      domain: string;
      status: string;
      activeSince?: string;
      firstSeen: string;
      confidence: number;
      evidence: number;
      explanation: { en: string };
    }>;
    receiver: { events: number; dropped: number; errors: Record<string, number> };
  };
  // Every name Unbound's policy answered, from its rpz-log: the attack's random names are expected; any other is a benign name blocked.
  const applied = unbound
    .log()
    .split('\n')
    .filter((l) => l.includes('rpz: applied [ddos.rpz.isp.test]'));
  const passed = applied.filter((l) => l.includes(' rpz-passthru '));
  const benignBlocked = applied.filter(
    (l) =>
      !l.includes(' rpz-passthru ') &&
      !/ [a-z0-9]{12}\.victim\.example\. A IN$/.test(l) &&
      !/ probe\d+x[a-z0-9]+\.victim\.example\. A IN$/.test(l),
  );
  const qps = (out: string) => /Queries per second:\s+([\d.]+)/.exec(out)?.[1] ?? '?';
  const lost = (out: string) => /Queries lost:\s+(\d+)/.exec(out)?.[1] ?? '?';
  const victim = attacks.decisions.find((d) => d.domain === 'victim.example');
  const lines = [
    `${withAttack ? 'with attack' : 'benign only'}: ${seconds} s, benign dnsperf ${qps(benignOut)} ` +
      `qps achieved (target ${benignQps}, lost ${lost(benignOut)})` +
      (withAttack ? `, attack dnsperf ${qps(attackOut)} qps (target ${attackQps}, from ${onsetS} s)` : ''),
    `  dnstap events at Mamori: ${attacks.receiver.events.toLocaleString('en')}, dropped ${attacks.receiver.dropped}, ` +
      `errors ${JSON.stringify(attacks.receiver.errors)}`,
    `  candidates: ${JSON.stringify(attacks.decisions.map((d) => `${d.kind}:${d.domain}:${d.status}`))}`,
  ];
  if (withAttack) {
    if (victim)
      lines.push(
        `  victim.example: confidence ${victim.confidence.toFixed(2)}, flagged in ${victim.evidence} ` +
          `intervals, first seen ${((Date.parse(victim.firstSeen) - onset) / 1000).toFixed(1)} s after ` +
          `the onset: ${victim.explanation.en}`,
      );
    lines.push(
      `  rule active ${victim?.activeSince ? ((Date.parse(victim.activeSince) - onset) / 1000).toFixed(1) : 'never'} ` +
        (`s after the onset; block effective at Unbound (probe ` +
          `answered by the policy) ${blockedAt ? ((blockedAt - onset) / 1000).toFixed(1) : 'never'} `) +
        `s after the onset (${probeCount} probes)`,
    );
  }
  const result: M6ScenarioResult = {
    lines,
    candidates: attacks.decisions.map((d) => `${d.kind}:${d.domain}:${d.status}`),
    ...(victim?.activeSince ? { ruleAfterS: (Date.parse(victim.activeSince) - onset) / 1000 } : {}),
    ...(blockedAt ? { blockedAfterS: (blockedAt - onset) / 1000 } : {}),
    blocked: applied.length - passed.length,
    benignBlocked: benignBlocked.length,
    passedByException: passed.length,
    dnstapDropped: attacks.receiver.dropped,
  };
  lines.push(
    `  answers by the policy: ${(applied.length - passed.length).toLocaleString('en')} blocked, ` +
      `${passed.length.toLocaleString('en')} let through by an exception (www.victim.example); benign ` +
      `names blocked: ${benignBlocked.length}${benignBlocked.length ? ` e.g. ${benignBlocked[0]}` : ''}`,
  );
  void started;
  await unbound.stop();
  await named.stop();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
  return result;
}
