/**
 * Tailing FreeRADIUS detail files: whole blocks only, resuming from the
 * stored cursor after a restart, following rotation to new names and a file
 * replaced under the same name.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Mamori } from '../../src/app/mamori.js';
import { DetailTailer, parseDetailBlock } from '../../src/ingest/radius/detail.js';
import { SessionIndex } from '../../src/subscriber/sessions.js';
import { openTest, tempDir } from '../support/fixtures.js';

const T = Math.floor(Date.now() / 1000) - 3600;
const block = (status: string, user: string, session: string, ip: string, t: number) =>
  `${new Date(t * 1000).toUTCString()}\n\tAcct-Status-Type ` +
  `= ${status}\n\tUser-Name = "${user}"\n\tAcct-Session-Id ` +
  (`= "${session}"\n\tFramed-IP-Address = ${ip}\n\tNAS-IP-Address ` + `= 192.0.2.1\n\tAcct-Input-Octets `) +
  `= 1234\n\tEvent-Timestamp = "${new Date(t * 1000).toUTCString().slice(5).replace(/ GMT$/, ' UTC')}"\n\tTimestamp ` +
  `= ${t}\n\n`;

describe('FreeRADIUS detail files', () => {
  let m: Mamori;
  const dir = join(tempDir(), 'radacct');

  before(async () => {
    mkdirSync(dir, { recursive: true });
    m = await openTest();
  });
  after(() => m?.close());

  const tailer = (index: SessionIndex) => new DetailTailer({ directory: dir, prefix: 'detail', state: m.state, index, emit: () => {} });

  it('reads a block as FreeRADIUS writes it, keeping only what says who had which address when', () => {
    const r = parseDetailBlock(block('Start', 'alice', 's1', '100.64.0.10', T).trim());
    assert.deepEqual(r, {
      statusType: 1,
      userName: 'alice',
      sessionId: 's1',
      framedIp: '100.64.0.10',
      eventTimestamp: T,
      nas: '192.0.2.1',
    });
    assert.equal(parseDetailBlock('Tue Nov 24 09:00:00 2026\n\tUser-Name = "x"'), undefined, 'no status: not accounting');
  });

  it('reads whole blocks only, resumes after a restart, and follows rotation', async () => {
    writeFileSync(
      join(dir, 'detail-20261123'),
      block('Start', 'alice', 's1', '100.64.0.10', T) + block('Stop', 'alice', 's1', '100.64.0.10', T + 600),
    );
    // A block still being written: no blank line after it yet.
    writeFileSync(join(dir, 'detail-20261124'), block('Start', 'bob', 's2', '100.64.0.11', T + 700).trimEnd());
    let index = new SessionIndex({ interimTimeoutSeconds: 3600 });
    assert.equal(await tailer(index).poll(), 2);
    assert.ok(index.lookup('100.64.0.10', T + 60).found);
    assert.equal(index.lookup('100.64.0.11', T + 800).found, false, 'the half-written block waits');
    appendFileSync(join(dir, 'detail-20261124'), '\n\n' + block('Interim-Update', 'bob', 's2', '100.64.0.11', T + 900));
    assert.equal(await tailer(index).poll(), 2);
    assert.ok(index.lookup('100.64.0.11', T + 800).found);
    // A restart: a new index is fed only what is new since the stored cursors (the rest comes from the state store).
    index = new SessionIndex({ interimTimeoutSeconds: 3600 });
    assert.equal(await tailer(index).poll(), 0);
    // logrotate-style: the file is moved away and a new one starts under the same name.
    renameSync(join(dir, 'detail-20261124'), join(dir, 'old-detail-20261124'));
    writeFileSync(join(dir, 'detail-20261124'), block('Start', 'carol', 's3', '100.64.0.12', T + 1000));
    assert.equal(await tailer(index).poll(), 1);
    const c = index.lookup('100.64.0.12', T + 1100);
    assert.ok(c.found && c.subscriber === 'carol');
  });
});
