/** The listeners' status: what each took and refused, by reason (the same figures as /metrics). */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { OwnedListenerStatus } from '../../core/listeners.js';
import type { SecondaryTransfer } from '../../dns/primary.js';

export function listenerRoutes(all: () => OwnedListenerStatus[], secondaries: () => SecondaryTransfer[]): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/v1/listeners',
      {
        config: { permission: 'metrics:read' },
        schema: {
          tags: ['operations'],
          description:
            "Each network listener (RADIUS accounting, RPZ primaries, dnstap, the AAA's REST calls): counts " +
            'of what it took, and of what it refused or dropped by reason.',
          response: {
            200: z.object({
              listeners: z.array(
                z.object({
                  owner: z.string(),
                  listener: z.string(),
                  counts: z.record(z.string(), z.number()),
                  refused: z.record(z.string(), z.number()),
                }),
              ),
            }),
          },
        },
      },
      async () => ({ listeners: all() }),
    );

    app.get(
      '/api/v1/rpz/secondaries',
      {
        config: { permission: 'metrics:read' },
        schema: {
          tags: ['operations'],
          description:
            'Each RPZ secondary (the resolvers, by the address they transfer from) and zone: the serial its last transfer brought it ' +
            'to, how and when, and its last SOA check since.',
          response: {
            200: z.object({
              secondaries: z.array(
                z.object({
                  secondary: z.string(),
                  zone: z.string(),
                  serial: z.number(),
                  kind: z.enum(['axfr', 'ixfr', 'up-to-date']),
                  at: z.string(),
                  checkedAt: z.string().nullable(),
                }),
              ),
            }),
          },
        },
      },
      async () => ({ secondaries: secondaries() }),
    );
  };
}
