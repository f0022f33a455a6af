/**
 * One decoder for every packet that reaches the collector as bytes rather
 * than fields: sFlow raw packet headers and the IPFIX / NetFlow v9 packet
 * sections (dataLinkFrameSection, IE 315; layer2packetSectionData, IE 104;
 * ipHeaderPacketSection, IE 313).
 *
 * It walks Ethernet, 802.1Q / 802.1ad / QinQ tags, MPLS label stacks (explicit
 * null, a pseudowire control word, Ethernet over MPLS with or without one),
 * IPv4, IPv6 and its extension headers (the SRv6 segment routing header
 * included) down to the transport ports, and follows tunnels to the packet
 * they carry: IP in IP (4in6 as DS-Lite and MAP-E use it, 6in4, SRv6
 * encapsulation), GRE, VXLAN (UDP 4789) and Ethernet over IPv6 (SRv6 L2).
 *
 * Tunnels are followed because M1 looks for contacts between subscribers and
 * C&C servers: the outer addresses of a tunnel are the tunnel's endpoints
 * (an AFTR, a VTEP, an SRv6 SID), never the server a subscriber talked to.
 * When the inner packet is cut off by the sampled length or is not IP, the
 * outer packet is reported instead: the IP header reached is still a flow.
 * Bytes are always those of the outermost IP packet, as the router carried
 * it (what octetDeltaCount counts: IP headers and payload).
 *
 * Reading only: the decoder allocates nothing, keeps offsets into the buffer
 * and writes its result into one reused object. Every loop is bounded, and no
 * byte outside [start, end) is read.
 */
import type { DropReason } from './exporters.js';

/** Where a packet section starts. */
export const enum FrameStart {
  Ethernet,
  Ip,
  Mpls,
  Ipv4,
  Ipv6,
}

/** Why no IP header could be reached: each maps to a drop reason (FRAME_DROP). */
export const enum FrameStatus {
  Ok,
  Truncated,
  NotIp,
  Malformed,
  LinkType,
}

/** The drop reason counted for a status other than Ok. */
export function frameDropReason(status: FrameStatus): DropReason {
  return status === FrameStatus.Truncated
    ? 'frame-truncated'
    : status === FrameStatus.NotIp
      ? 'frame-not-ip'
      : status === FrameStatus.LinkType
        ? 'frame-link-type'
        : 'frame-malformed';
}

/** The packet found, as offsets into the buffer that was decoded. */
export interface FrameResult {
  family: 4 | 6;
  /** Offsets of the source and destination addresses (4 or 16 bytes). */
  src: number;
  dst: number;
  /** Offset of the outermost IP header, and that packet's length (IP header and payload). */
  ipOffset: number;
  ipLength: number;
  proto: number;
  srcPort: number;
  dstPort: number;
  tcpFlags: number;
}

/** The one result object (the decoder runs on one thread and the caller copies what it needs at once). */
export const frame: FrameResult = { family: 4, src: 0, dst: 0, ipOffset: 0, ipLength: 0, proto: 0, srcPort: 0, dstPort: 0, tcpFlags: 0 };

const enum Layer {
  Ethernet,
  Mpls,
  Ipv4,
  Ipv6,
  Ip,
  Gre,
  Done,
}

const MAX_TAGS = 4;
const MAX_LABELS = 16;
const MAX_EXTENSIONS = 8;
/** Headers walked in all (each tunnel, tag run or label stack is one): bounds the walk whatever the bytes say. */
const MAX_LAYERS = 12;

const VXLAN_PORT = 4789;

/** Decodes the packet in buf[start, end). On Ok, `frame` holds the innermost IP packet reached. */
export function decodeFrame(buf: Buffer, start: number, end: number, kind: FrameStart): FrameStatus {
  if (end > buf.length) end = buf.length;
  const r = frame;
  let found = false;
  let p = start;
  let layer: Layer =
    kind === FrameStart.Ethernet
      ? Layer.Ethernet
      : kind === FrameStart.Mpls
        ? Layer.Mpls
        : kind === FrameStart.Ipv4
          ? Layer.Ipv4
          : kind === FrameStart.Ipv6
            ? Layer.Ipv6
            : Layer.Ip;

  for (let step = 0; step < MAX_LAYERS; step++) {
    switch (layer) {
      case Layer.Ethernet: {
        if (p + 14 > end) return fail(found, FrameStatus.Truncated);
        let etherType = (buf[p + 12]! << 8) | buf[p + 13]!;
        p += 14;
        for (let tags = 0; etherType === 0x8100 || etherType === 0x88a8 || etherType === 0x9100; tags++) {
          if (tags === MAX_TAGS) return fail(found, FrameStatus.Malformed);
          if (p + 4 > end) return fail(found, FrameStatus.Truncated);
          etherType = (buf[p + 2]! << 8) | buf[p + 3]!;
          p += 4;
        }
        layer = etherLayer(etherType);
        if (layer === Layer.Done) return fail(found, FrameStatus.NotIp);
        break;
      }
      case Layer.Mpls: {
        let label: number;
        for (let labels = 0; ; labels++) {
          if (labels === MAX_LABELS) return fail(found, FrameStatus.Malformed);
          if (p + 4 > end) return fail(found, FrameStatus.Truncated);
          label = (buf[p]! << 12) | (buf[p + 1]! << 4) | (buf[p + 2]! >> 4);
          const bottom = buf[p + 2]! & 1;
          p += 4;
          if (bottom) break;
        }
        if (p >= end) return fail(found, FrameStatus.Truncated);
        // What follows the stack is not labelled: explicit null says it, else the first nibble and a plausible header.
        // (an Ethernet frame carried without a control word starts with a MAC address, whose first nibble is anything:
        // an IPv4 header must then check out, and an IPv6 one is taken unless the bytes read as Ethernet carrying IP).
        const nibble = buf[p]! >> 4;
        if (label === 0) layer = Layer.Ipv4;
        else if (label === 2) layer = Layer.Ipv6;
        else if (nibble === 4 && plausibleIpv4(buf, p, end) && checksumOk(buf, p)) layer = Layer.Ipv4;
        else if (nibble === 6 && !ethernetCarryingIp(buf, p, end)) layer = Layer.Ipv6;
        else if (nibble === 0 && plausibleEthernet(buf, p + 4, end)) {
          // control word (RFC 4385)
          p += 4;
          layer = Layer.Ethernet;
        } else if (nibble === 1)
          return fail(found, FrameStatus.NotIp); // PW associated channel: OAM, not traffic
        else if (plausibleEthernet(buf, p, end))
          layer = Layer.Ethernet; // Ethernet over MPLS without a control word
        else if (nibble === 4)
          layer = Layer.Ipv4; // an IPv4 header cut short: counted as such below
        else return fail(found, p + 18 > end ? FrameStatus.Truncated : FrameStatus.NotIp);
        break;
      }
      case Layer.Ip: {
        if (p >= end) return fail(found, FrameStatus.Truncated);
        const v = buf[p]! >> 4;
        if (v === 4) layer = Layer.Ipv4;
        else if (v === 6) layer = Layer.Ipv6;
        else return fail(found, FrameStatus.Malformed);
        break;
      }
      case Layer.Ipv4: {
        if (p + 20 > end) return fail(found, FrameStatus.Truncated);
        const ihl = (buf[p]! & 0x0f) * 4;
        if (buf[p]! >> 4 !== 4 || ihl < 20) return fail(found, FrameStatus.Malformed);
        if (!found) {
          r.ipOffset = p;
          r.ipLength = (buf[p + 2]! << 8) | buf[p + 3]!;
          found = true;
        }
        r.family = 4;
        r.src = p + 12;
        r.dst = p + 16;
        r.srcPort = 0;
        r.dstPort = 0;
        r.tcpFlags = 0;
        const proto = buf[p + 9]!;
        r.proto = proto;
        // A fragment other than the first carries no transport header.
        if ((((buf[p + 6]! << 8) | buf[p + 7]!) & 0x1fff) !== 0) return FrameStatus.Ok;
        p += ihl;
        layer = transport(buf, p, end, proto);
        if (layer === Layer.Done) return FrameStatus.Ok;
        p = nextOffset;
        break;
      }
      case Layer.Ipv6: {
        if (p + 40 > end) return fail(found, FrameStatus.Truncated);
        if (buf[p]! >> 4 !== 6) return fail(found, FrameStatus.Malformed);
        if (!found) {
          r.ipOffset = p;
          r.ipLength = ((buf[p + 4]! << 8) | buf[p + 5]!) + 40;
          found = true;
        }
        r.family = 6;
        r.src = p + 8;
        r.dst = p + 24;
        r.srcPort = 0;
        r.dstPort = 0;
        r.tcpFlags = 0;
        let proto = buf[p + 6]!;
        p += 40;
        // Extension headers, the SRv6 routing header (43, type 4) among them, up to the upper layer.
        for (let ext = 0; isExtension(proto); ext++) {
          if (ext === MAX_EXTENSIONS || p + 8 > end) {
            r.proto = proto;
            return FrameStatus.Ok;
          }
          const next = buf[p]!;
          if (proto === 44) {
            // Fragment header: only the first fragment carries the upper-layer header.
            if ((((buf[p + 2]! << 8) | buf[p + 3]!) & 0xfff8) !== 0) {
              r.proto = next;
              return FrameStatus.Ok;
            }
            p += 8;
          } else if (proto === 51)
            p += (buf[p + 1]! + 2) * 4; // AH counts 4-byte words
          else p += (buf[p + 1]! + 1) * 8;
          proto = next;
        }
        r.proto = proto;
        layer = transport(buf, p, end, proto);
        if (layer === Layer.Done) return FrameStatus.Ok;
        p = nextOffset;
        break;
      }
      case Layer.Gre: {
        // Reached only from transport(): p is the GRE header, the outer packet is already in `frame`.
        if (p + 4 > end) return FrameStatus.Ok;
        const flags = buf[p]!;
        const protocol = (buf[p + 2]! << 8) | buf[p + 3]!;
        // Version 0 only (version 1 is PPTP's, which carries PPP); checksum, key and sequence fields are optional.
        if ((buf[p + 1]! & 0x07) !== 0 || (flags & 0x40) !== 0) return FrameStatus.Ok;
        p += 4 + (flags & 0x80 ? 4 : 0) + (flags & 0x20 ? 4 : 0) + (flags & 0x10 ? 4 : 0);
        layer = protocol === 0x6558 ? Layer.Ethernet : etherLayer(protocol);
        if (layer === Layer.Done) return FrameStatus.Ok;
        break;
      }
      default:
        return fail(found, FrameStatus.Malformed);
    }
  }
  // Deeper than any real encapsulation: keep what was reached.
  return fail(found, FrameStatus.Malformed);
}

/** A failure below the first IP header loses the packet; one inside a tunnel keeps the outer packet. */
function fail(found: boolean, status: FrameStatus): FrameStatus {
  return found ? FrameStatus.Ok : status;
}

/** Where transport() says the next layer starts. */
let nextOffset = 0;

/**
 * Reads the transport header of the packet just reached into `frame`, and
 * says whether it carries a packet to follow (and sets nextOffset) or not (Done).
 */
function transport(buf: Buffer, p: number, end: number, proto: number): Layer {
  const r = frame;
  switch (proto) {
    case 6:
    case 17:
    case 132:
    case 136: {
      if (p + 4 > end) return Layer.Done;
      r.srcPort = (buf[p]! << 8) | buf[p + 1]!;
      r.dstPort = (buf[p + 2]! << 8) | buf[p + 3]!;
      if (proto === 6) {
        if (p + 14 <= end) r.tcpFlags = buf[p + 13]!;
        return Layer.Done;
      }
      // VXLAN: UDP to 4789 with the I flag set, an 8-byte header, then Ethernet.
      if (proto === 17 && r.dstPort === VXLAN_PORT && p + 16 <= end && (buf[p + 8]! & 0x08) !== 0) {
        nextOffset = p + 16;
        return Layer.Ethernet;
      }
      return Layer.Done;
    }
    case 1:
    case 58:
      // ICMP type and code, in the destination port as NetFlow routers report them.
      if (p + 2 <= end) r.dstPort = (buf[p]! << 8) | buf[p + 1]!;
      return Layer.Done;
    case 4:
      nextOffset = p;
      return Layer.Ipv4;
    case 41:
      nextOffset = p;
      return Layer.Ipv6;
    case 47:
      nextOffset = p;
      return Layer.Gre;
    case 137:
      nextOffset = p;
      return Layer.Mpls;
    case 143:
      nextOffset = p;
      return Layer.Ethernet; // Ethernet in IPv6 (SRv6 End.DX2, RFC 8986)
    default:
      return Layer.Done;
  }
}

function etherLayer(etherType: number): Layer {
  switch (etherType) {
    case 0x0800:
      return Layer.Ipv4;
    case 0x86dd:
      return Layer.Ipv6;
    case 0x8847:
    case 0x8848:
      return Layer.Mpls;
    default:
      return Layer.Done;
  }
}

function isExtension(proto: number): boolean {
  return proto === 0 || proto === 43 || proto === 44 || proto === 60 || proto === 51 || proto === 135 || proto === 139 || proto === 140;
}

/** An IPv4 header at p that is whole and whose lengths agree. */
function plausibleIpv4(buf: Buffer, p: number, end: number): boolean {
  const ihl = (buf[p]! & 0x0f) * 4;
  return ihl >= 20 && p + ihl <= end && ((buf[p + 2]! << 8) | buf[p + 3]!) >= ihl;
}

/** Whether the IPv4 header at p (whole, see plausibleIpv4) has a valid checksum: decides IPv4 against a MAC address. */
function checksumOk(buf: Buffer, p: number): boolean {
  let sum = 0;
  for (let i = p, e = p + (buf[p]! & 0x0f) * 4; i < e; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

/** An Ethernet header at p followed by the IP header its type announces (checked as above). */
function ethernetCarryingIp(buf: Buffer, p: number, end: number): boolean {
  if (!plausibleEthernet(buf, p, end)) return false;
  let q = p + 12;
  let etherType = (buf[q]! << 8) | buf[q + 1]!;
  if (etherType === 0x8100 || etherType === 0x88a8 || etherType === 0x9100) {
    q += 4;
    etherType = (buf[q]! << 8) | buf[q + 1]!;
  }
  q += 2;
  if (etherType === 0x0800) return q < end && buf[q]! >> 4 === 4 && plausibleIpv4(buf, q, end) && checksumOk(buf, q);
  if (etherType === 0x86dd) return q < end && buf[q]! >> 4 === 6;
  return true;
}

/** An Ethernet header at p whose type (after any tags) is one this decoder follows. */
function plausibleEthernet(buf: Buffer, p: number, end: number): boolean {
  if (p + 14 > end) return false;
  let etherType = (buf[p + 12]! << 8) | buf[p + 13]!;
  const tagged = etherType === 0x8100 || etherType === 0x88a8 || etherType === 0x9100;
  if (tagged && p + 18 <= end) etherType = (buf[p + 16]! << 8) | buf[p + 17]!;
  return etherLayer(etherType) !== Layer.Done;
}
