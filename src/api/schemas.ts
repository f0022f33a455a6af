/** Shapes shared by routes. */
import { z } from 'zod';

/** Every error answer: the status's kind, the stable code of a Mamori error (src/core/errors.ts), a message. */
export const errorSchema = z.object({ error: z.string(), code: z.string().optional(), message: z.string() });
