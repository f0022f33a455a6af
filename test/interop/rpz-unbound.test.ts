/**
 * Unbound 1.17 as the secondary of Mamori's RPZ primary over AXFR, with
 * NOTIFY, forwarding everything to a loopback BIND (its own root zone: nothing
 * leaves the machine). Opt-out the way the docs give it for Unbound 1.17:
 * clients tagged "filtered" by access-control-tag get the policy, an
 * opted-out address gets another tag and is not filtered (the client-IP
 * trigger of 1.17 is not relied on). Names are under `lab.example`, because
 * Unbound answers `.test` names itself.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RpzPrimary } from '../../src/dns/primary.js';
import { RpzZone } from '../../src/dns/rpz.js';
import { kdig, startNamed, type Named } from '../support/bind.js';
import { tempDir } from '../support/fixtures.js';
import { parseBlockedLine } from '../../src/dns/resolver-log.js';
import { have } from '../support/flow-peers.js';
import { freePort } from '../support/freeradius.js';
import { startUnbound, type Unbound } from '../support/unbound.js';

describe(
  'RPZ primary with Unbound as secondary',
  { skip: !(have('unbound') && have('named') && have('kdig')) && 'unbound, bind9 or knot-dnsutils not installed' },
  () => {
    let primary: RpzPrimary;
    let upstream: Named | undefined;
    let unbound: Unbound | undefined;
    let port: number;
    const zone = new RpzZone('rpz.mamori.test');
    const dir = tempDir();

    before(async () => {
      zone.block('evil.lab.example');
      zone.bump();
      const bindPort = await freePort();
      port = await freePort();
      upstream = await startNamed(join(dir), bindPort, {
        files: {
          'lab.example.db':
            '$TTL 60\n@ IN SOA localhost. root.localhost. 1 60 30 600 60\n@ IN NS localhost.\ngood IN A ' +
            '192.0.2.10\nevil IN A 192.0.2.66\nlater IN A 192.0.2.77\n',
        },
        options: '\trecursion no;',
        zones: 'zone "lab.example" { type primary; file "lab.example.db"; };',
        ready: /running/,
      });
      primary = await RpzPrimary.start([zone], {
        host: '127.0.0.1',
        port: 0,
        transferTo: ['127.0.0.1'],
        refresh: 3600,
        notify: [{ host: '127.0.0.1', port }],
      });
      mkdirSync(join(dir, 'u'));
      unbound = await startUnbound(join(dir, 'u'), {
        port,
        rpzZone: 'rpz.mamori.test',
        primaryPort: primary.port,
        forwardPort: bindPort,
        optedOut: ['127.0.0.2'],
      });
      // Until the first transfer, the policy is not there yet.
      for (let i = 0; i < 100 && !/NXDOMAIN/.test(await kdig(['@127.0.0.1', '-p', String(port), 'evil.lab.example', 'A'])); i++)
        await new Promise((r) => setTimeout(r, 100));
    });
    after(async () => {
      await unbound?.stop();
      await upstream?.stop();
      await primary?.stop();
    });

    const ask = (name: string, from = '127.0.0.1') => kdig(['@127.0.0.1', '-p', String(port), '-b', from, name, 'A']);

    it('blocks a listed name, leaves an unlisted one alone, and does not filter an opted-out (tagged) client', async () => {
      assert.match(await ask('evil.lab.example'), /status: NXDOMAIN/);
      const good = await ask('good.lab.example');
      assert.match(good, /192\.0\.2\.10/);
      const optedOut = await ask('evil.lab.example', '127.0.0.2');
      assert.match(optedOut, /status: NOERROR/);
      assert.match(optedOut, /192\.0\.2\.66/);
    });

    it('logs what it blocked in the form M3 counts (rpz-log), naming the client and the rule', async () => {
      await ask('sub.evil.lab.example', '127.0.0.5');
      let blocked: ReturnType<typeof parseBlockedLine>[] = [];
      for (let i = 0; i < 30 && blocked.length === 0; i++) {
        blocked = unbound!
          .log()
          .split('\n')
          .map((l) => parseBlockedLine(l, 'unbound', ['rpz.mamori.test']))
          .filter((q) => q?.client === '127.0.0.5');
        if (blocked.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(
        blocked.length,
        1,
        unbound!
          .log()
          .split('\n')
          .filter((l) => l.includes('rpz'))
          .slice(-5)
          .join('\n'),
      );
      assert.equal(blocked[0]!.zone, 'rpz.mamori.test');
      assert.match(blocked[0]!.rule, /^(sub\.)?evil\.lab\.example$/);
      assert.ok(Math.abs(blocked[0]!.at.getTime() - Date.now()) < 60_000);
      // A name asked cannot pose as a rule of another zone.
      assert.equal(
        parseBlockedLine('info: rpz: applied [evil.example] x. rpz-nxdomain 127.0.0.9@1 x. A IN', 'unbound', ['rpz.mamori.test']),
        undefined,
      );
    });

    it('blocks a newly listed name within 2 s of the change: NOTIFY, transfer', async (t) => {
      assert.match(await ask('later.lab.example'), /192\.0\.2\.77/);
      zone.block('later.lab.example');
      const changedAt = Date.now();
      const [n] = await primary.changed(zone);
      assert.equal(n!.answered, true, 'Unbound answered the NOTIFY');
      let out = '';
      for (let i = 0; i < 50 && !/NXDOMAIN/.test(out); i++) {
        out = await ask('later.lab.example');
        if (!/NXDOMAIN/.test(out)) await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(out, /status: NXDOMAIN/);
      t.diagnostic(`change to answer at Unbound: ${Date.now() - changedAt} ms`);
    });
  },
);
