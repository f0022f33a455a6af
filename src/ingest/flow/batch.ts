/**
 * A batch of minimised flow records, column by column in typed arrays.
 *
 * This is minimisation at the edge made structural: the batch has a column for
 * each field M1 declares (addresses, ports, protocol, router timestamps,
 * counters, TCP flags, exporter and sampling rate) and nowhere to put anything
 * else. Decoders write straight into it; nothing else of a datagram survives.
 */
import { addressBytes } from '../address.js';

export const FLOW_COLUMNS = [
  'start',
  'end',
  'exporter',
  'src_addr',
  'dst_addr',
  'src_port',
  'dst_port',
  'proto',
  'bytes',
  'packets',
  'tcp_flags',
  'sampling_rate',
] as const;

export class FlowBatch {
  length = 0;
  readonly startMs: Float64Array;
  readonly endMs: Float64Array;
  /** Index into `exporters` of each record. */
  readonly exporterIdx: Uint16Array;
  /** 16 bytes per record; IPv4 is kept as 4 bytes with family 4. */
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly family: Uint8Array;
  readonly srcPort: Uint16Array;
  readonly dstPort: Uint16Array;
  readonly proto: Uint8Array;
  readonly bytes: Float64Array;
  readonly packets: Float64Array;
  readonly tcpFlags: Uint8Array;
  readonly samplingRate: Uint32Array;
  /** Exporter addresses in text form, the few distinct values a batch holds. */
  readonly exporters: string[] = [];
  private readonly exporterIndex = new Map<string, number>();

  constructor(readonly capacity: number) {
    this.startMs = new Float64Array(capacity);
    this.endMs = new Float64Array(capacity);
    this.exporterIdx = new Uint16Array(capacity);
    this.src = new Uint8Array(capacity * 16);
    this.dst = new Uint8Array(capacity * 16);
    this.family = new Uint8Array(capacity);
    this.srcPort = new Uint16Array(capacity);
    this.dstPort = new Uint16Array(capacity);
    this.proto = new Uint8Array(capacity);
    this.bytes = new Float64Array(capacity);
    this.packets = new Float64Array(capacity);
    this.tcpFlags = new Uint8Array(capacity);
    this.samplingRate = new Uint32Array(capacity);
  }

  get full(): boolean {
    return this.length >= this.capacity;
  }

  exporterId(address: string): number {
    let i = this.exporterIndex.get(address);
    if (i === undefined) {
      i = this.exporters.length;
      this.exporters.push(address);
      this.exporterIndex.set(address, i);
    }
    return i;
  }

  /**
   * Starts a record and returns its index; the decoder fills the columns.
   * Every column is reset so that nothing of an earlier record can leak.
   */
  next(exporter: number): number {
    const i = this.length++;
    this.exporterIdx[i] = exporter;
    this.startMs[i] = 0;
    this.endMs[i] = 0;
    this.family[i] = 4;
    // Plain stores: a fill() call per record costs more than the 32 bytes it clears.
    const src = this.src,
      dst = this.dst;
    for (let k = i * 16, e = k + 16; k < e; k++) {
      src[k] = 0;
      dst[k] = 0;
    }
    this.srcPort[i] = 0;
    this.dstPort[i] = 0;
    this.proto[i] = 0;
    this.bytes[i] = 0;
    this.packets[i] = 0;
    this.tcpFlags[i] = 0;
    this.samplingRate[i] = 1;
    return i;
  }

  /** Copies an address (4 or 16 bytes) from a datagram into a row: no subarray objects on the hot path. */
  static copyAddress(from: Buffer, p: number, column: Uint8Array, row: number, length: 4 | 16): void {
    const o = row * 16;
    for (let k = 0; k < length; k++) column[o + k] = from[p + k]!;
  }

  /** Drops the record just started (it turned out to be unusable). */
  discardLast(): void {
    this.length -= 1;
  }

  /** Changes whenever the batch is cleared, so cached exporter indexes know they are stale. */
  generation = 0;

  clear(): void {
    this.generation += 1;
    this.length = 0;
    this.exporters.length = 0;
    this.exporterIndex.clear();
  }
}

/**
 * Where decoders put records: hands out the next row of the current batch and
 * passes a full batch on (to serialisation and storage) before starting anew.
 */
export class FlowOutput {
  private exporter = '';
  private exporterIdx = 0;
  private generation = -1;

  constructor(
    readonly batch: FlowBatch,
    private readonly onFull: (batch: FlowBatch) => void,
  ) {}

  setExporter(address: string): void {
    if (address !== this.exporter) {
      this.exporter = address;
      this.generation = -1;
    }
  }

  start(): number {
    const b = this.batch;
    if (b.full) {
      this.onFull(b);
      b.clear();
    }
    if (b.generation !== this.generation) {
      this.exporterIdx = b.exporterId(this.exporter);
      this.generation = b.generation;
    }
    return b.next(this.exporterIdx);
  }

  /** Passes on whatever the batch holds. */
  flush(): void {
    if (this.batch.length > 0) {
      this.onFull(this.batch);
      this.batch.clear();
    }
  }
}

// ---- RowBinary serialisation: fixed-width little-endian fields, addresses as 16 bytes ----

/** Bytes of one row in FLOW_COLUMNS order (see FLOW_TYPES in dataset.ts). */
export const FLOW_ROW_BYTES = 8 + 8 + 16 + 16 + 16 + 2 + 2 + 1 + 8 + 8 + 1 + 4;

/** Writes batches as ClickHouse RowBinary into one reusable buffer: no strings, no per-row allocation. */
export class FlowRowBinaryWriter {
  private buf: Buffer;

  constructor(capacityRows = 32768) {
    this.buf = Buffer.allocUnsafe(capacityRows * FLOW_ROW_BYTES);
  }

  /** Serialises the whole batch and returns a view of the bytes (valid until the next call). */
  write(batch: FlowBatch): Buffer {
    const need = batch.length * FLOW_ROW_BYTES;
    if (need > this.buf.length) this.buf = Buffer.allocUnsafe(need);
    const buf = this.buf;
    const exporters = batch.exporters.map(addressBytes);
    let p = 0;
    for (let i = 0; i < batch.length; i++) {
      p = int64(buf, p, batch.startMs[i]!);
      p = int64(buf, p, batch.endMs[i]!);
      buf.set(exporters[batch.exporterIdx[i]!]!, p);
      p += 16;
      p = address(buf, p, batch.src, i, batch.family[i]!);
      p = address(buf, p, batch.dst, i, batch.family[i]!);
      buf[p] = batch.srcPort[i]! & 255;
      buf[p + 1] = batch.srcPort[i]! >> 8;
      p += 2;
      buf[p] = batch.dstPort[i]! & 255;
      buf[p + 1] = batch.dstPort[i]! >> 8;
      p += 2;
      buf[p++] = batch.proto[i]!;
      p = int64(buf, p, batch.bytes[i]!);
      p = int64(buf, p, batch.packets[i]!);
      buf[p++] = batch.tcpFlags[i]!;
      const r = batch.samplingRate[i]!;
      buf[p] = r;
      buf[p + 1] = r >>> 8;
      buf[p + 2] = r >>> 16;
      buf[p + 3] = r >>> 24;
      p += 4;
    }
    return buf.subarray(0, p);
  }
}

/**
 * A whole number as 64-bit little-endian, without BigInt. Out-of-range values
 * (a router clock at 1970, garbage counters) are clamped to 0 … 2^53−1: a
 * bad record must never stop the batch.
 */
function int64(buf: Buffer, p: number, n: number): number {
  if (!(n >= 0)) n = 0;
  else if (n > Number.MAX_SAFE_INTEGER) n = Number.MAX_SAFE_INTEGER;
  const hi = Math.floor(n / 4294967296);
  const lo = n - hi * 4294967296;
  buf[p] = lo;
  buf[p + 1] = lo >>> 8;
  buf[p + 2] = lo >>> 16;
  buf[p + 3] = lo >>> 24;
  buf[p + 4] = hi;
  buf[p + 5] = hi >>> 8;
  buf[p + 6] = hi >>> 16;
  buf[p + 7] = hi >>> 24;
  return p + 8;
}

function address(buf: Buffer, p: number, column: Uint8Array, row: number, family: number): number {
  const o = row * 16;
  if (family === 4) {
    // Plain stores: fill() costs more than these ten bytes.
    buf[p] = 0;
    buf[p + 1] = 0;
    buf[p + 2] = 0;
    buf[p + 3] = 0;
    buf[p + 4] = 0;
    buf[p + 5] = 0;
    buf[p + 6] = 0;
    buf[p + 7] = 0;
    buf[p + 8] = 0;
    buf[p + 9] = 0;
    buf[p + 10] = 0xff;
    buf[p + 11] = 0xff;
    buf[p + 12] = column[o]!;
    buf[p + 13] = column[o + 1]!;
    buf[p + 14] = column[o + 2]!;
    buf[p + 15] = column[o + 3]!;
  } else {
    for (let k = 0; k < 16; k++) buf[p + k] = column[o + k]!;
  }
  return p + 16;
}
