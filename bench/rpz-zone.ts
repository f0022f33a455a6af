/**
 * A policy zone of N blocked names (default 1,000,000; each name is two
 * records, the name and its wildcard): generation time and memory in Mamori,
 * then a full AXFR (TSIG-signed) into BIND 9.18 as secondary, timed from
 * BIND's start to its "Transfer completed", with BIND's memory after it; then
 * 1,000 changes published as one serial and the time until BIND answers with
 * the new policy (NOTIFY → IXFR → policy rebuilt; min-update-interval 1 s).
 * Then the same with Unbound 1.17 as secondary (without TSIG, which its RPZ
 * does not support; NOTIFY; forwarding to the BIND above).
 *
 *   node dist/bench/rpz-zone.js [names=1000000]
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RpzPrimary } from '../src/dns/primary.js';
import { RpzZone } from '../src/dns/rpz.js';
import { kdig, startNamed } from '../test/support/bind.js';
import { freePort } from '../test/support/freeradius.js';
import { startUnbound } from '../test/support/unbound.js';

const names = Number(process.argv[2] ?? 1_000_000);
// BIND's min-update-interval: 1 s (what the docs advise lowering it to), or BIND's default (60 s) with MIN_UPDATE_INTERVAL=default.
const minUpdate =
  process.env.MIN_UPDATE_INTERVAL === 'default' ? '' : ` min-update-interval ${Number(process.env.MIN_UPDATE_INTERVAL ?? 1)}`;
const minUpdateText = minUpdate ? `min-update-interval ${minUpdate.trim().split(' ')[1]}` : "BIND's default min-update-interval (60 s)";
const dir = mkdtempSync(join(tmpdir(), 'mamori-bench-rpz-'));
const key = { name: 'mamori-xfr', secret: randomBytes(32) };
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

const heap0 = process.memoryUsage().heapUsed;
let t = performance.now();
const zone = new RpzZone('rpz.mamori.test');
for (let i = 0; i < names; i++) zone.block(`c2-${i.toString(36)}.bad${i % 997}.example`);
zone.block('evil.lab.example');
zone.bump();
const generated = performance.now() - t;
process.stdout.write(
  `zone of ${names.toLocaleString('en')} names (${zone.size.toLocaleString('en')} records) generated ` +
    `in ${(generated / 1000).toFixed(1)} s; heap +${mib(process.memoryUsage().heapUsed - heap0)}\n`,
);

const bindPort = await freePort();
const primary = await RpzPrimary.start([zone], {
  host: '127.0.0.1',
  port: 0,
  transferTo: [],
  refresh: 3600,
  notify: [{ host: '127.0.0.1', port: bindPort }],
  tsig: [key],
});
t = performance.now();
const named = await startNamed(dir, bindPort, {
  files: {
    'lab.example.db':
      '$TTL 60\n@ IN SOA localhost. root.localhost. 1 60 30 600 60\n@ IN NS localhost.\nevil IN A ' +
      '192.0.2.66\nlater IN A 192.0.2.77\nfine IN A 192.0.2.88\n',
  },
  options:
    `\trecursion yes;\n\tallow-recursion { 127.0.0.0/8; };\n\tresponse-policy { zone "rpz.mamori.test"; ` +
    `} recursive-only no${minUpdate};`,
  zones:
    `key "mamori-xfr" { algorithm hmac-sha256; secret "${key.secret.toString('base64')}"; };\nzone ` +
    `"lab.example" { type primary; file "lab.example.db"; };\nzone "rpz.mamori.test" { type secondary; ` +
    `primaries { 127.0.0.1 port ${primary.port} key "mamori-xfr"; }; file "rpz.db"; };`,
  ready: /transfer of 'rpz\.mamori\.test\/IN' from .*Transfer completed/,
});
const axfr = performance.now() - t;
const pid = Number(readFileSync(join(dir, 'named.pid'), 'utf8'));
const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
const completed = /Transfer completed: ([^\n]*)/.exec(named.log())![1];
process.stdout.write(
  `full AXFR into BIND 9.18 (TSIG): ${(axfr / 1000).toFixed(1)} s from start to "Transfer completed: ` +
    `${completed}"; named RSS ${mib(rss)}\n`,
);

// BIND builds its policy summary after the transfer (seconds for millions of records): measure changes after that.
t = performance.now();
while (!/rpz: rpz\.mamori\.test: reload done/.test(named.log()) && performance.now() - t < 300_000)
  await new Promise((r) => setTimeout(r, 100));
process.stdout.write(`BIND's first policy build after the AXFR: ${((performance.now() - t) / 1000).toFixed(1)} s more\n`);

// 1,000 changes as one serial; time until BIND answers with the new policy.
for (let i = 0; i < 999; i++) zone.block(`fresh-${i}.bad.example`);
zone.block('later.lab.example');
t = performance.now();
await primary.changed(zone);
let out = '';
while (!/NXDOMAIN/.test(out) && performance.now() - t < 120_000)
  out = await kdig(['@127.0.0.1', '-p', String(bindPort), 'later.lab.example', 'A']);
process.stdout.write(
  `1,000 changes: ${(performance.now() - t).toFixed(0)} ms from publishing to BIND answering ` +
    `NXDOMAIN (NOTIFY, IXFR, policy rebuild with ${minUpdateText})\n`,
);
// Where the time went, from BIND's own log of that update.
for (const line of named
  .log()
  .split('\n')
  .filter((l) => /notify|Transfer (started|completed)|rpz:.*(reload|update|done)/i.test(l))
  .slice(-6))
  process.stdout.write(`  named: ${line.replace(/^\S+ /, '')}\n`);

// Unbound: its own unsigned primary for the same zone (Unbound's RPZ has no TSIG).
const ubPort = await freePort();
const plain = await RpzPrimary.start([zone], {
  host: '127.0.0.1',
  port: 0,
  transferTo: ['127.0.0.1'],
  refresh: 3600,
  notify: [{ host: '127.0.0.1', port: ubPort }],
});
mkdirSync(join(dir, 'unbound'));
t = performance.now();
// Unbound's upstream is a BIND without the policy, so that every NXDOMAIN seen is Unbound's own.
mkdirSync(join(dir, 'upstream'));
const upstream = await startNamed(join(dir, 'upstream'), await freePort(), {
  files: {
    'lab.example.db':
      '$TTL 60\n@ IN SOA localhost. root.localhost. 1 60 30 600 60\n@ IN NS localhost.\nevil IN A ' +
      '192.0.2.66\nlater IN A 192.0.2.77\nfine IN A 192.0.2.88\n',
  },
  options: '\trecursion no;',
  zones: 'zone "lab.example" { type primary; file "lab.example.db"; };',
  ready: /running/,
});
const unbound = await startUnbound(join(dir, 'unbound'), {
  port: ubPort,
  rpzZone: 'rpz.mamori.test',
  primaryPort: plain.port,
  forwardPort: upstream.port,
});
const ask = () => kdig(['@127.0.0.1', '-p', String(ubPort), 'evil.lab.example', 'A']);
out = '';
while (!/NXDOMAIN/.test(out) && performance.now() - t < 300_000) {
  out = await ask();
  if (!/NXDOMAIN/.test(out)) await new Promise((r) => setTimeout(r, 200));
}
process.stdout.write(
  `full AXFR into Unbound 1.17: ${((performance.now() - t) / 1000).toFixed(1)} s from start to ` +
    `the policy answering; unbound RSS ${mib(Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${Number(readFileSync(join(dir, 'unbound', 'unbound.pid'), 'utf8'))}/status`, 'utf8'))![1]) * 1024)}\n`,
);
for (let i = 0; i < 999; i++) zone.block(`fresher-${i}.bad.example`);
zone.block('fine.lab.example');
t = performance.now();
await plain.changed(zone);
out = '';
while (!/NXDOMAIN/.test(out) && performance.now() - t < 120_000)
  out = await kdig(['@127.0.0.1', '-p', String(ubPort), 'fine.lab.example', 'A']);
process.stdout.write(
  `1,000 changes at Unbound: ${(performance.now() - t).toFixed(0)} ms from publishing to Unbound ` +
    `answering NXDOMAIN (NOTIFY, then ${plain.status().incremental > 0 ? 'IXFR' : 'AXFR'}: the ` +
    `transfer Unbound asked for)\n`,
);
if (!/NXDOMAIN/.test(out))
  process.stdout.write(
    `  unbound: ${unbound
      .log()
      .split('\n')
      .filter((l) => /rpz|xfr|error/i.test(l))
      .slice(-5)
      .join('\n  unbound: ')}\n`,
  );
await unbound.stop();
await upstream.stop();
await plain.stop();
await named.stop();
await primary.stop();
rmSync(dir, { recursive: true, force: true });
