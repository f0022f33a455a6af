/**
 * NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) decoding. The two share the
 * template mechanism and differ in headers, set ids, field specifiers
 * (enterprise bit, variable length) and what the sequence number counts.
 *
 * Templates are scoped per exporter address and source id / observation
 * domain. Data that arrives before its template is held briefly (bounded),
 * then decoded when the template comes, or dropped and counted.
 */
import { FlowBatch, type FlowOutput } from './batch.js';
import { LIMITS, type Domain, type Exporter } from './exporters.js';
import { decodeFrame, frame, frameDropReason, FrameStart, FrameStatus } from './frame.js';
import {
  compileTemplate,
  Given,
  ntpMs,
  readUint,
  Slot,
  SLOT_DEFAULTS,
  Target,
  VARIABLE_LENGTH,
  type Template,
  type TemplateField,
} from './templates.js';

interface Clock {
  /** Export time of the datagram, ms since the epoch. */
  exportMs: number;
  /** v9: sysUptime at export (ms); IPFIX: -1 (relative times use systemInitMs). */
  uptimeMs: number;
}

/** Templates read by parseTemplates in the current message (v9's header count includes them). */
let templatesRead = 0;

/** Decodes one v9 (version 9) or IPFIX (version 10) message; returns the records produced. */
export function decodeTemplated(buf: Buffer, exporter: Exporter, out: FlowOutput, receivedMs: number): number {
  const version = buf.readUInt16BE(0);
  const ipfix = version === 10;
  const headerLength = ipfix ? 16 : 20;
  if (buf.length < headerLength) {
    exporter.error('truncated');
    return 0;
  }
  let end = buf.length;
  if (ipfix) {
    const declared = buf.readUInt16BE(2);
    if (declared < headerLength || declared > buf.length) {
      exporter.error('bad-length');
      return 0;
    }
    end = declared;
  }
  const clock: Clock = ipfix
    ? { exportMs: buf.readUInt32BE(4) * 1000, uptimeMs: -1 }
    : { exportMs: buf.readUInt32BE(8) * 1000, uptimeMs: buf.readUInt32BE(4) };
  const sequence = buf.readUInt32BE(ipfix ? 8 : 12);
  const protocol = ipfix ? 'ipfix' : 'netflow9';
  const domainId = buf.readUInt32BE(ipfix ? 12 : 16);
  let domain = exporter.existing(protocol, domainId);
  if (!domain) {
    // New state only for a datagram whose sets frame it exactly; one that brings no template is provisional.
    const sets = frameSets(buf, headerLength, end, ipfix);
    if (sets === 'invalid') {
      exporter.error('no-valid-set');
      return 0;
    }
    domain = exporter.domain(protocol, domainId, sets === 'data-only');
  }
  expireHeld(domain, exporter, receivedMs);

  let records = 0;
  let dataRecords = 0;
  let heldSets = 0;
  // Whether every record of the message was read: only then can v9's header count be checked.
  let complete = true;
  templatesRead = 0;
  let off = headerLength;
  while (off < end) {
    if (off + 4 > end) {
      exporter.error('trailing-bytes');
      complete = false;
      break;
    }
    const setId = buf.readUInt16BE(off);
    const setLength = buf.readUInt16BE(off + 2);
    if (setLength < 4 || off + setLength > end) {
      exporter.error(setLength < 4 ? 'bad-length' : 'truncated');
      complete = false;
      break;
    }
    const body = off + 4;
    const setEnd = off + setLength;
    if (setId === (ipfix ? 2 : 0)) {
      if (!parseTemplates(buf, body, setEnd, ipfix, false, domain, exporter, out, receivedMs)) complete = false;
    } else if (setId === (ipfix ? 3 : 1)) {
      if (!parseTemplates(buf, body, setEnd, ipfix, true, domain, exporter, out, receivedMs)) complete = false;
    } else if (setId >= 256) {
      const template = domain.templates.get(setId);
      if (template) {
        const r = decodeDataSet(buf, body, setEnd, template, domain, exporter, out, clock);
        records += r.flows;
        dataRecords += r.records;
        if (!r.complete) complete = false;
      } else {
        hold(domain, exporter, setId, buf.subarray(body, setEnd), receivedMs, clock);
        heldSets += 1;
        complete = false;
      }
    } else complete = false; // set ids 4–255 are reserved: skipped, their records unknown
    off = setEnd;
  }
  // IPFIX over UDP is one message a datagram: bytes after the message's length were sent and not described.
  if (ipfix && end < buf.length) exporter.error('trailing-bytes');
  // v9's count is of every record of the datagram, templates included (RFC 3954 §5.1): fewer read means sets went missing.
  if (!ipfix && complete && dataRecords + templatesRead < buf.readUInt16BE(2)) exporter.error('count-mismatch');
  if (domain.templates.size > 0) exporter.establish(domain);
  domain.observeSequence(sequence, heldSets > 0 ? -1 : dataRecords, heldSets > 0 ? -1 : records);
  return records;
}

/**
 * Whether a datagram for an unknown domain starts with at least one set that
 * frames (a known kind, at least 4 bytes, inside the message) and whether
 * those sets bring a template. Used only before state is created: what comes
 * after the framed sets is counted by the decoder as usual.
 */
function frameSets(buf: Buffer, off: number, end: number, ipfix: boolean): 'invalid' | 'data-only' | 'templates' {
  let templates = false;
  let sets = 0;
  while (off + 4 <= end) {
    const setId = buf.readUInt16BE(off);
    const setLength = buf.readUInt16BE(off + 2);
    if (setLength < 4 || off + setLength > end || (setId < 256 && setId !== (ipfix ? 2 : 0) && setId !== (ipfix ? 3 : 1))) break;
    if (setId < 256) templates = true;
    sets += 1;
    off += setLength;
  }
  if (sets === 0) return 'invalid';
  return templates ? 'templates' : 'data-only';
}

/** Reads a template or options template set; false when part of it could not be read (counted). */
function parseTemplates(
  buf: Buffer,
  off: number,
  end: number,
  ipfix: boolean,
  options: boolean,
  domain: Domain,
  exporter: Exporter,
  out: FlowOutput,
  receivedMs: number,
): boolean {
  const minHeader = options ? 6 : 4;
  while (off + minHeader <= end) {
    const id = buf.readUInt16BE(off);
    const count = buf.readUInt16BE(off + 2);
    let scopeCount = 0;
    let fieldCount: number;
    if (!ipfix && options) {
      // v9 options template: lengths in bytes of the scope and option specifiers.
      const scopeBytes = count;
      const optionBytes = buf.readUInt16BE(off + 4);
      if (scopeBytes % 4 !== 0 || optionBytes % 4 !== 0) {
        exporter.error('bad-template');
        return false;
      }
      scopeCount = scopeBytes / 4;
      fieldCount = scopeCount + optionBytes / 4;
      off += 6;
    } else if (options) {
      fieldCount = count;
      scopeCount = buf.readUInt16BE(off + 4);
      off += 6;
    } else {
      fieldCount = count;
      off += 4;
    }
    if (ipfix && fieldCount === 0) {
      // Withdrawal: one template, or all of this kind when the id is the set id.
      if (id === 2 || id === 3) {
        for (const [tid, t] of domain.templates) if (t.options === (id === 3)) domain.templates.delete(tid);
      } else domain.templates.delete(id);
      templatesRead += 1;
      continue;
    }
    if (
      id < 256 ||
      fieldCount === 0 ||
      fieldCount > LIMITS.fieldsPerTemplate ||
      (options && (scopeCount === 0 || scopeCount > fieldCount))
    ) {
      exporter.error('bad-template');
      return false; // the rest of this set cannot be trusted
    }
    const fields: TemplateField[] = [];
    for (let i = 0; i < fieldCount; i++) {
      if (off + 4 > end) {
        exporter.error('truncated');
        return false;
      }
      let fid = buf.readUInt16BE(off);
      const length = buf.readUInt16BE(off + 2);
      off += 4;
      let enterprise = 0;
      if (ipfix && fid & 0x8000) {
        if (off + 4 > end) {
          exporter.error('truncated');
          return false;
        }
        enterprise = buf.readUInt32BE(off);
        fid &= 0x7fff;
        off += 4;
      }
      if (!ipfix && length === VARIABLE_LENGTH) {
        exporter.error('bad-template');
        return false;
      }
      fields.push({ id: fid, enterprise, length });
    }
    templatesRead += 1;
    const template = compileTemplate(id, fields, options);
    if (template.minLength === 0) {
      exporter.error('bad-template');
      return false;
    }
    if (!domain.templates.has(id) && exporter.templateCount() >= LIMITS.templatesPerExporter) {
      exporter.error('too-many-templates');
      continue;
    }
    domain.templates.set(id, template);
    releaseHeld(domain, exporter, template, out, receivedMs);
  }
  return true;
}

/** What decodeDataSet found in one set (one object, reused: read it before the next call). */
const setResult = { flows: 0, records: 0, complete: true };

const scratch = new Float64Array(SLOT_DEFAULTS.length);

function decodeDataSet(
  buf: Buffer,
  off: number,
  end: number,
  t: Template,
  domain: Domain,
  exporter: Exporter,
  out: FlowOutput,
  clock: Clock,
): typeof setResult {
  let flows = 0;
  let records = 0;
  let complete = true;
  const n = t.targets.length;
  const st = scratch;
  // The general path always uses the extra slots (address offsets), whatever the template was compiled with.
  const extras = t.extras || !t.read;
  const defaults = t.read ? t.defaults : SLOT_DEFAULTS;
  while (off + t.minLength <= end) {
    st.set(defaults);
    let row = -1;
    if (t.rows) row = out.start();
    const b = out.batch;
    let placed = -1;
    if (t.read) {
      // The compiled reader: the record fits (checked above), every offset is a constant.
      placed = t.read(buf, off, b, row, st);
      off += t.minLength;
    } else {
      let p = off;
      let broken = false;
      for (let i = 0; i < n; i++) {
        let len = t.lengths[i]!;
        if (len === VARIABLE_LENGTH) {
          if (p + 1 > end) {
            broken = true;
            break;
          }
          len = buf[p++]!;
          if (len === 255) {
            if (p + 2 > end) {
              broken = true;
              break;
            }
            len = buf.readUInt16BE(p);
            p += 2;
          }
        }
        if (p + len > end) {
          broken = true;
          break;
        }
        const target = t.targets[i]!;
        if (target !== Target.Skip) readField(buf, p, len, target as Target, b, row, st);
        p += len;
      }
      if (broken) {
        if (row >= 0) out.batch.discardLast();
        exporter.error('truncated');
        complete = false;
        off = end;
        break;
      }
      off = p;
    }
    records += 1;
    if (st[Slot.SystemInitMs]! >= 0) domain.systemInitMs = st[Slot.SystemInitMs]!;

    // A rate learnt from options applies to the data that follows.
    const samplerId = st[Slot.SamplerId]!;
    const packetInterval = st[Slot.PacketInterval]!;
    let rate = packetInterval > 0 ? (packetInterval + st[Slot.PacketSpace]!) / packetInterval : st[Slot.SamplingInterval]!;
    if (t.options) {
      if (rate > 0) {
        if (samplerId >= 0) {
          if (domain.samplerRates.has(samplerId) || domain.samplerRates.size < LIMITS.samplersPerExporter)
            domain.samplerRates.set(samplerId, rate);
        } else domain.defaultRate = rate;
      }
      continue;
    }
    if (row < 0) continue; // no addresses and no packet: nothing M1 can use

    // The template's own fields are the router's statement about the flow (its key, counted over every
    // packet); a packet section is the first bytes of one sampled packet. So the fields win, and the
    // packet fills only what the template does not state (as a router engineer reading the template
    // would expect, and as Akvorado does). Addresses count as stated only when not all zero: templates
    // with both families carry zeros in the family a flow does not use.
    let fromFrame = -1;
    if (placed < 0) placed = placeAddresses(buf, st, b, row) ? 1 : 0;
    if (extras && st[Slot.FrameAt]! >= 0 && (!placed || (t.given & FILLED_BY_FRAME) !== FILLED_BY_FRAME)) {
      const at = st[Slot.FrameAt]!;
      const kind = st[Slot.FrameKind] === Target.IpPacket ? FrameStart.Ip : FrameStart.Ethernet;
      const status = decodeFrame(buf, at, at + st[Slot.FrameLength]!, kind);
      const stated = placed === 1 ? t.given | Given.Addresses : t.given & ~Given.Addresses;
      if (status === FrameStatus.Ok) fromFrame = fillFromFrame(buf, stated, b, row);
      else if (!placed) {
        b.discardLast();
        exporter.error(frameDropReason(status));
        continue;
      }
    } else if (!placed) {
      b.discardLast();
      exporter.error('zero-addresses');
      continue;
    }
    if (rate <= 0) rate = (samplerId >= 0 ? domain.samplerRates.get(samplerId) : undefined) ?? domain.defaultRate;
    if (!(rate >= 1)) rate = 1;
    const bytes = st[Slot.Bytes]!,
      packets = st[Slot.Packets]!;
    const byteCount = bytes >= 0 ? bytes : st[Slot.BytesTotal]! >= 0 ? st[Slot.BytesTotal]! : Math.max(fromFrame, 0);
    const packetCount = packets >= 0 ? packets : st[Slot.PacketsTotal]! >= 0 ? st[Slot.PacketsTotal]! : fromFrame >= 0 ? 1 : 0;
    b.bytes[row] = Math.round(byteCount * rate);
    b.packets[row] = Math.round(packetCount * rate);
    b.samplingRate[row] = Math.round(rate);
    // Templates often carry an ICMP field on every flow (zero for TCP/UDP): it means something only for ICMP.
    const proto = b.proto[row];
    if (proto === 1 || proto === 58) {
      const icmp = st[Slot.Icmp]!,
        icmpType = st[Slot.IcmpType]!;
      if (icmp >= 0) b.dstPort[row] = icmp & 0xffff;
      else if (icmpType >= 0) b.dstPort[row] = (icmpType << 8) | Math.max(st[Slot.IcmpCode]!, 0);
    }
    setTimes(st, extras, b, row, clock, domain);
    flows += 1;
  }
  // What is left is legal only as padding (RFC 7011 §3.3.1, RFC 3954 §5.3): zeros, shorter than a record.
  // Anything else means the template held here does not describe the exporter's records.
  if (complete && off < end && !zeros(buf, off, end)) {
    exporter.error('template-mismatch');
    complete = false;
  }
  exporter.records += flows;
  setResult.flows = flows;
  setResult.records = records;
  setResult.complete = complete;
  return setResult;
}

function zeros(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

function nonZero(buf: Buffer, at: number, length: number): boolean {
  if (at < 0) return false;
  for (let i = at, e = at + length; i < e; i++) if (buf[i] !== 0) return true;
  return false;
}

/**
 * Puts the record's addresses into the row. A template may carry IPv4 and
 * IPv6 fields at once (Cisco with physical-interface fields): the family is
 * ipVersion (IE 60) when given, else the one whose addresses are not zero.
 * False when the record states no address that is not zero.
 */
function placeAddresses(buf: Buffer, st: Float64Array, b: FlowBatch, row: number): boolean {
  const s4 = st[Slot.SrcV4]!,
    d4 = st[Slot.DstV4]!,
    s6 = st[Slot.SrcV6]!,
    d6 = st[Slot.DstV6]!;
  const has4 = s4 >= 0 || d4 >= 0;
  const has6 = s6 >= 0 || d6 >= 0;
  let six: boolean;
  if (has4 && has6) {
    const version = st[Slot.IpVersion]!;
    // Both families non-zero without ipVersion has not been seen: IPv6, whose fields cannot be zero-filled IPv4.
    six = version === 6 || (version !== 4 && (nonZero(buf, s6, 16) || nonZero(buf, d6, 16)));
  } else if (has4 || has6) six = has6;
  else return false;
  if (six) {
    if (!nonZero(buf, s6, 16) && !nonZero(buf, d6, 16)) return false;
    b.family[row] = 6;
    if (s6 >= 0) FlowBatch.copyAddress(buf, s6, b.src, row, 16);
    if (d6 >= 0) FlowBatch.copyAddress(buf, d6, b.dst, row, 16);
  } else {
    if (!nonZero(buf, s4, 4) && !nonZero(buf, d4, 4)) return false;
    b.family[row] = 4;
    if (s4 >= 0) FlowBatch.copyAddress(buf, s4, b.src, row, 4);
    if (d4 >= 0) FlowBatch.copyAddress(buf, d4, b.dst, row, 4);
  }
  return true;
}

/** What a packet section can give a row. */
const FILLED_BY_FRAME = Given.Addresses | Given.Proto | Given.SrcPort | Given.DstPort | Given.TcpFlags | Given.Bytes | Given.Packets;

/** Fills the row from the packet just decoded where the record is silent; returns the packet's bytes. */
function fillFromFrame(buf: Buffer, given: number, b: FlowBatch, row: number): number {
  const f = frame;
  if (!(given & Given.Addresses)) {
    const width = f.family === 4 ? 4 : 16;
    b.family[row] = f.family;
    FlowBatch.copyAddress(buf, f.src, b.src, row, width);
    FlowBatch.copyAddress(buf, f.dst, b.dst, row, width);
  }
  if (!(given & Given.Proto)) b.proto[row] = f.proto;
  if (!(given & Given.SrcPort)) b.srcPort[row] = f.srcPort;
  if (!(given & Given.DstPort)) b.dstPort[row] = f.dstPort;
  if (!(given & Given.TcpFlags)) b.tcpFlags[row] = f.tcpFlags;
  return f.ipLength;
}

/**
 * Start and end, from the most to the least precise statement: absolute
 * flow times, uptimes (v9 header, IPFIX systemInitTimeMilliseconds), deltas
 * before the export time (IE 158/159), a duration from the other end
 * (IE 161/162), the observation time of a single-moment record (IE 322–325:
 * NAT events), and last the export time.
 */
function setTimes(st: Float64Array, extras: boolean, b: FlowBatch, row: number, clock: Clock, domain: Domain): void {
  let start = st[Slot.StartAbs]!,
    end = st[Slot.EndAbs]!;
  if (start < 0 && st[Slot.StartUp]! >= 0) start = fromUptime(st[Slot.StartUp]!, clock, domain);
  if (end < 0 && st[Slot.EndUp]! >= 0) end = fromUptime(st[Slot.EndUp]!, clock, domain);
  if (extras) {
    if (start < 0 && st[Slot.StartDelta]! >= 0) start = clock.exportMs - Math.round(st[Slot.StartDelta]! / 1000);
    if (end < 0 && st[Slot.EndDelta]! >= 0) end = clock.exportMs - Math.round(st[Slot.EndDelta]! / 1000);
    const duration = st[Slot.Duration]!;
    if (duration >= 0) {
      if (start < 0 && end >= 0) start = end - Math.round(duration);
      else if (end < 0 && start >= 0) end = start + Math.round(duration);
    }
    if (start < 0 && end < 0 && st[Slot.Observation]! >= 0) start = st[Slot.Observation]!;
  }
  b.startMs[row] = start >= 0 ? start : end >= 0 ? end : clock.exportMs;
  b.endMs[row] = end >= 0 ? end : b.startMs[row]!;
}

/** The general path: one field of a record with variable-length fields, or of an options template. */
function readField(buf: Buffer, p: number, len: number, target: Target, b: FlowBatch, row: number, st: Float64Array): void {
  switch (target) {
    case Target.Bytes:
      st[Slot.Bytes] = readUint(buf, p, len);
      break;
    case Target.Packets:
      st[Slot.Packets] = readUint(buf, p, len);
      break;
    case Target.BytesTotal:
      st[Slot.BytesTotal] = readUint(buf, p, len);
      break;
    case Target.PacketsTotal:
      st[Slot.PacketsTotal] = readUint(buf, p, len);
      break;
    case Target.Proto:
      if (row >= 0) b.proto[row] = buf[p + len - 1]!;
      break;
    case Target.TcpFlags:
      if (row >= 0) b.tcpFlags[row] = buf[p + len - 1]!;
      break;
    case Target.SrcPort:
      if (row >= 0) b.srcPort[row] = readUint(buf, p, len);
      break;
    case Target.DstPort:
      if (row >= 0) b.dstPort[row] = readUint(buf, p, len);
      break;
    case Target.SrcV4:
      st[Slot.SrcV4] = p;
      break;
    case Target.DstV4:
      st[Slot.DstV4] = p;
      break;
    case Target.SrcV6:
      st[Slot.SrcV6] = p;
      break;
    case Target.DstV6:
      st[Slot.DstV6] = p;
      break;
    case Target.StartUptime:
      st[Slot.StartUp] = readUint(buf, p, len);
      break;
    case Target.EndUptime:
      st[Slot.EndUp] = readUint(buf, p, len);
      break;
    case Target.StartSec:
      st[Slot.StartAbs] = readUint(buf, p, len) * 1000;
      break;
    case Target.EndSec:
      st[Slot.EndAbs] = readUint(buf, p, len) * 1000;
      break;
    case Target.StartMs:
      st[Slot.StartAbs] = readUint(buf, p, len);
      break;
    case Target.EndMs:
      st[Slot.EndAbs] = readUint(buf, p, len);
      break;
    case Target.StartNtpUs:
    case Target.StartNtpNs:
      st[Slot.StartAbs] = ntpMs(buf, p);
      break;
    case Target.EndNtpUs:
    case Target.EndNtpNs:
      st[Slot.EndAbs] = ntpMs(buf, p);
      break;
    case Target.SamplerId:
      st[Slot.SamplerId] = readUint(buf, p, len);
      break;
    case Target.SamplingInterval:
      st[Slot.SamplingInterval] = readUint(buf, p, len);
      break;
    case Target.PacketInterval:
      st[Slot.PacketInterval] = readUint(buf, p, len);
      break;
    case Target.PacketSpace:
      st[Slot.PacketSpace] = readUint(buf, p, len);
      break;
    case Target.IcmpTypeCode:
      st[Slot.Icmp] = readUint(buf, p, len);
      break;
    case Target.IcmpType:
      st[Slot.IcmpType] = buf[p + len - 1]!;
      break;
    case Target.IcmpCode:
      st[Slot.IcmpCode] = buf[p + len - 1]!;
      break;
    case Target.SystemInitMs:
      st[Slot.SystemInitMs] = readUint(buf, p, len);
      break;
    case Target.IpVersion:
      st[Slot.IpVersion] = buf[p + len - 1]!;
      break;
    case Target.EthernetFrame:
    case Target.IpPacket:
      st[Slot.FrameAt] = p;
      st[Slot.FrameLength] = len;
      st[Slot.FrameKind] = target;
      break;
    case Target.ObservationSec:
      st[Slot.Observation] = readUint(buf, p, len) * 1000;
      break;
    case Target.ObservationMs:
      st[Slot.Observation] = readUint(buf, p, len);
      break;
    case Target.ObservationNtp:
      st[Slot.Observation] = ntpMs(buf, p);
      break;
    case Target.StartDeltaUs:
      st[Slot.StartDelta] = readUint(buf, p, len);
      break;
    case Target.EndDeltaUs:
      st[Slot.EndDelta] = readUint(buf, p, len);
      break;
    case Target.DurationMs:
      st[Slot.Duration] = readUint(buf, p, len);
      break;
    case Target.DurationUs:
      st[Slot.Duration] = readUint(buf, p, len) / 1000;
      break;
  }
}

/** v9: relative to the header's sysUptime; IPFIX: relative to systemInitTimeMilliseconds if announced. */
function fromUptime(value: number, clock: Clock, domain: Domain): number {
  if (clock.uptimeMs >= 0) return clock.exportMs - ((clock.uptimeMs - value) | 0);
  return domain.systemInitMs > 0 ? domain.systemInitMs + value : -1;
}

function hold(domain: Domain, exporter: Exporter, templateId: number, data: Buffer, receivedMs: number, clock: Clock): void {
  if (
    exporter.holdMs <= 0 ||
    domain.held.length >= LIMITS.heldSetsPerExporter ||
    domain.heldBytes + data.length > LIMITS.heldBytesPerExporter
  ) {
    exporter.error('no-template');
    return;
  }
  // Copy: the datagram's buffer is reused by the receiver.
  domain.held.push({ templateId, data: Buffer.from(data), receivedMs, header: { unixMs: clock.exportMs, uptimeMs: clock.uptimeMs } });
  domain.heldBytes += data.length;
}

function releaseHeld(domain: Domain, exporter: Exporter, template: Template, out: FlowOutput, receivedMs: number): void {
  if (domain.held.length === 0) return;
  const keep = [];
  for (const h of domain.held) {
    if (h.templateId !== template.id) {
      keep.push(h);
      continue;
    }
    domain.heldBytes -= h.data.length;
    if (receivedMs - h.receivedMs > exporter.holdMs) {
      exporter.error('no-template');
      continue;
    }
    decodeDataSet(h.data, 0, h.data.length, template, domain, exporter, out, { exportMs: h.header.unixMs, uptimeMs: h.header.uptimeMs });
  }
  domain.held = keep;
}

/** Drops held data whose template never came; also called by the receiver's periodic sweep. */
export function expireHeld(domain: Domain, exporter: Exporter, nowMs: number): void {
  if (domain.held.length === 0) return;
  const keep = [];
  for (const h of domain.held) {
    if (nowMs - h.receivedMs > exporter.holdMs) {
      domain.heldBytes -= h.data.length;
      exporter.error('no-template');
    } else keep.push(h);
  }
  domain.held = keep;
}
