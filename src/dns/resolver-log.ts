/**
 * What the resolvers blocked, from their own logs: BIND's `rpz` category and
 * Unbound's `rpz-log`. A line names the client address, the name asked, the
 * policy zone and the rule that fired. The core reads the files (the
 * `resolver-log-input` capability, for measures that declare the names asked)
 * and hands on only lines of the measure's own zones, minimised to the fields
 * below: the name asked is reduced to the rule. M3 uses a line for two things only —
 * a count per day and listed name (no client), and, for the `cc` zone, one
 * subscriber lookup to tell that subscriber individually — and keeps neither
 * the client address nor the name asked beyond that.
 *
 *   BIND 9.18:  24-Nov-2026 11:00:00.123 rpz: info: client @0x7f5c 127.0.0.2#53211 (evil.example.test): view _default: rpz QNAME NXDOMAIN
 *       rewrite evil.example.test/A/IN via evil.example.test.cc.rpz.isp.test
 *   Unbound:    [1795518000] unbound[123:0] info: rpz: applied [cc.rpz.isp.test] *.evil.example.test. rpz-nxdomain 127.0.0.2@53211
 *       sub.evil.example.test. A IN
 *               (with `rpz-log: yes` and `rpz-log-name: "cc.rpz.isp.test"`; the rule is relative to the zone)
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

export type LogFormat = 'bind' | 'unbound';

export interface BlockedQuery {
  /** When the resolver logged it (the time of the query), or when it was read if the line has no time. */
  at: Date;
  client: string;
  /** The policy zone whose rule fired. */
  zone: string;
  /** The listed name (the trigger without the zone), e.g. `evil.example.test` for `*.evil.example.test`. */
  rule: string;
  action: string;
}

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };
const BIND_LINE =
  /^(?:(\d{2})-(\w{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2})\.(\d{3}) )?.*?client @\S+ ([0-9a-fA-F:.]+)#\d+ \([^)]*\):(?: view \S+:)? rpz (\S+) (\S+) rewrite \S+ via (\S+)$/;
// Unbound names the zone only through rpz-log-name (the generated configuration sets it to the zone).
const UNBOUND_LINE = /^(?:\[(\d+)\] )?.*?rpz: applied \[([^\]]+)\] (\S+) (\S+) ([0-9a-fA-F:.]+)@\d+ /;

/** The rule's name without its zone and wildcard: the listed name, as M3's entries hold it. */
function ruleName(trigger: string, zone: string): string {
  let name = trigger.toLowerCase().replace(/\.$/, '');
  const z = zone.toLowerCase().replace(/\.$/, '');
  if (name.endsWith(`.${z}`)) name = name.slice(0, -(z.length + 1));
  return name.replace(/^\*\./, '');
}

/**
 * One blocked query from a log line, or undefined for any other line. The
 * zone comes from the trigger (BIND) or the bracket (Unbound) and must be one
 * of `zones`, so that a crafted query name cannot pose as a rule.
 */
export function parseBlockedLine(line: string, format: LogFormat, zones: readonly string[], now = new Date()): BlockedQuery | undefined {
  if (line.length > 4096) return undefined;
  if (format === 'bind') {
    const m = BIND_LINE.exec(line);
    if (!m) return undefined;
    const via = m[11]!.toLowerCase().replace(/\.$/, '');
    const zone = zones.find((z) => via.endsWith(`.${z}`));
    if (!zone) return undefined;
    const at = m[1]
      ? new Date(Date.UTC(Number(m[3]), MONTHS[m[2]!] ?? 0, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]), Number(m[7])))
      : now;
    return { at, client: m[8]!, zone, rule: ruleName(via, zone), action: `${m[9]} ${m[10]}`.toLowerCase() };
  }
  const m = UNBOUND_LINE.exec(line);
  if (!m) return undefined;
  const zone = m[2]!.toLowerCase().replace(/\.$/, '');
  if (!zones.includes(zone)) return undefined;
  return { at: m[1] ? new Date(Number(m[1]) * 1000) : now, client: m[5]!, zone, rule: ruleName(m[3]!, zone), action: m[4]!.toLowerCase() };
}

export interface LogCursor {
  inode: string;
  offset: number;
}

/**
 * Reads the whole lines added to a log file since the cursor. A file that was
 * replaced (new inode) or truncated is read from its start. At most `maxBytes`
 * a call, so a huge backlog is read over several calls, never all at once.
 */
export function readNewLines(
  path: string,
  cursor: LogCursor | undefined,
  maxBytes = 4 << 20,
): { lines: string[]; cursor: LogCursor } | undefined {
  let st;
  try {
    st = statSync(path);
  } catch {
    return undefined;
  }
  const inode = String(st.ino);
  let offset = cursor && cursor.inode === inode && cursor.offset <= st.size ? cursor.offset : 0;
  if (offset >= st.size) return { lines: [], cursor: { inode, offset } };
  const length = Math.min(st.size - offset, maxBytes);
  const buf = Buffer.allocUnsafe(length);
  const fd = openSync(path, 'r');
  let read: number;
  try {
    read = readSync(fd, buf, 0, length, offset);
  } finally {
    closeSync(fd);
  }
  const text = buf.subarray(0, read).toString('utf8');
  const lastNewline = text.lastIndexOf('\n');
  // Only whole lines: the one being written is read next time (unless a single line is longer than maxBytes).
  if (lastNewline < 0) return { lines: [], cursor: { inode, offset: read === maxBytes ? offset + read : offset } };
  offset += Buffer.byteLength(text.slice(0, lastNewline + 1));
  return { lines: text.slice(0, lastNewline).split('\n'), cursor: { inode, offset } };
}

/** A resolver log the configuration names. */
export interface ResolverLog {
  /** The name the cursor is kept under. */
  name: string;
  path: string;
  format: LogFormat;
}

/** What the `resolver-log-input` capability grants. */
export interface ResolverLogInput {
  /**
   * The queries a rule of `zones` blocked, from the lines added to `log` since `cursor`, and the cursor after them;
   * undefined while the file does not exist. Every other line is dropped here, unread by the measure.
   */
  readBlocked(
    log: ResolverLog,
    zones: readonly string[],
    cursor: LogCursor | undefined,
  ): { blocked: BlockedQuery[]; cursor: LogCursor } | undefined;
}

export const RESOLVER_LOG_INPUT: ResolverLogInput = {
  readBlocked(log, zones, cursor) {
    const got = readNewLines(log.path, cursor);
    if (!got) return undefined;
    const blocked = got.lines.map((l) => parseBlockedLine(l, log.format, zones)).filter((q): q is BlockedQuery => q !== undefined);
    return { blocked, cursor: got.cursor };
  },
};
