/**
 * Zeek conn.log reader, for M1's evaluation on real traffic: one connection a
 * line with both directions' packet and IP-byte counts, in Zeek's tab-separated
 * format (header `#fields`) or its JSON format (one object a line). Labelled
 * logs (Stratosphere's `label` and `detailedlabel` columns, sometimes joined
 * to the last field by runs of spaces) are read too. Each connection becomes
 * the one or two unidirectional flows a router would export: originator to
 * responder, and responder to originator when the responder sent anything,
 * with TCP flags from Zeek's history string.
 */
import { MamoriError } from '../core/errors.js';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

export interface ZeekConn {
  ts: number;
  origH: string;
  origP: number;
  respH: string;
  respP: number;
  proto: 6 | 17 | 1 | 58;
  duration: number;
  origPkts: number;
  origIpBytes: number;
  respPkts: number;
  respIpBytes: number;
  connState: string;
  history: string;
  /** "Malicious", "Benign", "Background"… when the log is labelled. */
  label?: string;
  detailedLabel?: string;
}

export interface ZeekLog {
  file: string;
  conns: ZeekConn[];
  skipped: Array<{ line: number; reason: string }>;
  labelled: boolean;
}

/** A Zeek conn log that cannot be read (missing columns, not a conn log). */
export class ZeekLogError extends MamoriError {
  static override readonly code = 'zeek-log';
  static override readonly status = 400;
}

const PROTOS: Record<string, ZeekConn['proto']> = { tcp: 6, udp: 17, icmp: 1 };
const REQUIRED = ['ts', 'id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p', 'proto'];

function count(v: unknown): number {
  if (v === undefined || v === null || v === '-' || v === '(empty)' || v === '') return 0;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : 0;
}

function conn(get: (k: string) => unknown): ZeekConn | string {
  const ts = Number(get('ts'));
  if (!Number.isFinite(ts)) return `ts "${String(get('ts'))}" is not a time`;
  const origH = String(get('id.orig_h'));
  const respH = String(get('id.resp_h'));
  if (isIP(origH) === 0 || isIP(respH) === 0) return 'an address is not an IP address';
  const p = PROTOS[String(get('proto'))];
  if (p === undefined) return `protocol "${String(get('proto'))}" is not tcp, udp or icmp`;
  const proto: ZeekConn['proto'] = p === 1 && isIP(origH) === 6 ? 58 : p;
  const origP = count(get('id.orig_p'));
  const respP = count(get('id.resp_p'));
  if (origP > 65535 || respP > 65535) return 'a port is out of range';
  const origPktsRaw = get('orig_pkts');
  const label = get('label');
  const detailed = get('detailedlabel');
  return {
    ts,
    origH,
    origP,
    respH,
    respP,
    proto,
    duration: count(get('duration')),
    // A connection Zeek logged at all had at least one packet from somewhere; unset counts mean one.
    origPkts: origPktsRaw === undefined || origPktsRaw === '-' ? 1 : count(origPktsRaw),
    origIpBytes: count(get('orig_ip_bytes')),
    respPkts: count(get('resp_pkts')),
    respIpBytes: count(get('resp_ip_bytes')),
    connState: String(get('conn_state') ?? '-'),
    history: String(get('history') ?? '-'),
    ...(typeof label === 'string' && label !== '-' && label !== '(empty)' ? { label } : {}),
    ...(typeof detailed === 'string' && detailed !== '-' && detailed !== '(empty)' ? { detailedLabel: detailed } : {}),
  };
}

/** Parses a conn.log (TSV with `#fields`, or JSON lines). Lines it cannot use are counted with their reason. */
export function parseZeekConn(text: string, file = 'conn.log'): ZeekLog {
  const conns: ZeekConn[] = [];
  const skipped: ZeekLog['skipped'] = [];
  let fields: string[] | undefined;
  let sawJson = false;
  // Stratosphere's labelled logs join "tunnel_parents label detailedlabel" with runs of spaces.
  const split = (line: string) => line.split('\t').flatMap((f) => f.split(/ {2,}/));
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      if (line.startsWith('#fields'))
        fields = split(line)
          .slice(1)
          .map((f) => f.trim());
      continue;
    }
    let c: ZeekConn | string;
    if (line.startsWith('{')) {
      sawJson = true;
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        skipped.push({ line: i + 1, reason: 'not JSON' });
        continue;
      }
      c = conn((k) => o[k]);
    } else {
      if (!fields) throw new ZeekLogError(`${file} line ${i + 1}: data before the "#fields" header: this is not a Zeek conn.log`);
      const v = split(line);
      const at = new Map(fields.map((f, k) => [f, v[k]]));
      c = conn((k) => at.get(k));
    }
    if (typeof c === 'string') skipped.push({ line: i + 1, reason: c });
    else conns.push(c);
  }
  if (fields && !REQUIRED.every((f) => fields!.includes(f))) {
    const missing = REQUIRED.filter((f) => !fields!.includes(f)).join(', ');
    throw new ZeekLogError(`${file}: the "#fields" header lacks ${missing}: this is not a conn.log`);
  }
  if (!fields && !sawJson) throw new ZeekLogError(`${file}: no "#fields" header and no JSON lines: this is not a Zeek conn.log`);
  if (conns.length === 0) {
    const first = skipped[0] ? `; first: line ${skipped[0].line}: ${skipped[0].reason}` : '';
    throw new ZeekLogError(`${file}: no usable connection (${skipped.length} lines skipped${first})`);
  }
  return { file, conns, skipped, labelled: conns.some((c) => c.label !== undefined) };
}

export function readZeekConn(path: string): ZeekLog {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ZeekLogError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseZeekConn(text, path);
}

/**
 * TCP flags a router would report for one direction, from Zeek's history
 * (upper case: originator, lower case: responder): S SYN, H SYN+ACK, A ACK,
 * D data (PSH+ACK), F FIN, R RST. A side whose only flag is SYN never got
 * an answer: that is what M1 counts as a failed attempt.
 */
export function historyFlags(history: string, side: 'orig' | 'resp', packets: number): number {
  if (history === '-' || history === '') return packets > 0 ? 0x10 : 0;
  let f = 0;
  for (const ch of history) {
    const mine = side === 'orig' ? ch >= 'A' && ch <= 'Z' : ch >= 'a' && ch <= 'z';
    if (!mine) continue;
    switch (ch.toUpperCase()) {
      case 'S':
        f |= 0x02;
        break;
      case 'H':
        f |= 0x12;
        break;
      case 'A':
        f |= 0x10;
        break;
      case 'D':
        f |= 0x18;
        break;
      case 'F':
        f |= 0x11;
        break;
      case 'R':
        f |= 0x04;
        break;
      default:
        break;
    }
  }
  // Packets after the handshake carry ACK even when Zeek's history did not name them.
  if (f & 0x02 && packets > 1 && f & ~0x02) f |= 0x10;
  if (f === 0 && packets > 0) f = 0x10;
  return f;
}

/** Addresses a router at the ISP's edge never sees leaving a home: private, link-local, multicast, broadcast. */
export function isLocalOnly(address: string): boolean {
  if (isIP(address) === 4) {
    const [a, b] = address.split('.').map(Number) as [number, number];
    return (
      a === 10 ||
      a === 127 ||
      a === 0 ||
      (a === 172 && b >= 16 && b < 32) ||
      (a === 192 && b === 168) ||
      (a === 169 && b === 254) ||
      a >= 224
    );
  }
  const first = parseInt(address.split(':')[0] || '0', 16);
  return address === '::1' || address === '::' || (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00;
}
