/**
 * The declarations' vocabulary in both languages (legal bases, data items, outputs), so that a client
 * such as the console names a measure's basis and data as the disclosures do, from one source.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DATA_ITEMS, LEGAL_BASES, OUTPUTS, type Text } from '../../core/vocabulary.js';

const text = z.object({ ja: z.string(), en: z.string() });
const pick = (o: Record<string, Text>) => Object.fromEntries(Object.entries(o).map(([id, t]) => [id, { ja: t.ja, en: t.en }]));

export function vocabularyRoutes(): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/v1/vocabulary',
      {
        config: { permission: 'measures:read' },
        schema: {
          tags: ['measures'],
          description: 'Legal bases (with their short names), data items and outputs, in Japanese and English.',
          response: {
            200: z.object({
              legalBases: z.record(z.string(), text.extend({ short: text })),
              dataItems: z.record(z.string(), text),
              outputs: z.record(z.string(), text),
            }),
          },
        },
      },
      async () => ({
        legalBases: Object.fromEntries(
          Object.entries(LEGAL_BASES).map(([id, b]) => [id, { ja: b.ja, en: b.en, short: { ja: b.short.ja, en: b.short.en } }]),
        ),
        dataItems: pick(DATA_ITEMS),
        outputs: pick(OUTPUTS),
      }),
    );
  };
}
