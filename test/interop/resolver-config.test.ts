/**
 * The resolver configuration Mamori generates is accepted by the resolvers'
 * own checkers: named-checkconf (BIND 9.18), unbound-checkconf (Unbound
 * 1.17), and the exported zone file by named-checkzone.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bindConfig, knotResolverConfig, masterFile, pdnsRecursorConfig, unboundConfig } from '../../src/dns/resolver-config.js';
import { RpzZone } from '../../src/dns/rpz.js';
import { tempDir } from '../support/fixtures.js';
import { have } from '../support/flow-peers.js';

const input = {
  zones: ['optout.rpz.isp.example', 'cc.rpz.isp.example'],
  primary: { address: '192.0.2.53', port: 5353 },
  tsig: { name: 'mamori-xfr', secretBase64: Buffer.alloc(32, 1).toString('base64') },
  optedOut: ['198.51.100.7'],
};

describe('generated resolver configuration', () => {
  it('passes named-checkconf', { skip: !have('named-checkconf') && 'bind9 not installed' }, () => {
    const dir = tempDir();
    const snippet = bindConfig(input);
    const policy = /\/\/\tresponse-policy \{([\s\S]*?)\/\/\t\} min-update-interval 5;/.exec(snippet)![1]!.replace(/\/\/\t/g, '');
    writeFileSync(
      join(dir, 'named.conf'),
      `options {\n\tdirectory "${dir}";\n\tresponse-policy {${policy}} min-update-interval 5;\n};\n${snippet}`,
    );
    const r = spawnSync('named-checkconf', [join(dir, 'named.conf')], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}\n${snippet}`);
  });

  it('passes unbound-checkconf', { skip: !have('unbound-checkconf') && 'unbound not installed' }, () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'unbound.conf'),
      `server:\n\tchroot: ""\n\tusername: ""\n\tdirectory: ` +
        `"${dir}"\n\tauto-trust-anchor-file: ""\n${unboundConfig(input).replace(/^server:\n/m, '')}`,
    );
    const r = spawnSync('unbound-checkconf', [join(dir, 'unbound.conf')], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });

  it('exports a zone file that named-checkzone loads', { skip: !have('named-checkzone') && 'bind9 not installed' }, () => {
    const z = new RpzZone('cc.rpz.isp.example');
    z.block('evil.example');
    z.block('garden.example', { kind: 'walled-garden', target: 'warning.isp.example' });
    z.passthruClient('198.51.100.7');
    z.bump();
    const file = join(tempDir(), 'cc.zone');
    writeFileSync(file, masterFile(z));
    const r = spawnSync('named-checkzone', ['cc.rpz.isp.example', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /loaded serial 2/);
  });

  it('writes PowerDNS Recursor and Knot Resolver lines for every zone', () => {
    assert.match(
      pdnsRecursorConfig(input),
      /rpzPrimary\(\{"192\.0\.2\.53:5353"\}, "cc\.rpz\.isp\.example", \{ refresh=60, tsigname="mamori-xfr", tsigalgo="hmac-sha256"/,
    );
    assert.equal(knotResolverConfig(input, (z) => `/var/lib/mamori/${z}.zone`).match(/policy\.rpz/g)!.length, 2);
  });
});
