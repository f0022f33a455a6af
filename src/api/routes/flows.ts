/**
 * The flow collector for network engineers: exporters, templates, counts,
 * errors, loss; and back-fill through the running server (a pcap or an nfdump
 * file uploaded, stored while live collection goes on).
 */
import { MamoriError } from '../../core/errors.js';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Mamori } from '../../app/mamori.js';
import { STATE_TEXT } from '../../core/registry.js';
import { FLOW_DATASET } from '../../ingest/flow/dataset.js';
import {
  FlowImportError,
  FlowImportRefusedError,
  claimImport,
  importFlowPcap,
  importNfdump,
  refuseKnownContent,
  releaseImport,
  runningImport,
  uploadDirectory,
} from '../../ingest/flow/import.js';
import { ImportRegistry } from '../../ingest/flow/import-registry.js';
import { NfdumpError } from '../../ingest/flow/nfdump.js';
import type { FlowInlet } from '../../ingest/flow/inlet.js';
import { PcapError } from '../../ingest/pcap.js';
import { errorSchema } from '../../core/http.js';
import { principalOf } from '../../core/http.js';

const exporterSchema = z.object({
  address: z.string(),
  lastSeen: z.string().nullable(),
  versions: z.array(z.string()),
  datagrams: z.number(),
  records: z.number(),
  templates: z.number(),
  estimatedLoss: z.number(),
  errors: z.record(z.string(), z.number()),
  /** Observation domains / source ids / sub-agents / engines known now. */
  domains: z.number(),
  /** How the sequence numbers read: gaps (the loss above), restarts, stray (corrupt) numbers, late datagrams; what they count. */
  sequence: z.object({ gaps: z.number(), resets: z.number(), outliers: z.number(), late: z.number(), units: z.array(z.string()) }),
});

const importEntrySchema = z.object({
  id: z.number(),
  format: z.enum(['pcap', 'nfdump']),
  sha256: z.string(),
  bytes: z.number(),
  fileSha256: z.string(),
  fileBytes: z.number(),
  actor: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  outcome: z.enum(['stored', 'partial', 'failed']),
  records: z.number(),
  counts: z.record(z.string(), z.number()),
});

const runningSchema = z.object({
  actor: z.string(),
  format: z.enum(['pcap', 'nfdump']),
  startedAt: z.string(),
  phase: z.enum(['receiving', 'checking', 'storing', 'moving']),
  bytesRead: z.number(),
  totalBytes: z.number(),
  records: z.number(),
});

const pcapResultSchema = z.object({
  format: z.literal('pcap'),
  importId: z.number(),
  outcome: z.enum(['stored', 'partial']),
  sha256: z.string(),
  bytes: z.number(),
  fileSha256: z.string(),
  fileBytes: z.number(),
  datagrams: z.number(),
  records: z.number(),
  stored: z.number(),
  noTemplateAtEnd: z.number(),
  olderThanRetention: z.number(),
  truncation: z.object({ offset: z.number(), reason: z.string(), unreadBytes: z.number() }).optional(),
  continuedAfter: z.object({ importId: z.number(), bytes: z.number(), skippedRecords: z.number() }).optional(),
  pcap: z.object({ packets: z.number(), udp: z.number(), skipped: z.number(), fragments: z.number(), bytesRead: z.number() }),
  exporters: z.array(exporterSchema),
  refused: z.record(z.string(), z.number()),
});

const nfdumpResultSchema = z.object({
  format: z.literal('nfdump'),
  importIds: z.array(z.number()),
  records: z.number(),
  stored: z.number(),
  files: z.number(),
  olderThanRetention: z.number(),
  exporters: z.array(z.string()),
});

const flag = z
  .enum(['true', 'false', '1', '0'])
  .optional()
  .transform((v) => v === 'true' || v === '1');

/** Upload bodies are streamed to a file as they arrive: a capture can be far larger than memory. */
const UPLOAD_TYPES = ['application/octet-stream', 'application/vnd.tcpdump.pcap'];

class UploadTooLarge extends MamoriError {
  static override readonly code = 'upload-too-large';
  static override readonly status = 413;
}

/**
 * Streams the request body into `file` (0600), at most `limit` bytes; returns its
 * SHA-256. The body is never destroyed here: the socket must stay up for the answer.
 */
async function receive(
  body: Readable,
  file: string,
  limit: number,
  onBytes: (n: number) => void,
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  const out = createWriteStream(file, { flags: 'wx', mode: 0o600 });
  let bytes = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const stop = (err: Error) => {
        body.off('data', onData);
        body.pause();
        reject(err);
      };
      const onData = (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > limit) {
          stop(new UploadTooLarge(`the upload is larger than ${limit} bytes (ingest.flows.maxUploadBytes)`));
          return;
        }
        hash.update(chunk);
        onBytes(bytes);
        if (!out.write(chunk)) {
          body.pause();
          out.once('drain', () => body.resume());
        }
      };
      body.on('data', onData);
      body.once('end', resolve);
      body.once('close', () => {
        if (!body.readableEnded) stop(new Error('the client closed the connection before the upload ended'));
      });
      body.once('error', stop);
      out.once('error', stop);
    });
  } finally {
    await new Promise<void>((resolve) => out.end(resolve));
  }
  return { bytes, sha256: hash.digest('hex') };
}

export function flowRoutes(mamori: Mamori, inlet: () => FlowInlet | undefined): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/v1/flows/exporters',
      {
        config: { permission: 'flows:status' },
        schema: {
          tags: ['flows'],
          response: {
            200: z.object({
              running: z.boolean(),
              reason: z.object({ ja: z.string(), en: z.string() }).optional(),
              listeners: z.array(z.object({ host: z.string(), port: z.number() })),
              exporters: z.array(exporterSchema),
              refused: z.record(z.string(), z.number()),
              storedRecords: z.number(),
              backlogDroppedRecords: z.number(),
              kernelDrops: z.number(),
              insertFailedRecords: z.number(),
              /** How datagrams are received (native ring or node:dgram) and what its ring dropped. */
              receiver: z.enum(['native', 'dgram', 'none']),
              ringDrops: z.number(),
            }),
          },
        },
      },
      async () => {
        const i = inlet();
        if (!i) {
          const state = mamori.registry.status(FLOW_DATASET.owner)!.state;
          return {
            running: false,
            reason: {
              ja: `M1（C&Cサーバの検知）が${STATE_TEXT[state].ja}のため、フロー収集は行っていません`,
              en: `flow collection is off because M1 (C&C detection) is ${STATE_TEXT[state].en}`,
            },
            listeners: [],
            exporters: [],
            refused: {},
            storedRecords: 0,
            backlogDroppedRecords: 0,
            kernelDrops: 0,
            insertFailedRecords: 0,
            receiver: 'none' as const,
            ringDrops: 0,
          };
        }
        const s = i.status();
        return {
          running: true,
          listeners: i.addresses,
          exporters: s.exporters.map((e) => ({ ...e, errors: Object.fromEntries(Object.entries(e.errors).map(([k, v]) => [k, v ?? 0])) })),
          refused: s.unattributed,
          storedRecords: s.storedRecords,
          backlogDroppedRecords: s.droppedRecords,
          kernelDrops: s.kernelDrops,
          insertFailedRecords: s.insertFailedRecords,
          receiver: i.receiver,
          ringDrops: s.ringDrops,
        };
      },
    );

    app.get(
      '/api/v1/flows/imports',
      {
        config: { permission: 'flows:status' },
        schema: {
          tags: ['flows'],
          querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(50) }),
          response: { 200: z.object({ running: runningSchema.nullable(), imports: z.array(importEntrySchema) }) },
        },
      },
      async (request) => ({
        running: mamori.analytics ? (runningImport(mamori) ?? null) : null,
        imports: await new ImportRegistry(mamori.state).recent(request.query.limit),
      }),
    );

    app.addContentTypeParser(UPLOAD_TYPES, (_request, payload, done) => done(null, payload));

    app.post(
      '/api/v1/flows/imports',
      {
        config: { permission: 'flows:import' },
        schema: {
          tags: ['flows'],
          description:
            'Back-fill: the body is a pcap of export datagrams (or, with format=nfdump, one file nfcapd wrote), ' +
            'sent as application/octet-stream.',
          querystring: z.object({
            format: z.enum(['pcap', 'nfdump']).default('pcap'),
            /** Import content imported before (its flows are stored twice). */
            force: flag,
            /** A pcap that begins with an earlier import: store only what follows. */
            continue: flag,
            /** The sender's SHA-256 of the file: a repeat is refused before the upload is read, and the upload is checked against it. */
            sha256: z
              .string()
              .regex(/^[0-9a-f]{64}$/)
              .optional(),
          }),
          response: {
            200: z.discriminatedUnion('format', [pcapResultSchema, nfdumpResultSchema]),
            400: errorSchema,
            409: errorSchema.extend({ previous: z.array(importEntrySchema).optional() }),
            413: errorSchema,
            415: errorSchema,
            500: errorSchema.extend({ stored: z.number().optional() }),
            503: errorSchema,
          },
        },
      },
      async (request, reply) => {
        const actor = principalOf(request).actor;
        const q = request.query;
        const body = request.body as unknown;
        // Refused before the body was read: answer at once and close, rather than read what will not be used.
        const discard = () => {
          reply.header('connection', 'close');
        };
        if (!(body instanceof Readable)) {
          return reply.code(415).send({ error: 'unsupported-media-type', message: `send the file as ${UPLOAD_TYPES.join(' or ')}` });
        }
        if (!mamori.analytics) {
          discard();
          return reply.code(503).send({ error: 'unavailable', message: 'the analytics store is not open in this server' });
        }
        let claim;
        try {
          claim = claimImport(mamori, actor, q.format, 'receiving');
        } catch (err) {
          discard();
          if (err instanceof FlowImportRefusedError) return reply.code(409).send({ error: err.reason, message: err.message });
          throw err;
        }
        const directory = uploadDirectory(mamori);
        const file = join(directory, `upload-${randomBytes(8).toString('hex')}`);
        try {
          if (q.sha256 && !q.force) await refuseKnownContent(mamori, q.format, q.sha256, actor);
          mkdirSync(directory, { recursive: true, mode: 0o700 });
          let received;
          try {
            claim.totalBytes = Number(request.headers['content-length'] ?? 0) || 0;
            received = await receive(body, file, mamori.config.ingest.flows.maxUploadBytes, (n) => {
              claim.bytesRead = n;
            });
          } catch (err) {
            if (err instanceof UploadTooLarge) {
              discard();
              return reply.code(413).send({ error: 'too-large', message: err.message });
            }
            throw err;
          }
          if (q.sha256 && q.sha256 !== received.sha256) {
            const message = `the upload's SHA-256 is ${received.sha256}, not ${q.sha256} as announced: nothing was stored`;
            return reply.code(400).send({ error: 'upload-corrupted', message });
          }
          const options = { actor, claim, force: q.force, continueAfterImported: q.continue };
          if (q.format === 'nfdump') {
            const r = await importNfdump(mamori, file, false, options);
            const { importIds, records, stored, files, olderThanRetention, exporters } = r;
            return { format: 'nfdump' as const, importIds, records, stored, files, olderThanRetention, exporters };
          }
          return { format: 'pcap' as const, ...(await importFlowPcap(mamori, file, options)) };
        } catch (err) {
          // The temporary file's name means nothing to the sender: call it the upload.
          const message = (err as Error).message.replaceAll(file, 'the upload');
          if (err instanceof FlowImportRefusedError) {
            discard();
            return reply.code(409).send({ error: err.reason, message, previous: [...err.previous] });
          }
          if (err instanceof PcapError || err instanceof NfdumpError) return reply.code(400).send({ error: 'bad-file', message });
          if (err instanceof FlowImportError) {
            request.log.error({ event: 'flows.import-failed', stored: err.stored }, 'flow import failed');
            return reply.code(500).send({ error: 'import-failed', message, stored: err.stored });
          }
          throw err;
        } finally {
          releaseImport(mamori, claim);
          rmSync(file, { force: true });
        }
      },
    );
  };
}
