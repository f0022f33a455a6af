/**
 * RFC 5176 Disconnect-Request against a NAS simulator on loopback. The
 * simulator's checks are written here from the RFCs, independently of
 * src/, and are first proven against FreeRADIUS's own `radclient`: a packet
 * radclient signs passes them, a packet signed with another secret fails. Then
 * Mamori's requests must pass the same checks, and ACK, NAK with Error-Cause,
 * silence (retries) and forged answers are handled.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sendDisconnect } from '../../src/ingest/radius/disconnect.js';
import { NasSimulator, SECRET } from '../support/nas-simulator.js';
import { have } from '../support/flow-peers.js';
import { radclient } from '../support/freeradius.js';

const disconnect = async (port: number, attributes: string, secret: string) =>
  (await radclient(port, 'disconnect', secret, attributes, { timeoutS: 1 })).status;

describe('RFC 5176 Disconnect-Request', () => {
  const nas = new NasSimulator();
  before(() => nas.start());
  after(() => nas.stop());

  it(
    'the simulator agrees with FreeRADIUS on what a signed request is',
    { skip: !have('radclient') && 'radclient not installed' },
    async () => {
      nas.mode = 'ack';
      assert.equal(
        await disconnect(nas.port, 'User-Name = "alice@isp"\nAcct-Session-Id = "s-1"\nMessage-Authenticator = 0x00\n', SECRET),
        0,
      );
      assert.equal(nas.seen.at(-1)!.ok, true, nas.seen.at(-1)!.why);
      await disconnect(nas.port, 'User-Name = "alice@isp"\nMessage-Authenticator = 0x00\n', 'wrong');
      assert.equal(nas.seen.at(-1)!.ok, false);
    },
  );

  it('sends what the NAS needs to find the session, signed, and reads the ACK', async () => {
    nas.mode = 'ack';
    const r = await sendDisconnect({
      nas: { address: '127.0.0.1', port: nas.port, secret: SECRET },
      userName: 'alice@isp',
      sessionId: 'bras1-0042',
      framedIp: '100.64.3.4',
      timeoutMs: 500,
    });
    assert.equal(r.result, 'ack');
    assert.equal(r.attempts, 1);
    const s = nas.seen.at(-1)!;
    assert.equal(s.ok, true, s.why);
    assert.equal(s.attrs.get(1)![0]!.toString(), 'alice@isp');
    assert.equal(s.attrs.get(44)![0]!.toString(), 'bras1-0042');
    assert.deepEqual([...s.attrs.get(8)![0]!], [100, 64, 3, 4]);
    assert.ok(Math.abs(s.attrs.get(55)![0]!.readUInt32BE(0) - Date.now() / 1000) < 5, 'Event-Timestamp is now');
  });

  it('reports a NAK with its Error-Cause, retries on silence, and ignores a forged answer', async () => {
    nas.mode = 'nak';
    const nak = await sendDisconnect({
      nas: { address: '127.0.0.1', port: nas.port, secret: SECRET },
      userName: 'bob@isp',
      sessionId: 'gone',
      timeoutMs: 500,
    });
    assert.deepEqual({ ...nak, ms: 0 }, { result: 'nak', attempts: 1, ms: 0, errorCause: 503, errorText: 'Session Context Not Found' });
    nas.mode = 'silent';
    const before = nas.seen.length;
    const silent = await sendDisconnect({
      nas: { address: '127.0.0.1', port: nas.port, secret: SECRET },
      userName: 'carol@isp',
      timeoutMs: 150,
      retries: 3,
    });
    assert.equal(silent.result, 'timeout');
    assert.equal(nas.seen.length - before, 3, 'three attempts');
    nas.mode = 'forge';
    const forged = await sendDisconnect({
      nas: { address: '127.0.0.1', port: nas.port, secret: SECRET },
      userName: 'dave@isp',
      timeoutMs: 150,
      retries: 2,
    });
    assert.equal(forged.result, 'timeout', 'an answer signed with another secret is not believed');
  });
});
