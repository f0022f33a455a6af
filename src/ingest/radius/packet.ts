/**
 * RADIUS accounting packets (RFC 2865 §3–5, RFC 2866): the header, the
 * attribute list, the Request Authenticator check and the Accounting-Response.
 * Only the attributes that say who had which address when survive decoding
 * (minimised at the edge); everything else — Called-Station-Id, octet counters,
 * vendor attributes — is skipped without being kept.
 */
import { createHash } from 'node:crypto';
import { formatIPv6, ipv6PrefixText } from '../address.js';
import { MamoriError } from '../../core/errors.js';

export const CODE = { ACCOUNTING_REQUEST: 4, ACCOUNTING_RESPONSE: 5 } as const;
export const STATUS = { START: 1, STOP: 2, INTERIM: 3, ACCOUNTING_ON: 7, ACCOUNTING_OFF: 8 } as const;

const ATTR = {
  USER_NAME: 1,
  NAS_IP_ADDRESS: 4,
  FRAMED_IP_ADDRESS: 8,
  NAS_IDENTIFIER: 32,
  ACCT_STATUS_TYPE: 40,
  ACCT_DELAY_TIME: 41,
  ACCT_SESSION_ID: 44,
  EVENT_TIMESTAMP: 55,
  NAS_IPV6_ADDRESS: 95,
  FRAMED_IPV6_PREFIX: 97,
  DELEGATED_IPV6_PREFIX: 123,
} as const;

export class RadiusError extends MamoriError {
  static override readonly code = 'radius-packet';
  static override readonly status = 400;
  constructor(
    readonly reason: 'short' | 'length' | 'code' | 'attribute' | 'authenticator' | 'missing',
    message: string,
  ) {
    super(message);
  }
}

/** What an accounting request says, minimised. */
export interface Accounting {
  identifier: number;
  authenticator: Buffer;
  statusType: number;
  userName?: string;
  sessionId?: string;
  nasIp?: string;
  nasIdentifier?: string;
  framedIp?: string;
  /** IPv6 prefixes as "2001:db8:1::/56". */
  framedIpv6Prefix?: string;
  delegatedIpv6Prefix?: string;
  eventTimestamp?: number;
  delayTime?: number;
}

function ipv6Prefix(v: Buffer): string {
  // Reserved (1), Prefix-Length (1), Prefix (0–16 octets).
  if (v.length < 2 || v.length > 18) throw new RadiusError('attribute', `an IPv6 prefix attribute of ${v.length} octets`);
  const len = v[1]!;
  if (len > 128 || Math.ceil(len / 8) > v.length - 2)
    throw new RadiusError('attribute', `IPv6 prefix length ${len} does not fit its attribute`);
  const bytes = Buffer.alloc(16);
  v.copy(bytes, 0, 2);
  return ipv6PrefixText(bytes, len);
}

const ipv4 = (v: Buffer) => {
  if (v.length !== 4) throw new RadiusError('attribute', `an IPv4 address attribute of ${v.length} octets`);
  return `${v[0]}.${v[1]}.${v[2]}.${v[3]}`;
};
const u32 = (v: Buffer) => {
  if (v.length !== 4) throw new RadiusError('attribute', `an integer attribute of ${v.length} octets`);
  return v.readUInt32BE(0);
};
const text = (v: Buffer) => v.toString('utf8');

// One MD5 call per check over a reused scratch buffer: this runs for every packet.
let scratch = Buffer.alloc(4096 + 256);

function md5Of(parts: (into: Buffer) => number): Buffer {
  return createHash('md5')
    .update(scratch.subarray(0, parts(scratch)))
    .digest();
}

/** Request Authenticator of an Accounting-Request: MD5(Code+Identifier+Length+16 zero octets+Attributes+Secret). */
export function accountingAuthenticator(packet: Buffer, secret: Buffer): Buffer {
  if (scratch.length < packet.length + secret.length) scratch = Buffer.alloc(packet.length + secret.length);
  return md5Of((b) => {
    packet.copy(b, 0, 0, packet.length);
    b.fill(0, 4, 20);
    secret.copy(b, packet.length);
    return packet.length + secret.length;
  });
}

/** The header only: enough to find the client's secret before checking the packet. */
export function header(packet: Buffer): { code: number; identifier: number; length: number } {
  if (packet.length < 20) throw new RadiusError('short', `${packet.length} octets is shorter than a RADIUS header`);
  const length = packet.readUInt16BE(2);
  if (length < 20 || length > 4096 || length > packet.length)
    throw new RadiusError('length', `length field ${length} does not fit a packet of ${packet.length} octets`);
  return { code: packet[0]!, identifier: packet[1]!, length };
}

/**
 * Decodes an Accounting-Request and checks its authenticator with the NAS's
 * shared secret. Octets beyond the length field are padding (RFC 2865 §3).
 */
export function decodeAccounting(datagram: Buffer, secret: Buffer): Accounting {
  const h = header(datagram);
  if (h.code !== CODE.ACCOUNTING_REQUEST) throw new RadiusError('code', `code ${h.code} is not an Accounting-Request`);
  const packet = datagram.subarray(0, h.length);
  const authenticator = Buffer.from(packet.subarray(4, 20));
  if (!accountingAuthenticator(packet, secret).equals(authenticator))
    throw new RadiusError('authenticator', 'the Request Authenticator does not match: wrong shared secret or altered packet');
  const out: Partial<Accounting> = { identifier: h.identifier, authenticator };
  for (let o = 20; o < h.length;) {
    if (o + 2 > h.length) throw new RadiusError('attribute', `attribute header cut at octet ${o}`);
    const type = packet[o]!;
    const len = packet[o + 1]!;
    if (len < 2 || o + len > h.length)
      throw new RadiusError('attribute', `attribute ${type} of length ${len} at octet ${o} overruns the packet`);
    const v = packet.subarray(o + 2, o + len);
    switch (type) {
      case ATTR.USER_NAME:
        out.userName = text(v);
        break;
      case ATTR.NAS_IP_ADDRESS:
        out.nasIp = ipv4(v);
        break;
      case ATTR.NAS_IPV6_ADDRESS:
        if (v.length !== 16) throw new RadiusError('attribute', 'NAS-IPv6-Address is not 16 octets');
        out.nasIp = formatIPv6(v, 0);
        break;
      case ATTR.FRAMED_IP_ADDRESS:
        out.framedIp = ipv4(v);
        break;
      case ATTR.NAS_IDENTIFIER:
        out.nasIdentifier = text(v);
        break;
      case ATTR.ACCT_STATUS_TYPE:
        out.statusType = u32(v);
        break;
      case ATTR.ACCT_DELAY_TIME:
        out.delayTime = u32(v);
        break;
      case ATTR.ACCT_SESSION_ID:
        out.sessionId = text(v);
        break;
      case ATTR.EVENT_TIMESTAMP:
        out.eventTimestamp = u32(v);
        break;
      case ATTR.FRAMED_IPV6_PREFIX:
        out.framedIpv6Prefix = ipv6Prefix(v);
        break;
      case ATTR.DELEGATED_IPV6_PREFIX:
        out.delegatedIpv6Prefix = ipv6Prefix(v);
        break;
      default:
        break; // not needed to say who had which address: not kept
    }
    o += len;
  }
  if (out.statusType === undefined) throw new RadiusError('missing', 'no Acct-Status-Type');
  return out as Accounting;
}

/** Accounting-Response with no attributes: MD5(Code+Identifier+Length+RequestAuth+Secret). */
export function accountingResponse(identifier: number, requestAuthenticator: Buffer, secret: Buffer): Buffer {
  const r = Buffer.alloc(20);
  r[0] = CODE.ACCOUNTING_RESPONSE;
  r[1] = identifier;
  r.writeUInt16BE(20, 2);
  if (scratch.length < 20 + secret.length) scratch = Buffer.alloc(20 + secret.length);
  md5Of((b) => {
    r.copy(b, 0, 0, 4);
    requestAuthenticator.copy(b, 4, 0, 16);
    secret.copy(b, 20);
    return 20 + secret.length;
  }).copy(r, 4);
  return r;
}

/** Builds an Accounting-Request (for tests, benchmarks and the simulator). */
export function encodeAccounting(a: Omit<Accounting, 'authenticator'>, secret: Buffer): Buffer {
  const attrs: Buffer[] = [];
  const add = (type: number, v: Buffer) => {
    attrs.push(Buffer.concat([Buffer.from([type, v.length + 2]), v]));
  };
  const u = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return b;
  };
  const v4 = (s: string) => Buffer.from(s.split('.').map(Number));
  add(ATTR.ACCT_STATUS_TYPE, u(a.statusType));
  if (a.userName !== undefined) add(ATTR.USER_NAME, Buffer.from(a.userName));
  if (a.sessionId !== undefined) add(ATTR.ACCT_SESSION_ID, Buffer.from(a.sessionId));
  if (a.nasIp !== undefined) add(ATTR.NAS_IP_ADDRESS, v4(a.nasIp));
  if (a.nasIdentifier !== undefined) add(ATTR.NAS_IDENTIFIER, Buffer.from(a.nasIdentifier));
  if (a.framedIp !== undefined) add(ATTR.FRAMED_IP_ADDRESS, v4(a.framedIp));
  if (a.eventTimestamp !== undefined) add(ATTR.EVENT_TIMESTAMP, u(a.eventTimestamp));
  if (a.delayTime !== undefined) add(ATTR.ACCT_DELAY_TIME, u(a.delayTime));
  const body = Buffer.concat(attrs);
  const p = Buffer.alloc(20 + body.length);
  p[0] = CODE.ACCOUNTING_REQUEST;
  p[1] = a.identifier;
  p.writeUInt16BE(p.length, 2);
  body.copy(p, 20);
  accountingAuthenticator(p, secret).copy(p, 4);
  return p;
}
