/**
 * TSIG (RFC 8945) with HMAC-SHA256, as far as an RPZ primary needs it: verify
 * a signed request (AXFR/SOA from a secondary), sign each message of the
 * answer (the first over the request's MAC, the following ones over the
 * previous MAC and the timers only), and sign a NOTIFY. dns-packet does not
 * handle TSIG, so the record is read and written here, on the wire bytes.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { MamoriError } from '../core/errors.js';

export interface TsigKey {
  name: string;
  secret: Buffer;
}

const ALGORITHM = 'hmac-sha256';
const TYPE_TSIG = 250;
const CLASS_ANY = 255;
const FUDGE = 300;

export class TsigError extends MamoriError {
  static override readonly code = 'tsig';
  static override readonly status = 400;
  constructor(
    readonly rcode: 'BADSIG' | 'BADKEY' | 'BADTIME' | 'FORMERR',
    message: string,
  ) {
    super(message);
  }
}

/** A domain name in uncompressed, lowercase wire form (TSIG digests use canonical names). */
export function wireName(name: string): Buffer {
  const labels = name.toLowerCase().replace(/\.$/, '').split('.').filter(Boolean);
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])]);
}

/** Offset just past a (possibly compressed) name starting at `o`. */
function skipName(msg: Buffer, o: number): number {
  for (let guard = 0; guard < 128; guard++) {
    if (o >= msg.length) throw new TsigError('FORMERR', 'name runs past the message');
    const len = msg[o]!;
    if (len === 0) return o + 1;
    if ((len & 0xc0) === 0xc0) return o + 2;
    o += 1 + len;
  }
  throw new TsigError('FORMERR', 'name too long');
}

/** Reads a name (following pointers) as lowercase text, for the key name. */
function readName(msg: Buffer, o: number): string {
  const labels: string[] = [];
  for (let guard = 0; guard < 128; guard++) {
    const len = msg[o]!;
    if (len === 0) return labels.join('.');
    if ((len & 0xc0) === 0xc0) {
      o = ((len & 0x3f) << 8) | msg[o + 1]!;
      continue;
    }
    labels.push(msg.toString('ascii', o + 1, o + 1 + len).toLowerCase());
    o += 1 + len;
  }
  throw new TsigError('FORMERR', 'name too long');
}

export interface FoundTsig {
  start: number;
  keyName: string;
  algorithm: string;
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
}

/** Finds a TSIG record as the last additional record, if any; a message cut short is a FORMERR. */
export function findTsig(msg: Buffer): FoundTsig | undefined {
  try {
    return readTsig(msg);
  } catch (err) {
    if (err instanceof RangeError) throw new TsigError('FORMERR', 'the message ends inside a record');
    throw err;
  }
}

function readTsig(msg: Buffer): FoundTsig | undefined {
  if (msg.length < 12) throw new TsigError('FORMERR', 'shorter than a DNS header');
  const qd = msg.readUInt16BE(4),
    an = msg.readUInt16BE(6),
    ns = msg.readUInt16BE(8),
    ar = msg.readUInt16BE(10);
  if (ar === 0) return undefined;
  let o = 12;
  for (let i = 0; i < qd; i++) o = skipName(msg, o) + 4;
  for (let i = 0; i < an + ns + ar - 1; i++) {
    o = skipName(msg, o);
    o += 10 + msg.readUInt16BE(o + 8);
  }
  const start = o;
  const keyName = readName(msg, o);
  o = skipName(msg, o);
  if (o + 10 > msg.length || msg.readUInt16BE(o) !== TYPE_TSIG) return undefined;
  const rdStart = o + 10;
  const algorithm = readName(msg, rdStart);
  let r = skipName(msg, rdStart);
  const timeSigned = msg.readUInt16BE(r) * 2 ** 32 + msg.readUInt32BE(r + 2);
  const fudge = msg.readUInt16BE(r + 6);
  const macLen = msg.readUInt16BE(r + 8);
  const mac = Buffer.from(msg.subarray(r + 10, r + 10 + macLen));
  r += 10 + macLen;
  const originalId = msg.readUInt16BE(r);
  return { start, keyName, algorithm, timeSigned, fudge, mac, originalId };
}

function variables(key: TsigKey, timeSigned: number, timersOnly: boolean, error = 0): Buffer {
  const timers = Buffer.alloc(8);
  timers.writeUInt16BE(Math.floor(timeSigned / 2 ** 32), 0);
  timers.writeUInt32BE(timeSigned % 2 ** 32, 2);
  timers.writeUInt16BE(FUDGE, 6);
  if (timersOnly) return timers;
  const head = Buffer.alloc(6);
  head.writeUInt16BE(CLASS_ANY, 0);
  head.writeUInt32BE(0, 2);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(error, 0);
  tail.writeUInt16BE(0, 2);
  return Buffer.concat([wireName(key.name), head, wireName(ALGORITHM), timers, tail]);
}

/** Verifies a signed request with one of `keys`; returns the key and the request's MAC (needed to sign the answer). */
export function verifyRequest(
  msg: Buffer,
  keys: readonly TsigKey[],
  now = Math.floor(Date.now() / 1000),
): { key: TsigKey; mac: Buffer } | undefined {
  const t = findTsig(msg);
  if (!t) return undefined;
  const key = keys.find((k) => k.name.toLowerCase().replace(/\.$/, '') === t.keyName);
  if (!key || t.algorithm !== ALGORITHM) throw new TsigError('BADKEY', `unknown key or algorithm (${t.keyName}, ${t.algorithm})`);
  // The digest covers the message as it was before the TSIG record was added: original id, one additional record fewer.
  const body = Buffer.from(msg.subarray(0, t.start));
  body.writeUInt16BE(t.originalId, 0);
  body.writeUInt16BE(body.readUInt16BE(10) - 1, 10);
  const expected = createHmac('sha256', key.secret)
    .update(body)
    .update(variables(key, t.timeSigned, false))
    .digest();
  if (expected.length !== t.mac.length || !timingSafeEqual(expected, t.mac)) throw new TsigError('BADSIG', 'the TSIG MAC does not match');
  if (Math.abs(now - t.timeSigned) > t.fudge) throw new TsigError('BADTIME', 'the TSIG time is outside the fudge');
  return { key, mac: t.mac };
}

function tsigRecord(key: TsigKey, mac: Buffer, originalId: number, timeSigned: number): Buffer {
  const alg = wireName(ALGORITHM);
  const rd = Buffer.alloc(alg.length + 10 + mac.length + 6);
  alg.copy(rd, 0);
  let o = alg.length;
  rd.writeUInt16BE(Math.floor(timeSigned / 2 ** 32), o);
  rd.writeUInt32BE(timeSigned % 2 ** 32, o + 2);
  rd.writeUInt16BE(FUDGE, o + 6);
  rd.writeUInt16BE(mac.length, o + 8);
  mac.copy(rd, o + 10);
  o += 10 + mac.length;
  rd.writeUInt16BE(originalId, o);
  rd.writeUInt16BE(0, o + 2);
  rd.writeUInt16BE(0, o + 4);
  const head = Buffer.alloc(10);
  head.writeUInt16BE(TYPE_TSIG, 0);
  head.writeUInt16BE(CLASS_ANY, 2);
  head.writeUInt32BE(0, 4);
  head.writeUInt16BE(rd.length, 8);
  return Buffer.concat([wireName(key.name), head, rd]);
}

function appendTsig(msg: Buffer, record: Buffer): Buffer {
  const out = Buffer.concat([msg, record]);
  out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  return out;
}

/**
 * Signs the messages of one answer: the first over the request's MAC and the full
 * variables, each following one over the previous MAC and the timers only.
 */
export function signAnswer(messages: readonly Buffer[], key: TsigKey, requestMac: Buffer, now = Math.floor(Date.now() / 1000)): Buffer[] {
  let prior = requestMac;
  return messages.map((m, i) => {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(prior.length);
    const mac = createHmac('sha256', key.secret)
      .update(len)
      .update(prior)
      .update(m)
      .update(variables(key, now, i > 0))
      .digest();
    prior = mac;
    return appendTsig(m, tsigRecord(key, mac, m.readUInt16BE(0), now));
  });
}

/** Signs a request (a NOTIFY). */
export function signRequest(msg: Buffer, key: TsigKey, now = Math.floor(Date.now() / 1000)): Buffer {
  const mac = createHmac('sha256', key.secret)
    .update(msg)
    .update(variables(key, now, false))
    .digest();
  return appendTsig(msg, tsigRecord(key, mac, msg.readUInt16BE(0), now));
}
