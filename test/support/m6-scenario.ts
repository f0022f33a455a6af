/**
 * The M6 scenario with real peers on loopback, for the benchmark
 * (bench/m6-eval.ts) and the interop test (test/interop/m6-unbound.test.ts),
 * with Unbound 1.17 or BIND 9.18 as the resolver. dnsperf sends benign load
 * through the resolver: sites under co.jp, customers' zones under a provider's
 * example.jp, the victims' usual names, and legitimate high-cardinality zones
 * from the first second (a DNSBL with reverse-IP labels and a hash lookup,
 * both mostly NXDOMAIN, a CDN with hashed hostnames). The resolver writes
 * dnstap to Mamori's M6 and is the RPZ secondary of its zone (NOTIFY). From
 * `onsetS`, one dnsperf per victim sends random names with its own label
 * shape: hex under a zone directly below a public suffix, long labels under a
 * customer's zone below a provider's domain, short labels under a zone under
 * co.jp never asked before, dictionary words one level below www, and a mix;
 * and one more sends TXT queries for a name whose answer is 1,114 bytes (24×
 * the query). Measured per victim: time from onset to the candidate, to the
 * rule and to the block taking effect at the resolver (its own log says its
 * policy answered a fresh probe name), and every benign name the policy
 * answered (from the resolver's log: Unbound's rpz-log, BIND's rpz category).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { serve } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { parseConfig } from '../../src/core/config.js';
import { kdig, startNamed, type Named } from './bind.js';
import { freePort } from './freeradius.js';
import { startUnbound, type Unbound } from './unbound.js';
import { bindDnstapCounters, lossShare, parseUnboundStats } from '../../src/measures/ddos-dns-blocking/resolver-counters.js';

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
const HEX = '0123456789abcdef';
const chars = (r: () => number, alphabet: string, n: number) =>
  Array.from({ length: n }, () => alphabet[Math.floor(r() * alphabet.length)]).join('');
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const WORDS = (
  'account alpha beacon border bright cactus carbon center chorus circle coral crystal delta ember falls fiber flame frost galaxy' +
  ' granite harvest horizon indigo iron jasmine journal kernel lantern legend lotus lunar maple matrix meteor nebula noble north oasis' +
  ' onyx orbit pepper phoenix pillar pixel plaza polar prism pulse radar raven region river royal sapphire scarlet sierra signal solar' +
  ' sonic spark spiral storm studio sunset tango terra titan topaz tower trail union vector vertex vista voyage willow zenith'
).split(' ');

export const LABEL_SHAPES: Record<string, (r: () => number) => string> = {
  hex: (r) => chars(r, HEX, 16),
  long: (r) => chars(r, ALNUM, 28),
  short: (r) => chars(r, ALNUM, 4),
  dictionary: (r) => `${pick(r, WORDS)}${r() < 0.6 ? pick(r, WORDS) : ''}`,
  mixed: (r) => LABEL_SHAPES[pick(r, ['hex', 'long', 'short', 'dictionary'])]!(r),
};

/** The attacks: where the random names go (the zone a rule must cover), with which label shape. */
export const VICTIMS = [
  { zone: 'victim-corp.jp', shape: 'hex', where: 'directly under a public suffix (jp)' },
  { zone: 'victim-shop.example.jp', shape: 'long', where: "a customer's zone under a provider's domain" },
  { zone: 'x.co.jp', shape: 'short', where: 'a zone under co.jp never asked before' },
  { zone: 'www.victim-bank.co.jp', shape: 'dictionary', where: 'one level below www (depth 2)' },
  { zone: 'victim-mix.ne.jp', shape: 'mixed', where: 'directly under a public suffix (ne.jp)' },
] as const;
const AMP_NAME = 'amp.abused.example';
/** A second abused name whose answer is about 10× its query: the factor M6 blocks from by default (issue 18's target). */
const AMP10_NAME = 'amp10.abused.example';

const SOA = '$TTL 300\n@ IN SOA localhost. root.localhost. 1 60 30 600 60\n@ IN NS localhost.\n';
/** Four TXT strings of 255 characters (the amplified answer). */
const TXT_STRINGS = Array.from({ length: 4 }, (_, i) => `"${'abcdefgh'[i]!.repeat(255)}"`).join(' ');
/** The "Internet": every zone the scenario asks, on one loopback BIND. */
export const ZONES: Record<string, string> = {
  'co.jp': `${SOA}* IN A 192.0.2.50\n`,
  'victim-bank.co.jp': `${SOA}@ IN A 192.0.2.20\nwww IN A 192.0.2.21\nlogin IN A 192.0.2.22\nib IN A 192.0.2.23\nmail IN A 192.0.2.24\n`,
  'x.co.jp': `${SOA}@ IN A 192.0.2.25\n`,
  'videocdn.co.jp': `${SOA}* IN A 192.0.2.70\n`,
  'victim-corp.jp': `${SOA}@ IN A 192.0.2.30\nwww IN A 192.0.2.31\nmail IN A 192.0.2.32\n`,
  'example.jp': `${SOA}* IN A 192.0.2.60\n`,
  'victim-shop.example.jp': `${SOA}@ IN A 192.0.2.40\nwww IN A 192.0.2.41\nlogin IN A 192.0.2.42\nmail IN A 192.0.2.43\n`,
  'victim-mix.ne.jp': `${SOA}@ IN A 192.0.2.45\nwww IN A 192.0.2.46\n`,
  'dnsbl.example': `${SOA}2.0.0.127.zen IN A 127.0.0.2\n9.8.7.10.zen IN A 127.0.0.4\n`,
  'malware-check.example': `${SOA}44d88612fea8a8f36de82e1278abb02f.hash IN A 127.0.0.2\n`,
  // 1,114 bytes with EDNS: header 12, question 24, answer 12 + 1,055 of TXT, OPT 11.
  'abused.example': `${SOA}amp IN TXT ${TXT_STRINGS} "${'z'.repeat(30)}"\n` + `amp10 IN TXT "${'y'.repeat(255)}" "${'x'.repeat(195)}"\n`,
};

/** Benign names with their types (dnsperf's format); the DNSBL, hash and CDN names are new all the time. */
export function benignNames(n: number): string[] {
  const r = rng(1);
  const sites = Array.from({ length: 500 }, (_, i) => `site${i}.co.jp`);
  const customers = Array.from({ length: 80 }, (_, i) => `shop${i}.example.jp`);
  const usual: Array<[string, string[]]> = [
    ['victim-bank.co.jp', ['www', 'login', 'ib', 'mail']],
    ['victim-corp.jp', ['www', 'mail']],
    ['victim-shop.example.jp', ['www', 'login', 'mail']],
    ['victim-mix.ne.jp', ['www']],
  ];
  const octet = () => String(Math.floor(r() * 256));
  const cdn = Array.from({ length: 3000 }, () => `r${Math.floor(r() * 9)}---sn-${chars(r, ALNUM, 8)}.videocdn.co.jp`);
  const lines: string[] = [];
  for (let k = 0; k < n; k++) {
    const x = r();
    if (x < 0.05) lines.push(`${octet()}.${octet()}.${octet()}.${octet()}.zen.dnsbl.example A`);
    else if (x < 0.08) lines.push(`${chars(r, HEX, 32)}.hash.malware-check.example A`);
    else if (x < 0.15) lines.push(`${cdn[Math.floor(r() ** 2 * cdn.length)]} A`);
    else if (x < 0.17) {
      const [zone, subs] = pick(r, usual);
      lines.push(`${subs[Math.floor(r() ** 2 * subs.length)]}.${zone} A`);
    } else if (x < 0.1705) lines.push(`${AMP_NAME} TXT`);
    else if (x < 0.171) lines.push(`${AMP10_NAME} TXT`);
    else if (x < 0.3) lines.push(`${pick(r, ['www', 'www', 'mail', 'login'])}.${customers[Math.floor(r() ** 2 * customers.length)]} A`);
    else
      lines.push(
        `${pick(r, ['www', 'mail', 'api', 'static', 'img', 'cdn', 'login', 'm', 'shop', 'news'])}.` +
          `${sites[Math.floor(r() ** 2.5 * sites.length)]} ${r() < 0.1 ? 'AAAA' : 'A'}`,
      );
  }
  return lines;
}

export function attackNames(zone: string, shape: string, n: number, seed: number): string {
  const r = rng(seed);
  return Array.from({ length: n }, () => `${LABEL_SHAPES[shape]!(r)}.${zone} A`).join('\n') + '\n';
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
export function m6Settings(socket: string, notifyPort: number, extra: string[] = [], minConfidence = 0.6): string[] {
  return [
    'rpz:',
    '  primary: { host: 127.0.0.1, port: 0 }',
    '  transferTo: [127.0.0.1]',
    `  notify: [{ host: 127.0.0.1, port: ${notifyPort} }]`,
    'measures:',
    '  ddos-dns-blocking:',
    '    enabled: true',
    `    dnstap: { unix: [${JSON.stringify(socket)}] }`,
    '    zone: ddos.rpz.isp.test',
    `    autoBlock: { enabled: true, minConfidence: ${minConfidence}, ttl: 10m }`,
    ...extra.map((l) => `    ${l}`),
  ];
}

/** One policy answer as the resolver logged it. */
interface PolicyAnswer {
  qname: string;
  passthru: boolean;
}

/** The policy answers in a resolver's log: Unbound's rpz-log lines, BIND's rpz category. */
export function policyAnswers(log: string, resolver: 'unbound' | 'bind'): PolicyAnswer[] {
  const out: PolicyAnswer[] = [];
  for (const line of log.split('\n')) {
    if (resolver === 'unbound') {
      const m = /rpz: applied \[ddos\.rpz\.isp\.test\] \S+ (rpz-[a-z]+) \S+ (\S+)\. [A-Z0-9]+ IN/.exec(line);
      if (m) out.push({ qname: m[2]!.toLowerCase(), passthru: m[1] === 'rpz-passthru' });
    } else {
      const m = /rpz QNAME (\S+) rewrite (\S+?)\/[A-Z0-9]+\/IN via \S+\.ddos\.rpz\.isp\.test/.exec(line);
      if (m) out.push({ qname: m[2]!.toLowerCase(), passthru: m[1] === 'PASSTHRU' });
    }
  }
  return out;
}

/** The resolver's own counters: client queries, and (BIND) its dnstap messages written and dropped. */
async function resolverCounters(
  resolver: 'unbound' | 'bind',
  dir: string,
  statsPort: number,
): Promise<{ queries: number; source: string; dnstap?: string }> {
  if (resolver === 'unbound') {
    const out = await new Promise<string>((resolve) => {
      const p = spawn('unbound-control', ['-c', join(dir, 'u', 'unbound.conf'), 'stats_noreset'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      p.stdout.on('data', (c: Buffer) => {
        text += c.toString();
      });
      p.on('close', () => resolve(text));
    });
    return {
      queries: parseUnboundStats(out).get('total.num.queries') ?? 0,
      source: 'unbound-control stats_noreset total.num.queries; Unbound has no dnstap counter',
    };
  }
  try {
    const json = (await (await fetch(`http://127.0.0.1:${statsPort}/json/v1/server`)).json()) as { nsstats?: Record<string, number> };
    const d = bindDnstapCounters(json);
    return {
      queries: json.nsstats?.Requestv4 ?? 0,
      source: 'BIND statistics channel nsstats.Requestv4',
      dnstap: `DNSTAPsuccess ${d.success ?? 'absent'}, DNSTAPdropped ${d.dropped ?? 'absent'}`,
    };
  } catch (err) {
    return { queries: 0, source: `BIND statistics channel unreadable: ${(err as Error).message}` };
  }
}

export interface VictimResult {
  zone: string;
  shape: string;
  where: string;
  status?: string;
  confidence?: number;
  candidateAfterS?: number;
  ruleAfterS?: number;
  blockedAfterS?: number;
}

export interface M6ScenarioResult {
  lines: string[];
  candidates: string[];
  victims: VictimResult[];
  amplification?: { status: string; candidateAfterS: number; explanation: string };
  blocked: number;
  benignBlocked: number;
  passedByException: number;
  dnstapDropped: number;
}

export interface M6ScenarioOptions {
  resolver: 'unbound' | 'bind';
  seconds: number;
  benignQps: number;
  /** Per victim. */
  attackQps: number;
  ampQps: number;
  withAttack: boolean;
  /** Seconds from the start; after the warm-up. */
  onsetS: number;
  warmUp?: string;
  minConfidence?: number;
}

/** One run: benign load for `seconds` from a cold start, with or without the attacks from `onsetS`. */
export async function runM6Scenario(o: M6ScenarioOptions): Promise<M6ScenarioResult> {
  const { seconds, benignQps, attackQps, withAttack, onsetS, resolver } = o;
  const dir = mkdtempSync(join(tmpdir(), 'mamori-m6-eval-'));
  const socket = join(dir, 'dnstap.sock');
  const authPort = await freePort();
  const resolverPort = await freePort();
  const statsPort = await freePort();
  const extra = [`detection: { warmUp: ${o.warmUp ?? '30s'} }`];
  const config = parseConfig(
    [
      `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
      'server: { port: 0 }',
      ...m6Settings(socket, resolverPort, extra, o.minConfidence ?? 0.9),
    ].join('\n'),
    'm6-eval',
  );
  const server = await serve(config, { out: new PassThrough(), logger: createLogger('silent') });
  const primaryPort = Number(server.endpoints['ddos-dns-blocking']!.rpzPrimary!.split(':').pop());
  const zoneFiles = Object.fromEntries(Object.entries(ZONES).map(([z, text]) => [`${z}.db`, text]));
  const zoneConf = Object.keys(ZONES)
    .map((z) => `zone "${z}" { type primary; file "${z}.db"; };`)
    .join('\n');
  let auth: Named | undefined;
  let bindResolver: Named | undefined;
  let unbound: Unbound | undefined;
  if (resolver === 'unbound') {
    mkdirSync(join(dir, 'auth'));
    auth = await startNamed(join(dir, 'auth'), authPort, {
      files: zoneFiles,
      options: '\trecursion no;',
      zones: zoneConf,
      ready: /running/,
    });
    mkdirSync(join(dir, 'u'));
    unbound = await startUnbound(join(dir, 'u'), {
      port: resolverPort,
      rpzZone: 'ddos.rpz.isp.test',
      primaryPort,
      forwardPort: authPort,
      extra:
        `dnstap:\n\tdnstap-enable: yes\n\tdnstap-bidirectional: ` +
        `yes\n\tdnstap-socket-path: "${socket}"\n\tdnstap-send-identity: ` +
        `yes\n\tdnstap-identity: "resolver-a"\n` +
        '\tdnstap-log-client-query-messages: yes\n\tdnstap-log-client-response-messages: yes\n' +
        `remote-control:\n\tcontrol-enable: yes\n\tcontrol-interface: "${join(dir, 'u', 'ctl.sock')}"\n\tcontrol-use-cert: no`,
    });
  } else {
    // BIND as the resolver holds the zones itself (its own root zone leaves no way to forward below it); the policy
    // applies to those answers with `recursive-only no`, and its dnstap `client` messages are those of a resolver.
    mkdirSync(join(dir, 'b'));
    bindResolver = await startNamed(join(dir, 'b'), resolverPort, {
      files: zoneFiles,
      options:
        '\trecursion yes;\n\tallow-recursion { 127.0.0.0/8; };\n' +
        '\tresponse-policy { zone "ddos.rpz.isp.test"; } recursive-only no min-update-interval 1;\n' +
        `\tdnstap { client; };\n\tdnstap-output unix "${socket}";\n\tdnstap-identity "resolver-b";\n\tfstrm-set-flush-timeout 1;`,
      zones:
        `${zoneConf}\nzone "ddos.rpz.isp.test" { type secondary; primaries { 127.0.0.1 port ${primaryPort}; }; file "ddos.db"; };\n` +
        'logging { channel rpzlog { stderr; severity info; }; category rpz { rpzlog; }; };\n' +
        `statistics-channels { inet 127.0.0.1 port ${statsPort} allow { 127.0.0.1; }; };`,
      ready: /transfer of 'ddos\.rpz\.isp\.test\/IN' from .*Transfer completed/,
    });
  }
  const log = () => (unbound ? unbound.log() : bindResolver!.log());
  const benign = benignNames(200_000);
  const benignSet = new Set(benign.map((l) => l.split(' ')[0]!));
  writeFileSync(join(dir, 'benign.txt'), benign.join('\n') + '\n');
  VICTIMS.forEach((v, i) => writeFileSync(join(dir, `attack-${i}.txt`), attackNames(v.zone, v.shape, attackQps * seconds, 10 + i)));
  // Both abused names from one dnsperf: half the amplification rate each.
  writeFileSync(join(dir, 'amp.txt'), `${AMP_NAME} TXT\n${AMP10_NAME} TXT\n`);
  const at = (s: string) => ['-s', '127.0.0.1', '-p', String(resolverPort), ...s.split(' ')];
  const benignRun = dnsperf([...at(`-d ${join(dir, 'benign.txt')} -Q ${benignQps} -l ${seconds} -c 8 -q 2000 -e`)]);
  const attacks: Array<Promise<string>> = [];
  let onset = 0;
  const blockedAt = new Map<string, number>();
  let probes = 0;
  if (withAttack) {
    await sleep(onsetS * 1000);
    onset = Date.now();
    const left = seconds - onsetS;
    VICTIMS.forEach((_, i) => attacks.push(dnsperf(at(`-d ${join(dir, `attack-${i}.txt`)} -Q ${attackQps} -l ${left} -c 2`))));
    attacks.push(dnsperf(at(`-d ${join(dir, 'amp.txt')} -Q ${o.ampQps} -l ${left} -c 2 -e`)));
    // Probe each victim with fresh names of its shape until the resolver's own log says its policy answered one.
    const r = rng(99);
    while (Date.now() - onset < left * 1000 && blockedAt.size < VICTIMS.length) {
      // One probe per victim at once (in turn, a loaded resolver's slow answers delayed the later victims' probes).
      await Promise.all(
        VICTIMS.filter((v) => !blockedAt.has(v.zone)).map(async (v) => {
          const probe = `${LABEL_SHAPES[v.shape]!(r)}p${probes++}.${v.zone}`;
          await kdig(['@127.0.0.1', '-p', String(resolverPort), probe, 'A']);
          const lines = log()
            .split('\n')
            .filter((l) => l.includes(probe))
            .join('\n');
          if (policyAnswers(lines, resolver).some((a) => a.qname === probe && !a.passthru)) blockedAt.set(v.zone, Date.now());
        }),
      );
      await sleep(300);
    }
  }
  const benignOut = await benignRun;
  const attackOut = await Promise.all(attacks);
  const token = (await server.mamori.accounts.createToken('module:bench', 'bench', 'analyst')).token;
  type D = {
    kind: string;
    domain: string;
    status: string;
    activeSince?: string;
    firstSeen: string;
    confidence: number;
    evidence: number;
    explanation: { en: string };
    exceptions: string[];
  };
  await sleep(2000); // the resolvers' last dnstap messages (BIND flushes every second)
  const attacksApi = (
    await server.app.inject({
      method: 'GET',
      url: '/api/v1/measures/ddos-dns-blocking/attacks',
      headers: { authorization: `Bearer ${token}` },
    })
  ).json() as {
    decisions: D[];
    receiver: { events: number; dropped: number; errors: Record<string, number> };
    resolvers: Record<string, { queries: number }>;
  };
  const answers = policyAnswers(log(), resolver);
  const received = (attacksApi.resolvers[resolver === 'unbound' ? 'resolver-a' : 'resolver-b'] ?? { queries: 0 }).queries;
  const own = await resolverCounters(resolver, dir, statsPort);
  const passed = answers.filter((a) => a.passthru);
  // The abused name of an amplification rule is blocked by design (its normal queries with it): counted apart.
  const abused = new Set(attacksApi.decisions.filter((d) => d.kind === 'amplification' && d.status === 'active').map((d) => d.domain));
  const benignBlocked = answers.filter((a) => !a.passthru && benignSet.has(a.qname) && !abused.has(a.qname));
  const abusedBlocked = answers.filter((a) => !a.passthru && abused.has(a.qname)).length;
  const qps = (out: string) => /Queries per second:\s+([\d.]+)/.exec(out)?.[1] ?? '?';
  const lost = (out: string) => /Queries lost:\s+(\d+)/.exec(out)?.[1] ?? '?';
  const after = (iso?: string) => (iso ? (Date.parse(iso) - onset) / 1000 : undefined);
  const victims: VictimResult[] = VICTIMS.map((v) => {
    const d = attacksApi.decisions.find((x) => x.kind === 'random-subdomain' && x.domain === v.zone);
    const res: VictimResult = { zone: v.zone, shape: v.shape, where: v.where };
    if (d)
      Object.assign(res, {
        status: d.status,
        confidence: d.confidence,
        candidateAfterS: after(d.firstSeen),
        ruleAfterS: after(d.activeSince),
      });
    if (blockedAt.has(v.zone)) res.blockedAfterS = (blockedAt.get(v.zone)! - onset) / 1000;
    return res;
  });
  const amp = attacksApi.decisions.find((x) => x.kind === 'amplification' && x.domain === AMP_NAME);
  const amp10 = attacksApi.decisions.find((x) => x.kind === 'amplification' && x.domain === AMP10_NAME);
  const lines = [
    `${resolver}, ${withAttack ? 'with attacks' : 'benign only'}, ` +
      `cold start: ${seconds} s, benign ` +
      (`dnsperf ${qps(benignOut)} qps achieved (target ${benignQps}, ` + `lost ${lost(benignOut)})`) +
      (withAttack
        ? `, from ${onsetS} s ${VICTIMS.length} attacks at ${attackOut.slice(0, -1).map(qps).join('/')} ` +
          `qps and TXT ${AMP_NAME} and ${AMP10_NAME} at ${qps(attackOut.at(-1)!)} qps together`
        : ''),
    `  dnstap events at Mamori: ${attacksApi.receiver.events.toLocaleString('en')}, ` +
      `dropped ${attacksApi.receiver.dropped}, ` +
      `errors ${JSON.stringify(attacksApi.receiver.errors)}`,
    `  dnstap loss: the resolver counted ${own.queries.toLocaleString('en')} ` +
      `client queries (${own.source}), ` +
      `M6 received ${received.toLocaleString('en')}` +
      (` (${(lossShare(own.queries, received) * 100).toFixed(1)} ` +
        `% lost before Mamori)${own.dnstap ? `; BIND's own dnstap counters: ${own.dnstap}` : ''}`),
    `  candidates: ${JSON.stringify(attacksApi.decisions.map((d) => `${d.kind}:${d.domain}:${d.status}:${d.confidence.toFixed(2)}`))}`,
  ];
  const f = (x?: number) => (x === undefined ? 'never' : `${x.toFixed(1)} s`);
  if (withAttack) {
    for (const v of victims)
      lines.push(
        `  ${v.zone} (${v.shape}, ${v.where}): candidate ${f(v.candidateAfterS)}, ` +
          `rule ${f(v.ruleAfterS)}, ` +
          (`block effective at the resolver ${f(v.blockedAfterS)} ` + `after the onset, confidence ${v.confidence?.toFixed(2) ?? '-'}`),
      );
    for (const [name, d] of [
      [AMP_NAME, amp],
      [AMP10_NAME, amp10],
    ] as const)
      lines.push(`  ${name}: ${d ? `${d.status} ${f(after(d.firstSeen))} after the onset: ${d.explanation.en}` : 'not detected'}`);
  }
  lines.push(
    `  answers by the policy: ${(answers.length - passed.length).toLocaleString('en')} blocked, ` +
      (`${passed.length.toLocaleString('en')} let through ` + `by an exception; the abused name's answers `) +
      (`blocked: ${abusedBlocked.toLocaleString('en')}; other ` +
        `benign names blocked: ${benignBlocked.length}${benignBlocked.length ? ` e.g. ${benignBlocked[0]!.qname}` : ''}`),
  );
  const result: M6ScenarioResult = {
    lines,
    candidates: attacksApi.decisions.map((d) => `${d.kind}:${d.domain}:${d.status}`),
    victims,
    ...(amp ? { amplification: { status: amp.status, candidateAfterS: after(amp.firstSeen)!, explanation: amp.explanation.en } } : {}),
    blocked: answers.length - passed.length,
    benignBlocked: benignBlocked.length,
    passedByException: passed.length,
    dnstapDropped: attacksApi.receiver.dropped,
  };
  await unbound?.stop();
  await bindResolver?.stop();
  await auth?.stop();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
  return result;
}
