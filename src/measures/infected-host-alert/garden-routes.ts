/**
 * The walled garden's routes, under /api/v1/measures/infected-host-alert/garden: the gardens in force (who,
 * which case, until when, releases left; each read audited), the abuse desk ending one at once, and a
 * subscriber's choice about the garden. While the option is off the list says so and ending one answers 409
 * naming the setting; a choice is still recorded (the terms let a subscriber opt out at any time).
 */
import { z } from 'zod';
import { errorSchema, principalOf } from '../../core/http.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { WalledGarden } from './garden.js';
import type { M7Api } from './run.js';
import { GardenOffError } from './garden-run.js';

const subscriberId = z.string().min(1).max(200);

export function gardenRoutes(garden: WalledGarden | undefined, choose: M7Api['gardenChoice']): FastifyPluginAsyncZod {
  const on = (): WalledGarden => {
    if (!garden)
      throw new GardenOffError('the walled garden is off: measures.infected-host-alert.walledGarden.enabled (see docs, "Walled garden")');
    return garden;
  };
  return async (app) => {
    app.get(
      '/garden',
      {
        config: { permission: 'cases:read' },
        schema: {
          tags: ['infected-host-alert'],
          description:
            'The walled gardens in force: subscriber, family, case, start, end, releases left. Each read is audited. ' +
            'While the option is off: `enabled: false` and no gardens (a page asks this to know whether to show the garden).',
          response: { 200: z.object({ enabled: z.boolean(), gardens: z.array(z.looseObject({ subscriber: z.string() })) }) },
        },
      },
      async (request) => {
        if (!garden) return { enabled: false, gardens: [] };
        const gardens = await garden.list();
        await garden.auditRead(principalOf(request).actor, gardens.length);
        return { enabled: true, gardens };
      },
    );

    app.post(
      '/garden/:subscriber/end',
      {
        config: { permission: 'cases:manage' },
        schema: {
          tags: ['infected-host-alert'],
          description: "The abuse desk ends a subscriber's walled garden now (the zone changes and resolvers are notified).",
          params: z.object({ subscriber: subscriberId }),
          response: { 200: z.object({ subscriber: z.string(), ended: z.boolean() }), 404: errorSchema, 409: errorSchema },
        },
      },
      async (request, reply) => {
        const ended = await on().endFor(request.params.subscriber, principalOf(request).actor);
        if (!ended) return reply.code(404).send({ error: 'not-found', message: 'this subscriber has no walled garden in force' });
        return { subscriber: request.params.subscriber, ended: true };
      },
    );

    app.post(
      '/garden/consent',
      {
        config: { permission: 'consent:manage' },
        schema: {
          tags: ['infected-host-alert'],
          description:
            'A subscriber stops the walled garden (ending one in force at once), or allows it again. Recorded while the option is off too.',
          body: z.object({
            subscriber: subscriberId,
            choice: z.enum(['opt-out', 'opt-in']),
            channel: z.enum(['member-site', 'support-desk', 'mail', 'api']).default('api'),
          }),
          response: { 200: z.object({ subscriber: z.string(), gardenOptedOut: z.boolean() }), 409: errorSchema },
        },
      },
      async (request) => {
        const { subscriber, choice, channel } = request.body;
        await choose(subscriber, choice, channel, principalOf(request).actor);
        return { subscriber, gardenOptedOut: choice === 'opt-out' };
      },
    );
  };
}
