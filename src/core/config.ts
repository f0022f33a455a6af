/**
 * Configuration: one YAML file, validated before anything starts. Unknown
 * keys, wrong types and impossible values are refused with the key, the value
 * and what is allowed. Secrets may be written as "${env:NAME}".
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { DURATION_PATTERN } from './duration.js';
import { MamoriError } from './errors.js';

/** Deterministic NAT (RFC 7422) for the subscriber index (src/subscriber/cgnat.ts): a setting, so it lives with the others. */
export const deterministicNatSchema = z.strictObject({
  /** Inside (subscriber-side) prefix, e.g. 100.64.0.0/16. */
  insidePrefix: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/),
  /** Outside (public) prefix, e.g. 203.0.113.0/24. */
  outsidePrefix: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/),
  /** Ports each inside address owns on its outside address. */
  portsPerSubscriber: z.number().int().min(1).max(64_512),
  /** First port handed out (below it: reserved). */
  firstPort: z.number().int().min(0).max(65_535).default(1024),
});

/**
 * 4, 6, or 0 when `text` is no IP address (node:net's isIP). Settings of measures use this one: the
 * dependency rule keeps node:net, a network module, out of src/measures.
 */
export function ipVersion(text: string): 0 | 4 | 6 {
  return isIP(text) as 0 | 4 | 6;
}

function isAddressOrPrefix(v: string): boolean {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(v);
  if (!m || isIP(m[1]!) === 0) return false;
  return m[2] === undefined || Number(m[2]) <= (isIP(m[1]!) === 4 ? 32 : 128);
}

const duration = z.string().regex(DURATION_PATTERN, 'a duration such as "90s", "15m", "24h" or "14d"');

const PATHS = new WeakSet<z.ZodType>();

/**
 * A file or directory named in the configuration. Relative, it is relative to the configuration
 * file's folder (not to where the command was run); with no file, to the current directory.
 */
export function pathSetting(): z.ZodString {
  const s = z.string().min(1);
  PATHS.add(s);
  return s;
}

/** `value` (valid for `schema`) with every relative path setting made absolute against `base`. */
export function resolvePathSettings<T>(schema: z.ZodType, value: T, base: string): T {
  const s = unwrap(schema);
  if (PATHS.has(s)) return (typeof value === 'string' ? resolve(base, value) : value) as T;
  if (s instanceof z.ZodObject && value && typeof value === 'object' && !Array.isArray(value)) {
    const shape = s.shape as Record<string, z.ZodType>;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shape[k] ? resolvePathSettings(shape[k], v, base) : v])) as T;
  }
  if (s instanceof z.ZodArray && Array.isArray(value)) return value.map((v) => resolvePathSettings(s.element as z.ZodType, v, base)) as T;
  return value;
}

/** `enabled` for every measure; a measure's own keys are checked by the registry against its settings schema. */
const measureSettings = z.looseObject({
  enabled: z.boolean().default(false),
});

export const configSchema = z.strictObject({
  /** Relative to the configuration file's folder (state.path, analytics.path, audit.anchorFile and notices.outbox are relative to it). */
  dataDir: pathSetting().default('./data'),
  server: z
    .strictObject({
      /** Loopback by default; put a TLS-terminating reverse proxy in front before exposing it. */
      host: z.string().min(1).default('127.0.0.1'),
      /** 0 picks a free port (the URL is printed at start). */
      port: z.number().int().min(0).max(65535).default(8470),
      /**
       * The reverse proxies (addresses or CIDR prefixes) whose X-Forwarded-For names the client. Only a
       * request from one of them is taken to come from the address it forwards; `true` is refused, as it
       * would let any client name its own address and so escape the login throttle.
       */
      trustProxy: z
        .preprocess(
          (v) => (v === false ? [] : v),
          z.array(z.string().refine(isAddressOrPrefix, 'an IPv4 or IPv6 address or prefix (e.g. 10.0.0.0/8) of a reverse proxy'), {
            error: "a list of the reverse proxies' addresses, e.g. [127.0.0.1] (true would trust any client's X-Forwarded-For)",
          }),
        )
        .default([]),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
  state: z
    .strictObject({
      driver: z.enum(['sqlite']).default('sqlite'),
      /** Default: <dataDir>/state.sqlite */
      path: z.string().min(1).optional(),
      busyTimeout: duration.default('5s'),
    })
    .prefault({}),
  analytics: z
    .strictObject({
      driver: z.enum(['chdb']).default('chdb'),
      /** Default: <dataDir>/analytics */
      path: z.string().min(1).optional(),
    })
    .prefault({}),
  audit: z
    .strictObject({
      /** Where chain heads are also written; put it on other media in production. Default: <dataDir>/audit-anchors.jsonl */
      anchorFile: z.string().min(1).optional(),
      anchorInterval: duration.default('1h'),
      /** Also anchor once this many entries were appended since the last anchor (bounds what a crash leaves unanchored). */
      anchorEvery: z.number().int().min(1).max(1_000_000).default(1000),
      /**
       * An Ed25519 private key (PEM, `mamori audit keygen`) that signs each anchor. It must lie outside
       * the data directory and be readable by its owner only: whoever can rewrite the database then still
       * cannot make an anchor that the public key accepts.
       */
      signingKeyFile: z.string().min(1).optional(),
    })
    .prefault({}),
  auth: z
    .strictObject({
      sessionTtl: duration.default('12h'),
      /** Failed logins from one client address within loginWindow before it must wait (successes do not count). */
      loginAttempts: z.number().int().min(1).max(100).default(5),
      /** Failed logins for one account, from any address, within loginWindow before it must wait. */
      accountLoginAttempts: z.number().int().min(1).max(1000).default(20),
      loginWindow: duration.default('15m'),
    })
    .prefault({}),
  ingest: z
    .strictObject({
      /** Flow export from routers (M1's inlet). Runs only while M1 (cc-detection) is enabled. */
      flows: z
        .strictObject({
          listeners: z
            .array(
              z.strictObject({
                host: z
                  .string()
                  .refine((h) => isIP(h) !== 0, 'an IPv4 or IPv6 address ("::" listens on both)')
                  .default('::'),
                port: z.number().int().min(0).max(65535),
              }),
            )
            .min(1)
            .default([
              { host: '::', port: 2055 },
              { host: '::', port: 4739 },
              { host: '::', port: 6343 },
            ]),
          /** Routers allowed to export; empty accepts any (then restrict with a firewall). */
          allowedExporters: z.array(z.string().refine((h) => isIP(h) !== 0, 'an IPv4 or IPv6 address')).default([]),
          /** Socket receive buffer; the kernel caps it at net.core.rmem_max. */
          recvBufferSize: z
            .number()
            .int()
            .min(65536)
            .max(1 << 30)
            .default(32 << 20),
          /**
           * How datagrams are received: "native" (an OS thread per socket, recvmmsg into a ring of
           * receiveRingBytes, built at install), "dgram" (node:dgram), "auto" (native where it loads).
           */
          receiver: z.enum(['auto', 'native', 'dgram']).default('auto'),
          /** The native receiver's ring: datagrams waiting for decoding (absorbs pauses of the decoder). */
          receiveRingBytes: z
            .number()
            .int()
            .min(1 << 20)
            .max(2 ** 34)
            .default(64 << 20),
          /** Records the receiving thread serialises at a time. */
          batchSize: z.number().int().min(64).max(1_000_000).default(8192),
          /** Records per insert into the analytics store (large inserts: fewer parts to merge). */
          insertRows: z.number().int().min(64).max(10_000_000).default(2_097_152),
          /**
           * The spool: decoded records (RowBinary, 90 bytes each) wait in segment files beside the
           * analytics store (<analytics path>-spool) until they are loaded, so that receiving never
           * waits for storage. Beyond this many bytes new batches are dropped and counted
           * (storage-backlog). 8 GiB ≈ 95 M records: at 1 M records/s more than storage loads, 95 s.
           * What is left at stop or after a crash is loaded at the next start.
           */
          spoolMaxBytes: z
            .number()
            .int()
            .min(1 << 20)
            .max(2 ** 50)
            .default(8 * 2 ** 30),
          flushInterval: duration.default('1s'),
          /**
           * Largest file accepted by the back-fill API (POST /api/v1/flows/imports); it is written to <dataDir>/imports while it is read.
           */
          maxUploadBytes: z
            .number()
            .int()
            .min(1 << 20)
            .max(2 ** 50)
            .default(8 * 2 ** 30),
        })
        .prefault({}),
      /**
       * RADIUS accounting (IP assignments for subscriber identification). Runs only while a
       * measure that declares assigned addresses is enabled.
       */
      radius: z
        .strictObject({
          listeners: z
            .array(
              z.strictObject({
                host: z
                  .string()
                  .refine((h) => isIP(h) !== 0, 'an IPv4 or IPv6 address')
                  .default('::'),
                port: z.number().int().min(0).max(65535),
              }),
            )
            .min(1)
            .default([{ host: '::', port: 1813 }]),
          /** Each NAS (or the accounting server that copies to us) with its shared secret. */
          clients: z
            .array(
              z.strictObject({
                address: z.string().refine((h) => isIP(h) !== 0, 'an IPv4 or IPv6 address'),
                secret: z.string().min(1),
                /** Names the NAS in session keys; defaults to its address. */
                name: z
                  .string()
                  .regex(/^[A-Za-z0-9_.:-]{1,64}$/)
                  .optional(),
              }),
            )
            .default([]),
          /** A session with no Stop ends this long after its last Start or Interim-Update. */
          interimTimeout: duration.default('3h'),
          /** FreeRADIUS detail files to tail instead of (or besides) receiving packets. */
          detail: z
            .strictObject({
              directory: pathSetting(),
              /** Files whose name starts with this, read in name order (rotation makes new names). */
              prefix: z.string().default('detail'),
            })
            .optional(),
        })
        .prefault({}),
      /** CGNAT: deterministic mappings (RFC 7422); port-block logs are imported (mamori subscribers import-port-blocks). */
      cgnat: z
        .strictObject({
          deterministic: z.array(deterministicNatSchema).default([]),
        })
        .prefault({}),
    })
    .prefault({}),
  /**
   * The one RPZ primary every measure's policy zones are served from (M3, M6 register theirs through the
   * broker's policy-zone-writer): where it listens, the resolvers (secondaries) that may query and
   * transfer, whom to NOTIFY on a change, and the TSIG keys. It listens only while a zone is registered.
   */
  rpz: z
    .strictObject({
      primary: z
        .strictObject({
          host: z
            .string()
            .refine((h) => isIP(h) !== 0, 'an IPv4 or IPv6 address')
            .default('127.0.0.1'),
          /** 53 needs root or CAP_NET_BIND_SERVICE; resolvers can transfer from any port. 0 picks a free one. */
          port: z.number().int().min(0).max(65535).default(8053),
        })
        .prefault({}),
      /** The resolvers (secondaries) answered: queries and transfers from any other address are refused. */
      transferTo: z.array(z.string().refine((h) => isIP(h) !== 0, 'an IPv4 or IPv6 address')).default(['127.0.0.1', '::1']),
      /** Resolvers to NOTIFY on every change (they then ask for IXFR). */
      notify: z
        .array(
          z.strictObject({
            host: z.string().refine((h) => isIP(h) !== 0, 'an IPv4 or IPv6 address'),
            port: z.number().int().min(1).max(65535).default(53),
          }),
        )
        .default([]),
      /** TSIG (HMAC-SHA256) keys: when set, every request must also be signed with one. Name and base64 secret of at least 32 bytes. */
      tsig: z
        .array(
          z.strictObject({
            name: z
              .string()
              .regex(
                /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
                'a key name such as "mamori-xfr" (lower case)',
              ),
            secret: z
              .string()
              .refine((v) => Buffer.from(v, 'base64').length >= 32, 'a base64 secret of at least 32 bytes (openssl rand -base64 32)'),
          }),
        )
        .default([]),
      /**
       * Resolvers of `transferTo` sent the whole zone instead of an IXFR that deletes a client-IP rule (the walled garden's
       * release): Unbound 1.17 ignores such a deletion and keeps applying the rule.
       */
      wholeZoneOnClientIpRemoval: z.array(z.string().refine((h) => isIP(h) !== 0, 'an IPv4 or IPv6 address')).default([]),
    })
    .refine((r) => r.wholeZoneOnClientIpRemoval.every((a) => r.transferTo.includes(a)), {
      message: 'every address must also be in rpz.transferTo',
      path: ['wholeZoneOnClientIpRemoval'],
    })
    .prefault({}),
  retention: z
    .strictObject({
      interval: duration.default('1h'),
    })
    .prefault({}),
  /** Cases opened by measures that act on one subscriber. */
  cases: z
    .strictObject({
      /** The same subscriber and kind within this window is the same case. */
      dedupeWindow: duration.default('7d'),
      /** Repeats after which a case moves to stage 2 (0: never). */
      escalateAfterRepeats: z.number().int().min(0).max(1000).default(3),
    })
    .prefault({}),
  /** Notices to subscribers: SMTP if configured, else .eml files in the outbox directory. */
  notices: z
    .strictObject({
      from: z.string().min(3).default('abuse-desk@isp.example'),
      outbox: z.string().default('outbox'),
      perMinute: z.number().int().min(1).max(100_000).default(60),
      maxAttempts: z.number().int().min(1).max(100).default(8),
      deliveryInterval: duration.default('10s'),
      smtp: z
        .strictObject({
          host: z.string().min(1),
          port: z.number().int().min(1).max(65535).default(587),
          /** TLS from the first byte (port 465). */
          secure: z.boolean().default(false),
          /** Refuse to send unless STARTTLS succeeds. */
          requireTLS: z.boolean().default(true),
          user: z.string().optional(),
          password: z.string().optional(),
          dkim: z.strictObject({ domainName: z.string(), keySelector: z.string(), privateKeyFile: pathSetting() }).optional(),
        })
        .optional(),
    })
    .prefault({}),
  measures: z.record(z.string(), measureSettings).default({}),
});

export type Config = z.output<typeof configSchema> & {
  /** The configuration file's folder, when read from a file: relative paths (measures' too) are resolved against it. */
  readonly configDir?: string;
};

export class ConfigError extends MamoriError {
  static override readonly code = 'config-invalid';
  static override readonly status = 400;
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`configuration ${source} is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const ENV_REF = /^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** Replaces "${env:NAME}" strings; a missing variable is an error naming the key. */
function substituteEnv(value: unknown, path: string[], env: NodeJS.ProcessEnv, problems: string[]): unknown {
  if (typeof value === 'string') {
    const m = ENV_REF.exec(value);
    if (!m) return value;
    const v = env[m[1]!];
    if (v === undefined) problems.push(`${keyName(path)}: environment variable ${m[1]} is not set`);
    return v;
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, [...path, String(i)], env, problems));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, [...path, k], env, problems)]));
  }
  return value;
}

function keyName(path: PropertyKey[]): string {
  return path.length === 0 ? '(top level)' : `"${path.map(String).join('.')}"`;
}

function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  const s = JSON.stringify(value);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Allowed keys of the object schema found at `path`, for "unknown key" messages. */
function allowedKeysAt(path: PropertyKey[], root: z.ZodType = configSchema): string[] {
  let schema: z.ZodType = root;
  for (const key of path) {
    const def = unwrap(schema);
    if (def instanceof z.ZodObject) schema = def.shape[String(key)] as z.ZodType;
    else if (def instanceof z.ZodRecord) schema = def.valueType as z.ZodType;
    else return [];
    if (!schema) return [];
  }
  const def = unwrap(schema);
  return def instanceof z.ZodObject ? Object.keys(def.shape) : [];
}

function unwrap(s: z.ZodType): z.ZodType {
  let cur: z.ZodType = s;
  for (let i = 0; i < 5; i++) {
    if (cur instanceof z.ZodDefault || cur instanceof z.ZodOptional || cur instanceof z.ZodPrefault) cur = cur.unwrap() as z.ZodType;
    else break;
  }
  return cur;
}

export function describeIssue(issue: z.core.$ZodIssue, root: z.ZodType = configSchema, prefix: PropertyKey[] = []): string[] {
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedKeysAt(issue.path, root);
    return issue.keys.map((k) => `${keyName([...prefix, ...issue.path, k])}: unknown key; allowed here: ${allowed.join(', ')}`);
  }
  const input = (issue as { input?: unknown }).input;
  return [`${keyName([...prefix, ...issue.path])}: value ${shown(input)} is not allowed: ${issue.message}`];
}

/** `configDir`: the folder relative paths are resolved against (loadConfig gives the file's). */
export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = process.env, configDir?: string): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`),
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(source, ['(top level): the file must hold a mapping of keys, e.g. "server:"']);
  }
  const problems: string[] = [];
  const substituted = substituteEnv(raw, [], env, problems);
  if (problems.length > 0) throw new ConfigError(source, problems);
  const parsed = configSchema.safeParse(substituted, { reportInput: true });
  if (!parsed.success)
    throw new ConfigError(
      source,
      parsed.error.issues.flatMap((i) => describeIssue(i)),
    );
  return configDir === undefined ? parsed.data : { ...resolvePathSettings(configSchema, parsed.data, configDir), configDir };
}

export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  if (!file) return parseConfig('', '(embedded defaults)', env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  return parseConfig(text, file, env, dirname(resolve(file)));
}

export interface ResolvedPaths {
  dataDir: string;
  statePath: string;
  analyticsPath: string;
  anchorFile: string;
}

export function resolvePaths(config: Config, cwd = process.cwd()): ResolvedPaths {
  const dataDir = resolve(cwd, config.dataDir);
  return {
    dataDir,
    statePath: resolve(dataDir, config.state.path ?? 'state.sqlite'),
    analyticsPath: resolve(dataDir, config.analytics.path ?? 'analytics'),
    anchorFile: resolve(dataDir, config.audit.anchorFile ?? 'audit-anchors.jsonl'),
  };
}
