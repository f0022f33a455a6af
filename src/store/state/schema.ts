/**
 * Tables of the state store. Written once for SQLite and PostgreSQL alike:
 * callers use Kysely with these types and never see the dialect.
 */
import type { Generated } from 'kysely';

export interface MetaTable {
  key: string;
  value: string;
}

export interface UserTable {
  id: Generated<number>;
  username: string;
  role: string;
  password_hash: string;
  disabled: number;
  created_at: string;
  password_changed_at: string;
}

export interface SessionTable {
  token_hash: string;
  user_id: number;
  created_at: string;
  expires_at: string;
}

export interface ApiTokenTable {
  id: string;
  name: string;
  role: string;
  token_hash: string;
  created_by: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface AuditLogTable {
  seq: number;
  ts: string;
  actor: string;
  measure: string | null;
  action: string;
  object: string | null;
  case_id: string | null;
  counts: string | null;
  outcome: string;
  prev_hash: string;
  hash: string;
}

export interface AuditAnchorTable {
  seq: number;
  hash: string;
  ts: string;
  sig: string | null;
}

export interface StateSchema {
  meta: MetaTable;
  users: UserTable;
  sessions: SessionTable;
  api_tokens: ApiTokenTable;
  audit_log: AuditLogTable;
  audit_anchors: AuditAnchorTable;
}
