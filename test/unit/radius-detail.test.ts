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
import { ClientAddressZone } from '../../src/dns/client-zone.js';
import { RpzZone } from '../../src/dns/rpz.js';
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

  it("clears an IPv6 prefix's host bits as the UDP server does; a bad address or a throwing listener does not stall the tail", async () => {
    const v6 = (user: string, session: string, prefix: string, t: number) =>
      block('Start', user, session, '100.64.0.20', t).replace(/\tFramed-IP-Address = [^\n]*\n/, `\tFramed-IPv6-Prefix = ${prefix}\n`);
    assert.equal(parseDetailBlock(v6('dan', 's6', '2001:db8:1::1/56', T).trim())?.framedIpv6Prefix, '2001:db8:1::/56');
    assert.equal(parseDetailBlock(v6('dan', 's6', '2001:db8:1:zz::/56', T).trim())?.framedIpv6Prefix, undefined, 'not a prefix: left out');
    // The garden lists dan: his session's prefix arrives with host bits set, from the detail file, through the feed.
    const zone = new ClientAddressZone(new RpzZone('garden.rpz.test'), { ipv6: true });
    zone.set('dan', { kind: 'local-data', a: ['192.0.2.80'], aaaa: [] });
    m.subscribers.accountingFeed().subscribe((e) => zone.onSession(e));
    m.subscribers.accountingFeed().subscribe(() => {
      throw new Error('a listener that fails');
    });
    writeFileSync(join(dir, 'detail-20261125'), v6('dan', 's6', '2001:db8:1::1/56', T + 1200));
    const tail = new DetailTailer({
      directory: dir,
      prefix: 'detail-20261125',
      state: m.state,
      index: m.subscribers.index,
      emit: (e) => m.subscribers.record(e),
    });
    assert.equal(await tail.poll(), 1);
    zone.zone.bump();
    assert.deepEqual(
      zone.zone.list().map((r) => r.name.split('.rpz-client-ip')[0]),
      ['56.zz.1.db8.2001'],
    );
    assert.equal(m.subscribers.feedFailures['listener-threw'], 1, 'the failing listener is counted, ingest goes on');
    assert.equal(await tail.poll(), 0, 'the cursor moved on');
    // A prefix the zone cannot take reaches it some other way: counted, not thrown.
    zone.onSession({ kind: 'begin', key: 'bras|x', subscriber: 'dan', address: '2001:db8:2::1/48', at: 0 });
    assert.equal(zone.refused['bad-address'], 1);
  });
});
