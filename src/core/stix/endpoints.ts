/**
 * The endpoints a STIX indicator pattern names, for C&C lists: addresses or
 * prefixes (ipv4-addr / ipv6-addr values, network-traffic dst_ref.value,
 * ISSUBSET for prefixes), with a destination port and transport protocol when
 * the pattern gives them. OR (at either level) and IN give several endpoints.
 * Anything else — other objects, negations, order comparisons, qualifiers — is
 * not an endpoint of a C&C server, and the reason says which part.
 */
import { parsePattern, PatternError, type Comparison, type Literal, type Observation, type ObjectPath } from './pattern.js';

export interface PatternEndpoint {
  prefix: string;
  port: number | null;
  protocol: 'tcp' | 'udp' | null;
}

const MAX_ALTERNATIVES = 1024;

type Test = { path: string; values: Literal[]; op: '=' | 'ISSUBSET' };

function pathText(p: ObjectPath): string {
  return `${p.objectType}:${p.steps.map((s, i) => (typeof s === 'number' || s === '*' ? `[${s}]` : `${i > 0 ? '.' : ''}${s}`)).join('')}`;
}

/** Disjunctive normal form of a comparison: a list of conjunctions of positive tests. */
function dnf(c: Comparison): Test[][] | string {
  switch (c.kind) {
    case 'or': {
      const l = dnf(c.left);
      if (typeof l === 'string') return l;
      const r = dnf(c.right);
      if (typeof r === 'string') return r;
      return l.length + r.length > MAX_ALTERNATIVES ? `more than ${MAX_ALTERNATIVES} alternatives` : [...l, ...r];
    }
    case 'and': {
      const l = dnf(c.left);
      if (typeof l === 'string') return l;
      const r = dnf(c.right);
      if (typeof r === 'string') return r;
      if (l.length * r.length > MAX_ALTERNATIVES) return `more than ${MAX_ALTERNATIVES} alternatives`;
      return l.flatMap((a) => r.map((b) => [...a, ...b]));
    }
    case 'test':
      if (c.negated || (c.op !== '=' && c.op !== 'ISSUBSET'))
        return `"${pathText(c.path)} ${c.negated ? 'NOT ' : ''}${c.op}" does not name an endpoint`;
      return [[{ path: pathText(c.path), values: [c.value], op: c.op }]];
    case 'in':
      if (c.negated) return `"${pathText(c.path)} NOT IN" does not name an endpoint`;
      return [[{ path: pathText(c.path), values: c.values, op: '=' }]];
    case 'exists':
      return `"EXISTS ${pathText(c.path)}" does not name an endpoint`;
  }
}

function observations(o: Observation): Comparison[] | string {
  if (o.kind === 'observation') return [o.comparison];
  if (o.kind === 'or') {
    const l = observations(o.left);
    if (typeof l === 'string') return l;
    const r = observations(o.right);
    if (typeof r === 'string') return r;
    return [...l, ...r];
  }
  return `${o.kind.toUpperCase()} between observations does not name a single endpoint`;
}

function endpointsOfConjunction(tests: Test[]): PatternEndpoint[] | string {
  let prefixes: string[] | undefined;
  let ports: Array<number | null> = [null];
  let protocol: PatternEndpoint['protocol'] = null;
  for (const t of tests) {
    const strings = t.values.map((v) => (v.kind === 'string' ? v.value : undefined));
    switch (t.path) {
      case 'ipv4-addr:value':
      case 'ipv6-addr:value':
      case 'network-traffic:dst_ref.value':
        if (strings.some((s) => s === undefined)) return `${t.path} needs a string`;
        prefixes = strings as string[];
        break;
      case 'network-traffic:dst_ref.type':
        if (strings.some((s) => s !== 'ipv4-addr' && s !== 'ipv6-addr')) return `dst_ref.type ${String(strings[0])} is not an address`;
        break;
      case 'network-traffic:dst_port':
        if (t.op !== '=' || t.values.some((v) => v.kind !== 'int' || v.value < 1 || v.value > 65535))
          return `dst_port ${t.values.map((v) => String(v.value)).join(',')} is not a port`;
        ports = t.values.map((v) => v.value as number);
        break;
      case 'network-traffic:protocols[*]':
      case 'network-traffic:protocols[0]': {
        const p = strings[0]?.toLowerCase();
        protocol = p === 'tcp' || p === 'udp' ? p : null;
        break;
      }
      default:
        return `${t.path} is not an endpoint of a C&C server`;
    }
  }
  if (!prefixes) return 'no address in the pattern';
  return prefixes.flatMap((prefix) => ports.map((port) => ({ prefix, port, protocol })));
}

export function endpointsOfPattern(pattern: string): PatternEndpoint[] | string {
  let ast: Observation;
  try {
    ast = parsePattern(pattern);
  } catch (err) {
    if (err instanceof PatternError) return err.message;
    throw err;
  }
  const obs = observations(ast);
  if (typeof obs === 'string') return obs;
  const out: PatternEndpoint[] = [];
  for (const c of obs) {
    const conj = dnf(c);
    if (typeof conj === 'string') return conj;
    for (const tests of conj) {
      const e = endpointsOfConjunction(tests);
      if (typeof e === 'string') return e;
      out.push(...e);
      if (out.length > MAX_ALTERNATIVES) return `more than ${MAX_ALTERNATIVES} endpoints in one pattern`;
    }
  }
  return out;
}
