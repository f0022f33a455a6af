/**
 * Frame Streams (the transport of dnstap), the reader's side, incrementally:
 * bytes in as they arrive on a connection, data frames and control replies
 * out. Bidirectional (READY → ACCEPT, START, data…, STOP → FINISH) as BIND and
 * Unbound speak it on sockets, and unidirectional (START, data…, STOP) as a
 * file or fstrm_replay writes it.
 *
 *   data frame:     u32 length (> 0), then that many bytes
 *   control frame:  u32 0 (escape), u32 length, u32 type, fields:
 *                   u32 field type (1 = content type), u32 length, bytes
 *
 * Every length is checked before anything is read or kept: a frame longer
 * than the limit, a control frame out of order or malformed ends the stream
 * with a reason (the caller counts it and closes the connection). Memory per
 * connection is bounded by the largest frame allowed.
 */
import { MamoriError } from '../../core/errors.js';

export const CONTROL = { ACCEPT: 1, START: 2, STOP: 3, READY: 4, FINISH: 5 } as const;
const FIELD_CONTENT_TYPE = 1;
export const DNSTAP_CONTENT_TYPE = 'protobuf:dnstap.Dnstap';
const MAX_CONTROL_BYTES = 512;

export type StreamError =
  'frame-too-large' | 'control-too-large' | 'bad-control' | 'control-out-of-order' | 'unsupported-content-type' | 'data-before-start';

export class FrameStreamError extends MamoriError {
  static override readonly code = 'frame-stream';
  static override readonly status = 400;
  constructor(
    readonly reason: StreamError,
    detail: string,
  ) {
    super(`frame stream: ${reason}: ${detail}`);
  }
}

/** A control frame with its content-type fields, as bytes to send. */
export function controlFrame(type: number, contentTypes: readonly string[] = []): Buffer {
  const fields = contentTypes.map((t) => {
    const v = Buffer.from(t, 'utf8');
    const f = Buffer.alloc(8 + v.length);
    f.writeUInt32BE(FIELD_CONTENT_TYPE, 0);
    f.writeUInt32BE(v.length, 4);
    v.copy(f, 8);
    return f;
  });
  const body = Buffer.concat([Buffer.alloc(4), ...fields]);
  body.writeUInt32BE(type, 0);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(0, 0);
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
}

/** A data frame: its length, then its bytes. */
export function dataFrame(payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(payload.length, 0);
  return Buffer.concat([head, payload]);
}

function parseControl(body: Buffer): { type: number; contentTypes: string[] } {
  if (body.length < 4) throw new FrameStreamError('bad-control', `control frame of ${body.length} bytes`);
  const type = body.readUInt32BE(0);
  const contentTypes: string[] = [];
  let p = 4;
  while (p < body.length) {
    if (p + 8 > body.length) throw new FrameStreamError('bad-control', 'truncated field header');
    const fieldType = body.readUInt32BE(p);
    const length = body.readUInt32BE(p + 4);
    p += 8;
    if (length > body.length - p) throw new FrameStreamError('bad-control', 'field longer than the frame');
    if (fieldType === FIELD_CONTENT_TYPE) contentTypes.push(body.toString('utf8', p, p + length));
    p += length;
  }
  return { type, contentTypes };
}

type State = 'start' | 'accepted' | 'data' | 'stopped';

export interface FrameStreamHandlers {
  /** A data frame (a view valid only during the call). */
  data(frame: Buffer): void;
  /** Bytes to write back on the connection (ACCEPT, FINISH). */
  reply(bytes: Buffer): void;
  /** The writer said STOP and was answered: close the connection. */
  finished(): void;
}

export class FrameStreamReader {
  private pending: Buffer = Buffer.alloc(0);
  private state: State = 'start';

  constructor(
    private readonly handlers: FrameStreamHandlers,
    private readonly maxFrameBytes = 256 * 1024,
    private readonly contentType = DNSTAP_CONTENT_TYPE,
  ) {}

  get stopped(): boolean {
    return this.state === 'stopped';
  }

  /** START has been read: the handshake is over, data frames may follow. */
  get started(): boolean {
    return this.state === 'data' || this.state === 'stopped';
  }

  /** Takes the next bytes of the connection; throws FrameStreamError when the stream cannot go on. */
  feed(chunk: Buffer): void {
    if (this.state === 'stopped') return;
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let p = 0;
    while (buf.length - p >= 4) {
      const length = buf.readUInt32BE(p);
      if (length === 0) {
        if (buf.length - p < 8) break;
        const controlLength = buf.readUInt32BE(p + 4);
        if (controlLength > MAX_CONTROL_BYTES) throw new FrameStreamError('control-too-large', `${controlLength} bytes`);
        if (buf.length - p < 8 + controlLength) break;
        this.control(parseControl(buf.subarray(p + 8, p + 8 + controlLength)));
        p += 8 + controlLength;
        // control() may have ended the stream.
        if ((this.state as State) === 'stopped') {
          buf = Buffer.alloc(0);
          p = 0;
          break;
        }
      } else {
        if (length > this.maxFrameBytes) throw new FrameStreamError('frame-too-large', `${length} bytes (at most ${this.maxFrameBytes})`);
        if (this.state !== 'data') throw new FrameStreamError('data-before-start', 'a data frame before START');
        if (buf.length - p < 4 + length) break;
        this.handlers.data(buf.subarray(p + 4, p + 4 + length));
        p += 4 + length;
      }
    }
    // What is left is less than one frame (bounded by the checks above); copied so the chunk can go.
    this.pending = p >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(p));
  }

  private control(c: { type: number; contentTypes: string[] }): void {
    switch (c.type) {
      case CONTROL.READY:
        if (this.state !== 'start') throw new FrameStreamError('control-out-of-order', 'READY after the handshake');
        if (!c.contentTypes.includes(this.contentType))
          throw new FrameStreamError(
            'unsupported-content-type',
            `offered ${c.contentTypes.join(', ') || 'none'}, expected ${this.contentType}`,
          );
        this.handlers.reply(controlFrame(CONTROL.ACCEPT, [this.contentType]));
        this.state = 'accepted';
        return;
      case CONTROL.START:
        if (this.state === 'data' || this.state === 'stopped') throw new FrameStreamError('control-out-of-order', 'a second START');
        if (c.contentTypes.length > 0 && !c.contentTypes.includes(this.contentType))
          throw new FrameStreamError('unsupported-content-type', `START for ${c.contentTypes.join(', ')}`);
        this.state = 'data';
        return;
      case CONTROL.STOP:
        if (this.state !== 'data') throw new FrameStreamError('control-out-of-order', 'STOP before START');
        this.state = 'stopped';
        this.handlers.reply(controlFrame(CONTROL.FINISH));
        this.handlers.finished();
        return;
      default:
        throw new FrameStreamError('bad-control', `control type ${c.type} from a writer`);
    }
  }
}
