/**
 * BIND 9.18 as the secondary of Mamori's RPZ primary over AXFR, on loopback
 * only (BIND has its own root zone here, so it never asks the Internet):
 * kdig through BIND — a listed name and its subdomains answer NXDOMAIN, an
 * unlisted one its real address, and an opted-out client address gets the real
 * answer for the listed name; a transfer from an address not allowed is
 * refused; garbage on the wire is counted, not answered.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RpzPrimary } from '../../src/dns/primary.js';
import { RpzZone } from '../../src/dns/rpz.js';
import { have } from '../support/flow-peers.js';
import { freePort } from '../support/freeradius.js';
import { tempDir } from '../support/fixtures.js';
import { kdig, startNamed, type Named } from '../support/bind.js';

describe('RPZ primary with BIND as secondary', { skip: !(have('named') && have('kdig')) && 'bind9 or knot-dnsutils not installed' }, () => {
  let primary: RpzPrimary;
  let named: Named | undefined;
  let bindPort: number;
  const zone = new RpzZone('rpz.mamori.test');
  const dir = tempDir();
  const KEY = { name: 'mamori-xfr', secret: randomBytes(32) };

  before(async () => {
    zone.block('evil.example.test');
    zone.bump();
    bindPort = await freePort();
    // A long refresh: after the first transfer, only NOTIFY makes BIND come back quickly.
    primary = await RpzPrimary.start([zone], {
      host: '127.0.0.1',
      port: 0,
      transferTo: ['127.0.0.1'],
      refresh: 3600,
      notify: [{ host: '127.0.0.1', port: bindPort }],
      tsig: [KEY],
    });
    named = await startNamed(dir, bindPort, {
      files: {
        'example.test.db':
          '$TTL 60\n@ IN SOA localhost. root.localhost. 1 60 30 600 60\n@ IN NS localhost.\ngood IN A ' +
          '192.0.2.10\nevil IN A 192.0.2.66\nsub.evil IN A 192.0.2.67\nvictim IN A 192.0.2.20\nwww.victim ' +
          'IN A 192.0.2.21\n*.victim IN A 192.0.2.22\n',
      },
      options:
        '\trecursion yes;\n\tallow-recursion { 127.0.0.0/8; };\n\tresponse-policy { zone "rpz.mamori.test"; ' +
        '} recursive-only no min-update-interval 1;',
      zones:
        `key "mamori-xfr" { algorithm hmac-sha256; secret "${KEY.secret.toString('base64')}"; };\nzone ` +
        `"example.test" { type primary; file "example.test.db"; };\nzone "rpz.mamori.test" { type secondary; ` +
        `primaries { 127.0.0.1 port ${primary.port} key "mamori-xfr"; }; file "rpz.db"; };`,
      ready: /transfer of 'rpz\.mamori\.test\/IN' from .*Transfer completed/,
    });
  });
  after(async () => {
    await named?.stop();
    await primary?.stop();
  });

  const ask = (name: string, from = '127.0.0.1') => kdig([`@127.0.0.1`, '-p', String(bindPort), '-b', from, name, 'A']);

  it('blocks a listed name and its subdomains at BIND, and leaves the rest alone', async () => {
    assert.match(await ask('evil.example.test'), /status: NXDOMAIN/);
    assert.match(await ask('sub.evil.example.test'), /status: NXDOMAIN/);
    const good = await ask('good.example.test');
    assert.match(good, /status: NOERROR/);
    assert.match(good, /192\.0\.2\.10/);
  });

  it("lets an opted-out subscriber's address through within 2 s of the change: NOTIFY, IXFR, policy rebuilt", async (t) => {
    zone.passthruClient('127.0.0.2');
    const changedAt = Date.now();
    const [notified] = await primary.changed(zone);
    assert.equal(notified!.answered, true, 'BIND answered the NOTIFY');
    const serial = zone.serial;
    // BIND rebuilds its policy summary at most every min-update-interval (1 s here; 60 s by default) after a transfer.
    let optedOut = '';
    for (let i = 0; i < 50 && !/192\.0\.2\.66/.test(optedOut); i++) {
      await new Promise((r) => setTimeout(r, 200));
      optedOut = await ask('evil.example.test', '127.0.0.2');
    }
    assert.ok(serial >= 2);
    const took = Date.now() - changedAt;
    t.diagnostic(`change to answer at BIND: ${took} ms (NOTIFY answered after ${notified!.ms} ms)`);
    assert.ok(primary.status().incremental >= 1, 'BIND asked for IXFR and got the diff from the journal');
    assert.match(optedOut, /status: NOERROR/);
    assert.match(optedOut, /192\.0\.2\.66/);
    assert.match(await ask('evil.example.test', '127.0.0.1'), /status: NXDOMAIN/, 'everyone else is still protected');
  });

  it('applies an M6 rule: the names under an attacked domain blocked, its known names and the domain itself not', async () => {
    assert.match(await ask('x7k2q9zr1m.victim.example.test'), /192\.0\.2\.22/, 'before the rule, any name resolves');
    zone.blockUnder('victim.example.test');
    zone.passthruName('www.victim.example.test');
    await primary.changed(zone);
    let random = '';
    for (let i = 0; i < 50 && !/NXDOMAIN/.test(random); i++) {
      await new Promise((r) => setTimeout(r, 200));
      random = await ask('x7k2q9zr1m.victim.example.test');
    }
    assert.match(random, /status: NXDOMAIN/);
    assert.match(await ask('www.victim.example.test'), /192\.0\.2\.21/, 'the exact PASSTHRU wins over the wildcard');
    assert.match(await ask('victim.example.test'), /192\.0\.2\.20/, 'the domain itself is not blocked');
  });

  it('transfers only with the TSIG key: unsigned is refused, a wrong key is NOTAUTH, the right one signs every message', async () => {
    assert.match(await kdig([`@127.0.0.1`, '-p', String(primary.port), 'rpz.mamori.test', 'AXFR']), /REFUSED/);
    const wrong = await kdig([
      `@127.0.0.1`,
      '-p',
      String(primary.port),
      '-y',
      `hmac-sha256:mamori-xfr:${randomBytes(32).toString('base64')}`,
      'rpz.mamori.test',
      'AXFR',
    ]);
    assert.match(wrong, /NOTAUTH|BADSIG|TSIG/);
    const right = await kdig([
      `@127.0.0.1`,
      '-p',
      String(primary.port),
      '-y',
      `hmac-sha256:mamori-xfr:${KEY.secret.toString('base64')}`,
      'rpz.mamori.test',
      'AXFR',
    ]);
    assert.match(right, /evil\.example\.test\.rpz\.mamori\.test\.\s+60\s+IN\s+CNAME\s+\./);
    assert.doesNotMatch(right, /BADSIG|failed/i);
    assert.ok(primary.status().badTsig >= 1);
  });

  it('counts garbage without answering it', async () => {
    const before = primary.status().malformed;
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r, j) => s.send(Buffer.from([1, 2, 3]), primary.port, '127.0.0.1', (e) => (e ? j(e) : r())));
    await new Promise((r) => setTimeout(r, 100));
    s.close();
    assert.equal(primary.status().malformed, before + 1);
  });
});
