/**
 * The HTTP API. Every route declares the permission it needs (or that it is
 * the login route); a route without one makes the server refuse to start, so
 * nothing is ever open by accident. Requests carry `Authorization: Bearer`
 * with a login session or an API token.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import helmet from '@fastify/helmet';
import swagger from '@fastify/swagger';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  hasZodFastifySchemaValidationErrors,
  type FastifyPluginAsyncZod,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import '../core/http.js';
import type { Mamori } from '../app/mamori.js';
import { kindOf, MamoriError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import { roleMay, type Permission } from '../core/roles.js';
import { accountRoutes } from './routes/accounts.js';
import { auditRoutes } from './routes/audit.js';
import { authRoutes } from './routes/auth.js';
import { measureRoutes } from './routes/measures.js';
import { opsRoutes } from './routes/ops.js';
import { flowRoutes } from './routes/flows.js';
import { caseRoutes } from './routes/cases.js';
import { aaaRoutes } from './routes/aaa.js';
import { healthRoutes, type Readiness } from './routes/health.js';
import { configRoutes } from './routes/config.js';
import { vocabularyRoutes } from './routes/vocabulary.js';
import { registerConsole } from './console.js';
import type { FlowInlet } from '../ingest/flow/inlet.js';
import { runningMeasureRoutes, type RoutedMeasure } from '../core/measure-routes.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route with the permission it declared: for the RBAC tests and the docs. */
    declaredRoutes: Array<{ method: string; url: string; permission?: Permission; login?: boolean; public?: boolean; console?: boolean }>;
  }
}

export interface ApiDeps {
  mamori: Mamori;
  metrics: Metrics;
  logger: Logger;
  /** The flow inlet, while M1 holds it. */
  inlet?: () => FlowInlet | undefined;
  /** The running measures: the core registers each one's routes under /api/v1/measures/<id>. */
  measures?: readonly RoutedMeasure[];
  /** Routes of the server's own running parts (e.g. the listeners' status). */
  runningRoutes?: readonly FastifyPluginAsyncZod[];
  /** States of the inputs the enabled measures need, for /readyz (the stores are checked anyway). */
  readiness?: Readiness;
}

export type { Api } from './instance.js';
import type { Api } from './instance.js';

export async function buildApi({ mamori, metrics, logger, inlet, measures = [], runningRoutes = [], readiness }: ApiDeps): Promise<Api> {
  const app = Fastify({
    loggerInstance: logger.child(
      { component: 'api' },
      {
        serializers: {
          // The route pattern, never the URL: a URL can carry an address or a name.
          req: (req: FastifyRequest) => ({ method: req.method, route: req.routeOptions?.url ?? '(unmatched)', id: req.id }),
          res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
        },
      },
    ),
    // Only listed proxies may name the client (X-Forwarded-For); otherwise the peer address is the client.
    trustProxy: mamori.config.server.trustProxy.length > 0 ? [...mamori.config.server.trustProxy] : false,
    bodyLimit: 1024 * 1024,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const declaredRoutes: FastifyInstance['declaredRoutes'] = [];
  app.decorate('declaredRoutes', declaredRoutes);
  app.addHook('onRoute', (route) => {
    const cfg = route.config as { permission?: Permission; login?: boolean; public?: boolean; console?: boolean } | undefined;
    if (!cfg?.permission && !cfg?.login && !cfg?.public && !cfg?.console)
      throw new Error(`route ${route.method} ${route.url} declares no permission`);
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') {
        declaredRoutes.push({
          method,
          url: route.url,
          ...(cfg.permission ? { permission: cfg.permission } : {}),
          ...(cfg.login ? { login: true } : {}),
          ...(cfg.public ? { public: true } : {}),
          ...(cfg.console ? { console: true } : {}),
        });
      }
    }
  });

  await app.register(helmet, { contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } } });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Mamori API',
        version: '0.1.0',
        description: 'ISP-side cyber-defence platform: measures, disclosure, audit, accounts.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  app.addHook('onRequest', async (request, reply) => {
    const cfg = request.routeOptions.config;
    if (cfg.login || cfg.public || cfg.console) return;
    const header = request.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const principal = m ? await mamori.accounts.authenticate(m[1]!) : undefined;
    if (!principal) {
      reply.header('www-authenticate', 'Bearer realm="mamori"');
      return reply.code(401).send({ error: 'unauthenticated', message: 'send Authorization: Bearer <session or API token>' });
    }
    request.principal = principal;
    request.bearer = m![1]!;
    if (request.is404) return; // the not-found handler answers
    const permission = cfg.permission;
    if (!permission || !roleMay(principal.role, permission)) {
      await mamori.audit.append({
        actor: principal.actor,
        action: 'api.forbidden',
        object: `route:${request.method} ${request.routeOptions.url}`,
        outcome: 'refused',
      });
      return reply.code(403).send({ error: 'forbidden', message: `role ${principal.role} may not ${permission ?? 'use this route'}` });
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? '(unmatched)';
    metrics.httpRequests.inc({ route, method: request.method, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const problems = error.validation.map((v) => `${v.instancePath || error.validationContext || 'request'}: ${v.message}`);
      return reply.code(400).send({ error: 'bad-request', message: problems.join('; ') });
    }
    // One mapping for every error Mamori raises on purpose: its status, its stable code, its message.
    if (error instanceof MamoriError) {
      if (error.status >= 500) request.log.error({ err: { type: error.name, message: error.message }, code: error.code }, 'request failed');
      return reply.code(error.status).send(error.toResponse());
    }
    const status = error.statusCode;
    if (status && status >= 400 && status < 500) return reply.code(status).send({ error: kindOf(status), message: error.message });
    request.log.error({ err: { type: error.name, message: error.message } }, 'request failed');
    return reply.code(500).send({ error: 'internal', code: 'internal', message: 'internal error; see the server log' });
  });

  app.setNotFoundHandler(async (_request, reply) => reply.code(404).send({ error: 'not-found', message: 'no such route' }));

  await app.register(healthRoutes(mamori, readiness));
  await app.register(authRoutes(mamori, metrics));
  await app.register(measureRoutes(mamori));
  await app.register(auditRoutes(mamori, metrics));
  await app.register(accountRoutes(mamori));
  await app.register(opsRoutes(mamori, metrics));
  await app.register(configRoutes(mamori));
  await app.register(vocabularyRoutes());
  await app.register(flowRoutes(mamori, () => inlet?.()));
  await app.register(caseRoutes(mamori));
  await app.register(aaaRoutes(mamori.authGate));
  await app.register(runningMeasureRoutes(measures));
  for (const routes of runningRoutes) await app.register(routes);
  await registerConsole(app);

  app.get('/api/v1/openapi.json', { config: { permission: 'openapi:read' }, schema: { hide: true } }, async () => app.swagger());
  return app;
}
