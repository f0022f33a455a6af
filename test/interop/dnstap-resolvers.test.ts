/**
 * dnstap from real resolvers into Mamori's receiver, on loopback: Unbound 1.17
 * (forwarding to BIND) and BIND 9.18 both write Frame Streams to one unix
 * socket (bidirectional handshake), each naming itself by its dnstap
 * identity. What arrives is minimised: names, types, response codes, sizes
 * and times, and no client address — though every frame carried one.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeDnstap, type DnsEvent } from '../../src/ingest/dnstap/dnstap.js';
import { DNSTAP_CONTENT_TYPE, FrameStreamReader } from '../../src/ingest/dnstap/frame-stream.js';
import { dnstapFrame, sendDnstap } from '../support/dnstap.js';
import { DnstapReceiver } from '../../src/ingest/dnstap/receiver.js';
import { kdig, startNamed, type Named } from '../support/bind.js';
import { tempDir } from '../support/fixtures.js';
import { have } from '../support/flow-peers.js';
import { freePort } from '../support/freeradius.js';
import { startUnbound, type Unbound } from '../support/unbound.js';

describe(
  'dnstap from Unbound and BIND',
  { skip: !(have('unbound') && have('named') && have('kdig')) && 'unbound, bind9 or knot-dnsutils not installed' },
  () => {
    const dir = tempDir();
    const socket = join(dir, 'dnstap.sock');
    const events = new Map<string, DnsEvent[]>();
    let receiver: DnstapReceiver;
    let named: Named | undefined;
    let unbound: Unbound | undefined;
    let unboundPort: number;

    before(async () => {
      receiver = await DnstapReceiver.start({ unix: [socket] }, (batch, resolver) => {
        const list = events.get(resolver) ?? [];
        list.push(...batch);
        events.set(resolver, list);
      });
      const bindPort = await freePort();
      named = await startNamed(dir, bindPort, {
        files: {
          'lab.example.db':
            '$TTL 60\n@ IN SOA localhost. root.localhost. 1 60 30 600 60\n@ IN NS localhost.\nwww IN A 192.0.2.10\nbig IN TXT "' +
            'x'.repeat(200) +
            '" "' +
            'y'.repeat(200) +
            '"\n',
        },
        options:
          `\trecursion yes;\n\tallow-recursion { 127.0.0.0/8; };\n\tdnstap { client; };\n\tdnstap-output ` +
          `unix "${socket}";\n\tdnstap-identity "resolver-b";`,
        zones: 'zone "lab.example" { type primary; file "lab.example.db"; };',
        ready: /running/,
      });
      unboundPort = await freePort();
      mkdirSync(join(dir, 'u'));
      unbound = await startUnbound(join(dir, 'u'), {
        port: unboundPort,
        rpzZone: '',
        primaryPort: 0,
        forwardPort: bindPort,
        extra:
          `dnstap:\n\tdnstap-enable: yes\n\tdnstap-bidirectional: yes\n\tdnstap-socket-path: "${socket}"\n\tdnstap-send-identity: ` +
          `yes\n\tdnstap-identity: "resolver-a"\n\tdnstap-log-client-query-messages: yes\n\tdnstap-log-client-response-messages: yes`,
      });
    });
    after(async () => {
      await unbound?.stop();
      await named?.stop();
      await receiver?.stop();
    });

    it('receives both resolvers at once, minimised, each under its own identity', async () => {
      const ask = (name: string, type = 'A') => kdig(['@127.0.0.1', '-p', String(unboundPort), '-b', '127.0.0.9', name, type]);
      assert.match(await ask('www.lab.example'), /192\.0\.2\.10/);
      assert.match(await ask('Xq7zr2k.lab.example'), /NXDOMAIN/);
      assert.match(await ask('big.lab.example', 'TXT'), /NOERROR/);
      const seen = (resolver: string, qname: string, kind: string) =>
        (events.get(resolver) ?? []).find((e) => e.qname === qname && e.kind === kind);
      for (
        let i = 0;
        i < 100 && !(seen('resolver-a', 'big.lab.example', 'response') && seen('resolver-b', 'big.lab.example', 'response'));
        i++
      ) {
        await new Promise((r) => setTimeout(r, 100));
        await receiver.drained();
      }
      for (const resolver of ['resolver-a', 'resolver-b']) {
        assert.ok(seen(resolver, 'www.lab.example', 'query'), `${resolver}: ${JSON.stringify(events.get(resolver))}`);
        assert.equal(seen(resolver, 'www.lab.example', 'response')?.rcode, 0);
        assert.equal(seen(resolver, 'xq7zr2k.lab.example', 'response')?.rcode, 3, 'NXDOMAIN, the name lower-cased');
        const big = seen(resolver, 'big.lab.example', 'response')!;
        assert.equal(big.qtype, 16);
        assert.ok(big.size > 400, `response size ${big.size}`);
        assert.ok(Math.abs(big.timeMs - Date.now()) < 60_000, "the resolver's own time");
      }
      const all = JSON.stringify([...events.values()]);
      assert.ok(!all.includes('127.0.0.9') && !all.includes('127.0.0.1'), 'no client address survives decoding');
      const s = receiver.status();
      assert.ok(s.accepted >= 2, `connections: ${JSON.stringify(s)}`);
      assert.equal(s.dropped, 0);
    });
  },
);

describe(
  'Frame Streams beside the reference implementation (fstrm_capture)',
  { skip: !have('fstrm_capture') && 'fstrm-bin not installed' },
  () => {
    it('reads the file fstrm_capture wrote from a stream, frame for frame', async () => {
      const dir = tempDir();
      const sock = join(dir, 'fstrm.sock');
      const file = join(dir, 'capture.fstrm');
      const capture = spawn('fstrm_capture', ['-t', DNSTAP_CONTENT_TYPE, '-u', sock, '-w', file], { stdio: 'ignore' });
      try {
        for (let i = 0; i < 50 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
        const frames = Array.from({ length: 500 }, (_, i) =>
          dnstapFrame({ type: i % 2 ? 6 : 5, client: '198.51.100.1', qname: `n${i}.example.jp`, rcode: i % 3, identity: 'resolver-c' }),
        );
        await sendDnstap(sock, frames);
      } finally {
        capture.kill('SIGINT');
        await new Promise((r) => capture.once('exit', r));
      }
      // The file: START with the content type, the frames, STOP (unidirectional).
      const read: Buffer[] = [];
      let finished = false;
      const reader = new FrameStreamReader({
        data: (f) => read.push(Buffer.from(f)),
        reply: () => {},
        finished: () => {
          finished = true;
        },
      });
      reader.feed(readFileSync(file));
      assert.equal(finished, true);
      assert.equal(read.length, 500);
      assert.deepEqual(
        read.map((f) => decodeDnstap(f).qname),
        Array.from({ length: 500 }, (_, i) => `n${i}.example.jp`),
      );
    });
  },
);
