/**
 * M7 with its walled garden on, in the server, for the interop and browser tests: RADIUS sessions from the
 * real radclient, a plain list of infected hosts imported through the API, the analysis pass that notifies
 * and gardens (family "mirai" is gardened right after the first notice), and helpers to read the zone's serial.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { testConfig } from './fixtures.js';
import { radclient } from './freeradius.js';
import { kdig } from './bind.js';

export const M7 = 'infected-host-alert';
export const GARDEN_ZONE = 'garden.rpz.isp.example';
/** The allow zone's default name: a sibling of the garden zone. */
export const ALLOW_ZONE = 'garden-allow.rpz.isp.example';
export const M3 = 'cc-dns-blocking';
export const CC_ZONE = 'cc.rpz.isp.example';
export const OPTOUT_ZONE = 'optout.rpz.isp.example';
const SECRET = 'testing123';

export interface GardenServer {
  server: Server;
  token: string;
  /** host and port of the notice page and of the RPZ primary. */
  page: { host: string; port: number };
  primaryPort: number;
  call(method: string, path: string, body?: unknown, type?: string): Promise<{ status: number; json: Record<string, any> }>;
}

export async function startGardenServer(
  dir: string,
  o: {
    sessions: Record<string, string>;
    gardenAddress: string;
    notify?: number[];
    maxReleases?: number;
    /** The secondaries' addresses (127.0.0.1 unless set). */
    transferTo?: string[];
    /** Those of them sent the whole zone instead of an IXFR that deletes a client-IP rule (Unbound 1.17). */
    wholeZoneOnClientIpRemoval?: string[];
    /** walledGarden.allow: names a gardened subscriber still resolves. */
    allow?: string[];
    /** M3 (C&C DNS blocking) on too, with its zones CC_ZONE and OPTOUT_ZONE on the same primary. */
    m3?: boolean;
  },
): Promise<GardenServer> {
  const config = testConfig(
    join(dir, 'data'),
    [
      'server:\n  port: 0',
      'rpz:',
      '  primary: { host: 127.0.0.1, port: 0 }',
      `  transferTo: [${(o.transferTo ?? ['127.0.0.1']).join(', ')}]`,
      `  wholeZoneOnClientIpRemoval: [${(o.wholeZoneOnClientIpRemoval ?? []).join(', ')}]`,
      `  notify: [${(o.notify ?? []).map((p) => `{ host: 127.0.0.1, port: ${p} }`).join(', ')}]`,
      'measures:',
      `  ${M7}:`,
      '    enabled: true',
      '    prefixes: ["127.0.0.0/8"]',
      '    analysisInterval: 1h',
      '    notice: { optOut: "https://member.isp.example/settings", support: "0120-000-000" }',
      '    remediation:',
      '      mirai: { ja: "ルータを再起動し、初期パスワードを変更してください。", en: "Restart the router and change its default password." }',
      '    walledGarden:',
      '      enabled: true',
      '      basisConfirmedBy: "legal dept., memo 2026-12-01 (test)"',
      `      zone: ${GARDEN_ZONE}`,
      `      address: { ipv4: [${o.gardenAddress}] }`,
      '      listen: { host: 127.0.0.1, port: 0 }',
      `      maxReleases: ${o.maxReleases ?? 2}`,
      '      families: [mirai]',
      ...(o.allow ? [`      allow: [${o.allow.join(', ')}]`] : []),
      ...(o.m3 ? [`  ${M3}:`, '    enabled: true', `    zones: { cc: ${CC_ZONE}, optOut: ${OPTOUT_ZONE} }`, '    refresh: 60'] : []),
      'ingest:\n  radius:\n    listeners: [{ host: "127.0.0.1", port: 0 }]',
      `    clients: [{ address: "127.0.0.1", secret: "${SECRET}", name: "bras1" }]\n    interimTimeout: 3d`,
      'notices:\n  from: "abuse@isp.example"\n  deliveryInterval: 1h',
    ].join('\n'),
  );
  const server = await serve(config, { analytics: false, out: new PassThrough(), logger: createLogger('silent') });
  const token = (await server.mamori.accounts.createToken('module:test', 'abuse desk', 'admin')).token;
  const radius = server.radius!.addresses[0]!.port;
  const t0 = Math.floor(Date.now() / 1000) - 3600;
  for (const [user, address] of Object.entries(o.sessions)) {
    const r = await radclient(
      radius,
      'acct',
      SECRET,
      `Acct-Status-Type = Start\nUser-Name = "${user}"\nAcct-Session-Id = "s-${user}"\nFramed-IP-Address = ${address}\n` +
        `NAS-IP-Address = 127.0.0.1\nEvent-Timestamp = ${t0}\n`,
    );
    assert.equal(r.status, 0, r.out);
  }
  await server.radius!.settled();
  const contacts = Object.keys(o.sessions)
    .map((u) => `${u},${u.replace(/@.*/, '')}@example.net,${u},ja`)
    .join('\n');
  await server.mamori.notices.importContacts(`${contacts}\n`, 'cli:test');
  const [host, port] = server.endpoints[M7]!.gardenPage!.split(/:(?=\d+$)/) as [string, string];
  const call = async (method: string, path: string, body?: unknown, type = 'application/json') => {
    const res = await fetch(`${server.url}/api/v1/measures/${M7}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': type }) },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  };
  return {
    server,
    token,
    page: { host, port: Number(port) },
    primaryPort: Number(server.endpoints[M7]!.rpzPrimary!.split(':').pop()),
    call,
  };
}

/** Reports `address` as infected with `family` (a plain CSV list from an operator), then runs the analysis pass. */
export async function reportAndAnalyze(
  g: GardenServer,
  address: string,
  o: { family?: string; at?: Date } = {},
): Promise<Record<string, any>> {
  const at = (o.at ?? new Date(Date.now() - 60_000)).toISOString();
  const family = o.family ?? 'mirai';
  const imported = await g.call(
    'POST',
    '/reports?source=operator-list&format=csv&name=list.csv',
    `address,time,family\n${address},${at},${family}\n`,
    'text/csv',
  );
  assert.equal(imported.status, 200, JSON.stringify(imported.json));
  assert.equal(imported.json.resolved, 1, JSON.stringify(imported.json));
  const analyzed = await g.call('POST', '/analyze');
  assert.equal(analyzed.status, 200, JSON.stringify(analyzed.json));
  return analyzed.json;
}

/** The SOA serial a DNS server gives for the garden zone (the primary itself, or a secondary), or -1. */
export async function serialAt(port: number, zone = GARDEN_ZONE): Promise<number> {
  const out = await kdig(['@127.0.0.1', '-p', String(port), zone, 'SOA', '+short']);
  const m = /^\S+ \S+ (\d+) /m.exec(out);
  return m ? Number(m[1]) : -1;
}

/**
 * Waits (bounded) until BIND has applied a new version of the garden zone as policy: its log says
 * "rpz: <zone>: reload done" more often than `before` times (a transfer alone is not yet the policy in force).
 */
export async function rpzApplied(log: () => string, before: number, ms = 15_000, zone = GARDEN_ZONE): Promise<void> {
  for (const deadline = Date.now() + ms; Date.now() < deadline;) {
    if (rpzReloads(log(), zone) > before) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`BIND did not apply a new version of ${zone} within ${ms} ms`);
}

export const rpzReloads = (log: string, zone = GARDEN_ZONE) => log.split(`rpz: ${zone}: reload done`).length - 1;

/** Waits (bounded) until the secondary at `port` holds the primary's current serial of the garden zone. */
export async function sameSerial(primaryPort: number, secondaryPort: number, ms = 15_000, zone = GARDEN_ZONE): Promise<number> {
  const want = await serialAt(primaryPort, zone);
  let got = -1;
  for (const deadline = Date.now() + ms; Date.now() < deadline;) {
    got = await serialAt(secondaryPort, zone);
    if (got === want) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the secondary holds serial ${got}, the primary ${want}`);
}
