/**
 * M2's routes for the ISP's staff, under /api/v1/measures/cc-sharing/ while M2 runs: recipients and their
 * credentials (admin), the shared list with its approvals (analysts). Partners never come here: they use
 * the TAXII server and the feeds, at the paths TAXII 2.1 gives them. Only through M2's confined state.
 */
import { z } from 'zod';
import { acceptFiles, errorSchema, principalOf, skippedReply, skippedSchema, uploadedFile } from '../../core/http.js';
import type { MeasureRoutes } from '../../core/registry.js';
import { COLLECTIONS, decideEntry, EntryError, listEntries } from './entries.js';
import {
  addRecipient,
  CHANNELS,
  issueCredential,
  listCredentials,
  listRecipients,
  RecipientError,
  renewAttestation,
  revokeCredential,
  setRecipientDisabled,
} from './recipients.js';
import { LabelImportError } from '../../share/labels.js';
import { importPartnerFile, inboundSources, PartnerError } from './partners.js';
import type { M2Api } from './run.js';

const recipientSchema = z.object({
  id: z.string(),
  name: z.string(),
  contact: z.string(),
  attestedAt: z.string(),
  attestationUntil: z.string(),
  channels: z.array(z.enum(CHANNELS)),
  disabled: z.boolean(),
  rights: z.array(z.object({ collection: z.string(), read: z.boolean(), write: z.boolean() })),
});
const entrySchema = z.object({
  id: z.string(),
  candidateId: z.string(),
  address: z.string(),
  port: z.number(),
  proto: z.number(),
  firstDetected: z.string(),
  lastDetected: z.string(),
  validUntil: z.string(),
  confidence: z.number(),
  state: z.enum(['pending', 'shared', 'rejected', 'revoked', 'expired']),
  createdAt: z.string(),
  stateChangedAt: z.string(),
  stateChangedBy: z.string(),
  stateReason: z.string().nullable(),
});
const timestamp = z
  .string()
  .refine((v) => !Number.isNaN(Date.parse(v)), 'a date/time such as 2026-11-24T00:00:00Z')
  .transform((v) => new Date(v).toISOString());
const aliases = Object.values(COLLECTIONS).map((c) => c.alias) as [string, ...string[]];

/** A partner's file is read whole (the formats are parsed whole); this bounds it. */
export const PARTNER_FILE_LIMIT = 32 * 1024 * 1024;
// Not application/json: the other routes here take JSON bodies.
const sourceName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/i, 'letters, digits, "-" or "_" (1–64)');

export const ccSharingRoutes: MeasureRoutes<M2Api> = ({ running: { own, partners, pollNow } }) => {
  const conflict = (err: unknown) => {
    if (err instanceof RecipientError || err instanceof EntryError) return { error: 'conflict', message: err.message };
    throw err;
  };
  return async (app) => {
    // A partner's file comes as it is (not JSON to be parsed), up to PARTNER_FILE_LIMIT.
    acceptFiles(app, PARTNER_FILE_LIMIT);

    app.get(
      '/inbound',
      {
        config: { permission: 'share:read' },
        schema: {
          tags: ['cc-sharing'],
          description: 'What partners sent (their TAXII collections, MISP feeds, imported files) per source, and the partners polled.',
          response: {
            200: z.object({
              sources: z.array(
                z.object({
                  name: z.string(),
                  kind: z.string(),
                  entries: z.number(),
                  skipped: z.number(),
                  receivedAt: z.string(),
                  receivedBy: z.string(),
                  cursor: z.string().nullable(),
                }),
              ),
              partners: z.array(z.object({ name: z.string(), kind: z.string(), interval: z.string() })),
            }),
          },
        },
      },
      async () => ({ sources: await inboundSources(own.store), partners }),
    );

    app.post(
      '/partners/:name/poll',
      {
        config: { permission: 'share:decide' },
        schema: {
          tags: ['cc-sharing'],
          description:
            'Polls a configured partner now, from where its last poll stopped (audited as share.receive; joining a poll ' +
            'already running is audited as share.poll.join).',
          params: z.object({ name: sourceName }),
          response: {
            200: z.object({ pages: z.number(), accepted: z.number(), refused: z.number(), cursor: z.string().nullable() }),
            404: errorSchema,
            502: errorSchema,
          },
        },
      },
      async (request, reply) => {
        if (!partners.some((p) => p.name === request.params.name))
          return reply
            .code(404)
            .send({ error: 'not-found', message: `no partner "${request.params.name}" in measures.cc-sharing.partners` });
        try {
          return await pollNow(request.params.name, principalOf(request).actor);
        } catch (err) {
          if (err instanceof PartnerError) return reply.code(502).send({ error: 'partner', message: err.message });
          throw err;
        }
      },
    );

    app.post(
      '/inbound/files',
      {
        config: { permission: 'share:decide' },
        bodyLimit: PARTNER_FILE_LIMIT,
        schema: {
          tags: ['cc-sharing'],
          description:
            "Imports a partner's file (MISP event, Feodo-style CSV, IP list, STIX bundle), sent as application/octet-stream, " +
            'as the whole of source "file:<source>" (a new import of the same source replaces it); a broken file is refused ' +
            'whole with the line, skipped lines are listed. Audited as share.import.',
          querystring: z.object({
            format: z.enum(['misp', 'feodo-csv', 'ip-list', 'stix']),
            source: sourceName,
            validDays: z.coerce.number().int().min(1).max(9999).default(30),
            name: z.string().min(1).max(255).default('upload'),
          }),
          response: {
            200: z.object({ entries: z.number(), ...skippedSchema }),
            415: errorSchema,
            422: errorSchema,
          },
        },
      },
      async (request, reply) => {
        const bytes = uploadedFile(reply, request.body);
        if (!bytes) return reply;
        const q = request.query;
        try {
          const r = await importPartnerFile(own, {
            file: { name: q.name, bytes },
            format: q.format,
            source: q.source,
            validityDays: q.validDays,
            actor: principalOf(request).actor,
          });
          return { entries: r.entries, ...skippedReply(r.skipped) };
        } catch (err) {
          if (err instanceof LabelImportError) return reply.code(422).send({ error: 'bad-file', message: err.message });
          throw err;
        }
      },
    );

    app.get(
      '/recipients',
      {
        config: { permission: 'share:read' },
        schema: { tags: ['cc-sharing'], response: { 200: z.object({ recipients: z.array(recipientSchema) }) } },
      },
      async () => ({ recipients: await listRecipients(own.store) }),
    );

    app.post(
      '/recipients',
      {
        config: { permission: 'share:recipients' },
        schema: {
          tags: ['cc-sharing'],
          body: z.object({
            name: z.string().trim().min(1).max(200),
            contact: z.string().trim().min(1).max(500),
            attestedAt: timestamp,
            attestationUntil: timestamp,
            channels: z.array(z.enum(CHANNELS)).min(1),
            rights: z
              .array(z.object({ collection: z.enum(aliases), read: z.boolean(), write: z.boolean() }))
              .default([{ collection: COLLECTIONS.cc.alias, read: true, write: false }]),
          }),
          response: { 201: recipientSchema, 409: errorSchema },
        },
      },
      async (request, reply) => {
        try {
          return reply.code(201).send(await addRecipient(own.store, own.audit, request.body, principalOf(request).actor));
        } catch (err) {
          return reply.code(409).send(conflict(err));
        }
      },
    );

    app.post(
      '/recipients/:id/attestation',
      {
        config: { permission: 'share:recipients' },
        schema: {
          tags: ['cc-sharing'],
          params: z.object({ id: z.string() }),
          body: z.object({ attestedAt: timestamp, attestationUntil: timestamp }),
          response: { 200: recipientSchema, 409: errorSchema },
        },
      },
      async (request, reply) => {
        try {
          return await renewAttestation(
            own.store,
            own.audit,
            request.params.id,
            request.body.attestedAt,
            request.body.attestationUntil,
            principalOf(request).actor,
          );
        } catch (err) {
          return reply.code(409).send(conflict(err));
        }
      },
    );

    app.post(
      '/recipients/:id/disabled',
      {
        config: { permission: 'share:recipients' },
        schema: {
          tags: ['cc-sharing'],
          params: z.object({ id: z.string() }),
          body: z.object({ disabled: z.boolean() }),
          response: { 204: z.null(), 409: errorSchema },
        },
      },
      async (request, reply) => {
        try {
          await setRecipientDisabled(own.store, own.audit, request.params.id, request.body.disabled, principalOf(request).actor);
          return reply.code(204).send(null);
        } catch (err) {
          return reply.code(409).send(conflict(err));
        }
      },
    );

    app.get(
      '/recipients/:id/credentials',
      {
        config: { permission: 'share:recipients' },
        schema: {
          tags: ['cc-sharing'],
          description: "A recipient's credentials (never their secrets), newest first.",
          params: z.object({ id: z.string() }),
          response: {
            200: z.object({
              credentials: z.array(
                z.object({
                  id: z.string(),
                  kind: z.enum(['token', 'basic']),
                  username: z.string().nullable(),
                  createdAt: z.string(),
                  revokedAt: z.string().nullable(),
                }),
              ),
            }),
            409: errorSchema,
          },
        },
      },
      async (request, reply) => {
        try {
          return { credentials: await listCredentials(own.store, request.params.id) };
        } catch (err) {
          return reply.code(409).send(conflict(err));
        }
      },
    );

    app.post(
      '/recipients/:id/credentials',
      {
        config: { permission: 'share:recipients' },
        schema: {
          tags: ['cc-sharing'],
          description: 'Issues a credential; the secret is in this answer only.',
          params: z.object({ id: z.string() }),
          body: z.object({ kind: z.enum(['token', 'basic']) }),
          response: { 201: z.object({ id: z.string(), username: z.string().optional(), secret: z.string() }), 409: errorSchema },
        },
      },
      async (request, reply) => {
        try {
          return reply
            .code(201)
            .send(await issueCredential(own.store, own.audit, request.params.id, request.body.kind, principalOf(request).actor));
        } catch (err) {
          return reply.code(409).send(conflict(err));
        }
      },
    );

    app.delete(
      '/credentials/:id',
      {
        config: { permission: 'share:recipients' },
        schema: { tags: ['cc-sharing'], params: z.object({ id: z.string() }), response: { 204: z.null(), 409: errorSchema } },
      },
      async (request, reply) => {
        try {
          await revokeCredential(own.store, own.audit, request.params.id, principalOf(request).actor);
          return reply.code(204).send(null);
        } catch (err) {
          return reply.code(409).send(conflict(err));
        }
      },
    );

    app.get(
      '/entries',
      {
        config: { permission: 'share:read' },
        schema: {
          tags: ['cc-sharing'],
          querystring: z.object({ state: z.enum(['pending', 'shared', 'rejected', 'revoked', 'expired']).optional() }),
          response: { 200: z.object({ entries: z.array(entrySchema) }) },
        },
      },
      async (request) => {
        const entries = await listEntries(own.store, request.query.state);
        await own.audit.append({
          actor: principalOf(request).actor,
          measure: 'cc-sharing',
          action: 'share.entries.read',
          counts: { entries: entries.length },
        });
        return { entries };
      },
    );

    app.post(
      '/entries/:id/decision',
      {
        config: { permission: 'share:decide' },
        schema: {
          tags: ['cc-sharing'],
          params: z.object({ id: z.string().regex(/^indicator--[0-9a-f-]{36}$/) }),
          body: z.object({ action: z.enum(['approve', 'reject', 'revoke']), reason: z.string().trim().min(1).max(2000) }),
          response: { 200: entrySchema, 409: errorSchema },
        },
      },
      async (request, reply) => {
        try {
          return await decideEntry(
            own.store,
            own.audit,
            own.settings,
            request.params.id,
            request.body.action,
            request.body.reason,
            principalOf(request).actor,
          );
        } catch (err) {
          return reply.code(409).send(conflict(err));
        }
      },
    );
  };
};
