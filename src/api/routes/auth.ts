/**
 * Login, logout, own account. The login route is the only one reachable without credentials; failed
 * logins are throttled per client address and per account (login-throttle.ts).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Mamori } from '../../app/mamori.js';
import { parseDuration } from '../../core/duration.js';
import type { Metrics } from '../../core/metrics.js';
import { PERMISSIONS, roleMay, type Permission } from '../../core/roles.js';
import { LoginThrottle } from '../login-throttle.js';
import { errorSchema } from '../../core/http.js';
import { principalOf } from '../../core/http.js';

export function authRoutes(mamori: Mamori, metrics: Metrics): FastifyPluginAsyncZod {
  const ttl = parseDuration(mamori.config.auth.sessionTtl);
  const a = mamori.config.auth;
  const throttle = new LoginThrottle({
    perAddress: a.loginAttempts,
    perAccount: a.accountLoginAttempts,
    windowMs: parseDuration(a.loginWindow) * 1000,
  });
  return async (app) => {
    app.post(
      '/api/v1/auth/login',
      {
        config: { login: true },
        schema: {
          tags: ['auth'],
          security: [],
          body: z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(1024) }),
          response: { 200: z.object({ token: z.string(), expiresAt: z.string(), role: z.string() }), 401: errorSchema, 429: errorSchema },
        },
      },
      async (request, reply) => {
        // request.ip is the peer, or the address a proxy in server.trustProxy forwards.
        const { username, password } = request.body;
        const wait = throttle.check(request.ip, username);
        if (wait) {
          metrics.loginThrottled.inc({ by: wait.by });
          reply.header('retry-after', String(wait.retryAfterSeconds));
          return reply.code(429).send({
            error: 'too-many-attempts',
            message:
              `too many failed logins ${wait.by === 'address' ? 'from this address' : 'for this account'}; ` +
              `try again in ${wait.retryAfterSeconds} s`,
          });
        }
        const r = await mamori.accounts.login(username, password, ttl);
        if (!r) {
          metrics.loginFailures.inc();
          for (const by of throttle.fail(request.ip, username)) {
            const object = by === 'account' ? mamori.accounts.userRef(username) : 'client-address';
            await mamori.audit.append({ actor: 'module:api', action: 'auth.login-throttled', object, outcome: 'refused' });
          }
          return reply.code(401).send({ error: 'unauthenticated', message: 'wrong user name or password, or the account is disabled' });
        }
        return { token: r.token, expiresAt: r.expiresAt, role: r.principal.role };
      },
    );

    app.post('/api/v1/auth/logout', { config: { permission: 'self' }, schema: { tags: ['auth'] } }, async (request, reply) => {
      await mamori.accounts.logout(request.bearer!, principalOf(request));
      return reply.code(204).send();
    });

    app.get(
      '/api/v1/me',
      {
        config: { permission: 'self' },
        schema: {
          tags: ['auth'],
          description: 'Who is calling, and every permission their role has (the console offers only what these allow).',
          response: {
            200: z.object({ name: z.string(), role: z.string(), kind: z.enum(['user', 'token']), permissions: z.array(z.string()) }),
          },
        },
      },
      async (request) => {
        const p = principalOf(request);
        const permissions = (Object.keys(PERMISSIONS) as Permission[]).filter((x) => roleMay(p.role, x));
        return { name: p.name, role: p.role, kind: p.kind, permissions };
      },
    );

    app.post(
      '/api/v1/me/password',
      {
        config: { permission: 'self' },
        schema: { tags: ['auth'], body: z.object({ current: z.string().min(1).max(1024), new: z.string().min(1).max(1024) }) },
      },
      async (request, reply) => {
        const p = principalOf(request);
        if (p.kind !== 'user') return reply.code(400).send({ error: 'bad-request', message: 'API tokens have no password' });
        if (!(await mamori.accounts.verifyPassword(p.name, request.body.current))) {
          return reply.code(403).send({ error: 'forbidden', message: 'the current password is wrong' });
        }
        await mamori.accounts.setPassword(p.actor, p.name, request.body.new);
        return reply.code(204).send();
      },
    );
  };
}
