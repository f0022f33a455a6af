/**
 * The application log masks addresses and host names that free text (an
 * error's message, a log message) might quote, and keeps the rest readable.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/core/logger.js';
import { maskSecretData } from '../../src/core/secret-guard.js';

describe('application log', () => {
  it('masks addresses and names in free text, not times or file names', () => {
    assert.equal(maskSecretData('send EHOSTUNREACH 192.0.2.1:3799 at 10:36:31'), 'send EHOSTUNREACH [address]:3799 at 10:36:31');
    assert.equal(maskSecretData('no route to 2001:db8::1 for c2.evil.example.net'), 'no route to [address] for [name]');
    assert.equal(maskSecretData('see docs/en/flows.md'), 'see docs/en/flows.md');
  });

  it('applies it to error messages and log messages', async () => {
    const out = new PassThrough();
    const lines: string[] = [];
    out.on('data', (c: Buffer) => lines.push(c.toString()));
    const log = createLogger('info', out);
    log.error({ event: 'x.failed', err: { type: 'Error', message: 'partner 198.51.100.7 answered HTTP 500' } }, 'failed for 198.51.100.8');
    await new Promise((r) => setImmediate(r));
    const entry = JSON.parse(lines.join('')) as { err: { message: string }; msg: string };
    assert.equal(entry.err.message, 'partner [address] answered HTTP 500');
    assert.equal(entry.msg, 'failed for [address]');
  });
});
