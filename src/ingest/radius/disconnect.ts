/**
 * RFC 5176 Disconnect-Request to a NAS: the session named by User-Name,
 * Acct-Session-Id and Framed-IP-Address, with Event-Timestamp and a
 * Message-Authenticator (RFC 3579 §3.2, computed with the Request
 * Authenticator zeroed; then the Request Authenticator as for accounting,
 * RFC 5176 §2.3). Retried on silence; the answer (Disconnect-ACK, or NAK with
 * its Error-Cause) is checked against the secret before it is believed.
 */
import { createHash, createHmac, randomInt } from 'node:crypto';
import dgram from 'node:dgram';

export const DM = { REQUEST: 40, ACK: 41, NAK: 42 } as const;
const ATTR = {
  USER_NAME: 1,
  FRAMED_IP_ADDRESS: 8,
  ACCT_SESSION_ID: 44,
  EVENT_TIMESTAMP: 55,
  MESSAGE_AUTHENTICATOR: 80,
  ERROR_CAUSE: 101,
} as const;

/** RFC 5176 §3.5 Error-Cause values a NAS may send with a NAK. */
export const ERROR_CAUSES: Record<number, string> = {
  401: 'Unsupported Attribute',
  402: 'Missing Attribute',
  403: 'NAS Identification Mismatch',
  404: 'Invalid Request',
  405: 'Unsupported Service',
  406: 'Unsupported Extension',
  407: 'Invalid Attribute Value',
  501: 'Administratively Prohibited',
  502: 'Request Not Routable (Proxy)',
  503: 'Session Context Not Found',
  504: 'Session Context Not Removable',
  505: 'Other Proxy Processing Error',
  506: 'Resources Unavailable',
  507: 'Request Initiated',
  508: 'Multiple Session Selection Unsupported',
};

export interface DisconnectRequest {
  nas: { address: string; port: number; secret: string };
  userName: string;
  sessionId?: string | undefined;
  framedIp?: string | undefined;
  timeoutMs?: number;
  retries?: number;
  now?: number;
}

/** The `disconnector` capability: what a measure that declares the output "disconnects" gets from the broker. */
export interface Disconnector {
  disconnect(request: DisconnectRequest): Promise<DisconnectResult>;
}

export type DisconnectResult =
  | { result: 'ack'; attempts: number; ms: number }
  | { result: 'nak'; attempts: number; ms: number; errorCause?: number; errorText?: string }
  | { result: 'timeout'; attempts: number; ms: number };

function attr(type: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type, value.length + 2]), value]);
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

/** Builds a signed Disconnect-Request. */
export function disconnectPacket(
  identifier: number,
  r: Pick<DisconnectRequest, 'userName' | 'sessionId' | 'framedIp'>,
  secret: Buffer,
  now: number,
): Buffer {
  const attrs = [attr(ATTR.USER_NAME, Buffer.from(r.userName))];
  if (r.sessionId) attrs.push(attr(ATTR.ACCT_SESSION_ID, Buffer.from(r.sessionId)));
  if (r.framedIp) attrs.push(attr(ATTR.FRAMED_IP_ADDRESS, Buffer.from(r.framedIp.split('.').map(Number))));
  attrs.push(attr(ATTR.EVENT_TIMESTAMP, u32(now)));
  attrs.push(attr(ATTR.MESSAGE_AUTHENTICATOR, Buffer.alloc(16)));
  const body = Buffer.concat(attrs);
  const p = Buffer.alloc(20 + body.length);
  p[0] = DM.REQUEST;
  p[1] = identifier;
  p.writeUInt16BE(p.length, 2);
  body.copy(p, 20);
  // Message-Authenticator over the packet with both authenticators zero, then the Request Authenticator.
  const maAt = p.length - 16;
  createHmac('md5', secret).update(p).digest().copy(p, maAt);
  createHash('md5').update(p).update(secret).digest().copy(p, 4);
  return p;
}

/** Checks a Disconnect-ACK/NAK against the request it answers; returns its Error-Cause, or a reason it is not to be believed. */
export function checkAnswer(answer: Buffer, request: Buffer, secret: Buffer): { code: number; errorCause?: number } | string {
  if (answer.length < 20) return 'shorter than a RADIUS header';
  const len = answer.readUInt16BE(2);
  if (len < 20 || len > answer.length) return `length ${len} does not fit`;
  const a = answer.subarray(0, len);
  if (a[1] !== request[1]) return 'identifier does not match';
  if (a[0] !== DM.ACK && a[0] !== DM.NAK) return `code ${a[0]} is not a Disconnect-ACK or NAK`;
  const expected = createHash('md5')
    .update(a.subarray(0, 4))
    .update(request.subarray(4, 20))
    .update(a.subarray(20))
    .update(secret)
    .digest();
  if (!expected.equals(a.subarray(4, 20))) return 'Response Authenticator does not match: wrong secret or altered answer';
  let errorCause: number | undefined;
  for (let o = 20; o < len;) {
    const type = a[o]!,
      l = a[o + 1]!;
    if (l < 2 || o + l > len) return 'attribute overruns the packet';
    if (type === ATTR.ERROR_CAUSE && l === 6) errorCause = a.readUInt32BE(o + 2);
    if (type === ATTR.MESSAGE_AUTHENTICATOR && l === 18) {
      // RFC 3579: computed over the answer with the request's authenticator in place and this attribute zeroed.
      const copy = Buffer.from(a);
      request.copy(copy, 4, 4, 20);
      copy.fill(0, o + 2, o + 18);
      if (
        !createHmac('md5', secret)
          .update(copy)
          .digest()
          .equals(a.subarray(o + 2, o + 18))
      )
        return 'Message-Authenticator does not match';
    }
    o += l;
  }
  return { code: a[0]!, ...(errorCause !== undefined ? { errorCause } : {}) };
}

export async function sendDisconnect(r: DisconnectRequest): Promise<DisconnectResult> {
  const secret = Buffer.from(r.nas.secret);
  const packet = disconnectPacket(randomInt(256), r, secret, r.now ?? Math.floor(Date.now() / 1000));
  const socket = dgram.createSocket(r.nas.address.includes(':') ? 'udp6' : 'udp4');
  const started = Date.now();
  const retries = r.retries ?? 3;
  const timeout = r.timeoutMs ?? 2000;
  try {
    await new Promise<void>((resolve) => socket.bind(0, resolve));
    for (let attempt = 1; attempt <= retries; attempt++) {
      socket.send(packet, r.nas.port, r.nas.address);
      const answer = await new Promise<{ code: number; errorCause?: number } | undefined>((resolve) => {
        const timer = setTimeout(() => {
          socket.off('message', on);
          resolve(undefined);
        }, timeout);
        // Answers that fail the checks are ignored, as RFC 5176 asks: they may be forged.
        const on = (msg: Buffer) => {
          const c = checkAnswer(msg, packet, secret);
          if (typeof c === 'string') return;
          clearTimeout(timer);
          socket.off('message', on);
          resolve(c);
        };
        socket.on('message', on);
      });
      if (answer) {
        const ms = Date.now() - started;
        if (answer.code === DM.ACK) return { result: 'ack', attempts: attempt, ms };
        return {
          result: 'nak',
          attempts: attempt,
          ms,
          ...(answer.errorCause !== undefined
            ? { errorCause: answer.errorCause, errorText: ERROR_CAUSES[answer.errorCause] ?? 'unknown' }
            : {}),
        };
      }
    }
    return { result: 'timeout', attempts: retries, ms: Date.now() - started };
  } finally {
    socket.close();
  }
}
