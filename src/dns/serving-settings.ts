/**
 * Validators for DNS names and addresses in measures' settings, and how the one RPZ primary is
 * configured from the `rpz` section of the configuration (src/core/config.ts).
 */
import { z } from 'zod';
import { ipVersion } from '../core/config.js';
import type { Config } from '../core/config.js';
import type { PrimaryConfig } from './primary.js';

export const ipAddress = z.string().refine((h) => ipVersion(h) !== 0, 'an IPv4 or IPv6 address');
export const zoneName = z
  .string()
  .regex(
    /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    'a zone name such as "cc.rpz.example.jp" (lower case, no trailing dot)',
  );

/** A zone's SOA refresh, seconds: how often secondaries check it without a NOTIFY (a setting of the measure serving it). */
export function zoneRefresh(defaultSeconds: number) {
  return z.number().int().min(30).max(86_400).default(defaultSeconds);
}

export type ServingSettings = Config['rpz'];

export function primaryConfig(s: ServingSettings): PrimaryConfig {
  return {
    host: s.primary.host,
    port: s.primary.port,
    transferTo: s.transferTo,
    notify: s.notify,
    tsig: s.tsig.map((k) => ({ name: k.name, secret: Buffer.from(k.secret, 'base64') })),
    wholeZoneOnClientIpRemoval: s.wholeZoneOnClientIpRemoval,
  };
}

/** host:port as a resolver's configuration writes it (IPv6 in brackets). */
export function primaryEndpoint(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
