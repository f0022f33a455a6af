/**
 * The core's shared inputs are granted like every other capability (issue 15): the flow inlet listens while M1 holds
 * it and for M1 alone; the RADIUS server listens while a measure holds a subscriber lookup or an accounting feed; each
 * stops when its last holder stops. Real sockets: a datagram reaches the inlet only while it is held.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { serve } from '../../src/app/serve.js';
import { SharedInput } from '../../src/app/inputs.js';
import { CapabilityRefusedError } from '../../src/core/capabilities.js';
import { createLogger } from '../../src/core/logger.js';
import { identifyingMeasure, measuresWithM1InletOnly, runnableMeasure, tempDir, testConfig } from '../support/fixtures.js';

const quiet = () => ({ out: new PassThrough(), logger: createLogger('silent') });
const listeners = [
  'server:\n  port: 0',
  'ingest:\n  flows:\n    listeners: [{ host: "127.0.0.1", port: 0 }]',
  '  radius:\n    listeners: [{ host: "127.0.0.1", port: 0 }]',
].join('\n');

/** Declares flow items too, but is not the measure the flow dataset is collected for. */
const flowReader = runnableMeasure({ id: 'flow-reader', code: 'M89' });

async function auditActions(server: Awaited<ReturnType<typeof serve>>, measure: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of server.mamori.audit.entries()) if (e.measure === measure) out.push(`${e.action} ${e.object ?? ''}`.trim());
  return out;
}

describe('shared inputs granted by the broker', () => {
  it('starts neither the flow inlet nor RADIUS while no running measure holds them', async () => {
    const server = await serve(testConfig(join(tempDir(), 'data'), `${listeners}\nmeasures:\n  flow-reader: { enabled: true }\n`), {
      measures: [...measuresWithM1InletOnly(), identifyingMeasure(), flowReader],
      ...quiet(),
    });
    try {
      assert.equal(server.inlet, undefined);
      assert.equal(server.radius, undefined);
      const ready = (await (await fetch(`${server.url}/readyz`)).json()) as { checks: Record<string, string> };
      assert.deepEqual(Object.keys(ready.checks).sort(), ['M89', 'analytics-store', 'state-store']);
    } finally {
      await server.close();
    }
  });

  it('gives the flow inlet to M1 only: another measure declaring flow items is refused, audited', async () => {
    const server = await serve(
      testConfig(
        join(tempDir(), 'data'),
        `${listeners}\nmeasures:\n  cc-detection: { enabled: true }\n  flow-reader: { enabled: true }\n  lookup-test: { enabled: true }\n`,
      ),
      { measures: [...measuresWithM1InletOnly(), flowReader, identifyingMeasure()], ...quiet() },
    );
    try {
      assert.ok(server.inlet, 'M1 holds the inlet');
      assert.deepEqual(
        (await auditActions(server, 'cc-detection')).filter((a) => a.endsWith('flow-input')),
        ['capability.grant capability:flow-input'],
      );
      await assert.rejects(server.mamori.broker.forMeasure('flow-reader').action('flow-input'), (err: unknown) => {
        assert.ok(err instanceof CapabilityRefusedError);
        assert.match(err.message, /fills the "flows" dataset, collected for cc-detection alone/);
        return true;
      });
      assert.deepEqual((await auditActions(server, 'flow-reader')).at(-1), 'capability.refused capability:flow-input');
      // A measure without the flow items is refused by its declaration.
      await assert.rejects(
        server.mamori.broker.forMeasure('lookup-test').action('flow-input'),
        /does not declare the data item "flow\.addresses"/,
      );
    } finally {
      await server.close();
    }
  });

  it('listens for RADIUS accounting while a measure holds a lookup, and the inlet takes datagrams while M1 holds it', async () => {
    const server = await serve(
      testConfig(join(tempDir(), 'data'), `${listeners}\nmeasures:\n  cc-detection: { enabled: true }\n  lookup-test: { enabled: true }\n`),
      { measures: [...measuresWithM1InletOnly(), identifyingMeasure()], ...quiet() },
    );
    const port = server.inlet!.addresses[0]!.port;
    try {
      assert.ok(server.radius, 'the lookup holds RADIUS');
      const ready = (await (await fetch(`${server.url}/readyz`)).json()) as { checks: Record<string, string> };
      assert.equal(ready.checks['radius-accounting'], 'listening');
      assert.equal(ready.checks['flow-inlet'], 'listening');
      // A datagram the inlet counts (an unknown version is refused with a reason, which shows it was read).
      const seen = () => JSON.stringify([server.inlet!.status().exporters, server.inlet!.status().unattributed]);
      const before = seen();
      const socket = createSocket('udp4');
      await new Promise<void>((resolve, reject) =>
        socket.send(Buffer.from([0, 99, 0, 0]), port, '127.0.0.1', (e) => (e ? reject(e) : resolve())),
      );
      socket.close();
      for (let i = 0; i < 100 && seen() === before; i++) await new Promise((r) => setTimeout(r, 50));
      assert.notEqual(seen(), before, 'the inlet read the datagram');
    } finally {
      await server.close();
    }
    assert.equal(server.inlet, undefined, 'stopped with its last holder');
    assert.equal(server.radius, undefined, 'stopped with its last holder');
  });
});

describe('SharedInput', () => {
  it('starts on the first holder, is shared, stops with the last, and a failed start holds nothing', async () => {
    let starts = 0;
    let stops = 0;
    const input = new SharedInput('test-input', async () => {
      starts++;
      return {
        async stop() {
          stops++;
        },
      };
    });
    const a = await input.acquire('a');
    const b = await input.acquire('b');
    await input.acquire('a');
    assert.equal(a, b);
    assert.equal(starts, 1);
    await input.release('a');
    assert.equal(stops, 0, 'b still holds it');
    await input.release('a');
    assert.equal(stops, 0, 'a second release by the same holder changes nothing');
    await input.release('b');
    assert.equal(stops, 1);
    assert.equal(input.current(), undefined);
    const failing = new SharedInput('failing', () => Promise.reject(new Error('port taken')));
    await assert.rejects(failing.acquire('a'), /port taken/);
    assert.equal(failing.current(), undefined);
  });
});
