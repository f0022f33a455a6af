/**
 * FreeRADIUS rlm_rest's JSON body (`body = 'json'`): each attribute is
 * {"type": …, "value": [ … ]}; plain strings are accepted too (hand-made calls).
 * Every field is bounded as RADIUS bounds it: an attribute value is at most
 * 253 octets (RFC 2865 §5), a request carries a few dozen attributes.
 */
import { z } from 'zod';

/** Largest body the AAA's REST calls may send (a RADIUS packet is at most 4096 octets; JSON roughly doubles it). */
export const REST_BODY_LIMIT = 16 * 1024;
const MAX_ATTRIBUTES = 64;
const MAX_VALUES = 8;

const octets = z.string().refine((s) => Buffer.byteLength(s, 'utf8') <= 253, 'at most 253 bytes (the longest RADIUS attribute value)');
const value = z.union([octets, z.number().finite(), z.boolean()]);

/** An rlm_rest body: attribute names to a value or {type, value: [values]}, every part bounded. */
export const restBody = z
  .record(
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9:._-]{0,63}$/, 'an attribute name such as "User-Name"'),
    z.union([value, z.strictObject({ type: z.string().max(32), value: z.array(value).max(MAX_VALUES) })]),
  )
  .refine((b) => Object.keys(b).length <= MAX_ATTRIBUTES, `at most ${MAX_ATTRIBUTES} attributes`);

export function restAttribute(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  if (typeof v === 'string') return v;
  const values = (v as { value?: unknown } | undefined)?.value;
  if (Array.isArray(values) && values.length > 0) return String(values[0]);
  return undefined;
}
