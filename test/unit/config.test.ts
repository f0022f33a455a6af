import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, parseConfig, resolvePaths } from '../../src/core/config.js';
import { MeasureRegistry } from '../../src/core/registry.js';
import { ALL_MEASURES } from '../../src/measures/index.js';
import type { CcSharingSettings } from '../../src/measures/cc-sharing/settings.js';
import type { DdosDnsBlockingSettings } from '../../src/measures/ddos-dns-blocking/settings.js';
import { tempDir } from '../support/fixtures.js';

function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(yaml, 'test.yaml', env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('the configuration was accepted');
}

describe('configuration', () => {
  it('has embedded defaults that serve on loopback', () => {
    const c = parseConfig('', 'empty');
    assert.equal(c.server.host, '127.0.0.1');
    assert.equal(c.server.port, 8470);
    assert.equal(c.dataDir, './data');
    assert.equal(c.state.driver, 'sqlite');
    assert.equal(c.analytics.driver, 'chdb');
  });

  it('names an unknown key and lists what is allowed', () => {
    const [p] = problems('server:\n  prot: 80\n');
    assert.match(p!, /^"server\.prot": unknown key; allowed here: host, port, trustProxy$/);
  });

  it('names the key, the value and the rule for an impossible value', () => {
    const [p] = problems('server:\n  port: 70000\n');
    assert.match(p!, /^"server\.port": value 70000 is not allowed: .*65535/);
  });

  it('names a wrong type', () => {
    const [p] = problems('server:\n  port: "eighty"\n');
    assert.match(p!, /^"server\.port": value "eighty" is not allowed: .*number/i);
  });

  it('refuses a malformed duration', () => {
    const [p] = problems('retention:\n  interval: 1 hour\n');
    assert.match(p!, /^"retention\.interval": value "1 hour" is not allowed: a duration such as/);
  });

  it('reports broken YAML without a stack trace', () => {
    const ps = problems('server:\n  port: [1,\n');
    assert.ok(
      ps.every((x) => x.startsWith('YAML:')),
      ps.join('\n'),
    );
  });

  it('refuses duplicate keys', () => {
    const ps = problems('server:\n  port: 1\n  port: 2\n');
    assert.ok(
      ps.some((x) => /YAML: .*unique/i.test(x)),
      ps.join('\n'),
    );
  });

  it('takes secrets from the environment and names a missing variable', () => {
    const c = parseConfig('dataDir: ${env:MAMORI_TEST_DIR}\n', 't', { MAMORI_TEST_DIR: '/srv/mamori' });
    assert.equal(c.dataDir, '/srv/mamori');
    const [p] = problems('dataDir: ${env:MAMORI_TEST_DIR}\n');
    assert.equal(p, '"dataDir": environment variable MAMORI_TEST_DIR is not set');
  });

  it('says which file cannot be read', () => {
    const missing = join(tempDir(), 'nope.yaml');
    assert.throws(
      () => loadConfig(missing),
      (err: unknown) => err instanceof ConfigError && err.message.includes(missing) && err.message.includes('ENOENT'),
    );
  });

  it('loads a file', () => {
    const file = join(tempDir(), 'm.yaml');
    writeFileSync(file, 'server:\n  port: 9000\nmeasures:\n  cc-detection:\n    enabled: false\n');
    assert.equal(loadConfig(file).server.port, 9000);
  });

  it("resolves every relative path against the configuration file's folder, the measures' too", () => {
    const dir = tempDir();
    const file = join(dir, 'm.yaml');
    writeFileSync(
      file,
      [
        'dataDir: data',
        'ingest:\n  radius:\n    detail: { directory: radacct }',
        'notices:\n  smtp: { host: smtp.example, dkim: { domainName: isp.example, keySelector: s1, privateKeyFile: keys/dkim.pem } }',
        'measures:',
        '  ddos-dns-blocking:\n    whitelist: { file: lists/top.csv }\n    dnstap: { unix: [run/dnstap.sock, /abs/dnstap.sock] }',
        '  cc-sharing:\n    taxii: { certFile: tls/cert.pem, keyFile: tls/key.pem }',
      ].join('\n'),
    );
    const c = loadConfig(file);
    assert.equal(c.dataDir, join(dir, 'data'));
    assert.equal(resolvePaths(c, '/somewhere/else').statePath, join(dir, 'data', 'state.sqlite'));
    assert.equal(c.ingest.radius.detail!.directory, join(dir, 'radacct'));
    assert.equal(c.notices.smtp!.dkim!.privateKeyFile, join(dir, 'keys/dkim.pem'));
    const registry = new MeasureRegistry(ALL_MEASURES, c.measures, c.configDir);
    const m6 = registry.settingsOf<DdosDnsBlockingSettings>('ddos-dns-blocking');
    assert.equal(m6.whitelist.file, join(dir, 'lists/top.csv'));
    assert.deepEqual(m6.dnstap.unix, [join(dir, 'run/dnstap.sock'), '/abs/dnstap.sock']);
    assert.equal(registry.settingsOf<CcSharingSettings>('cc-sharing').taxii.certFile, join(dir, 'tls/cert.pem'));
    // Without a file (embedded defaults, tests) paths stay as written: the current directory's.
    assert.equal(parseConfig('dataDir: data\n', 't').dataDir, 'data');
  });
});
