/** Users and API tokens, for admins. Secrets are returned once, at creation. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { generatePassword } from '../../core/accounts.js';
import type { Mamori } from '../../app/mamori.js';
import { parseDuration } from '../../core/duration.js';
import { DURATION_PATTERN } from '../../core/duration.js';
import { ROLES } from '../../core/roles.js';
import { principalOf } from '../../core/http.js';

const username = z.string().min(2).max(32);

export function accountRoutes(mamori: Mamori): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/v1/users',
      {
        config: { permission: 'users:manage' },
        schema: {
          tags: ['accounts'],
          response: {
            200: z.object({
              users: z.array(z.object({ username: z.string(), role: z.string(), disabled: z.boolean(), createdAt: z.string() })),
            }),
          },
        },
      },
      async () => ({ users: await mamori.accounts.listUsers() }),
    );

    app.post(
      '/api/v1/users',
      {
        config: { permission: 'users:manage' },
        schema: {
          tags: ['accounts'],
          body: z.object({ username, role: z.enum(ROLES), password: z.string().min(1).max(1024).optional() }),
          response: { 201: z.object({ username: z.string(), role: z.string(), password: z.string().optional() }) },
        },
      },
      async (request, reply) => {
        const generated = request.body.password ? undefined : generatePassword();
        await mamori.accounts.createUser(
          principalOf(request).actor,
          request.body.username,
          request.body.role,
          request.body.password ?? generated!,
        );
        return reply
          .code(201)
          .send({ username: request.body.username, role: request.body.role, ...(generated ? { password: generated } : {}) });
      },
    );

    app.post(
      '/api/v1/users/:username/password',
      {
        config: { permission: 'users:manage' },
        schema: { tags: ['accounts'], params: z.object({ username }), response: { 200: z.object({ password: z.string() }) } },
      },
      async (request) => {
        const password = generatePassword();
        await mamori.accounts.setPassword(principalOf(request).actor, request.params.username, password);
        return { password };
      },
    );

    app.post(
      '/api/v1/users/:username/role',
      {
        config: { permission: 'users:manage' },
        schema: {
          tags: ['accounts'],
          description: 'A new role; a user who may no longer manage tokens loses the tokens they created.',
          params: z.object({ username }),
          body: z.object({ role: z.enum(ROLES) }),
        },
      },
      async (request, reply) => {
        await mamori.accounts.setRole(principalOf(request).actor, request.params.username, request.body.role);
        return reply.code(204).send();
      },
    );

    app.post(
      '/api/v1/users/:username/:action',
      {
        config: { permission: 'users:manage' },
        schema: { tags: ['accounts'], params: z.object({ username, action: z.enum(['disable', 'enable']) }) },
      },
      async (request, reply) => {
        await mamori.accounts.setDisabled(principalOf(request).actor, request.params.username, request.params.action === 'disable');
        return reply.code(204).send();
      },
    );

    app.get(
      '/api/v1/tokens',
      {
        config: { permission: 'tokens:manage' },
        schema: { tags: ['accounts'] },
      },
      async () => ({ tokens: await mamori.accounts.listTokens() }),
    );

    app.post(
      '/api/v1/tokens',
      {
        config: { permission: 'tokens:manage' },
        schema: {
          tags: ['accounts'],
          body: z.object({ name: z.string().min(1).max(64), role: z.enum(ROLES), ttl: z.string().regex(DURATION_PATTERN).optional() }),
          response: { 201: z.object({ id: z.string(), token: z.string() }) },
        },
      },
      async (request, reply) => {
        const r = await mamori.accounts.createToken(
          principalOf(request).actor,
          request.body.name,
          request.body.role,
          request.body.ttl ? parseDuration(request.body.ttl) : undefined,
        );
        return reply.code(201).send(r);
      },
    );

    app.delete(
      '/api/v1/tokens/:id',
      {
        config: { permission: 'tokens:manage' },
        schema: { tags: ['accounts'], params: z.object({ id: z.string().regex(/^[0-9a-f]{12}$/) }) },
      },
      async (request, reply) => {
        await mamori.accounts.revokeToken(principalOf(request).actor, request.params.id);
        return reply.code(204).send();
      },
    );
  };
}
