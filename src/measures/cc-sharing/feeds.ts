/**
 * The list as flat feeds: CSV, JSON, and a MISP feed (manifest.json, one
 * event, hashes.csv) that a MISP instance adds as a "MISP Feed" source. They
 * carry what is shared and valid now: a revoked or expired entry simply
 * leaves them (the MISP event's timestamp moves, so MISP re-fetches).
 */
import { createHash } from 'node:crypto';
import type { Entry } from './entries.js';
import { PROTOCOL_NAMES, uuidFromName } from './stix.js';

const protocolName = (p: number) => PROTOCOL_NAMES[p] ?? String(p);

function csvField(v: string | number): string {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvFeed(entries: readonly Entry[]): string {
  const header = 'address,port,protocol,first_detected,last_detected,valid_until,confidence';
  const rows = entries.map((e) =>
    [e.address, e.port, protocolName(e.proto), e.firstDetected, e.lastDetected, e.validUntil, e.confidence].map(csvField).join(','),
  );
  return [header, ...rows].join('\r\n') + '\r\n';
}

export function jsonFeed(entries: readonly Entry[]): Array<Record<string, string | number>> {
  return entries.map((e) => ({
    address: e.address,
    port: e.port,
    protocol: protocolName(e.proto),
    first_detected: e.firstDetected,
    last_detected: e.lastDetected,
    valid_until: e.validUntil,
    confidence: e.confidence,
  }));
}

export interface MispFeed {
  manifest: Record<string, unknown>;
  eventUuid: string;
  event: { Event: Record<string, unknown> };
  hashesCsv: string;
}

const epoch = (iso: string) => String(Math.floor(Date.parse(iso) / 1000));

/** One event holding every current entry as an `ip-dst|port` attribute. */
export function mispFeed(entries: readonly Entry[], organisation: string, now: Date): MispFeed {
  const eventUuid = uuidFromName('mamori-misp-event', organisation);
  const orgc = { name: organisation, uuid: uuidFromName('mamori-misp-org', organisation) };
  // The event changes when its content does: the newest change of any current entry.
  const changed = entries.reduce(
    (t, e) => (e.stateChangedAt > t ? e.stateChangedAt : t),
    entries.reduce((t, e) => (e.lastDetected > t ? e.lastDetected : t), '1970-01-01T00:00:00.000Z'),
  );
  const timestamp = entries.length > 0 ? epoch(changed) : epoch(now.toISOString());
  const info = `C&C servers detected by ${organisation} (IP address and port only)`;
  const head = { info, date: now.toISOString().slice(0, 10), timestamp, published: true, analysis: '2', threat_level_id: '2' };
  const attributes = entries.map((e) => ({
    uuid: uuidFromName('mamori-misp-attribute', e.id),
    type: 'ip-dst|port',
    category: 'Network activity',
    to_ids: true,
    value: `${e.address}|${e.port}`,
    timestamp: epoch(e.lastDetected > e.stateChangedAt ? e.lastDetected : e.stateChangedAt),
    first_seen: e.firstDetected,
    last_seen: e.lastDetected,
    comment: `${protocolName(e.proto)}; valid until ${e.validUntil}; confidence ${e.confidence}`,
    distribution: '5',
  }));
  const event = { Event: { uuid: eventUuid, ...head, distribution: '0', Orgc: orgc, Attribute: attributes } };
  const manifest = { [eventUuid]: { ...head, Orgc: orgc, Tag: [] } };
  // MISP's feed correlation: the MD5 of each part of every attribute value, with the event uuid.
  const md5 = (v: string) => createHash('md5').update(v).digest('hex');
  const hashesCsv = attributes.flatMap((a) => a.value.split('|').map((part) => `${md5(part)},${eventUuid}\n`)).join('');
  return { manifest, eventUuid, event, hashesCsv };
}
