/**
 * FreeRADIUS rlm_rest's JSON body (`body = 'json'`): each attribute is
 * {"type": …, "value": [ … ]}; plain strings are accepted too (hand-made calls).
 */
export function restAttribute(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  if (typeof v === 'string') return v;
  const values = (v as { value?: unknown } | undefined)?.value;
  if (Array.isArray(values) && values.length > 0) return String(values[0]);
  return undefined;
}
