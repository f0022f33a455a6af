/** The flow collector's status for network engineers: exporters, templates, counts, errors, loss. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Mamori } from '../../core/app.js';
import { STATE_TEXT } from '../../core/registry.js';
import { FLOW_DATASET } from '../../ingest/flow/dataset.js';
import type { FlowInlet } from '../../ingest/flow/inlet.js';

const exporterSchema = z.object({
  address: z.string(), lastSeen: z.string().nullable(), versions: z.array(z.string()), datagrams: z.number(), records: z.number(),
  templates: z.number(), estimatedLoss: z.number(), errors: z.record(z.string(), z.number()),
  /** Observation domains / source ids / sub-agents / engines known now. */
  domains: z.number(),
  /** How the sequence numbers read: gaps (the loss above), restarts, stray (corrupt) numbers, late datagrams; what they count. */
  sequence: z.object({ gaps: z.number(), resets: z.number(), outliers: z.number(), late: z.number(), units: z.array(z.string()) }),
});

export function flowRoutes(mamori: Mamori, inlet: () => FlowInlet | undefined): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/api/v1/flows/exporters', {
      config: { permission: 'flows:status' },
      schema: {
        tags: ['flows'],
        response: {
          200: z.object({
            running: z.boolean(),
            reason: z.object({ ja: z.string(), en: z.string() }).optional(),
            listeners: z.array(z.object({ host: z.string(), port: z.number() })),
            exporters: z.array(exporterSchema),
            refused: z.record(z.string(), z.number()),
            storedRecords: z.number(), backlogDroppedRecords: z.number(), kernelDrops: z.number(), insertFailedRecords: z.number(),
            /** How datagrams are received (native ring or node:dgram) and what its ring dropped. */
            receiver: z.enum(['native', 'dgram', 'none']), ringDrops: z.number(),
          }),
        },
      },
    }, async () => {
      const i = inlet();
      if (!i) {
        const state = mamori.registry.status(FLOW_DATASET.owner)!.state;
        return {
          running: false,
          reason: { ja: `M1（C&Cサーバの検知）が${STATE_TEXT[state].ja}のため、フロー収集は行っていません`, en: `flow collection is off because M1 (C&C detection) is ${STATE_TEXT[state].en}` },
          listeners: [], exporters: [], refused: {}, storedRecords: 0, backlogDroppedRecords: 0, kernelDrops: 0, insertFailedRecords: 0,
          receiver: 'none' as const, ringDrops: 0,
        };
      }
      const s = i.status();
      return {
        running: true, listeners: i.addresses,
        exporters: s.exporters.map((e) => ({ ...e, errors: Object.fromEntries(Object.entries(e.errors).map(([k, v]) => [k, v ?? 0])) })),
        refused: s.unattributed, storedRecords: s.storedRecords, backlogDroppedRecords: s.droppedRecords, kernelDrops: s.kernelDrops, insertFailedRecords: s.insertFailedRecords,
        receiver: i.receiver, ringDrops: s.ringDrops,
      };
    });
  };
}
