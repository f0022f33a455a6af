/**
 * A reader for classic pcap files holding UDP datagrams (flow exports,
 * RADIUS, DNS…): yields each UDP payload with its source and timestamp.
 * Link types: Ethernet (with VLAN tags), Linux cooked (SLL, SLL2), raw IP,
 * BSD loopback. IP fragments after the first cannot be read and are counted.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { formatIPv6 } from './address.js';
import { MamoriError } from '../core/errors.js';

export interface UdpPacket {
  timestampMs: number;
  source: string;
  sourcePort: number;
  destinationPort: number;
  payload: Buffer;
}

export interface PcapStats {
  packets: number;
  udp: number;
  skipped: number;
  fragments: number;
  bytesRead: number;
}

const CHUNK = 4 << 20;
const MAX_RECORD = 256 * 1024;

export class PcapError extends MamoriError {
  static override readonly code = 'pcap';
  static override readonly status = 400;
  constructor(message: string) {
    super(message);
  }
}

interface PcapHeader {
  le: boolean;
  nano: boolean;
  linkType: number;
}

/** The file header (24 bytes): byte order, time resolution, link type; anything else is refused by name. */
function pcapHeader(file: string, buf: Buffer, have: number): PcapHeader {
  if (have < 24) throw new PcapError(`${file}: too short for a pcap file`);
  const magic = buf.readUInt32LE(0);
  let le: boolean;
  let nano: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) {
    le = true;
    nano = magic === 0xa1b23c4d;
  } else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) {
    le = false;
    nano = magic === 0x4d3cb2a1;
  } else if (magic === 0x0a0d0d0a) throw new PcapError(`${file}: pcapng is not supported; convert it with \`editcap -F pcap\``);
  else throw new PcapError(`${file}: not a pcap file (magic ${magic.toString(16)})`);
  return { le, nano, linkType: (le ? buf.readUInt32LE(20) : buf.readUInt32BE(20)) & 0xffff };
}

/**
 * Why the records stop at `offset` (undefined: they do not). The same rules for
 * the reader and the scan, so that both agree on where a damaged file ends.
 */
function recordProblem(incl: number, available: number, packet: number): string | undefined {
  if (available < 16) return `record ${packet} is cut inside its 16-byte header (file cut short)`;
  if (incl > MAX_RECORD) return `record ${packet} claims ${incl} bytes (more than ${MAX_RECORD}): the file is damaged`;
  if (available < 16 + incl) {
    return `record ${packet} is truncated: ${16 + incl} bytes announced, ${available} in the file (file cut short)`;
  }
  return undefined;
}

/**
 * Reads the file in chunks, so a capture of any size needs a few MiB of memory.
 * `end` (a record boundary found by scanPcap) stops reading there: the records
 * after it are not read, so a file cut short can be read up to its last whole record.
 */
export function* readPcapUdp(
  file: string,
  stats: PcapStats = { packets: 0, udp: 0, skipped: 0, fragments: 0, bytesRead: 0 },
  end?: number,
): Generator<UdpPacket> {
  const fd = openSync(file, 'r');
  try {
    const size = Math.min(fstatSync(fd).size, end ?? Number.POSITIVE_INFINITY);
    let buf = Buffer.alloc(CHUNK);
    let have = 0; // valid bytes in buf
    let start = 0; // parse position in buf
    let filePos = 0;
    const fill = (need: number): boolean => {
      if (have - start >= need) return true;
      // Keep the unparsed tail, then read more after it.
      if (start > 0) {
        buf.copy(buf, 0, start, have);
        have -= start;
        start = 0;
      }
      if (need > buf.length) {
        const bigger = Buffer.alloc(need);
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
      while (have < need && filePos < size) {
        const n = readSync(fd, buf, have, Math.min(buf.length - have, size - filePos), filePos);
        if (n === 0) break;
        have += n;
        filePos += n;
      }
      return have - start >= need;
    };
    fill(24);
    const { le, nano, linkType } = pcapHeader(file, buf, have);
    start = 24;
    for (;;) {
      if (!fill(16)) {
        if (have > start) throw new PcapError(`${file}: ${recordProblem(0, have - start, stats.packets + 1)!}`);
        break;
      }
      const u32 = (p: number) => (le ? buf.readUInt32LE(p) : buf.readUInt32BE(p));
      const sec = u32(start);
      const frac = u32(start + 4);
      const incl = u32(start + 8);
      if (incl > MAX_RECORD || !fill(16 + incl)) throw new PcapError(`${file}: ${recordProblem(incl, have - start, stats.packets + 1)!}`);
      const body = start + 16;
      const end = body + incl;
      stats.packets += 1;
      stats.bytesRead = filePos - (have - end);
      const timestampMs = sec * 1000 + Math.floor(nano ? frac / 1e6 : frac / 1e3);
      const pkt = udpOf(buf, body, end, linkType, stats);
      // The payload is copied: the chunk buffer is reused for the next reads.
      if (pkt) {
        stats.udp += 1;
        yield { timestampMs, ...pkt, payload: Buffer.from(pkt.payload) };
      } else stats.skipped += 1;
      start = end;
    }
  } finally {
    closeSync(fd);
  }
}

export interface PcapScan {
  /** Size of the file and SHA-256 of all of it. */
  fileBytes: number;
  fileSha256: string;
  /** Bytes up to the end of the last whole record (the whole file unless it is damaged or cut short), and their SHA-256. */
  validBytes: number;
  validSha256: string;
  packets: number;
  /** Where and why the records stop before the end of the file. */
  truncation?: { offset: number; reason: string };
  /** SHA-256 of the first N bytes, for each N asked for that falls on a record boundary. */
  prefixes: Map<number, string>;
}

/**
 * Walks the record headers of a pcap once, without decoding: where the whole
 * records end, and hashes that identify the file (all of it, its whole records,
 * and prefixes of given lengths: an earlier import of a copy that was cut short).
 * Asynchronous reads, so that a server can scan a large file without stalling.
 */
export async function scanPcap(file: string, prefixLengths: ReadonlySet<number> = new Set()): Promise<PcapScan> {
  const fh = await open(file, 'r');
  try {
    const fileBytes = (await fh.stat()).size;
    const whole = createHash('sha256');
    const valid = createHash('sha256');
    const prefixes = new Map<number, string>();
    let buf = Buffer.alloc(CHUNK);
    let have = 0;
    let start = 0;
    let base = 0; // file offset of buf[0]
    let hashed = 0; // bytes of buf already in `valid` (always a record boundary)
    let filePos = 0;
    const fill = async (need: number): Promise<boolean> => {
      if (have - start >= need) return true;
      if (start > 0) {
        valid.update(buf.subarray(hashed, start));
        buf.copy(buf, 0, start, have);
        have -= start;
        base += start;
        start = 0;
        hashed = 0;
      }
      if (need > buf.length) {
        const bigger = Buffer.alloc(need);
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
      while (have < need && filePos < fileBytes) {
        const { bytesRead } = await fh.read(buf, have, buf.length - have, filePos);
        if (bytesRead === 0) break;
        whole.update(buf.subarray(have, have + bytesRead));
        have += bytesRead;
        filePos += bytesRead;
      }
      return have - start >= need;
    };
    await fill(24);
    const { le } = pcapHeader(file, buf, have);
    start = 24;
    let packets = 0;
    let truncation: PcapScan['truncation'];
    for (;;) {
      if (prefixLengths.has(base + start)) {
        valid.update(buf.subarray(hashed, start));
        hashed = start;
        prefixes.set(base + start, valid.copy().digest('hex'));
      }
      if (!(await fill(16))) {
        if (have > start) truncation = { offset: base + start, reason: recordProblem(0, have - start, packets + 1)! };
        break;
      }
      const incl = le ? buf.readUInt32LE(start + 8) : buf.readUInt32BE(start + 8);
      if (incl > MAX_RECORD || !(await fill(16 + incl))) {
        truncation = { offset: base + start, reason: recordProblem(incl, have - start, packets + 1)! };
        break;
      }
      packets += 1;
      start += 16 + incl;
    }
    valid.update(buf.subarray(hashed, start));
    const validBytes = base + start;
    // The hash of the whole file needs the bytes after a damaged record too.
    while (filePos < fileBytes) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, filePos);
      if (bytesRead === 0) break;
      whole.update(buf.subarray(0, bytesRead));
      filePos += bytesRead;
    }
    return {
      fileBytes,
      fileSha256: whole.digest('hex'),
      validBytes,
      validSha256: valid.digest('hex'),
      packets,
      ...(truncation ? { truncation } : {}),
      prefixes,
    };
  } finally {
    await fh.close();
  }
}

function udpOf(buf: Buffer, q: number, end: number, linkType: number, stats: PcapStats): Omit<UdpPacket, 'timestampMs'> | undefined {
  let etherType: number;
  if (linkType === 1) {
    if (q + 14 > end) return undefined;
    etherType = buf.readUInt16BE(q + 12);
    q += 14;
    while ((etherType === 0x8100 || etherType === 0x88a8) && q + 4 <= end) {
      etherType = buf.readUInt16BE(q + 2);
      q += 4;
    }
  } else if (linkType === 113) {
    if (q + 16 > end) return undefined;
    etherType = buf.readUInt16BE(q + 14);
    q += 16;
  } else if (linkType === 276) {
    if (q + 20 > end) return undefined;
    etherType = buf.readUInt16BE(q);
    q += 20;
  } else if (linkType === 101 || linkType === 12 || linkType === 14) {
    etherType = q < end && buf[q]! >> 4 === 6 ? 0x86dd : 0x0800;
  } else if (linkType === 0) {
    if (q + 4 > end) return undefined;
    q += 4;
    etherType = q < end && buf[q]! >> 4 === 6 ? 0x86dd : 0x0800;
  } else return undefined;

  let source: string;
  let l4: number;
  if (etherType === 0x0800) {
    if (q + 20 > end || buf[q + 9] !== 17) return undefined;
    const flagsFrag = buf.readUInt16BE(q + 6);
    if ((flagsFrag & 0x1fff) !== 0 || (flagsFrag & 0x2000) !== 0) {
      stats.fragments += 1;
      return undefined;
    }
    source = `${buf[q + 12]}.${buf[q + 13]}.${buf[q + 14]}.${buf[q + 15]}`;
    l4 = q + (buf[q]! & 0x0f) * 4;
  } else if (etherType === 0x86dd) {
    if (q + 40 > end || buf[q + 6] !== 17) return undefined;
    source = formatIPv6(buf, q + 8);
    l4 = q + 40;
  } else return undefined;
  if (l4 + 8 > end) return undefined;
  const udpLength = buf.readUInt16BE(l4 + 4);
  const payloadEnd = Math.min(end, l4 + Math.max(udpLength, 8));
  return { source, sourcePort: buf.readUInt16BE(l4), destinationPort: buf.readUInt16BE(l4 + 2), payload: buf.subarray(l4 + 8, payloadEnd) };
}
