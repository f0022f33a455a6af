/**
 * M4's routes, under /api/v1/measures/credential-misuse/ while M4 runs: the AAA's REST endpoints (FreeRADIUS
 * rlm_rest: authorize rejects a suspended ID, post-auth reports the outcome; the customer system reports a
 * password change) and the operators' view of suspensions.
 */
import { z } from 'zod';
import { principalOf } from '../../core/http.js';
import type { MeasureRoutes } from '../../core/registry.js';
import { roleMay } from '../../core/roles.js';
import { restAttribute as attribute, REST_BODY_LIMIT, restBody } from '../../ingest/radius/rest.js';
import type { CredentialMisuse } from './service.js';

export const credentialMisuseRoutes: MeasureRoutes<{ service: CredentialMisuse }> = ({ running: { service } }) => async (app) => {
  app.post('/aaa/authorize', {
    config: { permission: 'aaa:rest' }, bodyLimit: REST_BODY_LIMIT,
    schema: { tags: ['credential-misuse'], description: 'For FreeRADIUS rlm_rest in authorize: 204 to go on, 401 to reject a suspended ID.', body: restBody },
  }, async (request, reply) => {
    const account = attribute(request.body, 'User-Name');
    if (!account) return reply.code(400).send({ error: 'bad-request', message: 'no User-Name in the request' });
    service.onAuth({ account, at: Math.floor(Date.now() / 1000), nas: attribute(request.body, 'NAS-Identifier') ?? attribute(request.body, 'NAS-IP-Address') ?? 'unknown', station: attribute(request.body, 'Calling-Station-Id'), result: 'request' });
    const s = await service.suspension(account);
    if (!s) return reply.code(204).send();
    return reply.code(401).send({ 'reply:Reply-Message': 'This ID is suspended: please change your password (パスワードの変更をお願いします)' });
  });

  app.post('/aaa/post-auth/:result', {
    config: { permission: 'aaa:rest' }, bodyLimit: REST_BODY_LIMIT,
    schema: { tags: ['credential-misuse'], params: z.object({ result: z.enum(['accept', 'reject']) }), body: restBody },
  }, async (request, reply) => {
    const account = attribute(request.body, 'User-Name');
    if (!account) return reply.code(400).send({ error: 'bad-request', message: 'no User-Name in the request' });
    service.onAuth({ account, at: Math.floor(Date.now() / 1000), nas: attribute(request.body, 'NAS-Identifier') ?? attribute(request.body, 'NAS-IP-Address') ?? 'unknown', station: attribute(request.body, 'Calling-Station-Id'), result: request.params.result });
    return reply.code(204).send();
  });

  app.post('/aaa/password-changed', {
    config: { permission: 'aaa:rest' }, bodyLimit: REST_BODY_LIMIT,
    schema: { tags: ['credential-misuse'], description: 'From the customer system: the subscriber changed the password; a suspension of the ID ends.', body: z.object({ account: z.string().min(1).max(253) }), response: { 200: z.object({ lifted: z.boolean() }) } },
  }, async (request) => ({ lifted: await service.lift(request.body.account, principalOf(request).actor, 'password changed') }));

  // Account IDs and case ids identify subscribers: only roles that may open cases see them, and every
  // read that shows them is audited. Others (the NOC) see what is suspended, when and why, unnamed.
  app.get('/suspensions', {
    config: { permission: 'suspensions:read' },
    schema: {
      tags: ['credential-misuse'],
      description: 'Suspensions and findings; account and case_id only for roles that may read cases (each such read audited).',
    },
  }, async (request) => {
    const p = principalOf(request);
    const [suspensions, findings] = await Promise.all([service.suspensions(), service.findings()]);
    if (!roleMay(p.role, 'cases:read')) {
      return {
        suspensions: suspensions.map(({ account: _a, case_id: _c, ...rest }) => rest),
        findings: findings.map(({ account: _a, case_id: _c, ...rest }) => rest),
        identified: false,
      };
    }
    await service.auditRead(p.actor, { suspensions: suspensions.length, findings: findings.length });
    return { suspensions, findings, identified: true };
  });

  app.post('/suspensions/lift', {
    config: { permission: 'suspensions:manage' },
    schema: { tags: ['credential-misuse'], body: z.object({ account: z.string().min(1), reason: z.string().trim().min(1).max(2000) }), response: { 200: z.object({ lifted: z.boolean() }) } },
  }, async (request) => ({ lifted: await service.lift(request.body.account, principalOf(request).actor, request.body.reason) }));
};
