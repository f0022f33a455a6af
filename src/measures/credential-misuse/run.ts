/**
 * M4's running part: the analysis on its interval, the accounting feed
 * subscribed, and its routes — the AAA's REST endpoints (FreeRADIUS rlm_rest:
 * authorize rejects a suspended ID, post-auth reports the outcome; the customer
 * system reports a password change) and the operators' view of suspensions.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import type { MeasureContext, RunningMeasure } from '../../core/registry.js';
import type { SessionEvent } from '../../ingest/radius/apply.js';
import type { CaseApi } from '../../notify/cases.js';
import type { Notifier } from '../../notify/notices.js';
import { principalOf } from '../../api/server.js';
import { roleMay } from '../../core/roles.js';
import { CredentialMisuse } from './service.js';
import { restAttribute as attribute, REST_BODY_LIMIT, restBody } from '../../ingest/radius/rest.js';
import type { CredentialMisuseSettings } from './settings.js';

export function m4Routes(service: CredentialMisuse): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/aaa/v1/authorize',
      {
        config: { permission: 'aaa:rest' },
        bodyLimit: REST_BODY_LIMIT,
        schema: {
          tags: ['credential-misuse'],
          description: 'For FreeRADIUS rlm_rest in authorize: 204 to go on, 401 to reject a suspended ID.',
          body: restBody,
        },
      },
      async (request, reply) => {
        const account = attribute(request.body, 'User-Name');
        if (!account) return reply.code(400).send({ error: 'bad-request', message: 'no User-Name in the request' });
        service.onAuth({
          account,
          at: Math.floor(Date.now() / 1000),
          nas: attribute(request.body, 'NAS-Identifier') ?? attribute(request.body, 'NAS-IP-Address') ?? 'unknown',
          station: attribute(request.body, 'Calling-Station-Id'),
          result: 'request',
        });
        const s = await service.suspension(account);
        if (!s) return reply.code(204).send();
        return reply
          .code(401)
          .send({ 'reply:Reply-Message': 'This ID is suspended: please change your password (パスワードの変更をお願いします)' });
      },
    );

    app.post(
      '/aaa/v1/post-auth/:result',
      {
        config: { permission: 'aaa:rest' },
        bodyLimit: REST_BODY_LIMIT,
        schema: { tags: ['credential-misuse'], params: z.object({ result: z.enum(['accept', 'reject']) }), body: restBody },
      },
      async (request, reply) => {
        const account = attribute(request.body, 'User-Name');
        if (!account) return reply.code(400).send({ error: 'bad-request', message: 'no User-Name in the request' });
        service.onAuth({
          account,
          at: Math.floor(Date.now() / 1000),
          nas: attribute(request.body, 'NAS-Identifier') ?? attribute(request.body, 'NAS-IP-Address') ?? 'unknown',
          station: attribute(request.body, 'Calling-Station-Id'),
          result: request.params.result,
        });
        return reply.code(204).send();
      },
    );

    app.post(
      '/aaa/v1/password-changed',
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
      '/api/v1/m4/suspensions',
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
      '/api/v1/m4/suspensions/lift',
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
}

export async function startCredentialMisuse(context: MeasureContext): Promise<RunningMeasure> {
  const own = await context.capabilities.ownState<CredentialMisuseSettings>();
  const cases = await context.capabilities.action<CaseApi>('cases');
  const notifier = await context.capabilities.action<Notifier>('notifier');
  const feed = await context.capabilities.action<{ subscribe(l: (e: SessionEvent) => void): () => void }>('accounting-feed');
  const service = new CredentialMisuse(own, cases, notifier, context.logger);
  const unsubscribe = feed.subscribe((e) => service.onSession(e));
  let running: Promise<unknown> | undefined;
  const timer = setInterval(
    () => {
      running ??= service
        .analyze()
        .catch((err: Error) => {
          context.logger.error(
            { event: 'm4.analysis.failed', err: { type: err.name, message: err.message } },
            'credential-misuse analysis failed',
          );
        })
        .finally(() => {
          running = undefined;
        });
    },
    parseDuration(own.settings.analysisInterval) * 1000,
  );
  timer.unref();
  return {
    routes: m4Routes(service),
    // The AAA's REST calls: what is held of them, and what the memory bound made it forget (refusals of bad requests are HTTP 400/413).
    listeners: () => {
      const h = service.heldAuth();
      return { 'aaa-rest': { counts: { heldEvents: h.events, heldBytes: h.bytes }, refused: { 'memory-bound': h.dropped } } };
    },
    async stop() {
      clearInterval(timer);
      unsubscribe();
      await running;
    },
  };
}
