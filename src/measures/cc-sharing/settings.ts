/**
 * M2's own settings (under `measures.cc-sharing`): how candidates become
 * shared entries, how long an entry stays valid without re-detection, and
 * where the TAXII server and the feeds listen (always over TLS).
 */
import { z } from 'zod';
import { pathSetting } from '../../core/config.js';
import { DURATION_PATTERN } from '../../core/duration.js';
import { partnerSchema } from './partners.js';

const duration = (example: string) => z.string().regex(DURATION_PATTERN, `a duration such as "${example}"`);

export const ccSharingSettings = z.object({
  /** The ISP as STIX identity and MISP organisation. */
  organisation: z
    .strictObject({
      name: z.string().trim().min(1).default('Mamori ISP'),
    })
    .prefault({}),
  policy: z
    .strictObject({
      /** manual: an analyst approves each entry; auto: confirmed candidates at or above `autoMinScore` are shared at once. */
      mode: z.enum(['manual', 'auto']).default('manual'),
      autoMinScore: z.number().min(0).max(1).default(0.9),
    })
    .prefault({}),
  /** An entry not re-detected for this long expires (valid_until = last detection + validity). */
  validity: duration('14d').default('14d'),
  /** How often M2 re-reads M1's candidates, extends or expires entries. */
  maintenanceInterval: duration('1h').default('1h'),
  taxii: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8471),
      /** PEM files; when absent, a self-signed certificate is made once in the data directory. */
      certFile: pathSetting().optional(),
      keyFile: pathSetting().optional(),
      /** Objects per page at most (a client's `limit` may ask for fewer). */
      maxPage: z.number().int().min(1).max(10_000).default(1000),
      /** Largest request body accepted, bytes. */
      maxContentLength: z
        .number()
        .int()
        .min(1024)
        .max(100 * 1024 * 1024)
        .default(10 * 1024 * 1024),
      /**
       * The URL partners reach this server at (e.g. https://taxii.isp.example:8471), used in the discovery
       * document. Default: the listener's own address. The request's Host header is never used.
       */
      publicUrl: z.url({ protocol: /^https$/, error: 'an https:// URL' }).optional(),
      /** What one recipient may push (POST to a writable collection). */
      push: z
        .strictObject({
          /** Envelopes per recipient per minute. */
          perMinute: z.number().int().min(1).max(10_000).default(30),
          /** Request bytes per recipient per hour. */
          bytesPerHour: z
            .number()
            .int()
            .min(1024)
            .max(2 ** 40)
            .default(200 * 1024 * 1024),
          /** Objects handled between two turns of the event loop (other listeners are served in between). */
          sliceObjects: z.number().int().min(1).max(100_000).default(200),
          /** Indicators one source (a recipient's pushes, a polled partner) may hold; more are refused and counted. */
          maxIndicatorsPerSource: z.number().int().min(1).max(10_000_000).default(100_000),
        })
        .prefault({}),
    })
    .prefault({}),
  /** Partners' TAXII collections to poll (secrets as ${env:NAME}). */
  partners: z.array(partnerSchema).default([]),
});

export type CcSharingSettings = z.output<typeof ccSharingSettings> & { enabled: boolean };
