/**
 * The running configuration checked for what the schema cannot refuse but an operator should see:
 * an API reachable beyond loopback, unsigned audit anchors, a flow inlet open to any exporter, RADIUS
 * accounting with no client allowed. Each check says what it looked at and, when it warns, what to do.
 * Names settings, never their values (no address, port or path).
 */
import { isIP } from 'node:net';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Mamori } from '../../app/mamori.js';
import { FLOW_DATASET } from '../../ingest/flow/dataset.js';

const text = z.object({ ja: z.string(), en: z.string() });
const checkSchema = z.object({ id: z.string(), setting: z.string(), result: z.enum(['ok', 'warning']), text });
type Check = z.infer<typeof checkSchema>;

function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

export function configChecks(mamori: Mamori): Check[] {
  const c = mamori.config;
  const enabled = (id: string) => mamori.registry.status(id)?.enabled === true;
  const checks: Check[] = [];
  const add = (id: string, setting: string, warn: boolean, ok: Check['text'], warning: Check['text']) =>
    checks.push({ id, setting, result: warn ? 'warning' : 'ok', text: warn ? warning : ok });

  add(
    'server-loopback',
    'server.host',
    !isLoopback(c.server.host),
    { ja: 'API はループバックでのみ待ち受けています。', en: 'The API listens on loopback only.' },
    {
      ja: 'API がループバック以外で待ち受けています。TLS を終端するリバースプロキシを前に置いてください。',
      en: 'The API listens beyond loopback: put a TLS-terminating reverse proxy in front of it.',
    },
  );
  add(
    'audit-signing',
    'audit.signingKeyFile',
    !c.audit.signingKeyFile,
    { ja: '監査ログのアンカーは署名されています。', en: "The audit log's anchors are signed." },
    {
      ja: '監査ログのアンカーは署名されていません。mamori audit keygen で鍵を作り、データディレクトリの外に置いて設定してください。',
      en: "The audit log's anchors are not signed: make a key with mamori audit keygen, keep it outside the data directory and set it.",
    },
  );
  if (enabled(FLOW_DATASET.owner)) {
    add(
      'flow-exporters',
      'ingest.flows.allowedExporters',
      c.ingest.flows.allowedExporters.length === 0,
      { ja: 'フロー収集は列挙したルータからのみ受け付けます。', en: 'The flow inlet accepts only the listed routers.' },
      {
        ja: 'フロー収集はすべての送信元を受け付けています。ルータを列挙するか、ファイアウォールで制限してください。',
        en: 'The flow inlet accepts datagrams from any exporter: list the routers, or let only them reach its ports.',
      },
    );
  }
  const needsAssignments = mamori.registry
    .list()
    .some((m) => m.enabled && m.declaration.dataItems.some((i) => i.item === 'aaa.assigned-address'));
  if (needsAssignments) {
    add(
      'radius-clients',
      'ingest.radius.clients',
      c.ingest.radius.clients.length === 0,
      { ja: 'RADIUS アカウンティングのクライアントが設定されています。', en: 'RADIUS accounting clients are configured.' },
      {
        ja: 'RADIUS アカウンティングのクライアントがありません。割り当てアドレスが記録されず、加入者を特定できません。',
        en: 'No RADIUS accounting client is configured: no address assignment is recorded, so no subscriber can be identified.',
      },
    );
  }
  return checks;
}

export function configRoutes(mamori: Mamori): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/v1/config/check',
      {
        config: { permission: 'metrics:read' },
        schema: {
          tags: ['operations'],
          description: 'The running configuration checked for what an operator should fix (settings named, values never shown).',
          response: { 200: z.object({ ok: z.boolean(), checks: z.array(checkSchema) }) },
        },
      },
      async () => {
        const checks = configChecks(mamori);
        return { ok: checks.every((x) => x.result === 'ok'), checks };
      },
    );
  };
}
