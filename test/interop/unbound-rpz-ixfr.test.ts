/**
 * Unbound 1.17.1 as an RPZ secondary of BIND 9.18 — no Mamori code in the path — to settle whether the garden
 * that outlives its release at Unbound (m7-garden.test.ts) is Unbound's or Mamori's doing.
 *
 * BIND serves two dynamic policy zones (changed with knsupdate, so it answers IXFR from its own journal):
 * `ixfr.rpz.example` always incrementally (max-ixfr-ratio unlimited), `axfr.rpz.example` always with the whole
 * zone (max-ixfr-ratio 1%, an "AXFR-style" IXFR answer, RFC 1995 §4). Unbound logs each transfer's kind at
 * verbosity 4 ("last IXFR packet" / "last AXFR packet"); every step waits for "updated to serial N" in its log.
 *
 * What it shows: an incremental IXFR that deletes a client-IP trigger (local data A, or a CNAME) changes
 * Unbound's copy of the zone (the zonefile it writes no longer has the owner) but not its policy — the rule
 * still applies — while the qname trigger deleted in the same IXFR is lifted. The same deletion sent as the
 * whole zone lifts the client-IP rule. Unbound 1.17.1's rpz_remove_rr handles only qname and response-IP
 * triggers on IXFR deletion (its binary lacks the later "RPZ address, netblock not found" message of
 * rpz_clientip_remove_trigger_rr); Mamori's primary therefore answers such an IXFR with the whole zone.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kdig, startNamed, type Named } from '../support/bind.js';
import { tempDir } from '../support/fixtures.js';
import { have } from '../support/flow-peers.js';
import { freePort } from '../support/freeradius.js';
import { startUnbound, type Unbound } from '../support/unbound.js';

const SOA = '$TTL 60\n@ IN SOA localhost. root.localhost. 1 60 30 600 60\n@ IN NS localhost.\n';
const INCREMENTAL = 'ixfr.rpz.example';
const WHOLE = 'axfr.rpz.example';
const GARDEN = '192.0.2.80';
const REAL = '192.0.2.10';

/** knsupdate (RFC 2136) against BIND: the zone changes on the primary and BIND journals the difference. */
function knsupdate(port: number, zone: string, lines: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('knsupdate', [], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 10_000 });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out }));
    p.stdin.end(`server 127.0.0.1 ${port}\nzone ${zone}.\n${lines.join('\n')}\nsend\nquit\n`);
  });
}

const skip = !(have('named') && have('unbound') && have('kdig') && have('knsupdate')) && 'bind9, unbound or knot-dnsutils not installed';

describe('Unbound 1.17 as RPZ secondary of BIND 9.18: client-IP rules and IXFR deletions', { skip }, () => {
  let named: Named | undefined;
  let unbound: Unbound | undefined;
  let bindPort: number;
  let port: number;
  const dir = tempDir();

  const ask = async (source: string, name = 'good.lab.example') => {
    const out = await kdig(['-b', source, '@127.0.0.1', '-p', String(port), name, 'A']);
    assert.match(out, /status: NOERROR/, out);
    return [...out.matchAll(/^[^;\s]\S*\s+\d+\s+IN\s+A\s+(\S+)$/gm)].map((m) => m[1]!);
  };

  /** Waits (bounded) for `line` in Unbound's log after `mark`; returns what it logged since, up to the line. */
  const logged = async (line: string, mark: number, ms = 15_000): Promise<string> => {
    for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      const since = unbound!.log().slice(mark);
      const at = since.indexOf(line);
      if (at >= 0) return since.slice(0, at + line.length);
    }
    throw new Error(`Unbound did not log "${line}" within ${ms} ms: ${unbound!.log().slice(-2000)}`);
  };
  const updatedTo = (zone: string, serial: number, mark: number) => logged(`auth zone ${zone}. updated to serial ${serial}`, mark);

  before(async () => {
    bindPort = await freePort();
    port = await freePort();
    mkdirSync(join(dir, 'b'));
    mkdirSync(join(dir, 'u'));
    const policyZone = (name: string, ratio: string) =>
      `zone "${name}" { type primary; file "${name}.db"; allow-update { 127.0.0.1; }; allow-transfer { 127.0.0.1; };\n` +
      `\tnotify explicit; also-notify { 127.0.0.1 port ${port}; }; max-ixfr-ratio ${ratio}; };`;
    named = await startNamed(join(dir, 'b'), bindPort, {
      files: {
        'lab.example.db': `${SOA}good IN A ${REAL}\nevil IN A 192.0.2.66\n`,
        // Client-IP local data (the walled garden), a qname rule with local data, and a client-IP CNAME.
        [`${INCREMENTAL}.db`]:
          `${SOA}32.2.0.0.127.rpz-client-ip IN A ${GARDEN}\nevil.lab.example IN A 192.0.2.81\n` +
          '32.4.0.0.127.rpz-client-ip IN CNAME garden.lab.example.\n',
        [`${WHOLE}.db`]: `${SOA}32.3.0.0.127.rpz-client-ip IN A ${GARDEN}\n`,
      },
      options: '\trecursion no;\n\tnotify no;',
      zones: [
        'zone "lab.example" { type primary; file "lab.example.db"; };',
        policyZone(INCREMENTAL, 'unlimited'),
        policyZone(WHOLE, '1%'),
      ].join('\n'),
      ready: /running/,
    });
    const rpz = (name: string) =>
      `rpz:\n\tname: "${name}"\n\tprimary: 127.0.0.1@${bindPort}\n\tallow-notify: 127.0.0.1\n\tzonefile: "${join(dir, 'u', name)}.zone"\n`;
    unbound = await startUnbound(join(dir, 'u'), {
      port,
      rpzZone: '',
      primaryPort: bindPort,
      forwardPort: bindPort,
      verbosity: 4,
      extra: rpz(INCREMENTAL) + rpz(WHOLE),
    });
    await updatedTo(INCREMENTAL, 1, 0);
    await updatedTo(WHOLE, 1, 0);
  });
  after(async () => {
    await unbound?.stop();
    await named?.stop();
  });

  it('applies the first transfer: client-IP local data to the listed addresses only, the qname rule, the CNAME (empty)', async () => {
    assert.deepEqual(await ask('127.0.0.2'), [GARDEN]);
    assert.deepEqual(await ask('127.0.0.3'), [GARDEN]);
    assert.deepEqual(await ask('127.0.0.5'), [REAL]);
    assert.deepEqual(await ask('127.0.0.5', 'evil.lab.example'), ['192.0.2.81']);
    // Unbound 1.17 answers a client-IP CNAME action with an empty NOERROR: the rule applies, without data.
    assert.deepEqual(await ask('127.0.0.4'), []);
  });

  it('keeps both client-IP rules after the incremental IXFR that deletes them, and lifts the qname rule it deletes', async () => {
    const mark = unbound!.log().length;
    const update = await knsupdate(bindPort, INCREMENTAL, [
      `del 32.2.0.0.127.rpz-client-ip.${INCREMENTAL}. A`,
      `del evil.lab.example.${INCREMENTAL}. A`,
      `del 32.4.0.0.127.rpz-client-ip.${INCREMENTAL}. CNAME`,
    ]);
    assert.equal(update.code, 0, update.out);
    const transfer = await updatedTo(INCREMENTAL, 2, mark);
    assert.match(transfer, /last IXFR packet/, 'an incremental transfer');
    assert.doesNotMatch(transfer, /last AXFR packet/);
    assert.match(named!.log(), new RegExp(`'${INCREMENTAL.replace(/\./g, '\\.')}/IN': IXFR started \\(serial 1 -> 2\\)`));
    // Unbound's copy of the zone has lost the owners (it writes the zonefile after the transfer) ...
    const file = join(dir, 'u', `${INCREMENTAL}.zone`);
    await logged(`write zonefile ${file}`, mark);
    const copy = readFileSync(file, 'utf8');
    assert.match(copy, / 2 60 30 600 60\n/, 'the zonefile is at serial 2');
    assert.doesNotMatch(copy, /rpz-client-ip|evil\.lab\.example/);
    // ... the qname rule is gone ...
    assert.deepEqual(await ask('127.0.0.5', 'evil.lab.example'), ['192.0.2.66']);
    // ... but Unbound 1.17.1 still applies both client-IP rules.
    assert.deepEqual(await ask('127.0.0.2'), [GARDEN], 'Unbound 1.17.1 keeps client-IP local data after the IXFR deletion');
    assert.deepEqual(await ask('127.0.0.4'), [], 'Unbound 1.17.1 keeps the client-IP CNAME rule after the IXFR deletion');
  });

  it('lifts the client-IP rule when the same deletion comes as the whole zone (AXFR-style IXFR answer)', async () => {
    const mark = unbound!.log().length;
    const update = await knsupdate(bindPort, WHOLE, [`del 32.3.0.0.127.rpz-client-ip.${WHOLE}. A`]);
    assert.equal(update.code, 0, update.out);
    const transfer = await updatedTo(WHOLE, 2, mark);
    assert.match(transfer, /last AXFR packet/, 'BIND answered the IXFR with the whole zone');
    assert.match(named!.log(), new RegExp(`'${WHOLE.replace(/\./g, '\\.')}/IN': AXFR-style IXFR started`));
    assert.deepEqual(await ask('127.0.0.3'), [REAL]);
    assert.deepEqual(await ask('127.0.0.2'), [GARDEN], 'the other zone is untouched');
  });
});
