/**
 * Real traffic for M1's evaluation: Zeek conn logs read as a router would
 * export them, and benign days replicated over subscribers that are each their
 * own variation — not N copies of one host.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildRealIsp, captureHost, labelledC2 } from '../../src/simulate/real-isp.js';
import type { SimFlow } from '../../src/simulate/isp.js';
import { historyFlags, isLocalOnly, parseZeekConn, readZeekConn, ZeekLogError } from '../../src/simulate/zeek-conn.js';
import { rng } from '../../src/core/random.js';
import { REPO_ROOT } from '../support/fixtures.js';

const HEADER = [
  '#separator \\x09',
  '#set_separator\t,',
  '#empty_field\t(empty)',
  '#unset_field\t-',
  '#path\tconn',
  [
    '#fields',
    'ts',
    'uid',
    'id.orig_h',
    'id.orig_p',
    'id.resp_h',
    'id.resp_p',
    'proto',
    'service',
    'duration',
    'orig_bytes',
    'resp_bytes',
    'conn_state',
    'local_orig',
    'local_resp',
    'missed_bytes',
    'history',
    'orig_pkts',
    'orig_ip_bytes',
    'resp_pkts',
    'resp_ip_bytes',
    'tunnel_parents   label   detailedlabel',
  ].join('\t'),
  [
    '#types',
    'time',
    'string',
    'addr',
    'port',
    'addr',
    'port',
    'enum',
    'string',
    'interval',
    'count',
    'count',
    'string',
    'bool',
    'bool',
    'count',
    'string',
    'count',
    'count',
    'count',
    'count',
    'set[string]   string   string',
  ].join('\t'),
];
const HOST = '192.168.1.50';

function line(
  ts: number,
  orig: string,
  op: number,
  resp: string,
  rp: number,
  proto: string,
  history: string,
  op_: number,
  ob: number,
  rp_: number,
  rb: number,
  label = 'Benign',
  detail = '-',
): string {
  return [
    ts.toFixed(6),
    'C1',
    orig,
    op,
    resp,
    rp,
    proto,
    '-',
    '0.5',
    '0',
    '0',
    'SF',
    'T',
    'F',
    '0',
    history,
    op_,
    ob,
    rp_,
    rb,
    `(empty)   ${label}   ${detail}`,
  ].join('\t');
}

/** A benign day: 30 services polled, 60 one-off sites, scans of the host; plus a LAN printer and multicast that never leave home. */
function benignDay(seed: number): string {
  const r = rng(seed);
  const rows: string[] = [];
  const t0 = 1_700_000_000;
  for (let s = 0; s < 30; s++) {
    const dst = `203.0.${113 + (s % 2)}.${10 + s}`;
    for (let k = 0; k < 5 + s * 3; k++)
      rows.push(line(t0 + r() * 86_000, HOST, 50000 + k, dst, s % 3 ? 443 : 8883, 'tcp', 'ShADadFf', 8, 1200, 7, 5000));
  }
  for (let s = 0; s < 60; s++)
    rows.push(line(t0 + r() * 86_000, HOST, 51000 + s, `198.51.100.${s + 1}`, 443, 'tcp', 'ShADadFf', 10, 900, 12, 40_000));
  for (let s = 0; s < 200; s++)
    rows.push(
      line(t0 + r() * 86_000, `192.0.2.${s % 50}`, 40000 + s, HOST, 23, 'tcp', 'S', 1, 40, 0, 0, 'Malicious', 'External-Attack-to-Device'),
    );
  rows.push(line(t0 + 10, HOST, 5353, '224.0.0.251', 5353, 'udp', 'D', 1, 80, 0, 0));
  rows.push(line(t0 + 20, HOST, 52000, '192.168.1.20', 9100, 'tcp', 'ShADadFf', 5, 600, 4, 300));
  return [...HEADER, ...rows].join('\n');
}

/** An infection: the C&C refuses every attempt (REJ), labelled. */
function infection(): string {
  const rows = Array.from({ length: 40 }, (_, k) =>
    line(
      1_600_000_000 + k * 0.7,
      '192.168.1.107',
      60000 + k,
      '192.0.2.200',
      7777,
      'tcp',
      'Sr',
      2,
      104,
      2,
      80,
      'Malicious',
      'From_malicious-To_malicious-RAT',
    ),
  );
  rows.push(line(1_600_000_100, '192.168.1.107', 61000, '198.51.100.77', 443, 'tcp', 'ShADadFf', 10, 900, 12, 40_000, 'Benign', '-'));
  return [...HEADER, ...rows].join('\n');
}

describe('Zeek conn logs', () => {
  it('reads the labelled TSV format, with labels joined to the last field by spaces', () => {
    const log = parseZeekConn(infection(), 'rat.log');
    assert.equal(log.conns.length, 41);
    assert.equal(log.labelled, true);
    assert.deepEqual(
      [log.conns[0]!.label, log.conns[0]!.detailedLabel, log.conns[0]!.respP, log.conns[0]!.proto],
      ['Malicious', 'From_malicious-To_malicious-RAT', 7777, 6],
    );
    assert.deepEqual(labelledC2(log), [{ address: '192.0.2.200', port: 7777, proto: 6 }]);
    assert.equal(captureHost(log, labelledC2(log)), '192.168.1.107');
  });

  it('reads JSON lines, and refuses what is not a conn log, whole', () => {
    const json = JSON.stringify({
      ts: 1.5,
      'id.orig_h': '10.1.1.1',
      'id.orig_p': 5000,
      'id.resp_h': '203.0.113.1',
      'id.resp_p': 443,
      proto: 'tcp',
      history: 'ShAD',
      orig_pkts: 3,
      orig_ip_bytes: 300,
      resp_pkts: 2,
      resp_ip_bytes: 200,
    });
    assert.equal(parseZeekConn(`${json}\n{broken\n`, 'j.log').conns.length, 1);
    assert.throws(() => parseZeekConn('hello\nworld\n', 'x.log'), ZeekLogError);
    assert.throws(() => parseZeekConn('#fields\ta\tb\n1\t2\n', 'y.log'), /lacks ts/);
  });

  it('gives each direction the TCP flags a router would report', () => {
    assert.equal(historyFlags('Sr', 'orig', 2), 0x02, 'a refused attempt is SYN only');
    assert.equal(historyFlags('Sr', 'resp', 2), 0x04);
    assert.equal(historyFlags('ShADadFf', 'orig', 8) & 0x13, 0x13);
    assert.equal(historyFlags('ShADadFf', 'resp', 7) & 0x13, 0x13);
    assert.equal(historyFlags('-', 'orig', 1), 0x10);
  });

  it('knows what never leaves a home', () => {
    assert.deepEqual(
      ['224.0.0.251', '192.168.1.20', '10.0.0.1', 'fe80::1', 'ff02::1', 'fd00::1', '203.0.113.1', '2001:db8::1'].map(isLocalOnly),
      [true, true, true, true, true, true, false, false],
    );
  });
});

describe('replicated subscribers', () => {
  const day1 = parseZeekConn(benignDay(1), 'benign-day1.log');
  const day2 = parseZeekConn(benignDay(2), 'benign-day2.log');
  const rat = parseZeekConn(infection(), 'rat.log');
  const config = {
    seed: 7,
    subscribers: 60,
    start: new Date(Date.UTC(2026, 0, 1)),
    benignDays: [day1, day2],
    infections: [{ name: 'rat', log: rat, c2: labelledC2(rat) }],
    infectedPerFamily: 3,
  };
  const isp = buildRealIsp(config);
  const flows = [...isp.flows()];
  const v4 = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  const bySub = new Map<string, SimFlow[]>();
  for (const f of flows) if (v4(f.src).startsWith('10.')) bySub.set(v4(f.src), [...(bySub.get(v4(f.src)) ?? []), f]);

  it('keeps only what leaves a home, and puts each subscriber at its own address', () => {
    assert.ok(!flows.some((f) => ['224.', '192.168.'].some((p) => v4(f.dst).startsWith(p) || v4(f.src).startsWith(p))));
    assert.equal(bySub.size, 60);
  });

  it('is not 60 copies of one host: subsets, own long tail, own times, own volumes', () => {
    const sets = [...bySub.values()].map((fs) => new Set(fs.map((f) => `${v4(f.dst)}:${f.dport}`)));
    let identical = 0,
      pairs = 0,
      jaccard = 0;
    for (let i = 0; i < sets.length; i++)
      for (let j = i + 1; j < sets.length; j++) {
        const inter = [...sets[i]!].filter((x) => sets[j]!.has(x)).length;
        const union = new Set([...sets[i]!, ...sets[j]!]).size;
        pairs += 1;
        jaccard += inter / union;
        if (inter === union) identical += 1;
      }
    assert.equal(identical, 0, 'two subscribers reach exactly the same endpoints');
    assert.ok(jaccard / pairs < 0.6, `mean Jaccard similarity ${(jaccard / pairs).toFixed(2)}`);
    // Endpoints only one subscriber reaches: a long tail, as in a real ISP.
    const reach = new Map<string, number>();
    for (const s of sets) for (const e of s) reach.set(e, (reach.get(e) ?? 0) + 1);
    assert.ok([...reach.values()].filter((n) => n === 1).length > 500);
    const firsts = [...bySub.values()].map((fs) => Math.min(...fs.map((f) => f.startMs)));
    assert.ok(new Set(firsts).size > 50, 'own time shifts');
    const polled = (fs: SimFlow[]) => fs.filter((f) => f.dport === 8883).map((f) => f.bytes);
    const means = [...bySub.values()]
      .map(polled)
      .filter((b) => b.length > 0)
      .map((b) => b.reduce((a, x) => a + x, 0) / b.length);
    assert.ok(Math.max(...means) / Math.min(...means) > 1.5, 'own volumes');
    assert.ok(flows.every((f) => f.startMs >= config.start.getTime() && f.startMs < config.start.getTime() + 86_400_000));
  });

  it('mixes the infection into exactly the infected subscribers, and labels endpoints for scoring', () => {
    const infected = isp.infected.get('rat')!.map((i) => v4(((10 << 24) + 256 + i) >>> 0));
    assert.equal(infected.length, 3);
    const reaching = [...bySub]
      .filter(([, fs]) => fs.some((f) => v4(f.dst) === '192.0.2.200'))
      .map(([s]) => s)
      .sort();
    assert.deepEqual(reaching, [...infected].sort());
    const attempt = flows.find((f) => v4(f.dst) === '192.0.2.200')!;
    assert.deepEqual([attempt.dport, attempt.tcpFlags], [7777, 0x02]);
    assert.deepEqual(isp.truthOf({ address: '192.0.2.200', port: 7777, proto: 6 }), { truth: 'cc', family: 'rat' });
    assert.equal(isp.truthOf({ address: '203.0.113.10', port: 8883, proto: 6 }).truth, 'benign');
  });

  it('is reproducible from its seed, and differs with another', () => {
    const again = [...buildRealIsp(config).flows()];
    assert.equal(again.length, flows.length);
    assert.deepEqual(again.slice(0, 50), flows.slice(0, 50));
    const other = [...buildRealIsp({ ...config, seed: 8 }).flows()];
    assert.notDeepEqual(other.slice(0, 50), flows.slice(0, 50));
  });
});

const REAL = join(REPO_ROOT, '../shared/data/c2-real');
describe(
  'the real captures in ../shared/data/c2-real',
  { skip: !existsSync(REAL) && '../shared/data/c2-real is absent: the real captures are not checked' },
  () => {
    it("reads all four, finds each capture's host and the labelled RemcosRAT C&C", () => {
      const remcos = readZeekConn(join(REAL, 'remcosrat-ctu-sme-11.conn.log.labeled'));
      assert.deepEqual(labelledC2(remcos), [{ address: '66.63.168.35', port: 5888, proto: 6 }]);
      assert.equal(captureHost(remcos, labelledC2(remcos)), '192.168.1.107');
      const day1 = readZeekConn(join(REAL, 'benign-day-ctu-normal-40-day1.conn.log.labeled'));
      assert.equal(captureHost(day1), '147.32.81.167');
      assert.equal(day1.skipped.length, 0);
      const simda = readZeekConn(join(REAL, 'simda-ctu-botnet-355-1.conn.log'));
      assert.equal(simda.labelled, false);
      assert.equal(captureHost(simda, [{ address: '23.253.126.58', port: 80, proto: 6 }]), '192.168.1.116');
    });
  },
);
