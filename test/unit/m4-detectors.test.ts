/**
 * M4's trigger and detectors on the scenarios of the issue: misuse found
 * (burst from many places, sessions beyond the plan, impossible travel), and
 * the false positives that must never lead to a disconnection — a NAS reboot,
 * a router retrying a wrong password, a subscriber who moves house, dual-stack
 * sessions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  detect,
  distanceKm,
  trigger,
  type AuthEvent,
  type DetectorSettings,
  type History,
  type SessionStart,
  type SessionStop,
} from '../../src/measures/credential-misuse/detectors.js';

const S: DetectorSettings = {
  trigger: { serverRequestsPerMinute: 600, accountRequestsPerMinute: 5 },
  burst: { accepts: 5, withinSeconds: 300, distinctPlaces: 3 },
  concurrent: { maxSessions: 1 },
  travel: { minDistanceKm: 300, maxSpeedKmh: 300 },
  regions: [
    { name: 'Tokyo', lat: 35.68, lon: 139.69 },
    { name: 'Osaka', lat: 34.69, lon: 135.5 },
    { name: 'Fukuoka', lat: 33.59, lon: 130.4 },
    { name: 'Saitama', lat: 35.86, lon: 139.65 },
  ],
  pools: [
    { prefix: '100.64.0.0/16', regions: ['Tokyo'] },
    { prefix: '100.65.0.0/16', regions: ['Osaka'] },
    { prefix: '100.66.0.0/16', regions: ['Fukuoka'] },
    { prefix: '100.67.0.0/16', regions: ['Tokyo', 'Saitama'] },
  ],
  allowList: [{ account: 'roaming@wholesale', reason: 'wholesale partner roams nationwide' }],
};
const T = 1_800_000_000;
const h = (auth: AuthEvent[] = [], starts: SessionStart[] = [], stops: SessionStop[] = []): History => ({ auth, starts, stops });

describe('M4 detectors: misuse', () => {
  it('measures distance on the globe', () => {
    const d = distanceKm(S.regions[0]!, S.regions[1]!);
    assert.ok(d > 390 && d < 410, String(d)); // Tokyo–Osaka ≈ 400 km
  });

  it('fires the trigger on a hot ID, and finds a burst of logins from many places', () => {
    const auth: AuthEvent[] = [];
    for (let i = 0; i < 6; i++) {
      auth.push({ account: 'victim@isp', at: T - 50 + i * 5, nas: `bras${i % 4}`, station: `st${i}`, result: 'request' });
      auth.push({ account: 'victim@isp', at: T - 49 + i * 5, nas: `bras${i % 4}`, station: `st${i}`, result: 'accept' });
    }
    const t = trigger(auth, T, S);
    assert.deepEqual([t.fired, t.accounts], [true, ['victim@isp']]);
    const f = detect('victim@isp', h(auth), T, S);
    assert.deepEqual(
      f.map((x) => x.detector),
      ['burst'],
    );
    assert.match(f[0]!.ja, /6 回の認証成功/);
    assert.match(f[0]!.en, /6 successful logins within 300 s from 6 different access points/);
  });

  it('finds more sessions than the plan allows, and names the newest to disconnect', () => {
    const starts = [
      { account: 'a@isp', at: T - 3000, session: 'bras1|s1', address: '100.64.1.1', nas: 'bras1' },
      { account: 'a@isp', at: T - 100, session: 'bras2|s9', address: '100.64.9.9', nas: 'bras2' },
    ];
    const f = detect('a@isp', h([], starts), T, S);
    assert.deepEqual(
      f.map((x) => x.detector),
      ['concurrent'],
    );
    assert.deepEqual(f[0]!.target, { nas: 'bras2', session: 'bras2|s9', address: '100.64.9.9' });
  });

  it('finds impossible travel: Tokyo, then Fukuoka twenty minutes later', () => {
    const starts = [
      { account: 'b@isp', at: T - 1200, session: 'bras1|s1', address: '100.64.0.5', nas: 'bras1' },
      { account: 'b@isp', at: T, session: 'bras7|s2', address: '100.66.0.5', nas: 'bras7' },
    ];
    const f = detect('b@isp', h([], starts, [{ account: 'b@isp', at: T - 600, session: 'bras1|s1' }]), T, S);
    assert.deepEqual(
      f.map((x) => x.detector),
      ['travel'],
    );
    assert.match(f[0]!.ja, /Tokyo から Fukuoka（約 \d+ km）/);
  });
});

describe('M4 detectors: false positives that must find nothing', () => {
  it('a NAS reboot: thousands re-authenticate at once, each once, from its usual place', () => {
    const auth: AuthEvent[] = [];
    const starts: SessionStart[] = [];
    for (let i = 0; i < 3000; i++) {
      auth.push({ account: `u${i}@isp`, at: T - 30 + (i % 30), nas: 'bras1', station: `cpe${i}`, result: 'request' });
      auth.push({ account: `u${i}@isp`, at: T - 30 + (i % 30), nas: 'bras1', station: `cpe${i}`, result: 'accept' });
      starts.push({ account: `u${i}@isp`, at: T - 4000, session: `bras1|old${i}`, address: `100.64.${i >> 8}.${i & 255}`, nas: 'bras1' });
      starts.push({
        account: `u${i}@isp`,
        at: T - 30 + (i % 30),
        session: `bras1|new${i}`,
        address: `100.64.${i >> 8}.${i & 255}`,
        nas: 'bras1',
      });
    }
    // Accounting-On closed every old session.
    const stops = starts.filter((s) => s.session.includes('old')).map((s) => ({ account: s.account, at: T - 31, session: s.session }));
    const t = trigger(auth, T, S);
    assert.equal(t.fired, true, 'the server is busy: the analysis starts');
    assert.equal(t.accounts.length, 3000);
    const findings = t.accounts.flatMap((a) => detect(a, h(auth, starts, stops), T, S));
    assert.deepEqual(findings, []);
  });

  it('a router retrying a wrong password: many rejects, one place', () => {
    const auth: AuthEvent[] = Array.from({ length: 40 }, (_, i) => ({
      account: 'c@isp',
      at: T - 59 + i,
      nas: 'bras1',
      station: 'cpe-c',
      result: i % 2 ? 'reject' : 'request',
    }));
    assert.equal(trigger(auth, T, S).fired, true);
    assert.deepEqual(detect('c@isp', h(auth), T, S), []);
  });

  it('a subscriber who moves house: Tokyo, then Osaka two days later', () => {
    const starts = [
      { account: 'd@isp', at: T - 2 * 86400, session: 'bras1|s1', address: '100.64.0.7', nas: 'bras1' },
      { account: 'd@isp', at: T, session: 'bras5|s2', address: '100.65.0.7', nas: 'bras5' },
    ];
    assert.deepEqual(detect('d@isp', h([], starts, [{ account: 'd@isp', at: T - 86400, session: 'bras1|s1' }]), T, S), []);
  });

  it('a pool that spans Tokyo and Saitama: next door, not travel', () => {
    const starts = [
      { account: 'e@isp', at: T - 600, session: 'bras1|s1', address: '100.64.0.8', nas: 'bras1' },
      { account: 'e@isp', at: T, session: 'bras2|s2', address: '100.67.0.8', nas: 'bras2' },
    ];
    assert.deepEqual(detect('e@isp', h([], starts, [{ account: 'e@isp', at: T - 300, session: 'bras1|s1' }]), T, S), []);
  });

  it('dual-stack: an IPv4 address and an IPv6 prefix of one session are one session', () => {
    const starts = [
      { account: 'f@isp', at: T - 100, session: 'bras1|s1', address: '100.64.0.9', nas: 'bras1' },
      { account: 'f@isp', at: T - 100, session: 'bras1|s1#1', address: '2001:db8:1::/56', nas: 'bras1' },
    ];
    assert.deepEqual(detect('f@isp', h([], starts), T, S), []);
  });

  it('an allow-listed wholesale account is never acted on', () => {
    const starts = [
      { account: 'roaming@wholesale', at: T - 60, session: 'x|1', address: '100.64.0.1', nas: 'x' },
      { account: 'roaming@wholesale', at: T, session: 'y|2', address: '100.66.0.1', nas: 'y' },
    ];
    assert.deepEqual(detect('roaming@wholesale', h([], starts), T, S), []);
  });
});
