/**
 * How a measure serves its policy zones to the resolvers — the same settings
 * for every measure that has an RPZ primary (M3, M6): where it listens, who
 * may transfer, whom to NOTIFY, the TSIG keys; and the primary's
 * configuration made from them.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { PrimaryConfig } from './primary.js';

export const ipAddress = z.string().refine((h) => isIP(h) !== 0, 'an IPv4 or IPv6 address');
export const zoneName = z
  .string()
  .regex(
    /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    'a zone name such as "cc.rpz.example.jp" (lower case, no trailing dot)',
  );
const keyName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, 'a key name such as "mamori-xfr" (lower case)');

/** The settings' fields, to spread into a measure's settings object; `defaultPort` differs per measure. */
export function servingSettings(defaultPort: number, defaultRefresh: number) {
  return {
    primary: z
      .strictObject({
        host: ipAddress.default('127.0.0.1'),
        /** 53 needs root or CAP_NET_BIND_SERVICE; resolvers can transfer from any port. */
        port: z.number().int().min(0).max(65535).default(defaultPort),
        /** SOA refresh, seconds: how often secondaries check without a NOTIFY. */
        refresh: z.number().int().min(30).max(86_400).default(defaultRefresh),
      })
      .prefault({}),
    /** The resolvers (secondaries) answered: queries and transfers from any other address are refused. */
    transferTo: z.array(ipAddress).default(['127.0.0.1', '::1']),
    /** Resolvers to NOTIFY on every change (they then ask for IXFR). */
    notify: z.array(z.strictObject({ host: ipAddress, port: z.number().int().min(1).max(65535).default(53) })).default([]),
    /** TSIG (HMAC-SHA256) keys: when set, every request must also be signed with one. Name and base64 secret of at least 32 bytes. */
    tsig: z
      .array(
        z.strictObject({
          name: keyName,
          secret: z
            .string()
            .refine((s) => Buffer.from(s, 'base64').length >= 32, 'a base64 secret of at least 32 bytes (openssl rand -base64 32)'),
        }),
      )
      .default([]),
  };
}

export interface ServingSettings {
  primary: { host: string; port: number; refresh: number };
  transferTo: string[];
  notify: Array<{ host: string; port: number }>;
  tsig: Array<{ name: string; secret: string }>;
}

export function primaryConfig(s: ServingSettings): PrimaryConfig {
  return {
    host: s.primary.host,
    port: s.primary.port,
    refresh: s.primary.refresh,
    transferTo: s.transferTo,
    notify: s.notify,
    tsig: s.tsig.map((k) => ({ name: k.name, secret: Buffer.from(k.secret, 'base64') })),
  };
}

/** host:port as a resolver's configuration writes it (IPv6 in brackets). */
export function primaryEndpoint(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
