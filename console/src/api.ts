/**
 * The console's one way to the API: the login session's bearer token (kept in sessionStorage, so it
 * ends with the tab), JSON in and out, and a 401 on any call taken as the session's end: the session
 * is dropped and the console returns to the login page saying so.
 */
import { reactive } from 'vue';

export interface Me {
  name: string;
  role: string;
  kind: 'user' | 'token';
  permissions: string[];
}

interface Stored {
  token: string;
  expiresAt: string;
}

const KEY = 'mamori.session';

function load(): Stored | null {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Stored | null;
    return s && typeof s.token === 'string' && Date.parse(s.expiresAt) > Date.now() ? s : null;
  } catch {
    return null;
  }
}

export const session = reactive({
  stored: load(),
  me: null as Me | null,
  /** The measures running on this server (their pages are offered only then). */
  running: [] as string[],
  /** Why the last session ended ('expired'), shown on the login page. */
  ended: '' as '' | 'expired' | 'logged-out' | 'password-changed',
});

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let onExpired: () => void = () => undefined;
/** What to do when the server no longer accepts the session (set by the router). */
export function whenExpired(f: () => void): void {
  onExpired = f;
}

let timer: ReturnType<typeof setTimeout> | undefined;
function armExpiry(): void {
  if (timer) clearTimeout(timer);
  const s = session.stored;
  if (!s) return;
  // setTimeout holds at most about 24.8 days; sessions are hours long.
  const ms = Math.min(Date.parse(s.expiresAt) - Date.now(), 2 ** 31 - 1);
  timer = setTimeout(() => expire(), Math.max(ms, 0));
}

export function expire(): void {
  if (!session.stored) return;
  clear('expired');
  onExpired();
}

/** After one's own password change: the server has ended every session of the user, this one too. */
export function endAfterPasswordChange(): void {
  clear('password-changed');
}

function clear(why: 'expired' | 'logged-out' | 'password-changed'): void {
  sessionStorage.removeItem(KEY);
  session.stored = null;
  session.me = null;
  session.ended = why;
  if (timer) clearTimeout(timer);
}

async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (session.stored) headers.set('authorization', `Bearer ${session.stored.token}`);
  if (init.body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
  const res = await fetch(path, { ...init, headers, cache: 'no-store' });
  if (res.status === 401 && session.stored) {
    expire();
    throw new ApiError(401, 'unauthenticated', 'session expired');
  }
  if (!res.ok) {
    let code = String(res.status);
    let message = res.statusText;
    try {
      const body = (await res.json()) as { error?: string; code?: string; message?: string };
      code = body.code ?? body.error ?? code;
      message = body.message ?? message;
    } catch {
      // not JSON: the status text says enough
    }
    throw new ApiError(res.status, code, message);
  }
  return res;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await (await request(path)).json()) as T;
}

export async function getText(path: string): Promise<string> {
  return (await request(path)).text();
}

export async function send<T = void>(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const res = await request(path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return (res.status === 204 ? undefined : await res.json()) as T;
}

/** A file as the body of a POST, sent as it is (a report to import): not read into a string first. */
export async function upload<T>(path: string, file: Blob): Promise<T> {
  const res = await request(path, { method: 'POST', body: file, headers: { 'content-type': 'application/octet-stream' } });
  return (await res.json()) as T;
}

export async function login(username: string, password: string): Promise<void> {
  const res = await fetch('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
    throw new ApiError(res.status, body.error ?? String(res.status), body.message ?? res.statusText);
  }
  const r = (await res.json()) as { token: string; expiresAt: string };
  session.stored = { token: r.token, expiresAt: r.expiresAt };
  sessionStorage.setItem(KEY, JSON.stringify(session.stored));
  session.ended = '';
  armExpiry();
  await loadMe();
}

export async function loadMe(): Promise<Me | null> {
  if (!session.stored) return null;
  armExpiry();
  const me = await getJson<Me>('/api/v1/me');
  const measures = me.permissions.includes('measures:read')
    ? (await getJson<{ measures: Array<{ id: string; state: string }> }>('/api/v1/measures')).measures
    : [];
  session.running = measures.filter((m) => m.state === 'enabled').map((m) => m.id);
  session.me = me;
  return session.me;
}

export async function logout(): Promise<void> {
  try {
    if (session.stored) await request('/api/v1/auth/logout', { method: 'POST' });
  } finally {
    clear('logged-out');
  }
}

export function may(permission: string): boolean {
  return session.me?.permissions.includes(permission) ?? false;
}
