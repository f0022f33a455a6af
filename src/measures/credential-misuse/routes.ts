/**
 * M4's routes, under /api/v1/measures/credential-misuse/ while M4 runs: the customer system reports a
 * password change, and the operators' view of suspensions. The AAA's authorize and post-auth calls are the
 * core's (/api/v1/aaa/…): M4 answers them through the auth-suspender and hears them through the auth-feed.
 */
import { z } from 'zod';
import { principalOf } from '../../core/http.js';
import type { MeasureRoutes } from '../../core/registry.js';
import { roleMay } from '../../core/roles.js';
import { REST_BODY_LIMIT } from '../../ingest/radius/rest.js';
import type { CredentialMisuse } from './service.js';

export const credentialMisuseRoutes: MeasureRoutes<{ service: CredentialMisuse }> =
  ({ running: { service } }) =>
  async (app) => {
    app.post(
      '/aaa/password-changed',
      {
        config: { permission: 'aaa:rest' },
        bodyLimit: REST_BODY_LIMIT,
        schema: {
          tags: ['credential-misuse'],
          description: 'From the customer system: the subscriber changed the password; a suspension of the ID ends.',
          body: z.object({ account: z.string().min(1).max(253) }),
          response: { 200: z.object({ lifted: z.boolean() }) },
        },
      },
      async (request) => ({ lifted: await service.lift(request.body.account, principalOf(request).actor, 'password changed') }),
    );

    // Account IDs and case ids identify subscribers: only roles that may open cases see them, and every
    // read that shows them is audited. Others (the NOC) see what is suspended, when and why, unnamed.
    app.get(
      '/suspensions',
      {
        config: { permission: 'suspensions:read' },
        schema: {
          tags: ['credential-misuse'],
          description: 'Suspensions and findings; account and case_id only for roles that may read cases (each such read audited).',
        },
      },
      async (request) => {
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
      },
    );

    app.post(
      '/suspensions/lift',
      {
        config: { permission: 'suspensions:manage' },
        schema: {
          tags: ['credential-misuse'],
          body: z.object({ account: z.string().min(1), reason: z.string().trim().min(1).max(2000) }),
          response: { 200: z.object({ lifted: z.boolean() }) },
        },
      },
      async (request) => ({ lifted: await service.lift(request.body.account, principalOf(request).actor, request.body.reason) }),
    );
  };
