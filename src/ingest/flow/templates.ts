/**
 * NetFlow v9 / IPFIX templates, compiled once into a plan that says, for each
 * field, where it sits and which declared column (if any) it feeds. Fields M1
 * did not declare (interfaces, MACs, AS numbers, VLANs, enterprise fields…)
 * compile to "skip": they are never read.
 */

export const enum Target {
  Skip,
  Bytes,
  Packets,
  BytesTotal,
  PacketsTotal,
  Proto,
  TcpFlags,
  SrcPort,
  DstPort,
  SrcV4,
  DstV4,
  SrcV6,
  DstV6,
  StartUptime,
  EndUptime,
  StartSec,
  EndSec,
  StartMs,
  EndMs,
  StartNtpUs,
  EndNtpUs,
  StartNtpNs,
  EndNtpNs,
  SamplerId,
  SamplingInterval,
  PacketInterval,
  PacketSpace,
  IcmpTypeCode,
  IcmpType,
  IcmpCode,
  SystemInitMs,
  IpVersion,
  EthernetFrame,
  IpPacket,
  ObservationSec,
  ObservationMs,
  ObservationNtp,
  StartDeltaUs,
  EndDeltaUs,
  DurationMs,
  DurationUs,
}

/** IANA information element ids (which NetFlow v9 shares for ids below 128). */
const ELEMENTS: Record<number, Target> = {
  1: Target.Bytes,
  2: Target.Packets,
  85: Target.BytesTotal,
  86: Target.PacketsTotal,
  4: Target.Proto,
  6: Target.TcpFlags,
  7: Target.SrcPort,
  11: Target.DstPort,
  8: Target.SrcV4,
  12: Target.DstV4,
  27: Target.SrcV6,
  28: Target.DstV6,
  22: Target.StartUptime,
  21: Target.EndUptime,
  150: Target.StartSec,
  151: Target.EndSec,
  152: Target.StartMs,
  153: Target.EndMs,
  154: Target.StartNtpUs,
  155: Target.EndNtpUs,
  156: Target.StartNtpNs,
  157: Target.EndNtpNs,
  48: Target.SamplerId,
  302: Target.SamplerId,
  34: Target.SamplingInterval,
  50: Target.SamplingInterval,
  305: Target.PacketInterval,
  306: Target.PacketSpace,
  32: Target.IcmpTypeCode,
  139: Target.IcmpTypeCode,
  176: Target.IcmpType,
  177: Target.IcmpCode,
  178: Target.IcmpType,
  179: Target.IcmpCode,
  160: Target.SystemInitMs,
  60: Target.IpVersion,
  // Packet sections: dataLinkFrameSection, layer2packetSectionData (Ethernet), ipHeaderPacketSection.
  315: Target.EthernetFrame,
  104: Target.EthernetFrame,
  313: Target.IpPacket,
  // observationTime* (NAT events and other single-moment records).
  322: Target.ObservationSec,
  323: Target.ObservationMs,
  324: Target.ObservationNtp,
  325: Target.ObservationNtp,
  158: Target.StartDeltaUs,
  159: Target.EndDeltaUs,
  161: Target.DurationMs,
  162: Target.DurationUs,
};

/** Widths a field must have to be read as its target; anything else is skipped, not misread. */
function widthFits(target: Target, length: number): boolean {
  switch (target) {
    case Target.SrcV4:
    case Target.DstV4:
      return length === 4;
    case Target.SrcV6:
    case Target.DstV6:
      return length === 16;
    case Target.StartNtpUs:
    case Target.EndNtpUs:
    case Target.StartNtpNs:
    case Target.EndNtpNs:
    case Target.ObservationNtp:
      return length === 8;
    case Target.Skip:
    case Target.EthernetFrame:
    case Target.IpPacket:
      return true;
    default:
      return length >= 1 && length <= 8;
  }
}

import type { FlowBatch } from './batch.js';

export const VARIABLE_LENGTH = 65535;

export interface TemplateField {
  readonly id: number;
  readonly enterprise: number;
  readonly length: number;
}

export interface Template {
  readonly id: number;
  readonly options: boolean;
  readonly fields: readonly TemplateField[];
  /** Target of each field, in order. */
  readonly targets: Uint8Array;
  readonly lengths: Uint16Array;
  /** Byte offset of each field when every field has a fixed length; undefined otherwise. */
  readonly offsets: Uint32Array | undefined;
  /** Bytes of a record with fixed fields only, or the minimum (1 byte per variable field). */
  readonly minLength: number;
  readonly fixed: boolean;
  /** Whether a record can become a row: it has address fields or a packet section (data templates only). */
  readonly rows: boolean;
  /** Which row fields the template states itself (Given bits): a packet section fills only the others. */
  readonly given: number;
  /**
   * Whether records use the slots after the first sixteen (address offsets, ipVersion, packet section,
   * observation times, deltas, durations). When not, only the first sixteen are reset for each record,
   * and the others must not be read: the common templates pay nothing for elements they do not have.
   */
  readonly extras: boolean;
  /** The slot values each record starts from (SLOT_DEFAULTS, or its first sixteen when !extras). */
  readonly defaults: Float64Array;
  /** For fixed-length data templates: the record reader compiled for this layout. */
  readonly read: RecordReader | undefined;
}

export const enum Given {
  Addresses = 1,
  Proto = 2,
  SrcPort = 4,
  DstPort = 8,
  TcpFlags = 16,
  Bytes = 32,
  Packets = 64,
  Frame = 128,
}

/**
 * Per-record values that decide the row (times, sampling, counters,
 * addresses, the packet section) before it is finished: slots of one scratch
 * array, reset for every record. Address and packet-section slots hold
 * offsets into the record's buffer.
 */
export const enum Slot {
  StartAbs,
  EndAbs,
  StartUp,
  EndUp,
  SamplerId,
  SamplingInterval,
  PacketInterval,
  PacketSpace,
  Icmp,
  IcmpType,
  IcmpCode,
  Bytes,
  Packets,
  BytesTotal,
  PacketsTotal,
  SystemInitMs,
  SrcV4,
  DstV4,
  SrcV6,
  DstV6,
  IpVersion,
  FrameAt,
  FrameLength,
  FrameKind,
  Observation,
  StartDelta,
  EndDelta,
  Duration,
}
/** Slots before this one are the ones every template may use (see Template.extras). */
export const FIRST_EXTRA_SLOT = Slot.SrcV4;
export const SLOT_DEFAULTS = Float64Array.from([
  -1, -1, -1, -1, -1, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, -1, -1, -1, -1,
]);

/**
 * Reads one record at `p` into the row's columns and the scratch slots.
 * Returns 1 when it placed addresses that are not all zero, 0 when it has
 * none to place (absent or all zero), -1 when the caller must choose between
 * IPv4 and IPv6 fields (placeAddresses, from the address slots).
 */
export type RecordReader = (buf: Buffer, p: number, b: FlowBatch, row: number, st: Float64Array) => number;

const GIVEN: Partial<Record<Target, Given>> = {
  [Target.SrcV4]: Given.Addresses,
  [Target.DstV4]: Given.Addresses,
  [Target.SrcV6]: Given.Addresses,
  [Target.DstV6]: Given.Addresses,
  [Target.Proto]: Given.Proto,
  [Target.SrcPort]: Given.SrcPort,
  [Target.DstPort]: Given.DstPort,
  [Target.TcpFlags]: Given.TcpFlags,
  [Target.Bytes]: Given.Bytes,
  [Target.BytesTotal]: Given.Bytes,
  [Target.Packets]: Given.Packets,
  [Target.PacketsTotal]: Given.Packets,
  [Target.EthernetFrame]: Given.Frame,
  [Target.IpPacket]: Given.Frame,
};

export function compileTemplate(id: number, fields: readonly TemplateField[], options: boolean): Template {
  const n = fields.length;
  const targets = new Uint8Array(n);
  const lengths = new Uint16Array(n);
  let fixed = true;
  let minLength = 0;
  let given = 0;
  for (let i = 0; i < n; i++) {
    const f = fields[i]!;
    const wanted = f.enterprise === 0 ? (ELEMENTS[f.id] ?? Target.Skip) : Target.Skip;
    // Only packet sections may have a variable length: every other declared element has a fixed width.
    const packet = wanted === Target.EthernetFrame || wanted === Target.IpPacket;
    const target = (f.length !== VARIABLE_LENGTH || packet) && widthFits(wanted, f.length) ? wanted : Target.Skip;
    targets[i] = target;
    lengths[i] = f.length;
    if (f.length === VARIABLE_LENGTH) {
      fixed = false;
      minLength += 1;
    } else minLength += f.length;
    given |= GIVEN[target as Target] ?? 0;
  }
  let offsets: Uint32Array | undefined;
  if (fixed) {
    offsets = new Uint32Array(n);
    let o = 0;
    for (let i = 0; i < n; i++) {
      offsets[i] = o;
      o += lengths[i]!;
    }
  }
  const rows = !options && (given & (Given.Addresses | Given.Frame)) !== 0;
  const read = offsets && rows ? compileReader(targets, lengths, offsets) : undefined;
  // Extra slots: read by the general path and for mixed families (address offsets), and by the elements of issue 14.
  const extras = !read || bothFamilies(targets) || targets.some((t) => t >= Target.IpVersion);
  const defaults = extras ? SLOT_DEFAULTS : SLOT_DEFAULTS.subarray(0, FIRST_EXTRA_SLOT);
  return { id, options, fields, targets, lengths, offsets, minLength, fixed, rows, given, extras, defaults, read };
}

/** Whether a template has IPv4 and IPv6 address fields (a record then says which it uses). */
function bothFamilies(targets: Uint8Array): boolean {
  let v4 = false,
    v6 = false;
  for (const t of targets) {
    if (t === Target.SrcV4 || t === Target.DstV4) v4 = true;
    else if (t === Target.SrcV6 || t === Target.DstV6) v6 = true;
  }
  return v4 && v6;
}

/** Big-endian unsigned read of a known width at a known offset, as source text. */
function readExpr(at: string, len: number): string {
  switch (len) {
    case 1:
      return `buf[${at}]`;
    case 2:
      return `((buf[${at}] << 8) | buf[${at} + 1])`;
    case 4:
      return `buf.readUInt32BE(${at})`;
    case 8:
      return `(buf.readUInt32BE(${at}) * 4294967296 + buf.readUInt32BE(${at} + 4))`;
    default:
      return `readUint(buf, ${at}, ${len})`;
  }
}

/**
 * The template-compiled decoder: a function made for one fixed layout, with
 * every offset and width a constant and the skipped fields simply absent — the
 * per-field loop, the switch and the length checks of the general path are
 * gone (the caller checks the record fits once). The source is built only
 * from numbers and fixed names, never from datagram bytes.
 */
function compileReader(targets: Uint8Array, lengths: Uint16Array, offsets: Uint32Array): RecordReader {
  const lines: string[] = [];
  const slot = (s: Slot, expr: string) => lines.push(`st[${s}] = ${expr};`);
  // One family only (the common case): addresses go straight into the row, and one test says whether any is not zero.
  // Both families: their offsets go to slots, and the caller decides (placeAddresses).
  const mixed = bothFamilies(targets);
  // The words of the source and destination last written (a field repeated in a template: the last one counts).
  const nonZero: Record<'src' | 'dst', string[]> = { src: [], dst: [] };
  const address = (column: 'src' | 'dst', at: string, width: 4 | 16, family: 4 | 6, s: Slot) => {
    if (mixed) {
      slot(s, at);
      return;
    }
    lines.push(`b.family[row] = ${family};`);
    for (let k = 0; k < width; k++) lines.push(`b.${column}[r16 + ${k}] = buf[${at} + ${k}];`);
    nonZero[column] = [];
    for (let k = 0; k < width; k += 4) nonZero[column].push(`buf.readUInt32BE(${at} + ${k})`);
  };
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i] as Target;
    const len = lengths[i]!;
    const at = `p + ${offsets[i]}`;
    const last = `buf[${at} + ${len - 1}]`;
    switch (t) {
      case Target.Skip:
        break;
      case Target.Bytes:
        slot(Slot.Bytes, readExpr(at, len));
        break;
      case Target.Packets:
        slot(Slot.Packets, readExpr(at, len));
        break;
      case Target.BytesTotal:
        slot(Slot.BytesTotal, readExpr(at, len));
        break;
      case Target.PacketsTotal:
        slot(Slot.PacketsTotal, readExpr(at, len));
        break;
      case Target.Proto:
        lines.push(`b.proto[row] = ${last};`);
        break;
      case Target.TcpFlags:
        lines.push(`b.tcpFlags[row] = ${last};`);
        break;
      case Target.SrcPort:
        lines.push(`b.srcPort[row] = ${readExpr(at, len)};`);
        break;
      case Target.DstPort:
        lines.push(`b.dstPort[row] = ${readExpr(at, len)};`);
        break;
      // Addresses are placed once the record is read (placeAddresses): a template may carry both families.
      case Target.SrcV4:
        address('src', at, 4, 4, Slot.SrcV4);
        break;
      case Target.DstV4:
        address('dst', at, 4, 4, Slot.DstV4);
        break;
      case Target.SrcV6:
        address('src', at, 16, 6, Slot.SrcV6);
        break;
      case Target.DstV6:
        address('dst', at, 16, 6, Slot.DstV6);
        break;
      case Target.StartUptime:
        slot(Slot.StartUp, readExpr(at, len));
        break;
      case Target.EndUptime:
        slot(Slot.EndUp, readExpr(at, len));
        break;
      case Target.StartSec:
        slot(Slot.StartAbs, `${readExpr(at, len)} * 1000`);
        break;
      case Target.EndSec:
        slot(Slot.EndAbs, `${readExpr(at, len)} * 1000`);
        break;
      case Target.StartMs:
        slot(Slot.StartAbs, readExpr(at, len));
        break;
      case Target.EndMs:
        slot(Slot.EndAbs, readExpr(at, len));
        break;
      case Target.StartNtpUs:
      case Target.StartNtpNs:
        slot(Slot.StartAbs, `ntpMs(buf, ${at})`);
        break;
      case Target.EndNtpUs:
      case Target.EndNtpNs:
        slot(Slot.EndAbs, `ntpMs(buf, ${at})`);
        break;
      case Target.SamplerId:
        slot(Slot.SamplerId, readExpr(at, len));
        break;
      case Target.SamplingInterval:
        slot(Slot.SamplingInterval, readExpr(at, len));
        break;
      case Target.PacketInterval:
        slot(Slot.PacketInterval, readExpr(at, len));
        break;
      case Target.PacketSpace:
        slot(Slot.PacketSpace, readExpr(at, len));
        break;
      case Target.IcmpTypeCode:
        slot(Slot.Icmp, readExpr(at, len));
        break;
      case Target.IcmpType:
        slot(Slot.IcmpType, last);
        break;
      case Target.IcmpCode:
        slot(Slot.IcmpCode, last);
        break;
      case Target.SystemInitMs:
        slot(Slot.SystemInitMs, readExpr(at, len));
        break;
      case Target.IpVersion:
        slot(Slot.IpVersion, last);
        break;
      case Target.EthernetFrame:
      case Target.IpPacket:
        slot(Slot.FrameAt, at);
        slot(Slot.FrameLength, String(len));
        slot(Slot.FrameKind, String(t));
        break;
      case Target.ObservationSec:
        slot(Slot.Observation, `${readExpr(at, len)} * 1000`);
        break;
      case Target.ObservationMs:
        slot(Slot.Observation, readExpr(at, len));
        break;
      case Target.ObservationNtp:
        slot(Slot.Observation, `ntpMs(buf, ${at})`);
        break;
      case Target.StartDeltaUs:
        slot(Slot.StartDelta, readExpr(at, len));
        break;
      case Target.EndDeltaUs:
        slot(Slot.EndDelta, readExpr(at, len));
        break;
      case Target.DurationMs:
        slot(Slot.Duration, readExpr(at, len));
        break;
      case Target.DurationUs:
        slot(Slot.Duration, `${readExpr(at, len)} / 1000`);
        break;
    }
  }
  const words = [...nonZero.src, ...nonZero.dst];
  // Short-circuit: an address that is not zero usually shows it in its first word.
  const placed = mixed ? 'return -1;' : words.length ? `return ${words.map((w) => `${w} !== 0`).join(' || ')} ? 1 : 0;` : 'return 0;';
  const source = `return function compiledRecord(buf, p, b, row, st) {\n  const r16 = row * 16;\n  ${lines.join('\n  ')}\n  ${placed}\n};`;
  // new Function: numbers and fixed names only (see above)
  const make = new Function('readUint', 'ntpMs', source) as (r: typeof readUint, n: typeof ntpMs) => RecordReader;
  return make(readUint, ntpMs);
}

const NTP_EPOCH_OFFSET_S = 2208988800;

/** Milliseconds since the epoch from a 64-bit NTP timestamp. */
export function ntpMs(buf: Buffer, p: number): number {
  const seconds = buf.readUInt32BE(p) - NTP_EPOCH_OFFSET_S;
  const fraction = buf.readUInt32BE(p + 4);
  return seconds * 1000 + Math.floor((fraction / 4294967296) * 1000);
}

/** Unsigned big-endian integer of 1–8 bytes (above 2^53 loses precision, which counters never reach). */
export function readUint(buf: Buffer, off: number, len: number): number {
  switch (len) {
    case 1:
      return buf[off]!;
    case 2:
      return (buf[off]! << 8) | buf[off + 1]!;
    case 4:
      return buf.readUInt32BE(off);
    case 8:
      return buf.readUInt32BE(off) * 4294967296 + buf.readUInt32BE(off + 4);
    default: {
      let v = 0;
      for (let i = 0; i < len; i++) v = v * 256 + buf[off + i]!;
      return v;
    }
  }
}
