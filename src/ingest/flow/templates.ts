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
}

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
  return { id, options, fields, targets, lengths, offsets, minLength, fixed, hasAddresses };
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
