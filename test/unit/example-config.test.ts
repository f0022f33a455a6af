/** The example configuration shipped in config/: it parses, and its flow section says what the defaults do. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/core/config.js';
import { REPO_ROOT } from '../support/fixtures.js';

const EXAMPLE = join(REPO_ROOT, 'config/mamori.example.yaml');

describe('example configuration', () => {
  const text = readFileSync(EXAMPLE, 'utf8');

  it('parses, and holds the embedded defaults', () => {
    const example = parseConfig(text, EXAMPLE, { SMTP_PASSWORD: 'x', BRAS1_SECRET: 'x' });
    const defaults = parseConfig('', 'embedded');
    assert.deepEqual(example.ingest.flows, defaults.ingest.flows);
    assert.deepEqual(example.server, defaults.server);
  });

  it('shows the flow listeners and the allowed exporters, in English and Japanese', () => {
    // Before: the example had no flow section, so nothing said that M1's collector listens on every interface for any source.
    const flows = text.slice(text.indexOf('  flows:'), text.indexOf('  # IP assignments'));
    assert.match(flows, /listeners:/);
    assert.match(flows, /allowedExporters: \[\]/);
    assert.match(flows, /EMPTY ACCEPTS ANY SOURCE/);
    assert.match(flows, /すべての送信元を受け付け/);
  });

  it('parses with its commented exporter list and RADIUS section switched on', () => {
    const on = text
      .replace(/^ {4}allowedExporters: \[\]\n/m, '')
      .replace(/^ {4}# (allowedExporters:\n) {4}# ( {2}- .*\n) {4}# ( {2}- .*\n)/m, '    $1    $2    $3')
      .replace(/^ {2}# (radius:|cgnat:| {2}\S.*)$/gm, '  $1');
    const c = parseConfig(on, EXAMPLE, { SMTP_PASSWORD: 'x', BRAS1_SECRET: 'x' });
    assert.deepEqual(c.ingest.flows.allowedExporters, ['192.0.2.1', '2001:db8::1']);
    assert.equal(c.ingest.radius.clients.length, 1);
    assert.equal(c.ingest.cgnat.deterministic.length, 1);
  });
});
