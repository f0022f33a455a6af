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
import { compileTemplate, ntpMs, readUint, Slot, SLOT_DEFAULTS, Target, VARIABLE_LENGTH, type Template, type TemplateField } from './templates.js';

interface Clock {
  /** Export time of the datagram, ms since the epoch. */
  exportMs: number;
  /** v9: sysUptime at export (ms); IPFIX: -1 (relative times use systemInitMs). */
  uptimeMs: number;
}

/** Decodes one v9 (version 9) or IPFIX (version 10) message; returns the records produced. */
export function decodeTemplated(buf: Buffer, exporter: Exporter, out: FlowOutput, receivedMs: number): number {
  const version = buf.readUInt16BE(0);
  const ipfix = version === 10;
  const headerLength = ipfix ? 16 : 20;
  if (buf.length < headerLength) { exporter.error('truncated'); return 0; }
  let end = buf.length;
  if (ipfix) {
    const declared = buf.readUInt16BE(2);
    if (declared < headerLength || declared > buf.length) { exporter.error('bad-length'); return 0; }
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
    if (sets === 'invalid') { exporter.error('no-valid-set'); return 0; }
    domain = exporter.domain(protocol, domainId, sets === 'data-only');
  }
  expireHeld(domain, exporter, receivedMs);

  let records = 0;
  let dataRecords = 0;
  let heldSets = 0;
  let off = headerLength;
  while (off + 4 <= end) {
    const setId = buf.readUInt16BE(off);
    const setLength = buf.readUInt16BE(off + 2);
    if (setLength < 4 || off + setLength > end) { exporter.error(setLength < 4 ? 'bad-length' : 'truncated'); break; }
    const body = off + 4;
    const setEnd = off + setLength;
    if (setId === (ipfix ? 2 : 0)) {
      parseTemplates(buf, body, setEnd, ipfix, false, domain, exporter, out, receivedMs);
    } else if (setId === (ipfix ? 3 : 1)) {
      parseTemplates(buf, body, setEnd, ipfix, true, domain, exporter, out, receivedMs);
    } else if (setId >= 256) {
      const template = domain.templates.get(setId);
      if (template) {
        const r = decodeDataSet(buf, body, setEnd, template, domain, exporter, out, clock);
        records += r.flows;
        dataRecords += r.records;
      } else {
        hold(domain, exporter, setId, buf.subarray(body, setEnd), receivedMs, clock);
        heldSets += 1;
      }
    }
    // Set ids 4–255 are reserved: skipped.
    off = setEnd;
  }
  if (domain.templates.size > 0) exporter.establish(domain);
  domain.observeSequence(sequence, heldSets > 0 ? -1 : dataRecords, heldSets > 0 ? -1 : records);
  return records;
}

/**
 * Whether the sets of a datagram tile it exactly (each set a known kind, at
 * least 4 bytes, the last ending at the end, padding aside) and whether any is
 * a template set. Used only before state is created for an unknown domain.
 */
function frameSets(buf: Buffer, off: number, end: number, ipfix: boolean): 'invalid' | 'data-only' | 'templates' {
  let templates = false;
  let sets = 0;
  while (off + 4 <= end) {
    const setId = buf.readUInt16BE(off);
    const setLength = buf.readUInt16BE(off + 2);
    if (setLength < 4 || off + setLength > end) return 'invalid';
    if (setId === (ipfix ? 2 : 0) || setId === (ipfix ? 3 : 1)) templates = true;
    else if (setId < 256) return 'invalid';
    sets += 1;
    off += setLength;
  }
  // NetFlow v9 may pad the datagram after its last set; IPFIX's length covers its sets exactly.
  if (sets === 0 || (ipfix && off !== end)) return 'invalid';
  return templates ? 'templates' : 'data-only';
}

function parseTemplates(buf: Buffer, off: number, end: number, ipfix: boolean, options: boolean, domain: Domain, exporter: Exporter, out: FlowOutput, receivedMs: number): void {
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
      if (scopeBytes % 4 !== 0 || optionBytes % 4 !== 0) { exporter.error('bad-template'); return; }
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
      continue;
    }
    if (id < 256 || fieldCount === 0 || fieldCount > LIMITS.fieldsPerTemplate || (options && (scopeCount === 0 || scopeCount > fieldCount))) {
      exporter.error('bad-template');
      return; // the rest of this set cannot be trusted
    }
    const fields: TemplateField[] = [];
    for (let i = 0; i < fieldCount; i++) {
      if (off + 4 > end) { exporter.error('truncated'); return; }
      let fid = buf.readUInt16BE(off);
      const length = buf.readUInt16BE(off + 2);
      off += 4;
      let enterprise = 0;
      if (ipfix && fid & 0x8000) {
        if (off + 4 > end) { exporter.error('truncated'); return; }
        enterprise = buf.readUInt32BE(off);
        fid &= 0x7fff;
        off += 4;
      }
      if (!ipfix && length === VARIABLE_LENGTH) { exporter.error('bad-template'); return; }
      fields.push({ id: fid, enterprise, length });
    }
    const template = compileTemplate(id, fields, options);
    if (template.minLength === 0) { exporter.error('bad-template'); return; }
    if (!domain.templates.has(id) && exporter.templateCount() >= LIMITS.templatesPerExporter) {
      exporter.error('too-many-templates');
      continue;
    }
    domain.templates.set(id, template);
    releaseHeld(domain, exporter, template, out, receivedMs);
  }
}

interface DataResult { flows: number; records: number }

const scratch = new Float64Array(SLOT_DEFAULTS.length);

function decodeDataSet(buf: Buffer, off: number, end: number, t: Template, domain: Domain, exporter: Exporter, out: FlowOutput, clock: Clock): DataResult {
  let flows = 0;
  let records = 0;
  const n = t.targets.length;
  const st = scratch;
  while (off + t.minLength <= end) {
    st.set(SLOT_DEFAULTS);
    let row = -1;
    if (!t.options && t.hasAddresses) row = out.start();
    const b = out.batch;
    if (t.read) {
      // The compiled reader: the record fits (checked above), every offset is a constant.
      t.read(buf, off, b, row, st);
      off += t.minLength;
    } else {
      let p = off;
      let broken = false;
      for (let i = 0; i < n; i++) {
        let len = t.lengths[i]!;
        if (len === VARIABLE_LENGTH) {
          if (p + 1 > end) { broken = true; break; }
          len = buf[p++]!;
          if (len === 255) {
            if (p + 2 > end) { broken = true; break; }
            len = buf.readUInt16BE(p);
            p += 2;
          }
        }
        if (p + len > end) { broken = true; break; }
        const target = t.targets[i]!;
        if (target !== Target.Skip) readField(buf, p, len, target as Target, b, row, st);
        p += len;
      }
      if (broken) {
        if (row >= 0) out.batch.discardLast();
        exporter.error('truncated');
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
          if (domain.samplerRates.has(samplerId) || domain.samplerRates.size < LIMITS.samplersPerExporter) domain.samplerRates.set(samplerId, rate);
        } else domain.defaultRate = rate;
      }
      continue;
    }
    if (row < 0) continue; // no addresses: nothing M1 can use
    if (rate <= 0) rate = (samplerId >= 0 ? domain.samplerRates.get(samplerId) : undefined) ?? domain.defaultRate;
    if (!(rate >= 1)) rate = 1;
    const bytes = st[Slot.Bytes]!, packets = st[Slot.Packets]!;
    const byteCount = bytes >= 0 ? bytes : st[Slot.BytesTotal]! >= 0 ? st[Slot.BytesTotal]! : 0;
    const packetCount = packets >= 0 ? packets : st[Slot.PacketsTotal]! >= 0 ? st[Slot.PacketsTotal]! : 0;
    b.bytes[row] = Math.round(byteCount * rate);
    b.packets[row] = Math.round(packetCount * rate);
    b.samplingRate[row] = Math.round(rate);
    // Templates often carry an ICMP field on every flow (zero for TCP/UDP): it means something only for ICMP.
    const proto = b.proto[row];
    if (proto === 1 || proto === 58) {
      const icmp = st[Slot.Icmp]!, icmpType = st[Slot.IcmpType]!;
      if (icmp >= 0) b.dstPort[row] = icmp & 0xffff;
      else if (icmpType >= 0) b.dstPort[row] = (icmpType << 8) | Math.max(st[Slot.IcmpCode]!, 0);
    }
    let startAbs = st[Slot.StartAbs]!, endAbs = st[Slot.EndAbs]!;
    if (startAbs < 0 && st[Slot.StartUp]! >= 0) startAbs = fromUptime(st[Slot.StartUp]!, clock, domain);
    if (endAbs < 0 && st[Slot.EndUp]! >= 0) endAbs = fromUptime(st[Slot.EndUp]!, clock, domain);
    b.startMs[row] = startAbs >= 0 ? startAbs : endAbs >= 0 ? endAbs : clock.exportMs;
    b.endMs[row] = endAbs >= 0 ? endAbs : b.startMs[row]!;
    flows += 1;
  }
  exporter.records += flows;
  return { flows, records };
}

/** The general path: one field of a record with variable-length fields, or of an options template. */
function readField(buf: Buffer, p: number, len: number, target: Target, b: FlowBatch, row: number, st: Float64Array): void {
  switch (target) {
    case Target.Bytes: st[Slot.Bytes] = readUint(buf, p, len); break;
    case Target.Packets: st[Slot.Packets] = readUint(buf, p, len); break;
    case Target.BytesTotal: st[Slot.BytesTotal] = readUint(buf, p, len); break;
    case Target.PacketsTotal: st[Slot.PacketsTotal] = readUint(buf, p, len); break;
    case Target.Proto: if (row >= 0) b.proto[row] = buf[p + len - 1]!; break;
    case Target.TcpFlags: if (row >= 0) b.tcpFlags[row] = buf[p + len - 1]!; break;
    case Target.SrcPort: if (row >= 0) b.srcPort[row] = readUint(buf, p, len); break;
    case Target.DstPort: if (row >= 0) b.dstPort[row] = readUint(buf, p, len); break;
    case Target.SrcV4: if (row >= 0) { b.family[row] = 4; FlowBatch.copyAddress(buf, p, b.src, row, 4); } break;
    case Target.DstV4: if (row >= 0) { b.family[row] = 4; FlowBatch.copyAddress(buf, p, b.dst, row, 4); } break;
    case Target.SrcV6: if (row >= 0) { b.family[row] = 6; FlowBatch.copyAddress(buf, p, b.src, row, 16); } break;
    case Target.DstV6: if (row >= 0) { b.family[row] = 6; FlowBatch.copyAddress(buf, p, b.dst, row, 16); } break;
    case Target.StartUptime: st[Slot.StartUp] = readUint(buf, p, len); break;
    case Target.EndUptime: st[Slot.EndUp] = readUint(buf, p, len); break;
    case Target.StartSec: st[Slot.StartAbs] = readUint(buf, p, len) * 1000; break;
    case Target.EndSec: st[Slot.EndAbs] = readUint(buf, p, len) * 1000; break;
    case Target.StartMs: st[Slot.StartAbs] = readUint(buf, p, len); break;
    case Target.EndMs: st[Slot.EndAbs] = readUint(buf, p, len); break;
    case Target.StartNtpUs: case Target.StartNtpNs: st[Slot.StartAbs] = ntpMs(buf, p); break;
    case Target.EndNtpUs: case Target.EndNtpNs: st[Slot.EndAbs] = ntpMs(buf, p); break;
    case Target.SamplerId: st[Slot.SamplerId] = readUint(buf, p, len); break;
    case Target.SamplingInterval: st[Slot.SamplingInterval] = readUint(buf, p, len); break;
    case Target.PacketInterval: st[Slot.PacketInterval] = readUint(buf, p, len); break;
    case Target.PacketSpace: st[Slot.PacketSpace] = readUint(buf, p, len); break;
    case Target.IcmpTypeCode: st[Slot.Icmp] = readUint(buf, p, len); break;
    case Target.IcmpType: st[Slot.IcmpType] = buf[p + len - 1]!; break;
    case Target.IcmpCode: st[Slot.IcmpCode] = buf[p + len - 1]!; break;
    case Target.SystemInitMs: st[Slot.SystemInitMs] = readUint(buf, p, len); break;
  }
}

/** v9: relative to the header's sysUptime; IPFIX: relative to systemInitTimeMilliseconds if announced. */
function fromUptime(value: number, clock: Clock, domain: Domain): number {
  if (clock.uptimeMs >= 0) return clock.exportMs - ((clock.uptimeMs - value) | 0);
  return domain.systemInitMs > 0 ? domain.systemInitMs + value : -1;
}

function hold(domain: Domain, exporter: Exporter, templateId: number, data: Buffer, receivedMs: number, clock: Clock): void {
  if (exporter.holdMs <= 0 || domain.held.length >= LIMITS.heldSetsPerExporter || domain.heldBytes + data.length > LIMITS.heldBytesPerExporter) {
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
    if (h.templateId !== template.id) { keep.push(h); continue; }
    domain.heldBytes -= h.data.length;
    if (receivedMs - h.receivedMs > exporter.holdMs) { exporter.error('no-template'); continue; }
    decodeDataSet(h.data, 0, h.data.length, template, domain, exporter, out, { exportMs: h.header.unixMs, uptimeMs: h.header.uptimeMs });
  }
  domain.held = keep;
}

/** Drops held data whose template never came; also called by the receiver's periodic sweep. */
export function expireHeld(domain: Domain, exporter: Exporter, nowMs: number): void {
  if (domain.held.length === 0) return;
  const keep = [];
  for (const h of domain.held) {
    if (nowMs - h.receivedMs > exporter.holdMs) { domain.heldBytes -= h.data.length; exporter.error('no-template'); } else keep.push(h);
  }
  domain.held = keep;
}
