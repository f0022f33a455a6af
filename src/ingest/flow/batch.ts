/**
 * A batch of minimised flow records, column by column in typed arrays.
 *
 * This is minimisation at the edge made structural: the batch has a column for
 * each field M1 declares (addresses, ports, protocol, router timestamps,
 * counters, TCP flags, exporter and sampling rate) and nowhere to put anything
 * else. Decoders write straight into it; nothing else of a datagram survives.
 */

export const FLOW_COLUMNS = [
  'start', 'end', 'exporter', 'src_addr', 'dst_addr', 'src_port', 'dst_port', 'proto', 'bytes', 'packets', 'tcp_flags', 'sampling_rate',
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

  get full(): boolean { return this.length >= this.capacity; }

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
    this.startMs[i] = 0; this.endMs[i] = 0;
    this.family[i] = 4;
    this.src.fill(0, i * 16, i * 16 + 16);
    this.dst.fill(0, i * 16, i * 16 + 16);
    this.srcPort[i] = 0; this.dstPort[i] = 0; this.proto[i] = 0;
    this.bytes[i] = 0; this.packets[i] = 0; this.tcpFlags[i] = 0; this.samplingRate[i] = 1;
    return i;
  }

  /** Drops the record just started (it turned out to be unusable). */
  discardLast(): void { this.length -= 1; }

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

  constructor(readonly batch: FlowBatch, private readonly onFull: (batch: FlowBatch) => void) {}

  setExporter(address: string): void {
    if (address !== this.exporter) { this.exporter = address; this.generation = -1; }
  }

  start(): number {
    const b = this.batch;
    if (b.full) { this.onFull(b); b.clear(); }
    if (b.generation !== this.generation) { this.exporterIdx = b.exporterId(this.exporter); this.generation = b.generation; }
    return b.next(this.exporterIdx);
  }

  /** Passes on whatever the batch holds. */
  flush(): void {
    if (this.batch.length > 0) { this.onFull(this.batch); this.batch.clear(); }
  }
}

// ---- TSV serialisation straight into bytes: no per-record strings ----

const DIGITS = Array.from({ length: 256 }, (_, i) => Buffer.from(String(i)));
const HEX = Buffer.from('0123456789abcdef');

/** Writes batches as TSV in FLOW_COLUMNS order, into one reusable growing buffer. */
export class FlowTsvWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialBytes = 1 << 20) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private byte(b: number): void { this.buf[this.pos++] = b; }

  private uint(n: number): void {
    // Numbers here are whole and < 2^53.
    if (n < 10) { this.buf[this.pos++] = 48 + n; return; }
    const start = this.pos;
    while (n > 0) {
      const q = Math.floor(n / 10);
      this.buf[this.pos++] = 48 + (n - q * 10);
      n = q;
    }
    // Reverse the digits in place.
    for (let a = start, b = this.pos - 1; a < b; a++, b--) {
      const t = this.buf[a]!; this.buf[a] = this.buf[b]!; this.buf[b] = t;
    }
  }

  private address(bytes: Uint8Array, offset: number, family: number): void {
    if (family === 4) {
      for (let k = 0; k < 4; k++) {
        const d = DIGITS[bytes[offset + k]!]!;
        d.copy(this.buf, this.pos);
        this.pos += d.length;
        if (k < 3) this.byte(46);
      }
      return;
    }
    for (let k = 0; k < 16; k += 2) {
      const hi = bytes[offset + k]!;
      const lo = bytes[offset + k + 1]!;
      this.byte(HEX[hi >> 4]!); this.byte(HEX[hi & 15]!); this.byte(HEX[lo >> 4]!); this.byte(HEX[lo & 15]!);
      if (k < 14) this.byte(58);
    }
  }

  /** Serialises the whole batch and returns a view of the bytes (valid until the next call). */
  write(batch: FlowBatch): Buffer {
    this.pos = 0;
    const exporters = batch.exporters.map((e) => Buffer.from(e));
    for (let i = 0; i < batch.length; i++) {
      // Worst case per row: 2×13 time + exporter + 2×39 addresses + counters ≈ 200 bytes.
      this.ensure(256 + exporters[batch.exporterIdx[i]!]!.length);
      this.uint(batch.startMs[i]!); this.byte(9);
      this.uint(batch.endMs[i]!); this.byte(9);
      const e = exporters[batch.exporterIdx[i]!]!;
      e.copy(this.buf, this.pos); this.pos += e.length; this.byte(9);
      this.address(batch.src, i * 16, batch.family[i]!); this.byte(9);
      this.address(batch.dst, i * 16, batch.family[i]!); this.byte(9);
      this.uint(batch.srcPort[i]!); this.byte(9);
      this.uint(batch.dstPort[i]!); this.byte(9);
      this.uint(batch.proto[i]!); this.byte(9);
      this.uint(batch.bytes[i]!); this.byte(9);
      this.uint(batch.packets[i]!); this.byte(9);
      this.uint(batch.tcpFlags[i]!); this.byte(9);
      this.uint(batch.samplingRate[i]!); this.byte(10);
    }
    return this.buf.subarray(0, this.pos);
  }
}
