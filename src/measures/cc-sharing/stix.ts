/**
 * What M2's entries look like in STIX 2.1: the ISP as an `identity`, each
 * entry as an `indicator` whose pattern names the destination address, port
 * and transport protocol — and nothing else leaves (see FIELDS, checked by the
 * field-leak test for every format).
 */
import { createHash } from 'node:crypto';
import { stringLiteral } from '../../core/stix/pattern.js';

/** A name-based UUID (RFC 9562 §5.5, version 5 layout over SHA-1): stable ids across restarts. */
export function uuidFromName(namespace: string, name: string): string {
  const h = createHash('sha1').update(`${namespace}\u0000${name}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export const PROTOCOL_NAMES: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

/** The shareable content of an entry: exactly the fields the 4th summary allows, and dates. */
export interface ShareableEntry {
  id: string;
  address: string;
  port: number;
  proto: number;
  firstDetected: string;
  lastDetected: string;
  validUntil: string;
  /** 0–100. */
  confidence: number;
}

export interface StixIdentity {
  type: 'identity';
  spec_version: '2.1';
  id: string;
  created: string;
  modified: string;
  name: string;
  identity_class: 'organization';
}

export function identityOf(organisation: string, created: string): StixIdentity {
  return {
    type: 'identity',
    spec_version: '2.1',
    id: `identity--${uuidFromName('mamori-identity', organisation)}`,
    created,
    modified: created,
    name: organisation,
    identity_class: 'organization',
  };
}

export function patternOf(e: Pick<ShareableEntry, 'address' | 'port' | 'proto'>): string {
  const v6 = e.address.includes(':');
  const parts = [
    `network-traffic:dst_ref.type = '${v6 ? 'ipv6-addr' : 'ipv4-addr'}'`,
    `network-traffic:dst_ref.value = ${stringLiteral(e.address)}`,
    `network-traffic:dst_port = ${e.port}`,
  ];
  const proto = PROTOCOL_NAMES[e.proto];
  if (proto) parts.push(`network-traffic:protocols[*] = '${proto}'`);
  return `[${parts.join(' AND ')}]`;
}

/** STIX timestamps: RFC 3339 in UTC with millisecond precision. */
export function stixTime(iso: string): string {
  return new Date(iso).toISOString();
}

export function indicatorOf(
  e: ShareableEntry,
  identityId: string,
  created: string,
  modified: string,
  revoked: boolean,
): Record<string, unknown> {
  return {
    type: 'indicator',
    spec_version: '2.1',
    id: e.id,
    created: stixTime(created),
    modified: stixTime(modified),
    created_by_ref: identityId,
    indicator_types: ['malicious-activity'],
    pattern: patternOf(e),
    pattern_type: 'stix',
    pattern_version: '2.1',
    valid_from: stixTime(e.firstDetected),
    valid_until: stixTime(e.validUntil),
    confidence: e.confidence,
    x_mamori_last_detected: stixTime(e.lastDetected),
    ...(revoked ? { revoked: true } : {}),
  };
}

/** Every property an exported object may carry, per format: the field-leak test holds every export to this. */
export const FIELDS = {
  indicator: [
    'type',
    'spec_version',
    'id',
    'created',
    'modified',
    'created_by_ref',
    'indicator_types',
    'pattern',
    'pattern_type',
    'pattern_version',
    'valid_from',
    'valid_until',
    'confidence',
    'x_mamori_last_detected',
    'revoked',
  ],
  identity: ['type', 'spec_version', 'id', 'created', 'modified', 'name', 'identity_class'],
  csv: ['address', 'port', 'protocol', 'first_detected', 'last_detected', 'valid_until', 'confidence'],
  mispEvent: ['uuid', 'info', 'date', 'timestamp', 'published', 'analysis', 'threat_level_id', 'distribution', 'Orgc', 'Attribute'],
  mispAttribute: ['uuid', 'type', 'category', 'to_ids', 'value', 'timestamp', 'first_seen', 'last_seen', 'comment', 'distribution'],
} as const;
