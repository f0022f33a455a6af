/**
 * C&C domain lists for M3's `cc` policy zone: read strictly (plain lists of
 * names with `#`/`;` comments, hosts-file lines such as `0.0.0.0 c2.example`,
 * internationalised names turned into their ASCII form), every line that is
 * not a usable name skipped with its number and reason, duplicates and names
 * covered by a listed parent merged — and the zone built from the entries
 * valid at a time.
 */
import { domainToASCII } from 'node:url';
import { canonicalName, RpzNameError, RpzZone, type BlockAction } from '../../dns/rpz.js';
import { MamoriError } from '../../core/errors.js';

export type ListFormat = 'domains' | 'hosts';

export interface ParsedDomains {
  names: string[];
  skipped: Array<{ line: number; reason: string }>;
  duplicates: number;
}

export class BlocklistError extends MamoriError {
  static override readonly code = 'blocklist';
  static override readonly status = 400;
}

const MAX_LINE = 1024;
/** Names no C&C list may take down with it. */
const NEVER = new Set(['localhost', 'local', 'arpa', 'in-addr.arpa', 'ip6.arpa', 'example', 'invalid', 'test']);

/** One name as a list or an analyst gives it: its canonical ASCII form, or why it cannot be blocked. */
export function blockableName(candidate: string): { name: string } | { reason: string } {
  const ascii = domainToASCII(candidate.replace(/\.$/, ''));
  if (!ascii) return { reason: `"${candidate}" is not a domain name` };
  let name: string;
  try {
    name = canonicalName(ascii);
  } catch (err) {
    if (err instanceof RpzNameError) return { reason: err.message };
    throw err;
  }
  if (name.startsWith('*.')) name = name.slice(2);
  if (!name.includes('.') || NEVER.has(name))
    return { reason: `"${name}" is a top-level or reserved name: blocking it would block far more than a C&C server` };
  return { name };
}

export function parseDomainList(text: string, format: ListFormat): ParsedDomains {
  if (text.includes('\u0000')) throw new BlocklistError('not a text file');
  const names = new Set<string>();
  const skipped: ParsedDomains['skipped'] = [];
  let duplicates = 0;
  let lines = 0;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (!line) return;
    lines++;
    if (raw.length > MAX_LINE) {
      skipped.push({ line: i + 1, reason: `longer than ${MAX_LINE} characters` });
      return;
    }
    const fields = line.split(/\s+/);
    let candidate: string | undefined;
    if (format === 'hosts') {
      if (fields.length < 2 || !/^(0\.0\.0\.0|127\.0\.0\.1|::1?|::)$/.test(fields[0]!)) {
        skipped.push({ line: i + 1, reason: 'not a hosts line "0.0.0.0 name"' });
        return;
      }
      candidate = fields[1];
    } else {
      if (fields.length !== 1) {
        skipped.push({ line: i + 1, reason: 'more than one field: expected one domain name a line' });
        return;
      }
      candidate = fields[0];
    }
    const checked = blockableName(candidate!);
    if ('reason' in checked) {
      skipped.push({ line: i + 1, reason: checked.reason });
      return;
    }
    const name = checked.name;
    if (names.has(name)) {
      duplicates++;
      return;
    }
    names.add(name);
  });
  if (lines > 0 && names.size === 0) throw new BlocklistError(`no usable name in ${lines} lines: is this a ${format} list?`);
  // A name under a listed parent is covered by the parent's wildcard.
  const covered = [...names].filter((n) => {
    const parts = n.split('.');
    return parts.slice(1).some((_, k) => names.has(parts.slice(k + 1).join('.')));
  });
  for (const n of covered) {
    names.delete(n);
    duplicates++;
  }
  return { names: [...names].sort(), skipped, duplicates };
}

export interface BlockEntry {
  name: string;
  source: string;
  validFrom: string;
  validUntil: string;
}

/** The `cc` zone as of `at`: every entry valid then, from whatever source. */
export function buildCcZone(origin: string, entries: readonly BlockEntry[], at: Date, action: BlockAction = { kind: 'nxdomain' }): RpzZone {
  const t = at.toISOString();
  const zone = new RpzZone(origin);
  for (const e of entries) if (e.validFrom <= t && t < e.validUntil) zone.block(e.name, action);
  zone.bump();
  return zone;
}
