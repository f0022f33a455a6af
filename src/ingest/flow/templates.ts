/**
 * NetFlow v9 / IPFIX templates, compiled once into a plan that says, for each
 * field, where it sits and which declared column (if any) it feeds. Fields M1
 * did not declare (interfaces, MACs, AS numbers, VLANs, enterprise fields…)
 * compile to "skip": they are never read.
 */

export const enum Target {
  Skip, Bytes, Packets, BytesTotal, PacketsTotal, Proto, TcpFlags, SrcPort, DstPort,
  SrcV4, DstV4, SrcV6, DstV6, StartUptime, EndUptime, StartSec, EndSec, StartMs, EndMs,
  StartNtpUs, EndNtpUs, StartNtpNs, EndNtpNs, SamplerId, SamplingInterval, PacketInterval, PacketSpace,
  IcmpTypeCode, IcmpType, IcmpCode, SystemInitMs,
}

/** IANA information element ids (which NetFlow v9 shares for ids below 128). */
const ELEMENTS: Record<number, Target> = {
  1: Target.Bytes, 2: Target.Packets, 85: Target.BytesTotal, 86: Target.PacketsTotal,
  4: Target.Proto, 6: Target.TcpFlags, 7: Target.SrcPort, 11: Target.DstPort,
  8: Target.SrcV4, 12: Target.DstV4, 27: Target.SrcV6, 28: Target.DstV6,
  22: Target.StartUptime, 21: Target.EndUptime,
  150: Target.StartSec, 151: Target.EndSec, 152: Target.StartMs, 153: Target.EndMs,
  154: Target.StartNtpUs, 155: Target.EndNtpUs, 156: Target.StartNtpNs, 157: Target.EndNtpNs,
  48: Target.SamplerId, 302: Target.SamplerId,
  34: Target.SamplingInterval, 50: Target.SamplingInterval,
  305: Target.PacketInterval, 306: Target.PacketSpace,
  32: Target.IcmpTypeCode, 139: Target.IcmpTypeCode,
  176: Target.IcmpType, 177: Target.IcmpCode, 178: Target.IcmpType, 179: Target.IcmpCode,
  160: Target.SystemInitMs,
};

/** Widths a field must have to be read as its target; anything else is skipped, not misread. */
function widthFits(target: Target, length: number): boolean {
  switch (target) {
    case Target.SrcV4: case Target.DstV4: return length === 4;
    case Target.SrcV6: case Target.DstV6: return length === 16;
    case Target.StartNtpUs: case Target.EndNtpUs: case Target.StartNtpNs: case Target.EndNtpNs: return length === 8;
    case Target.Skip: return true;
    default: return length >= 1 && length <= 8;
  }
}

import type { FlowBatch } from './batch.js';

export const VARIABLE_LENGTH = 65535;

export interface TemplateField { readonly id: number; readonly enterprise: number; readonly length: number }

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
  readonly hasAddresses: boolean;
  /** For fixed-length data templates: the record reader compiled for this layout. */
  readonly read: RecordReader | undefined;
}

/**
 * Per-record values that decide the row (times, sampling, counters) before it
 * is finished: slots of one scratch array, reset for every record.
 */
export const enum Slot {
  StartAbs, EndAbs, StartUp, EndUp, SamplerId, SamplingInterval, PacketInterval, PacketSpace,
  Icmp, IcmpType, IcmpCode, Bytes, Packets, BytesTotal, PacketsTotal, SystemInitMs,
}
export const SLOT_DEFAULTS = Float64Array.from([-1, -1, -1, -1, -1, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1]);

/** Reads one record at `p` into the row's columns and the scratch slots. */
export type RecordReader = (buf: Buffer, p: number, b: FlowBatch, row: number, st: Float64Array) => void;

export function compileTemplate(id: number, fields: readonly TemplateField[], options: boolean): Template {
  const n = fields.length;
  const targets = new Uint8Array(n);
  const lengths = new Uint16Array(n);
  let fixed = true;
  let minLength = 0;
  let hasAddresses = false;
  for (let i = 0; i < n; i++) {
    const f = fields[i]!;
    const wanted = f.enterprise === 0 ? (ELEMENTS[f.id] ?? Target.Skip) : Target.Skip;
    const target = f.length !== VARIABLE_LENGTH && widthFits(wanted, f.length) ? wanted : Target.Skip;
    targets[i] = target;
    lengths[i] = f.length;
    if (f.length === VARIABLE_LENGTH) { fixed = false; minLength += 1; } else minLength += f.length;
    if (target >= Target.SrcV4 && target <= Target.DstV6) hasAddresses = true;
  }
  let offsets: Uint32Array | undefined;
  if (fixed) {
    offsets = new Uint32Array(n);
    let o = 0;
    for (let i = 0; i < n; i++) { offsets[i] = o; o += lengths[i]!; }
  }
  const read = offsets && !options && hasAddresses ? compileReader(targets, lengths, offsets) : undefined;
  return { id, options, fields, targets, lengths, offsets, minLength, fixed, hasAddresses, read };
}

/** Big-endian unsigned read of a known width at a known offset, as source text. */
function readExpr(at: string, len: number): string {
  switch (len) {
    case 1: return `buf[${at}]`;
    case 2: return `((buf[${at}] << 8) | buf[${at} + 1])`;
    case 4: return `buf.readUInt32BE(${at})`;
    case 8: return `(buf.readUInt32BE(${at}) * 4294967296 + buf.readUInt32BE(${at} + 4))`;
    default: return `readUint(buf, ${at}, ${len})`;
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
  const address = (column: 'src' | 'dst', at: string, width: 4 | 16, family: 4 | 6) => {
    lines.push(`b.family[row] = ${family};`);
    for (let k = 0; k < width; k++) lines.push(`b.${column}[r16 + ${k}] = buf[${at} + ${k}];`);
  };
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i] as Target;
    const len = lengths[i]!;
    const at = `p + ${offsets[i]}`;
    const last = `buf[${at} + ${len - 1}]`;
    switch (t) {
      case Target.Skip: break;
      case Target.Bytes: slot(Slot.Bytes, readExpr(at, len)); break;
      case Target.Packets: slot(Slot.Packets, readExpr(at, len)); break;
      case Target.BytesTotal: slot(Slot.BytesTotal, readExpr(at, len)); break;
      case Target.PacketsTotal: slot(Slot.PacketsTotal, readExpr(at, len)); break;
      case Target.Proto: lines.push(`b.proto[row] = ${last};`); break;
      case Target.TcpFlags: lines.push(`b.tcpFlags[row] = ${last};`); break;
      case Target.SrcPort: lines.push(`b.srcPort[row] = ${readExpr(at, len)};`); break;
      case Target.DstPort: lines.push(`b.dstPort[row] = ${readExpr(at, len)};`); break;
      case Target.SrcV4: address('src', at, 4, 4); break;
      case Target.DstV4: address('dst', at, 4, 4); break;
      case Target.SrcV6: address('src', at, 16, 6); break;
      case Target.DstV6: address('dst', at, 16, 6); break;
      case Target.StartUptime: slot(Slot.StartUp, readExpr(at, len)); break;
      case Target.EndUptime: slot(Slot.EndUp, readExpr(at, len)); break;
      case Target.StartSec: slot(Slot.StartAbs, `${readExpr(at, len)} * 1000`); break;
      case Target.EndSec: slot(Slot.EndAbs, `${readExpr(at, len)} * 1000`); break;
      case Target.StartMs: slot(Slot.StartAbs, readExpr(at, len)); break;
      case Target.EndMs: slot(Slot.EndAbs, readExpr(at, len)); break;
      case Target.StartNtpUs: case Target.StartNtpNs: slot(Slot.StartAbs, `ntpMs(buf, ${at})`); break;
      case Target.EndNtpUs: case Target.EndNtpNs: slot(Slot.EndAbs, `ntpMs(buf, ${at})`); break;
      case Target.SamplerId: slot(Slot.SamplerId, readExpr(at, len)); break;
      case Target.SamplingInterval: slot(Slot.SamplingInterval, readExpr(at, len)); break;
      case Target.PacketInterval: slot(Slot.PacketInterval, readExpr(at, len)); break;
      case Target.PacketSpace: slot(Slot.PacketSpace, readExpr(at, len)); break;
      case Target.IcmpTypeCode: slot(Slot.Icmp, readExpr(at, len)); break;
      case Target.IcmpType: slot(Slot.IcmpType, last); break;
      case Target.IcmpCode: slot(Slot.IcmpCode, last); break;
      case Target.SystemInitMs: slot(Slot.SystemInitMs, readExpr(at, len)); break;
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- numbers and fixed names only (see above)
  const make = new Function('readUint', 'ntpMs', `return function compiledRecord(buf, p, b, row, st) {\n  const r16 = row * 16;\n  ${lines.join('\n  ')}\n};`) as (r: typeof readUint, n: typeof ntpMs) => RecordReader;
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
    case 1: return buf[off]!;
    case 2: return (buf[off]! << 8) | buf[off + 1]!;
    case 4: return buf.readUInt32BE(off);
    case 8: return buf.readUInt32BE(off) * 4294967296 + buf.readUInt32BE(off + 4);
    default: {
      let v = 0;
      for (let i = 0; i < len; i++) v = v * 256 + buf[off + i]!;
      return v;
    }
  }
}
