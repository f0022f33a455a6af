/**
 * Recipients of M2's list: organisations (partner ISPs, ICT-ISAC-style
 * bodies) whose information management was checked, until when, over which
 * channels, with which rights per collection. Credentials are random secrets
 * shown once and stored as SHA-256 (they are 256-bit random, so a slow hash
 * adds nothing but latency on every TAXII request). Only an enabled recipient
 * within its attestation gets anything.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuditWriter } from '../../core/measure-state.js';
import type { StateStore } from '../../store/state/store.js';
import { shareDb, type ShareTables } from './tables.js';
import { MamoriError } from '../../core/errors.js';

export const CHANNELS = ['taxii', 'misp', 'csv'] as const;
export type Channel = (typeof CHANNELS)[number];

export class RecipientError extends MamoriError {
  static override readonly code = 'share-recipient';
  static override readonly status = 409;
  constructor(message: string) {
    super(message);
  }
}

export interface Recipient {
  id: string;
  name: string;
  contact: string;
  attestedAt: string;
  attestationUntil: string;
  channels: Channel[];
  disabled: boolean;
  rights: Array<{ collection: string; read: boolean; write: boolean }>;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function fromRow(r: ShareTables['share_recipients'], rights: Array<ShareTables['share_rights']>): Recipient {
  return {
    id: r.id,
    name: r.name,
    contact: r.contact,
    attestedAt: r.attested_at,
    attestationUntil: r.attestation_until,
    channels: JSON.parse(r.channels) as Channel[],
    disabled: r.disabled === 1,
    rights: rights
      .filter((x) => x.recipient_id === r.id)
      .map((x) => ({ collection: x.collection, read: x.can_read === 1, write: x.can_write === 1 })),
  };
}

export async function listRecipients(store: StateStore): Promise<Recipient[]> {
  const s = shareDb(store.db);
  const [rows, rights] = await Promise.all([
    s.selectFrom('share_recipients').selectAll().orderBy('name').execute(),
    s.selectFrom('share_rights').selectAll().execute(),
  ]);
  return rows.map((r) => fromRow(r, rights));
}

export async function getRecipient(store: StateStore, idOrName: string): Promise<Recipient | undefined> {
  const s = shareDb(store.db);
  const r = await s
    .selectFrom('share_recipients')
    .selectAll()
    .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
    .executeTakeFirst();
  if (!r) return undefined;
  return fromRow(r, await s.selectFrom('share_rights').selectAll().where('recipient_id', '=', r.id).execute());
}

export interface RecipientInput {
  name: string;
  contact: string;
  attestedAt: string;
  attestationUntil: string;
  channels: Channel[];
  rights: Array<{ collection: string; read: boolean; write: boolean }>;
}

export async function addRecipient(
  store: StateStore,
  audit: AuditWriter,
  input: RecipientInput,
  actor: string,
  now = new Date(),
): Promise<Recipient> {
  if (!(Date.parse(input.attestationUntil) > Date.parse(input.attestedAt)))
    throw new RecipientError('the attestation must end after it was checked');
  if (input.channels.length === 0) throw new RecipientError('give at least one channel (taxii, misp, csv)');
  const id = `r-${randomBytes(8).toString('hex')}`;
  await audit.withAudit({ actor, measure: 'cc-sharing', action: 'share.recipient.add', object: `recipient:${id}` }, async (tx) => {
    const s = shareDb(tx);
    if (await s.selectFrom('share_recipients').select('id').where('name', '=', input.name).executeTakeFirst())
      throw new RecipientError(`a recipient named "${input.name}" exists already`);
    await s
      .insertInto('share_recipients')
      .values({
        id,
        name: input.name,
        contact: input.contact,
        attested_at: input.attestedAt,
        attestation_until: input.attestationUntil,
        channels: JSON.stringify(input.channels),
        disabled: 0,
        created_at: now.toISOString(),
        created_by: actor,
      })
      .execute();
    for (const r of input.rights)
      await s
        .insertInto('share_rights')
        .values({ recipient_id: id, collection: r.collection, can_read: r.read ? 1 : 0, can_write: r.write ? 1 : 0 })
        .execute();
  });
  return (await getRecipient(store, id))!;
}

/** A re-check of the recipient's information management: the attestation runs to a new date. */
export async function renewAttestation(
  store: StateStore,
  audit: AuditWriter,
  idOrName: string,
  attestedAt: string,
  until: string,
  actor: string,
): Promise<Recipient> {
  const r = await getRecipient(store, idOrName);
  if (!r) throw new RecipientError(`no recipient "${idOrName}"`);
  if (!(Date.parse(until) > Date.parse(attestedAt))) throw new RecipientError('the attestation must end after it was checked');
  await audit.withAudit({ actor, measure: 'cc-sharing', action: 'share.recipient.attest', object: `recipient:${r.id}` }, async (tx) => {
    await shareDb(tx)
      .updateTable('share_recipients')
      .set({ attested_at: attestedAt, attestation_until: until })
      .where('id', '=', r.id)
      .execute();
  });
  return (await getRecipient(store, r.id))!;
}

export async function setRecipientDisabled(
  store: StateStore,
  audit: AuditWriter,
  idOrName: string,
  disabled: boolean,
  actor: string,
): Promise<void> {
  const r = await getRecipient(store, idOrName);
  if (!r) throw new RecipientError(`no recipient "${idOrName}"`);
  await audit.withAudit(
    { actor, measure: 'cc-sharing', action: disabled ? 'share.recipient.disable' : 'share.recipient.enable', object: `recipient:${r.id}` },
    async (tx) => {
      await shareDb(tx)
        .updateTable('share_recipients')
        .set({ disabled: disabled ? 1 : 0 })
        .where('id', '=', r.id)
        .execute();
    },
  );
}

/**
 * A new credential: a bearer token, or HTTP Basic with a generated password.
 * The secret is returned once and never stored in clear.
 */
export async function issueCredential(
  store: StateStore,
  audit: AuditWriter,
  idOrName: string,
  kind: 'token' | 'basic',
  actor: string,
  now = new Date(),
): Promise<{ id: string; username?: string; secret: string }> {
  const r = await getRecipient(store, idOrName);
  if (!r) throw new RecipientError(`no recipient "${idOrName}"`);
  const id = `k-${randomBytes(8).toString('hex')}`;
  const secret = `${kind === 'token' ? 'mmr_' : ''}${randomBytes(32).toString('base64url')}`;
  const username =
    kind === 'basic'
      ? `${
          r.name
            .toLowerCase()
            .replace(/[^a-z0-9]+/g, '-')
            .replace(/^-|-$/g, '') || 'recipient'
        }-${randomBytes(3).toString('hex')}`
      : null;
  await audit.withAudit({ actor, measure: 'cc-sharing', action: 'share.credential.issue', object: `credential:${id}` }, async (tx) => {
    await shareDb(tx)
      .insertInto('share_credentials')
      .values({ id, recipient_id: r.id, kind, username, secret_sha256: sha256(secret), created_at: now.toISOString(), revoked_at: null })
      .execute();
  });
  return { id, ...(username ? { username } : {}), secret };
}

export interface CredentialInfo {
  id: string;
  kind: 'token' | 'basic';
  username: string | null;
  createdAt: string;
  revokedAt: string | null;
}

/** A recipient's credentials, newest first, without their secrets (only a hash is stored anyway). */
export async function listCredentials(store: StateStore, idOrName: string): Promise<CredentialInfo[]> {
  const r = await getRecipient(store, idOrName);
  if (!r) throw new RecipientError(`no recipient "${idOrName}"`);
  const rows = await shareDb(store.db)
    .selectFrom('share_credentials')
    .select(['id', 'kind', 'username', 'created_at', 'revoked_at'])
    .where('recipient_id', '=', r.id)
    .orderBy('created_at', 'desc')
    .execute();
  return rows.map((c) => ({
    id: c.id,
    kind: c.kind === 'basic' ? 'basic' : 'token',
    username: c.username,
    createdAt: c.created_at,
    revokedAt: c.revoked_at,
  }));
}

export async function revokeCredential(
  store: StateStore,
  audit: AuditWriter,
  credentialId: string,
  actor: string,
  now = new Date(),
): Promise<void> {
  const n = await audit.withAudit(
    { actor, measure: 'cc-sharing', action: 'share.credential.revoke', object: `credential:${credentialId}` },
    async (tx) => {
      const r = await shareDb(tx)
        .updateTable('share_credentials')
        .set({ revoked_at: now.toISOString() })
        .where('id', '=', credentialId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return Number(r.numUpdatedRows);
    },
  );
  if (n === 0) throw new RecipientError(`no active credential ${credentialId}`);
}

export type AuthResult =
  | { ok: true; recipient: Recipient; credentialId: string }
  | {
      ok: false;
      reason: 'no-credentials' | 'unknown' | 'revoked' | 'disabled' | 'attestation-lapsed' | 'not-yet-attested' | 'channel-not-allowed';
      recipientId?: string;
    };

/** Checks an Authorization header (Basic or Bearer) for a channel, at `now`. */
export async function authenticate(store: StateStore, header: string | undefined, channel: Channel, now = new Date()): Promise<AuthResult> {
  if (!header) return { ok: false, reason: 'no-credentials' };
  let username: string | null = null;
  let secret: string;
  const bearer = /^Bearer\s+(\S+)$/i.exec(header);
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
  if (bearer) secret = bearer[1]!;
  else if (basic) {
    const text = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon < 0) return { ok: false, reason: 'unknown' };
    username = text.slice(0, colon);
    secret = text.slice(colon + 1);
  } else return { ok: false, reason: 'no-credentials' };
  const s = shareDb(store.db);
  const cred = await s.selectFrom('share_credentials').selectAll().where('secret_sha256', '=', sha256(secret)).executeTakeFirst();
  if (!cred || cred.kind !== (username === null ? 'token' : 'basic')) return { ok: false, reason: 'unknown' };
  if (
    username !== null &&
    !(cred.username && cred.username.length === username.length && timingSafeEqual(Buffer.from(cred.username), Buffer.from(username)))
  )
    return { ok: false, reason: 'unknown' };
  if (cred.revoked_at) return { ok: false, reason: 'revoked', recipientId: cred.recipient_id };
  const recipient = (await getRecipient(store, cred.recipient_id))!;
  if (recipient.disabled) return { ok: false, reason: 'disabled', recipientId: recipient.id };
  const t = now.getTime();
  if (t < Date.parse(recipient.attestedAt)) return { ok: false, reason: 'not-yet-attested', recipientId: recipient.id };
  if (t >= Date.parse(recipient.attestationUntil)) return { ok: false, reason: 'attestation-lapsed', recipientId: recipient.id };
  if (!recipient.channels.includes(channel)) return { ok: false, reason: 'channel-not-allowed', recipientId: recipient.id };
  return { ok: true, recipient, credentialId: cred.id };
}

export function mayRead(r: Recipient, collection: string): boolean {
  return r.rights.some((x) => x.collection === collection && x.read);
}

export function mayWrite(r: Recipient, collection: string): boolean {
  return r.rights.some((x) => x.collection === collection && x.write);
}
