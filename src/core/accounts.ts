/**
 * Local users (argon2id password hashes), login sessions and API tokens for
 * machines. Secrets are shown once when created and stored only as hashes;
 * every change is audited in the same transaction.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import argon2 from 'argon2';
import type { StateDb, StateStore } from '../store/state/store.js';
import type { AuditLog } from './audit/log.js';
import { passwordWeakness } from './password-strength.js';
import { isRole, roleMay, type Role } from './roles.js';
import { MamoriError } from './errors.js';

export interface Principal {
  /** `user:NAME` or `token:ID`: the actor in audit entries. */
  readonly actor: string;
  readonly name: string;
  readonly role: Role;
  readonly kind: 'user' | 'token';
}

export class AccountError extends MamoriError {
  static override readonly code = 'account';
  static override readonly status = 400;
  constructor(message: string) {
    super(message);
  }
}

const USERNAME = /^[a-z][a-z0-9_-]{1,31}$/;
export const MIN_PASSWORD_LENGTH = 12;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A password for people to copy once: 24 characters from an unambiguous alphabet (~137 bits). */
export function generatePassword(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = randomBytes(24);
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

export class Accounts {
  constructor(
    private readonly store: StateStore,
    private readonly audit: AuditLog,
  ) {}

  private validateUsername(username: string): void {
    if (!USERNAME.test(username))
      throw new AccountError(
        `user name "${username}" is not allowed: 2–32 characters, lower-case letters, digits, "-" or "_", starting with a letter`,
      );
  }

  private validatePassword(password: string, username: string): void {
    if (password.length < MIN_PASSWORD_LENGTH)
      throw new AccountError(`the password is too short: at least ${MIN_PASSWORD_LENGTH} characters`);
    const weak = passwordWeakness(password, [username, 'mamori']);
    if (weak) throw new AccountError(`${weak.en} / ${weak.ja}`);
  }

  async countUsers(): Promise<number> {
    const r = await this.store.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async createUser(actor: string, username: string, role: string, password: string): Promise<void> {
    this.validateUsername(username);
    if (!isRole(role)) throw new AccountError(`role "${role}" does not exist; roles: admin, operator, analyst, auditor`);
    this.validatePassword(password, username);
    const hash = await argon2.hash(password, { type: argon2.argon2id });
    const now = new Date().toISOString();
    await this.audit.withAudit({ actor, action: 'user.create', object: `user:${username}`, counts: null }, async (db) => {
      const existing = await db.selectFrom('users').select('id').where('username', '=', username).executeTakeFirst();
      if (existing) throw new AccountError(`user "${username}" already exists`);
      await db
        .insertInto('users')
        .values({ username, role, password_hash: hash, disabled: 0, created_at: now, password_changed_at: now })
        .execute();
    });
  }

  async listUsers(): Promise<Array<{ username: string; role: string; disabled: boolean; createdAt: string }>> {
    const rows = await this.store.db
      .selectFrom('users')
      .select(['username', 'role', 'disabled', 'created_at'])
      .orderBy('username')
      .execute();
    return rows.map((r) => ({ username: r.username, role: r.role, disabled: r.disabled === 1, createdAt: r.created_at }));
  }

  async setPassword(actor: string, username: string, password: string): Promise<void> {
    this.validatePassword(password, username);
    const hash = await argon2.hash(password, { type: argon2.argon2id });
    await this.audit.withAudit({ actor, action: 'user.password', object: `user:${username}` }, async (db) => {
      const r = await db
        .updateTable('users')
        .set({ password_hash: hash, password_changed_at: new Date().toISOString() })
        .where('username', '=', username)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) throw new AccountError(`user "${username}" does not exist`);
      // A new password ends every session of that user.
      const user = await db.selectFrom('users').select('id').where('username', '=', username).executeTakeFirstOrThrow();
      await db.deleteFrom('sessions').where('user_id', '=', user.id).execute();
    });
  }

  async setDisabled(actor: string, username: string, disabled: boolean): Promise<void> {
    await this.audit.withAudit({ actor, action: disabled ? 'user.disable' : 'user.enable', object: `user:${username}` }, async (db) => {
      const user = await db.selectFrom('users').select(['id', 'role']).where('username', '=', username).executeTakeFirst();
      if (!user) throw new AccountError(`user "${username}" does not exist`);
      if (disabled && user.role === 'admin') {
        const admins = await db
          .selectFrom('users')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('role', '=', 'admin')
          .where('disabled', '=', 0)
          .executeTakeFirstOrThrow();
        if (Number(admins.n) <= 1) throw new AccountError('the last enabled admin cannot be disabled');
      }
      await db
        .updateTable('users')
        .set({ disabled: disabled ? 1 : 0 })
        .where('id', '=', user.id)
        .execute();
      if (disabled) {
        await db.deleteFrom('sessions').where('user_id', '=', user.id).execute();
        await this.revokeTokensOf(db, actor, username);
      }
    });
  }

  /**
   * A new role for a user. Their sessions end (they carry the old role), and a user who may no
   * longer manage tokens loses the tokens they created: a token never outlives its creator's right.
   */
  async setRole(actor: string, username: string, role: string): Promise<void> {
    if (!isRole(role)) throw new AccountError(`role "${role}" does not exist; roles: admin, operator, analyst, auditor`);
    await this.audit.withAudit({ actor, action: 'user.role', object: `user:${username}` }, async (db) => {
      const user = await db.selectFrom('users').select(['id', 'role', 'disabled']).where('username', '=', username).executeTakeFirst();
      if (!user) throw new AccountError(`user "${username}" does not exist`);
      if (user.role === 'admin' && role !== 'admin' && user.disabled === 0) {
        const admins = await db
          .selectFrom('users')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('role', '=', 'admin')
          .where('disabled', '=', 0)
          .executeTakeFirstOrThrow();
        if (Number(admins.n) <= 1) throw new AccountError('the last enabled admin cannot lose the admin role');
      }
      await db.updateTable('users').set({ role }).where('id', '=', user.id).execute();
      await db.deleteFrom('sessions').where('user_id', '=', user.id).execute();
      if (!roleMay(role, 'tokens:manage')) await this.revokeTokensOf(db, actor, username);
    });
  }

  /** Revokes every live token `username` created, each audited. */
  private async revokeTokensOf(db: StateDb, actor: string, username: string): Promise<void> {
    const live = await db
      .selectFrom('api_tokens')
      .select('id')
      .where('created_by', '=', `user:${username}`)
      .where('revoked_at', 'is', null)
      .execute();
    const now = new Date().toISOString();
    for (const t of live) {
      await db.updateTable('api_tokens').set({ revoked_at: now }).where('id', '=', t.id).execute();
      await this.audit.appendIn(db, { actor, action: 'token.revoke', object: `token:${t.id}`, counts: { creatorLostRight: 1 } });
    }
  }

  /** The user row if the password is right and the account usable; the same time is spent either way. */
  private async check(username: string, password: string) {
    const user = await this.store.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    // Verify against a dummy hash when the user does not exist, so timing does not reveal user names.
    const ok = await argon2.verify(user?.password_hash ?? DUMMY_HASH, password).catch(() => false);
    if (!user || !ok || user.disabled === 1 || !isRole(user.role)) return undefined;
    return { ...user, role: user.role as Role };
  }

  /** How an audit entry names a user someone typed: a name that cannot exist is not repeated. */
  userRef(username: string): string {
    return USERNAME.test(username) ? `user:${username}` : 'user:(invalid-name)';
  }

  async verifyPassword(username: string, password: string): Promise<boolean> {
    return (await this.check(username, password)) !== undefined;
  }

  /** Checks a password; returns a session token on success. Failures are audited (name only, never the password). */
  async login(
    username: string,
    password: string,
    ttlSeconds: number,
  ): Promise<{ token: string; principal: Principal; expiresAt: string } | undefined> {
    const user = await this.check(username, password);
    if (!user) {
      await this.audit.append({ actor: 'module:api', action: 'auth.login-failed', object: this.userRef(username), outcome: 'refused' });
      return undefined;
    }
    const token = `mms_${randomBytes(32).toString('base64url')}`;
    const now = new Date();
    const expiresAt = new Date(now.getTime() + ttlSeconds * 1000).toISOString();
    await this.audit.withAudit({ actor: `user:${username}`, action: 'auth.login', object: `user:${username}` }, async (db) => {
      await db
        .insertInto('sessions')
        .values({ token_hash: sha256(token), user_id: user.id, created_at: now.toISOString(), expires_at: expiresAt })
        .execute();
    });
    return { token, expiresAt, principal: { actor: `user:${username}`, name: username, role: user.role, kind: 'user' } };
  }

  async logout(token: string, principal: Principal): Promise<void> {
    await this.audit.withAudit({ actor: principal.actor, action: 'auth.logout', object: principal.actor }, async (db) => {
      await db.deleteFrom('sessions').where('token_hash', '=', sha256(token)).execute();
    });
  }

  async createToken(actor: string, name: string, role: string, ttlSeconds?: number): Promise<{ id: string; token: string }> {
    if (!isRole(role)) throw new AccountError(`role "${role}" does not exist; roles: admin, operator, analyst, auditor`);
    if (!/^[\w .-]{1,64}$/.test(name)) throw new AccountError('token name: 1–64 letters, digits, spaces, ".", "-" or "_"');
    const id = randomBytes(6).toString('hex');
    const token = `mmt_${id}_${randomBytes(32).toString('base64url')}`;
    const now = new Date();
    await this.audit.withAudit({ actor, action: 'token.create', object: `token:${id}` }, async (db) => {
      await db
        .insertInto('api_tokens')
        .values({
          id,
          name,
          role,
          token_hash: sha256(token),
          created_by: actor,
          created_at: now.toISOString(),
          expires_at: ttlSeconds ? new Date(now.getTime() + ttlSeconds * 1000).toISOString() : null,
          revoked_at: null,
          last_used_at: null,
        })
        .execute();
    });
    return { id, token };
  }

  async listTokens(): Promise<
    Array<{
      id: string;
      name: string;
      role: string;
      createdBy: string;
      createdAt: string;
      expiresAt: string | null;
      revokedAt: string | null;
      lastUsedAt: string | null;
    }>
  > {
    const rows = await this.store.db.selectFrom('api_tokens').selectAll().orderBy('created_at').execute();
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      role: r.role,
      createdBy: r.created_by,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      revokedAt: r.revoked_at,
      lastUsedAt: r.last_used_at,
    }));
  }

  async revokeToken(actor: string, id: string): Promise<void> {
    await this.audit.withAudit({ actor, action: 'token.revoke', object: `token:${id}` }, async (db) => {
      const r = await db
        .updateTable('api_tokens')
        .set({ revoked_at: new Date().toISOString() })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) throw new AccountError(`token "${id}" does not exist or is already revoked`);
    });
  }

  /** Resolves a bearer credential (session or API token) to a principal, or undefined. */
  async authenticate(bearer: string): Promise<Principal | undefined> {
    const now = new Date().toISOString();
    if (bearer.startsWith('mms_')) {
      const row = await this.store.db
        .selectFrom('sessions')
        .innerJoin('users', 'users.id', 'sessions.user_id')
        .select(['users.username', 'users.role', 'users.disabled', 'sessions.expires_at'])
        .where('sessions.token_hash', '=', sha256(bearer))
        .executeTakeFirst();
      if (!row || row.expires_at <= now || row.disabled === 1 || !isRole(row.role)) return undefined;
      return { actor: `user:${row.username}`, name: row.username, role: row.role, kind: 'user' };
    }
    const m = /^mmt_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/.exec(bearer);
    if (!m) return undefined;
    const row = await this.store.db.selectFrom('api_tokens').selectAll().where('id', '=', m[1]!).executeTakeFirst();
    if (!row || row.revoked_at || (row.expires_at && row.expires_at <= now) || !isRole(row.role)) return undefined;
    const a = Buffer.from(row.token_hash, 'hex');
    const b = Buffer.from(sha256(bearer), 'hex');
    if (a.length !== b.length || !timingSafeEqual(a, b)) return undefined;
    // A token made by a user lives only while that user may still make tokens (disabled, demoted or
    // deleted: it stops at once, even if its revocation was missed). CLI-made tokens have no such owner.
    if (row.created_by.startsWith('user:')) {
      const owner = await this.store.db
        .selectFrom('users')
        .select(['role', 'disabled'])
        .where('username', '=', row.created_by.slice(5))
        .executeTakeFirst();
      if (!owner || owner.disabled === 1 || !isRole(owner.role) || !roleMay(owner.role, 'tokens:manage')) return undefined;
    }
    await this.store.db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', row.id).execute();
    return { actor: `token:${row.id}`, name: row.name, role: row.role, kind: 'token' };
  }
}

// argon2id hash of a random string, used only to spend the same time on unknown user names.
const DUMMY_HASH = '$argon2id$v=19$m=65536,p=4,t=3$4QpdqRAa9Y2B02XPYPVngw$FJUYfcDRGCNOfNcybjPtZ4CvDl6oET3yUGYOngzDg/I';
