/**
 * M2 for the ISP's staff: recipients and their credentials (admin), the
 * shared list with its approvals (analysts), what partners sent. Partners
 * themselves never come here: they use the TAXII server and the feeds.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Mamori } from '../../core/app.js';
import { decideEntry, EntryError, listEntries } from '../../measures/cc-sharing/entries.js';
import {
  addRecipient,
  CHANNELS,
  issueCredential,
  listRecipients,
  RecipientError,
  renewAttestation,
  revokeCredential,
  setRecipientDisabled,
} from '../../measures/cc-sharing/recipients.js';
import type { CcSharingSettings } from '../../measures/cc-sharing/settings.js';
import { COLLECTIONS } from '../../measures/cc-sharing/entries.js';
import { errorSchema } from '../schemas.js';
import { principalOf } from '../server.js';

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

export function shareRoutes(mamori: Mamori): FastifyPluginAsyncZod {
  const conflict = (err: unknown) => {
    if (err instanceof RecipientError || err instanceof EntryError) return { error: 'conflict', message: err.message };
    throw err;
  };
  return async (app) => {
    app.get(
      '/api/v1/share/recipients',
      {
        config: { permission: 'share:read' },
        schema: { tags: ['cc-sharing'], response: { 200: z.object({ recipients: z.array(recipientSchema) }) } },
      },
      async () => ({ recipients: await listRecipients(mamori.state) }),
    );

    app.post(
      '/api/v1/share/recipients',
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
          return reply.code(201).send(await addRecipient(mamori.state, mamori.audit, request.body, principalOf(request).actor));
        } catch (err) {
          return reply.code(409).send(conflict(err));
        }
      },
    );

    app.post(
      '/api/v1/share/recipients/:id/attestation',
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
            mamori.state,
            mamori.audit,
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
      '/api/v1/share/recipients/:id/disabled',
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
          await setRecipientDisabled(mamori.state, mamori.audit, request.params.id, request.body.disabled, principalOf(request).actor);
          return reply.code(204).send(null);
        } catch (err) {
          return reply.code(409).send(conflict(err));
        }
      },
    );

    app.post(
      '/api/v1/share/recipients/:id/credentials',
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
            .send(await issueCredential(mamori.state, mamori.audit, request.params.id, request.body.kind, principalOf(request).actor));
        } catch (err) {
          return reply.code(409).send(conflict(err));
        }
      },
    );

    app.delete(
      '/api/v1/share/credentials/:id',
      {
        config: { permission: 'share:recipients' },
        schema: { tags: ['cc-sharing'], params: z.object({ id: z.string() }), response: { 204: z.null(), 409: errorSchema } },
      },
      async (request, reply) => {
        try {
          await revokeCredential(mamori.state, mamori.audit, request.params.id, principalOf(request).actor);
          return reply.code(204).send(null);
        } catch (err) {
          return reply.code(409).send(conflict(err));
        }
      },
    );

    app.get(
      '/api/v1/share/entries',
      {
        config: { permission: 'share:read' },
        schema: {
          tags: ['cc-sharing'],
          querystring: z.object({ state: z.enum(['pending', 'shared', 'rejected', 'revoked', 'expired']).optional() }),
          response: { 200: z.object({ entries: z.array(entrySchema) }) },
        },
      },
      async (request) => {
        const entries = await listEntries(mamori.state, request.query.state);
        await mamori.audit.append({
          actor: principalOf(request).actor,
          measure: 'cc-sharing',
          action: 'share.entries.read',
          counts: { entries: entries.length },
        });
        return { entries };
      },
    );

    app.post(
      '/api/v1/share/entries/:id/decision',
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
            mamori.state,
            mamori.audit,
            mamori.registry.settingsOf<CcSharingSettings>('cc-sharing'),
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
}
