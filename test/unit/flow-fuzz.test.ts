/**
 * Fuzzing every flow decoder: arbitrary bytes, and valid datagrams of each
 * protocol with mutated bytes, lying lengths and truncations. The decoders
 * must never throw, never fall into the "decoder-error" safety net, never
 * hang, and never let per-exporter state grow past its limits. The frame
 * decoder is fuzzed on its own too: it must never read outside the section
 * it is given and always answer with an IP header inside it or a reason.
 * Inputs that once broke a decoder live in test/fixtures/flow-regressions/
 * and are replayed here.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FlowBatch, FlowOutput, FlowRowBinaryWriter } from '../../src/ingest/flow/batch.js';
import { decodeDatagram } from '../../src/ingest/flow/decode.js';
import { ExporterTable, LIMITS } from '../../src/ingest/flow/exporters.js';
import { readPcapUdp } from '../../src/ingest/pcap.js';
import {
  Bytes,
  dataSet,
  ether,
  ethernetFrame,
  flowSample,
  gre,
  ipfix,
  IPFIX_V4_TEMPLATE,
  ipfixV4Record,
  ipv4,
  ipv6,
  mpls,
  netflow5,
  netflow9,
  options6,
  optionsTemplateSet,
  rawHeaderRecord,
  sampledIpv4Record,
  sflowDatagram,
  srh,
  templateSet,
  udp,
  vxlan,
} from '../support/flow-builders.js';
import { REPO_ROOT } from '../support/fixtures.js';
import { datagramCases, frameCases } from '../support/flow-cases.js';
import { decodeFrame, frame, FrameStart, FrameStatus } from '../../src/ingest/flow/frame.js';

const V4 = {
  src: '198.51.100.7',
  dst: '203.0.113.9',
  sport: 51515,
  dport: 443,
  proto: 6,
  flags: 0x1b,
  startMs: 1_700_000_001_234,
  endMs: 1_700_000_002_345,
  bytes: 1500,
  packets: 3,
};

function corpus(): Buffer[] {
  const seeds = [
    netflow5({ uptime: 100_000, unixSecs: 1_700_000_000, sequence: 0, sampling: 10 }, [
      { src: '10.0.0.1', dst: '198.51.100.1', sport: 1234, dport: 80, proto: 6, packets: 2, bytes: 120, first: 90_000, last: 99_000 },
    ]),
    ipfix({ exportTime: 1, sequence: 0, domain: 1 }, [
      templateSet(true, 300, IPFIX_V4_TEMPLATE),
      dataSet(300, [ipfixV4Record(V4), ipfixV4Record(V4)]),
    ]),
    ipfix({ exportTime: 1, sequence: 0, domain: 1 }, [
      templateSet(true, 400, [
        [8, 4],
        [12, 4],
        [82, 65535],
        [100, 4, 9],
        [1, 4],
      ]),
      dataSet(400, [new Bytes().ip4('10.0.0.1').ip4('10.0.0.2').u8(3).raw([65, 66, 67]).u32(1).u32(2).build()]),
    ]),
    netflow9({ uptime: 10_000, unixSecs: 1_700_000_000, sequence: 0, sourceId: 7 }, [
      optionsTemplateSet(
        false,
        257,
        [[1, 4]],
        [
          [48, 1],
          [34, 4],
        ],
      ),
      dataSet(257, [new Bytes().u32(0).u8(1).u32(512).build()]),
      templateSet(false, 256, [
        [8, 4],
        [12, 4],
        [7, 2],
        [11, 2],
        [4, 1],
        [1, 4],
        [2, 4],
        [22, 4],
        [21, 4],
        [48, 1],
      ]),
      dataSet(256, [new Bytes().ip4('10.0.0.1').ip4('10.0.0.2').u16(1).u16(2).u8(6).u32(100).u32(1).u32(9_000).u32(9_500).u8(1).build()]),
    ]),
    sflowDatagram('192.0.2.1', 1, [
      flowSample(
        1000,
        [
          rawHeaderRecord(ethernetFrame({ src: '192.0.2.10', dst: '198.51.100.20', proto: 6, sport: 1, dport: 2, vlans: [5, 6] })),
          rawHeaderRecord(ethernetFrame({ src: '2001:db8::1', dst: '2001:db8::2', proto: 17, sport: 1, dport: 2, mpls: [16, 17] })),
          sampledIpv4Record({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, proto: 17, length: 100 }),
        ],
        true,
      ),
    ]),
  ];
  // Every case of issue 14: frames in sFlow raw headers and IPFIX / v9 packet sections, mixed families, NAT times, framing errors.
  seeds.push(...datagramCases());
  const captures = join(REPO_ROOT, '../shared/data/flow-captures');
  if (existsSync(captures)) {
    for (const f of readdirSync(captures)) seeds.push(...[...readPcapUdp(join(captures, f))].map((p) => Buffer.from(p.payload)));
  }
  return seeds;
}

const SEEDS = corpus();

/** Decodes a sequence of datagrams through one exporter table and checks every invariant. */
function decodeChecked(datagrams: Buffer[]): void {
  const exporters = new ExporterTable();
  const writer = new FlowRowBinaryWriter(16);
  const out = new FlowOutput(new FlowBatch(16), (b) => {
    for (let i = 0; i < b.length; i++) assert.ok(b.family[i] === 4 || b.family[i] === 6);
    writer.write(b);
  });
  for (const d of datagrams) {
    const n = decodeDatagram(d, '192.0.2.1', exporters, out, 1_700_000_000_000);
    assert.ok(Number.isInteger(n) && n >= 0);
  }
  out.flush();
  for (const e of exporters.list()) {
    assert.equal(e.errors.get('decoder-error') ?? 0, 0, 'a decoder threw: keep this input as a regression');
    assert.ok(e.templateCount() <= LIMITS.templatesPerExporter);
    assert.ok(e.domains.size <= LIMITS.domainsPerExporter);
    for (const d of e.domains.values()) {
      assert.ok(d.held.length <= LIMITS.heldSetsPerExporter);
      assert.ok(d.heldBytes <= LIMITS.heldBytesPerExporter);
      assert.ok(d.samplerRates.size <= LIMITS.samplersPerExporter);
    }
  }
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('u16' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 3, 4, 255, 256, 0x7fff, 0x8000, 0xffff) }),
  fc.record({ kind: fc.constant('u32' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff, 1024, 5) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), value: fc.constant(0) }),
);

function mutate(seed: Buffer, ms: Array<{ kind: string; at: number; value: number }>): Buffer {
  let b = Buffer.from(seed);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === 'byte') b[at] = m.value;
    else if (m.kind === 'u16' && at + 2 <= b.length) b.writeUInt16BE(m.value, at);
    else if (m.kind === 'u32' && at + 4 <= b.length) b.writeUInt32BE(m.value >>> 0, at);
    else if (m.kind === 'truncate') b = b.subarray(0, at);
  }
  return b;
}

describe('flow decoder fuzzing', () => {
  it(`has a seed corpus of every protocol (${SEEDS.length} datagrams)`, () => {
    assert.ok(SEEDS.length >= 5);
  });

  it('survives arbitrary bytes behind each version header', () => {
    const header = fc.constantFrom([0, 5], [0, 9], [0, 10], [0, 0, 0, 5]);
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 1500 }), (h, rest) => {
        decodeChecked([Buffer.concat([Buffer.from(h), Buffer.from(rest)])]);
      }),
      { numRuns: 10000, seed: 42 },
    );
  });

  it('survives mutated valid datagrams (bytes, lying lengths, truncation)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SEEDS.keys()), fc.array(mutation, { minLength: 1, maxLength: 6 }), (i, ms) => {
        decodeChecked([mutate(SEEDS[i]!, ms)]);
      }),
      { numRuns: 20000, seed: 7 },
    );
  });

  it('survives sequences of mutated datagrams sharing exporter state', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...SEEDS.keys()), fc.array(mutation, { maxLength: 3 })), { minLength: 2, maxLength: 12 }),
        (seq) => {
          decodeChecked(seq.map(([i, ms]) => mutate(SEEDS[i]!, ms)));
        },
      ),
      { numRuns: 5000, seed: 99 },
    );
  });

  it('survives random templates, then data for them', () => {
    const field = fc.tuple(fc.integer({ min: 0, max: 400 }), fc.constantFrom(0, 1, 2, 3, 4, 6, 8, 16, 65535));
    fc.assert(
      fc.property(fc.boolean(), fc.array(field, { maxLength: 40 }), fc.uint8Array({ maxLength: 600 }), (isIpfix, fields, data) => {
        const sets = [templateSet(isIpfix, 300, fields), dataSet(300, [Buffer.from(data)])];
        const d = isIpfix
          ? ipfix({ exportTime: 1, sequence: 0, domain: 0 }, sets)
          : netflow9({ uptime: 1, unixSecs: 1, sequence: 0, sourceId: 0 }, sets);
        decodeChecked([d]);
      }),
      { numRuns: 10000, seed: 1234 },
    );
  });

  it('decodes the same rows with the template-compiled reader as with the general path', () => {
    // Fields of the declared elements with widths they may have, among fields that are skipped.
    const declared = fc.constantFrom<[number, number]>(
      [1, 4],
      [1, 8],
      [2, 4],
      [2, 8],
      [4, 1],
      [6, 1],
      [6, 2],
      [7, 2],
      [11, 2],
      [8, 4],
      [12, 4],
      [27, 16],
      [28, 16],
      [21, 4],
      [22, 4],
      [150, 4],
      [151, 4],
      [152, 8],
      [153, 8],
      [154, 8],
      [155, 8],
      [34, 4],
      [48, 1],
      [48, 2],
      [32, 2],
      [176, 1],
      [177, 1],
      [85, 8],
      [86, 8],
      [160, 8],
      [305, 4],
      [306, 4],
      // Issue 14: ipVersion, packet sections, observation times, deltas, durations.
      [60, 1],
      [315, 64],
      [313, 48],
      [104, 40],
      [322, 4],
      [323, 8],
      [324, 8],
      [325, 8],
      [158, 4],
      [159, 4],
      [161, 4],
      [162, 4],
    );
    const skipped = fc.tuple(fc.integer({ min: 300, max: 400 }), fc.constantFrom(1, 2, 4, 6, 8));
    const rows = (compiled: boolean, templates: Buffer, data: Buffer): Record<string, unknown[]> => {
      const exporters = new ExporterTable();
      const batch = new FlowBatch(64);
      const out = new FlowOutput(batch, () => {
        throw new Error('more than one batch');
      });
      decodeDatagram(templates, '192.0.2.1', exporters, out, 1_700_000_000_000);
      const domains = [...exporters.find('192.0.2.1')!.domains.values()];
      assert.ok(
        domains.every((d) => [...d.templates.values()].every((t) => t.read !== undefined)),
        'fixed data templates are compiled',
      );
      // The general path: the same templates without their compiled readers.
      if (!compiled) for (const d of domains) for (const [id, t] of d.templates) d.templates.set(id, { ...t, read: undefined });
      decodeDatagram(data, '192.0.2.1', exporters, out, 1_700_000_000_000);
      const errors = exporters.find('192.0.2.1')!.errors;
      assert.equal(errors.get('decoder-error') ?? 0, 0);
      const n = batch.length;
      // Records refused (all-zero addresses, a packet section with no IP in it) must be the same ones on both paths.
      const refused = [...errors.values()].reduce((a, v) => a + v, 0);
      return {
        n: [n],
        refused: [refused],
        errors: [...errors].sort(),
        start: [...batch.startMs.subarray(0, n)],
        end: [...batch.endMs.subarray(0, n)],
        src: [...batch.src.subarray(0, n * 16)],
        dst: [...batch.dst.subarray(0, n * 16)],
        family: [...batch.family.subarray(0, n)],
        sport: [...batch.srcPort.subarray(0, n)],
        dport: [...batch.dstPort.subarray(0, n)],
        proto: [...batch.proto.subarray(0, n)],
        bytes: [...batch.bytes.subarray(0, n)],
        packets: [...batch.packets.subarray(0, n)],
        flags: [...batch.tcpFlags.subarray(0, n)],
        rate: [...batch.samplingRate.subarray(0, n)],
      };
    };
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.oneof(declared, skipped), { minLength: 1, maxLength: 24 }),
        fc.integer({ min: 1, max: 8 }),
        fc.uint8Array({ minLength: 2000, maxLength: 2000 }),
        (isIpfix, fields, count, noise) => {
          const specs = [[8, 4], ...fields] as Array<[number, number]>; // an address, so that records become rows
          const length = specs.reduce((a, [, l]) => a + l, 0);
          const records = Array.from({ length: count }, (_, i) =>
            Buffer.from(noise.subarray((i * length) % 1000, ((i * length) % 1000) + length)),
          );
          if (records.some((r) => r.length !== length)) return;
          const message = (sets: Buffer[]) =>
            isIpfix
              ? ipfix({ exportTime: 1_700_000_000, sequence: 0, domain: 0 }, sets)
              : netflow9({ uptime: 1_000_000, unixSecs: 1_700_000_000, sequence: 0, sourceId: 0 }, sets);
          const templates = message([templateSet(isIpfix, 300, specs)]);
          const data = message([dataSet(300, records)]);
          const compiled = rows(true, templates, data);
          assert.equal(Number(compiled.n![0]) + Number(compiled.refused![0]), count, 'every record is a row or counted');
          assert.deepEqual(compiled, rows(false, templates, data));
        },
      ),
      { numRuns: 3000, seed: 4321 },
    );
  });

  const FRAMES = frameCases();
  const START = fc.constantFrom(FrameStart.Ethernet, FrameStart.Ip, FrameStart.Mpls, FrameStart.Ipv4, FrameStart.Ipv6);

  /**
   * Decodes a section placed inside a larger buffer of other bytes, and the
   * same section copied alone: both must agree (nothing outside was read),
   * and what is found must lie inside the section.
   */
  function frameChecked(section: Buffer, start: FrameStart, noise: number): void {
    const before = Buffer.alloc(5, noise);
    const placed = Buffer.concat([before, section, Buffer.alloc(64, noise)]);
    const status = decodeFrame(placed, 5, 5 + section.length, start);
    assert.ok(status >= FrameStatus.Ok && status <= FrameStatus.LinkType);
    const seen = { ...frame };
    const alone = decodeFrame(Buffer.from(section), 0, section.length, start);
    assert.equal(alone, status, 'a byte outside the section changed the answer');
    if (status !== FrameStatus.Ok) return;
    assert.deepEqual(
      { ...frame, src: frame.src + 5, dst: frame.dst + 5, ipOffset: frame.ipOffset + 5 },
      seen,
      'a byte outside the section changed the packet',
    );
    const width = seen.family === 4 ? 4 : 16;
    assert.ok(seen.family === 4 || seen.family === 6);
    for (const at of [seen.src, seen.dst]) assert.ok(at >= 5 && at + width <= 5 + section.length, 'an address outside the section');
    assert.ok(seen.ipOffset >= 5 && seen.ipOffset < 5 + section.length);
    for (const v of [seen.srcPort, seen.dstPort]) assert.ok(Number.isInteger(v) && v >= 0 && v <= 0xffff);
    assert.ok(seen.proto >= 0 && seen.proto <= 255 && seen.tcpFlags >= 0 && seen.tcpFlags <= 255);
  }

  it(`the frame decoder: every case (${FRAMES.length}) mutated, cut and lying, never reads outside its section`, () => {
    for (const c of FRAMES)
      assert.equal(
        decodeFrame(c.frame, 0, c.frame.length, c.start),
        c.name === 'arp' || c.name === 'lldp' || c.name === 'pw associated channel' ? FrameStatus.NotIp : FrameStatus.Ok,
        c.name,
      );
    fc.assert(
      fc.property(
        fc.constantFrom(...FRAMES.keys()),
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 255 }),
        (i, ms, noise) => {
          frameChecked(mutate(FRAMES[i]!.frame, ms), FRAMES[i]!.start, noise);
        },
      ),
      { numRuns: 20000, seed: 315 },
    );
  });

  it('the frame decoder: arbitrary bytes from every starting layer', () => {
    fc.assert(
      fc.property(START, fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 255 }), (start, bytes, noise) => {
        frameChecked(Buffer.from(bytes), start, noise);
      }),
      { numRuns: 20000, seed: 4789 },
    );
  });

  it('the frame decoder: stacks of tags, labels, extension headers and tunnels stay bounded', () => {
    // Built from pieces that each lead to another: the walk must end within its bounds whatever the stacking.
    const piece = fc.constantFrom('vlan', 'mpls', 'cw', 'v4in', 'v6in', 'gre', 'vxlan', 'ext', 'srh');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        let inner = ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, payload: udp(1, 2) });
        let type = 0x0800;
        for (const p of pieces.reverse()) {
          if (p === 'vlan') {
            inner = new Bytes().u16(0).u16(type).raw(inner).build();
            type = 0x8100;
          } else if (p === 'mpls') {
            inner = mpls([16], inner);
            type = 0x8847;
          } else if (p === 'cw') {
            inner = mpls([16], Buffer.concat([Buffer.alloc(4), ether(type, inner)]));
            type = 0x8847;
          } else if (p === 'v4in') {
            inner = ipv4({
              src: '10.1.0.1',
              dst: '10.1.0.2',
              proto: type === 0x86dd ? 41 : 4,
              payload:
                type === 0x0800 || type === 0x86dd ? inner : ipv4({ src: '10.3.0.1', dst: '10.3.0.2', proto: 17, payload: udp(1, 2) }),
            });
            type = 0x0800;
          } else if (p === 'v6in') {
            inner = ipv6({ src: '2001:db8::1', dst: '2001:db8::2', next: type === 0x86dd ? 41 : 4, payload: inner });
            type = 0x86dd;
          } else if (p === 'gre') {
            inner = ipv4({ src: '10.4.0.1', dst: '10.4.0.2', proto: 47, payload: gre(type, inner, 1) });
            type = 0x0800;
          } else if (p === 'vxlan') {
            inner = ipv4({ src: '10.5.0.1', dst: '10.5.0.2', proto: 17, payload: udp(1, 4789, vxlan(1, ether(type, inner))) });
            type = 0x0800;
          } else if (p === 'ext') {
            inner = ipv6({ src: '2001:db8::3', dst: '2001:db8::4', next: 0, payload: options6(type === 0x86dd ? 41 : 4, inner) });
            type = 0x86dd;
          } else {
            inner = ipv6({ src: '2001:db8::5', dst: '2001:db8::6', next: 43, payload: srh(type === 0x86dd ? 41 : 4, ['fc00::1'], inner) });
            type = 0x86dd;
          }
        }
        const f = ether(type, inner);
        frameChecked(f, FrameStart.Ethernet, 0x45);
        assert.ok(inner.length < 70_000);
      }),
      { numRuns: 3000, seed: 8754 },
    );
  });

  it('replays the inputs that once broke a decoder', () => {
    const dir = join(REPO_ROOT, 'test/fixtures/flow-regressions');
    const files = readdirSync(dir).filter((f) => f.endsWith('.hex'));
    assert.ok(files.length >= 1);
    for (const f of files) {
      const hex = readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join('')
        .replace(/\s+/g, '');
      decodeChecked([Buffer.from(hex, 'hex')]);
    }
  });
});
