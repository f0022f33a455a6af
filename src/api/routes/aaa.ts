/**
 * The AAA's calls that belong to no one measure (FreeRADIUS rlm_rest): authorize rejects an ID a measure
 * suspended (the auth-suspender capability) and both calls pass their authentication event to the measures
 * granted the auth-feed. Only tokens of role `aaa`; bodies bounded as RADIUS bounds them.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AuthGate } from '../../ingest/radius/auth-gate.js';
import { REST_BODY_LIMIT, restAttribute as attribute, restBody } from '../../ingest/radius/rest.js';

export function aaaRoutes(gate: AuthGate): FastifyPluginAsyncZod {
  const event = (body: Record<string, unknown>, account: string, result: 'request' | 'accept' | 'reject') => ({
    account,
    at: Math.floor(Date.now() / 1000),
    nas: attribute(body, 'NAS-Identifier') ?? attribute(body, 'NAS-IP-Address') ?? 'unknown',
    station: attribute(body, 'Calling-Station-Id'),
    result,
  });
  return async (app) => {
    app.post(
      '/api/v1/aaa/authorize',
      {
        config: { permission: 'aaa:rest' },
        bodyLimit: REST_BODY_LIMIT,
        schema: {
          tags: ['aaa'],
          description: 'For FreeRADIUS rlm_rest in authorize: 204 to go on, 401 to reject a suspended ID.',
          body: restBody,
        },
      },
      async (request, reply) => {
        const account = attribute(request.body, 'User-Name');
        if (!account) return reply.code(400).send({ error: 'bad-request', message: 'no User-Name in the request' });
        gate.emit(event(request.body, account, 'request'));
        const s = await gate.authorize(account);
        if (!s) return reply.code(204).send();
        return reply.code(401).send({ 'reply:Reply-Message': s.message });
      },
    );

    app.post(
      '/api/v1/aaa/post-auth/:result',
      {
        config: { permission: 'aaa:rest' },
        bodyLimit: REST_BODY_LIMIT,
        schema: {
          tags: ['aaa'],
          description: 'For FreeRADIUS rlm_rest in post-auth: the outcome of an authentication.',
          params: z.object({ result: z.enum(['accept', 'reject']) }),
          body: restBody,
        },
      },
      async (request, reply) => {
        const account = attribute(request.body, 'User-Name');
        if (!account) return reply.code(400).send({ error: 'bad-request', message: 'no User-Name in the request' });
        gate.emit(event(request.body, account, request.params.result));
        return reply.code(204).send();
      },
    );
  };
}
