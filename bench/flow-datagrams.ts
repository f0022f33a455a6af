/**
 * Realistic export datagrams for the flow benchmarks, built with the same
 * byte-exact builders the tests use: full datagrams (~1400 bytes) as routers send.
 */
import {
  dataSet,
  ethernetFrame,
  flowSample,
  ipfix,
  IPFIX_V4_TEMPLATE,
  ipfixV4Record,
  IPFIX_V6_TEMPLATE,
  ipfixV6Record,
  netflow5,
  netflow9,
  rawHeaderRecord,
  sflowDatagram,
  templateSet,
} from '../test/support/flow-builders.js';

export interface Stream {
  name: string;
  templates: Buffer[];
  data: Buffer[];
  recordsPerDatagram: number;
}

function rnd(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 4294967296;
}

const flow = (r: () => number, i: number) => ({
  src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  dst: `198.51.${Math.floor(r() * 255)}.${Math.floor(r() * 255)}`,
  sport: 1024 + Math.floor(r() * 60000),
  dport: [443, 80, 53, 8080][i % 4]!,
  proto: i % 3 === 0 ? 17 : 6,
  flags: 0x18,
  startMs: 1_764_000_000_000 + i,
  endMs: 1_764_000_001_000 + i,
  bytes: Math.floor(r() * 1e6),
  packets: 1 + Math.floor(r() * 500),
});

export function ipfixV4Stream(datagrams: number, seed = 1): Stream {
  const r = rnd(seed);
  const per = 22; // 22 × 60-byte records + headers ≈ 1340 bytes
  const data: Buffer[] = [];
  for (let d = 0; d < datagrams; d++) {
    data.push(
      ipfix({ exportTime: 1_764_000_000, sequence: d * per, domain: 1 }, [
        dataSet(
          300,
          Array.from({ length: per }, (_, k) => ipfixV4Record(flow(r, d * per + k))),
        ),
      ]),
    );
  }
  return {
    name: 'IPFIX IPv4 (5-tuple + times + counters)',
    templates: [ipfix({ exportTime: 1_764_000_000, sequence: 0, domain: 1 }, [templateSet(true, 300, IPFIX_V4_TEMPLATE)])],
    data,
    recordsPerDatagram: per,
  };
}

export function ipfixV6Stream(datagrams: number, seed = 2): Stream {
  const r = rnd(seed);
  const per = 17;
  const data: Buffer[] = [];
  for (let d = 0; d < datagrams; d++) {
    data.push(
      ipfix({ exportTime: 1_764_000_000, sequence: d * per, domain: 1 }, [
        dataSet(
          301,
          Array.from({ length: per }, (_, k) => {
            const f = flow(r, d * per + k);
            return ipfixV6Record({ ...f, src: `2001:db8:${(k + d) & 0xffff}::1`, dst: `2001:db8:ffff::${k.toString(16)}` });
          }),
        ),
      ]),
    );
  }
  return {
    name: 'IPFIX IPv6',
    templates: [ipfix({ exportTime: 1_764_000_000, sequence: 0, domain: 1 }, [templateSet(true, 301, IPFIX_V6_TEMPLATE)])],
    data,
    recordsPerDatagram: per,
  };
}

export function netflow5Stream(datagrams: number, seed = 3): Stream {
  const r = rnd(seed);
  const data: Buffer[] = [];
  for (let d = 0; d < datagrams; d++) {
    data.push(
      netflow5(
        { uptime: 1_000_000, unixSecs: 1_764_000_000, sequence: d * 30 },
        Array.from({ length: 30 }, (_, k) => {
          const f = flow(r, d * 30 + k);
          return { ...f, first: 990_000, last: 999_000 };
        }),
      ),
    );
  }
  return { name: 'NetFlow v5', templates: [], data, recordsPerDatagram: 30 };
}

export function netflow9Stream(datagrams: number, seed = 4): Stream {
  const r = rnd(seed);
  const fields: Array<[number, number]> = [
    [8, 4],
    [12, 4],
    [7, 2],
    [11, 2],
    [4, 1],
    [6, 1],
    [1, 4],
    [2, 4],
    [22, 4],
    [21, 4],
    [10, 2],
    [14, 2],
  ];
  const per = 40;
  const data: Buffer[] = [];
  for (let d = 0; d < datagrams; d++) {
    const recs = Array.from({ length: per }, (_, k) => {
      const f = flow(r, d * per + k);
      const b = Buffer.alloc(32);
      Buffer.from(f.src.split('.').map(Number)).copy(b, 0);
      Buffer.from(f.dst.split('.').map(Number)).copy(b, 4);
      b.writeUInt16BE(f.sport, 8);
      b.writeUInt16BE(f.dport, 10);
      b[12] = f.proto;
      b[13] = f.flags;
      b.writeUInt32BE(f.bytes, 14);
      b.writeUInt32BE(f.packets, 18);
      b.writeUInt32BE(990_000, 22);
      b.writeUInt32BE(999_000, 26);
      b.writeUInt16BE(1, 30);
      return b.subarray(0, 32);
    });
    data.push(netflow9({ uptime: 1_000_000, unixSecs: 1_764_000_000, sequence: d, sourceId: 0 }, [dataSet(256, recs)]));
  }
  return {
    name: 'NetFlow v9',
    templates: [netflow9({ uptime: 1_000_000, unixSecs: 1_764_000_000, sequence: 0, sourceId: 0 }, [templateSet(false, 256, fields)])],
    data,
    recordsPerDatagram: per,
  };
}

export function sflowStream(datagrams: number, seed = 5): Stream {
  const r = rnd(seed);
  const per = 7;
  const data: Buffer[] = [];
  for (let d = 0; d < datagrams; d++) {
    const samples = Array.from({ length: per }, (_, k) => {
      const f = flow(r, d * per + k);
      return flowSample(1024, [
        rawHeaderRecord(
          ethernetFrame({ src: f.src, dst: f.dst, proto: 6, sport: f.sport, dport: f.dport, vlans: [100], payload: Buffer.alloc(66) }),
          1500,
        ),
      ]);
    });
    data.push(sflowDatagram('192.0.2.1', d, samples));
  }
  return { name: 'sFlow v5 raw headers', templates: [], data, recordsPerDatagram: per };
}
