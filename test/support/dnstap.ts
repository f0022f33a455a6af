/**
 * dnstap frames as a resolver writes them, with the full message (client and
 * server addresses and ports included), from the field numbers of
 * dnstap.proto — so that tests can show what Mamori does not keep.
 */
import net from 'node:net';
import protobuf from 'protobufjs';
import { CONTROL, controlFrame, dataFrame, DNSTAP_CONTENT_TYPE } from '../../src/ingest/dnstap/frame-stream.js';

const root = protobuf.Root.fromJSON({
  nested: {
    Dnstap: {
      fields: {
        identity: { type: 'bytes', id: 1 },
        version: { type: 'bytes', id: 2 },
        type: { type: 'uint32', id: 15 },
        message: { type: 'Message', id: 14 },
      },
    },
    Message: {
      fields: {
        type: { type: 'uint32', id: 1 },
        socketFamily: { type: 'uint32', id: 2 },
        socketProtocol: { type: 'uint32', id: 3 },
        queryAddress: { type: 'bytes', id: 4 },
        responseAddress: { type: 'bytes', id: 5 },
        queryPort: { type: 'uint32', id: 6 },
        responsePort: { type: 'uint32', id: 7 },
        queryTimeSec: { type: 'uint64', id: 8 },
        queryTimeNsec: { type: 'fixed32', id: 9 },
        queryMessage: { type: 'bytes', id: 10 },
        responseTimeSec: { type: 'uint64', id: 12 },
        responseTimeNsec: { type: 'fixed32', id: 13 },
        responseMessage: { type: 'bytes', id: 14 },
      },
    },
  },
});
const Dnstap = root.lookupType('Dnstap');

/** A DNS message: header (id, flags with rcode, one question) and the question. */
export function dnsMessage(qname: string, qtype: number, o: { response?: boolean; rcode?: number; padTo?: number } = {}): Buffer {
  const labels = qname
    .split('.')
    .filter(Boolean)
    .map((l) => {
      const b = Buffer.from(l, 'latin1');
      return Buffer.concat([Buffer.from([b.length]), b]);
    });
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0x1234, 0);
  head.writeUInt16BE((o.response ? 0x8180 : 0x0100) | (o.rcode ?? 0), 2);
  head.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(qtype, 0);
  tail.writeUInt16BE(1, 2);
  const msg = Buffer.concat([head, ...labels, Buffer.from([0]), tail]);
  return o.padTo && o.padTo > msg.length ? Buffer.concat([msg, Buffer.alloc(o.padTo - msg.length)]) : msg;
}

export interface FrameSpec {
  type: 5 | 6 | 3 | 4;
  client: string;
  qname: string;
  qtype?: number;
  rcode?: number;
  timeSec?: number;
  size?: number;
  identity?: string;
}

/** One dnstap frame payload (the protobuf), as BIND or Unbound would write it. */
export function dnstapFrame(f: FrameSpec): Buffer {
  const response = f.type === 6 || f.type === 4;
  const wire = dnsMessage(f.qname, f.qtype ?? 1, { response, rcode: f.rcode ?? 0, ...(f.size ? { padTo: f.size } : {}) });
  const address = Buffer.from(f.client.split('.').map(Number));
  const message = {
    type: f.type,
    socketFamily: 1,
    socketProtocol: 1,
    queryAddress: address,
    responseAddress: Buffer.from([127, 0, 0, 1]),
    queryPort: 53000,
    responsePort: 53,
    queryTimeSec: f.timeSec ?? 1_795_520_000,
    queryTimeNsec: 123_000_000,
    ...(response
      ? { responseTimeSec: f.timeSec ?? 1_795_520_000, responseTimeNsec: 456_000_000, responseMessage: wire }
      : { queryMessage: wire }),
  };
  return Buffer.from(
    Dnstap.encode(
      Dnstap.create({ ...(f.identity ? { identity: Buffer.from(f.identity) } : {}), version: Buffer.from('test'), type: 1, message }),
    ).finish(),
  );
}

/**
 * Writes frames to a dnstap reader as a resolver does: READY, ACCEPT, START, frames, STOP, FINISH —
 * over a unix socket (a path), TCP (connect options, e.g. with a localAddress) or a socket already made
 * (TLS). Rejects when the reader closes the connection before FINISH.
 */
export function sendDnstap(to: string | net.NetConnectOpts | (() => net.Socket), frames: readonly Buffer[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const s = typeof to === 'function' ? to() : typeof to === 'string' ? net.connect(to) : net.connect(to);
    let got = Buffer.alloc(0);
    let accepted = false;
    let finished = false;
    const ready = () => s.write(controlFrame(CONTROL.READY, [DNSTAP_CONTENT_TYPE]));
    if (typeof to === 'function') s.once('secureConnect', ready);
    else s.once('connect', ready);
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (!accepted && got.length >= 12) {
        accepted = true;
        got = Buffer.alloc(0);
        s.write(Buffer.concat([controlFrame(CONTROL.START, [DNSTAP_CONTENT_TYPE]), ...frames.map(dataFrame), controlFrame(CONTROL.STOP)]));
      } else if (accepted && got.length >= 12) {
        finished = true;
        s.end();
        resolve();
      }
    });
    s.on('error', reject);
    s.on('close', () => {
      if (!finished) reject(new Error(accepted ? 'closed before FINISH' : 'closed before ACCEPT'));
    });
  });
}
