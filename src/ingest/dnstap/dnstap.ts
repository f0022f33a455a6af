/**
 * dnstap messages, minimised at decode. The protobuf schema below names only
 * the fields M6 declares (time, the DNS message, which resolver): the client
 * and server addresses and ports (fields 4–7 of dnstap's Message) are not in
 * it, so the decoder skips them as unknown fields and they never become a
 * value in memory. Of the DNS message only the header and the question are
 * read: the name asked, its type, the response code and the response size.
 *
 * Field numbers as in dnstap.proto (https://dnstap.info): Dnstap {identity 1,
 * type 15, message 14}; Message {type 1, query_time_sec 8, query_time_nsec 9,
 * query_message 10, response_time_sec 12, response_time_nsec 13,
 * response_message 14}.
 */
import protobuf from 'protobufjs';
import { MamoriError } from '../../core/errors.js';

const root = protobuf.Root.fromJSON({
  nested: {
    dnstap: {
      nested: {
        Dnstap: {
          fields: {
            identity: { type: 'bytes', id: 1 },
            type: { type: 'uint32', id: 15 },
            message: { type: 'Message', id: 14 },
          },
        },
        Message: {
          fields: {
            type: { type: 'uint32', id: 1 },
            queryTimeSec: { type: 'uint64', id: 8 },
            queryTimeNsec: { type: 'fixed32', id: 9 },
            queryMessage: { type: 'bytes', id: 10 },
            responseTimeSec: { type: 'uint64', id: 12 },
            responseTimeNsec: { type: 'fixed32', id: 13 },
            responseMessage: { type: 'bytes', id: 14 },
          },
        },
      },
    },
  },
});
const DnstapType = root.lookupType('dnstap.Dnstap');

interface DecodedMessage {
  type?: number;
  queryTimeSec?: number | { toNumber(): number };
  queryTimeNsec?: number;
  queryMessage?: Uint8Array;
  responseTimeSec?: number | { toNumber(): number };
  responseTimeNsec?: number;
  responseMessage?: Uint8Array;
}

export const MESSAGE_TYPE = { CLIENT_QUERY: 5, CLIENT_RESPONSE: 6 } as const;

/** What survives decoding: nothing names the client. */
export interface DnsEvent {
  kind: 'query' | 'response';
  /** ms since the epoch, from the resolver's own timestamp. */
  timeMs: number;
  /** Lower-case, no trailing dot; bytes outside letters, digits, "-" and "_" as \DDD. */
  qname: string;
  qtype: number;
  /** Responses only. */
  rcode: number;
  /** Bytes of the response message (0 for queries). */
  size: number;
}

export type DnstapError = 'bad-protobuf' | 'not-a-message' | 'ignored-type' | 'no-dns-message' | 'bad-dns-message';

export class DnstapDecodeError extends MamoriError {
  static override readonly code = 'dnstap-decode';
  static override readonly status = 400;
  constructor(readonly reason: DnstapError) {
    super(`dnstap: ${reason}`);
  }
}

const toNumber = (v: number | { toNumber(): number } | undefined): number =>
  v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber();

/** Decodes one dnstap frame into a minimised event, or throws DnstapDecodeError with the reason. */
export function decodeDnstap(frame: Uint8Array): DnsEvent {
  let d: { type?: number; message?: DecodedMessage };
  try {
    d = DnstapType.decode(frame) as unknown as { type?: number; message?: DecodedMessage };
  } catch {
    throw new DnstapDecodeError('bad-protobuf');
  }
  if (d.type !== 1 || !d.message) throw new DnstapDecodeError('not-a-message');
  const m = d.message;
  const kind = m.type === MESSAGE_TYPE.CLIENT_QUERY ? 'query' : m.type === MESSAGE_TYPE.CLIENT_RESPONSE ? 'response' : undefined;
  if (!kind) throw new DnstapDecodeError('ignored-type');
  const wire = kind === 'query' ? m.queryMessage : (m.responseMessage ?? m.queryMessage);
  if (!wire || wire.length === 0) throw new DnstapDecodeError('no-dns-message');
  const q = readQuestion(wire);
  if (!q) throw new DnstapDecodeError('bad-dns-message');
  const sec = kind === 'response' && m.responseTimeSec !== undefined ? toNumber(m.responseTimeSec) : toNumber(m.queryTimeSec);
  const nsec = kind === 'response' && m.responseTimeSec !== undefined ? (m.responseTimeNsec ?? 0) : (m.queryTimeNsec ?? 0);
  return {
    kind,
    timeMs: sec * 1000 + Math.floor(nsec / 1e6),
    qname: q.qname,
    qtype: q.qtype,
    rcode: kind === 'response' ? q.rcode : 0,
    size: kind === 'response' && m.responseMessage ? m.responseMessage.length : 0,
  };
}

/** The resolver's identity from a dnstap frame (for naming the stream), or undefined. */
export function dnstapIdentity(frame: Uint8Array): string | undefined {
  try {
    const d = DnstapType.decode(frame) as unknown as { identity?: Uint8Array };
    return d.identity && d.identity.length > 0 ? Buffer.from(d.identity).toString('utf8').slice(0, 64) : undefined;
  } catch {
    return undefined;
  }
}

const PLAIN = new Uint8Array(256);
for (const c of 'abcdefghijklmnopqrstuvwxyz0123456789-_') PLAIN[c.charCodeAt(0)] = 1;

/**
 * The header and first question of a DNS message (RFC 1035 §4.1), or
 * undefined if it is not one: labels of 1–63 bytes, at most 255 bytes of
 * name, no compression pointer (there is nothing before the question to point to).
 */
export function readQuestion(wire: Uint8Array): { qname: string; qtype: number; rcode: number } | undefined {
  if (wire.length < 12 + 5) return undefined;
  const qdcount = (wire[4]! << 8) | wire[5]!;
  if (qdcount < 1) return undefined;
  const rcode = wire[3]! & 0x0f;
  let p = 12;
  let name = '';
  let total = 0;
  for (;;) {
    const len = wire[p];
    if (len === undefined) return undefined;
    p += 1;
    if (len === 0) break;
    if (len > 63) return undefined;
    total += len + 1;
    if (total > 255 || p + len > wire.length) return undefined;
    if (name.length > 0) name += '.';
    for (let i = 0; i < len; i++) {
      let c = wire[p + i]!;
      if (c >= 65 && c <= 90) c += 32;
      name += PLAIN[c] ? String.fromCharCode(c) : `\\${c.toString().padStart(3, '0')}`;
    }
    p += len;
  }
  if (p + 4 > wire.length) return undefined;
  return { qname: name, qtype: (wire[p]! << 8) | wire[p + 1]!, rcode };
}
