/**
 * The STIX 2.1 Patterning Language (STIX 2.1 §9), parsed by recursive descent
 * after the official ANTLR grammar (STIXPattern.g4): observation expressions
 * joined by AND, OR and FOLLOWEDBY with START/STOP, WITHIN and REPEATS
 * qualifiers; comparison expressions with =, !=, <, <=, >, >=, IN, LIKE,
 * MATCHES, ISSUBSET, ISSUPERSET, EXISTS and NOT; object paths with key and
 * index steps; every literal kind. Used to check the patterns Mamori emits and
 * to read the ones partners send. Errors name the position and what was expected.
 */
import { MamoriError } from '../errors.js';

export type Literal =
  | { kind: 'int' | 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'timestamp'; value: string }
  | { kind: 'hex' | 'binary'; value: string };

export interface ObjectPath {
  objectType: string;
  /** Property names and index steps ('*' for any), in order. */
  steps: Array<string | number | '*'>;
}

export type Comparison =
  | { kind: 'and' | 'or'; left: Comparison; right: Comparison }
  | {
      kind: 'test';
      path: ObjectPath;
      negated: boolean;
      op: '=' | '!=' | '<' | '<=' | '>' | '>=' | 'LIKE' | 'MATCHES' | 'ISSUBSET' | 'ISSUPERSET';
      value: Literal;
    }
  | { kind: 'in'; path: ObjectPath; negated: boolean; values: Literal[] }
  | { kind: 'exists'; path: ObjectPath; negated: boolean };

export type Observation =
  | { kind: 'observation'; comparison: Comparison }
  | { kind: 'and' | 'or' | 'followedby'; left: Observation; right: Observation }
  | { kind: 'startstop'; of: Observation; start: string; stop: string }
  | { kind: 'within'; of: Observation; seconds: number }
  | { kind: 'repeats'; of: Observation; times: number };

export class PatternError extends MamoriError {
  static override readonly code = 'stix-pattern';
  static override readonly status = 400;
  constructor(
    readonly position: number,
    message: string,
  ) {
    super(`STIX pattern, at character ${position + 1}: ${message}`);
  }
}

type TokenKind = 'punct' | 'op' | 'keyword' | 'ident' | 'literal' | 'eof';
interface Token {
  kind: TokenKind;
  text: string;
  pos: number;
  literal?: Literal;
}

const KEYWORDS = new Set([
  'AND',
  'OR',
  'NOT',
  'FOLLOWEDBY',
  'LIKE',
  'MATCHES',
  'ISSUPERSET',
  'ISSUBSET',
  'EXISTS',
  'LAST',
  'IN',
  'START',
  'STOP',
  'SECONDS',
  'WITHIN',
  'REPEATS',
  'TIMES',
]);
const TIMESTAMP = /^\d{4}-(0[1-9]|1[012])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?Z$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)$/;
const MAX_LENGTH = 64 * 1024;
const MAX_DEPTH = 200;

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const quoted = (start: number): string => {
    // i is at the opening quote; returns the unescaped body and leaves i after the closing quote.
    let s = '';
    i += 1;
    for (;;) {
      if (i >= src.length) throw new PatternError(start, 'unterminated string literal');
      const c = src[i]!;
      if (c === '\\') {
        const n = src[i + 1];
        if (n !== "'" && n !== '\\') throw new PatternError(i, "only \\' and \\\\ may be escaped in a string literal");
        s += n;
        i += 2;
      } else if (c === "'") {
        i += 1;
        return s;
      } else {
        s += c;
        i += 1;
      }
    }
  };
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i += 1;
      continue;
    }
    if (src.startsWith('/*', i)) {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw new PatternError(i, 'unterminated comment');
      i = end + 2;
      continue;
    }
    if (src.startsWith('//', i)) {
      while (i < src.length && src[i] !== '\n' && src[i] !== '\r') i += 1;
      continue;
    }
    const pos = i;
    if ('[]():,.*'.includes(c)) {
      out.push({ kind: 'punct', text: c, pos });
      i += 1;
      continue;
    }
    const op = /^(==|!=|<>|<=|>=|=|<|>)/.exec(src.slice(i, i + 2));
    if (op) {
      out.push({ kind: 'op', text: op[1] === '==' ? '=' : op[1] === '<>' ? '!=' : op[1]!, pos });
      i += op[1]!.length;
      continue;
    }
    if (c === "'") {
      out.push({ kind: 'literal', text: 'string', pos, literal: { kind: 'string', value: quoted(pos) } });
      continue;
    }
    if ((c === 't' || c === 'h' || c === 'b') && src[i + 1] === "'") {
      i += 1;
      const body = quoted(pos);
      if (c === 't') {
        if (!TIMESTAMP.test(body)) throw new PatternError(pos, `"${body}" is not a timestamp (YYYY-MM-DDTHH:MM:SS[.s]Z)`);
        out.push({ kind: 'literal', text: 'timestamp', pos, literal: { kind: 'timestamp', value: body } });
      } else if (c === 'h') {
        if (!/^(?:[0-9A-Fa-f]{2})*$/.test(body)) throw new PatternError(pos, 'a hex literal needs pairs of hex digits');
        out.push({ kind: 'literal', text: 'hex', pos, literal: { kind: 'hex', value: body } });
      } else {
        if (!BASE64.test(body)) throw new PatternError(pos, 'a binary literal must be base64');
        out.push({ kind: 'literal', text: 'binary', pos, literal: { kind: 'binary', value: body } });
      }
      continue;
    }
    const num = /^[+-]?(?:\d*\.\d+|0|[1-9]\d*)/.exec(src.slice(i));
    if (num && (/\d/.test(c) || ((c === '+' || c === '-' || c === '.') && /[\d.]/.test(src[i + 1] ?? '')))) {
      const text = num[0];
      out.push({ kind: 'literal', text, pos, literal: { kind: text.includes('.') ? 'float' : 'int', value: Number(text) } });
      i += text.length;
      continue;
    }
    const id = /^[a-zA-Z_][a-zA-Z0-9_-]*/.exec(src.slice(i));
    if (id) {
      const text = id[0];
      if (KEYWORDS.has(text)) out.push({ kind: 'keyword', text, pos });
      else if (text === 'true' || text === 'false')
        out.push({ kind: 'literal', text, pos, literal: { kind: 'bool', value: text === 'true' } });
      else out.push({ kind: 'ident', text, pos });
      i += text.length;
      continue;
    }
    throw new PatternError(pos, `unexpected character "${c}"`);
  }
  out.push({ kind: 'eof', text: 'end of pattern', pos: src.length });
  return out;
}

class Parser {
  private k = 0;
  private depth = 0;
  constructor(private readonly tokens: Token[]) {}

  private get t(): Token {
    return this.tokens[this.k]!;
  }
  private is(kind: TokenKind, text?: string): boolean {
    return this.t.kind === kind && (text === undefined || this.t.text === text);
  }
  private take(kind: TokenKind, text?: string, what?: string): Token {
    if (!this.is(kind, text))
      throw new PatternError(
        this.t.pos,
        `expected ${what ?? text ?? kind}, found ${this.t.kind === 'eof' ? 'the end' : `"${this.t.text}"`}`,
      );
    return this.tokens[this.k++]!;
  }
  private deeper<T>(fn: () => T): T {
    if (++this.depth > MAX_DEPTH) throw new PatternError(this.t.pos, 'nested too deeply');
    try {
      return fn();
    } finally {
      this.depth -= 1;
    }
  }

  pattern(): Observation {
    const o = this.observations();
    this.take('eof', undefined, 'the end of the pattern');
    return o;
  }

  /** `operand (KEYWORD operand)*`, folded to the left. */
  private leftAssoc<T>(keyword: string, operand: () => T, join: (left: T, right: T) => T): T {
    let left = operand();
    while (this.is('keyword', keyword)) {
      this.k++;
      left = join(left, operand());
    }
    return left;
  }

  // Precedence, loosest first: FOLLOWEDBY, OR, AND (left-associative).
  private observations(): Observation {
    return this.leftAssoc(
      'FOLLOWEDBY',
      () => this.observationOr(),
      (left, right): Observation => ({ kind: 'followedby', left, right }),
    );
  }
  private observationOr(): Observation {
    return this.leftAssoc(
      'OR',
      () => this.observationAnd(),
      (left, right): Observation => ({ kind: 'or', left, right }),
    );
  }
  private observationAnd(): Observation {
    return this.leftAssoc(
      'AND',
      () => this.observation(),
      (left, right): Observation => ({ kind: 'and', left, right }),
    );
  }
  private observation(): Observation {
    return this.deeper(() => {
      let o: Observation;
      if (this.is('punct', '[')) {
        this.k++;
        o = { kind: 'observation', comparison: this.comparisonOr() };
        this.take('punct', ']');
      } else if (this.is('punct', '(')) {
        this.k++;
        o = this.observations();
        this.take('punct', ')');
      } else {
        throw new PatternError(this.t.pos, `expected "[" or "(" to start an observation expression, found "${this.t.text}"`);
      }
      for (;;) {
        if (this.is('keyword', 'START')) {
          this.k++;
          const start = this.timestamp();
          this.take('keyword', 'STOP');
          o = { kind: 'startstop', of: o, start, stop: this.timestamp() };
        } else if (this.is('keyword', 'WITHIN')) {
          this.k++;
          const n = this.take('literal', undefined, 'a positive number of seconds');
          if ((n.literal!.kind !== 'int' && n.literal!.kind !== 'float') || (n.literal!.value as number) <= 0 || n.text.startsWith('-'))
            throw new PatternError(n.pos, 'WITHIN needs a positive number');
          this.take('keyword', 'SECONDS');
          o = { kind: 'within', of: o, seconds: n.literal!.value as number };
        } else if (this.is('keyword', 'REPEATS')) {
          this.k++;
          const n = this.take('literal', undefined, 'a positive whole number');
          if (n.literal!.kind !== 'int' || (n.literal!.value as number) <= 0)
            throw new PatternError(n.pos, 'REPEATS needs a positive whole number');
          this.take('keyword', 'TIMES');
          o = { kind: 'repeats', of: o, times: n.literal!.value as number };
        } else {
          return o;
        }
      }
    });
  }
  private timestamp(): string {
    const t = this.take('literal', undefined, "a timestamp t'…'");
    if (t.literal!.kind !== 'timestamp') throw new PatternError(t.pos, "expected a timestamp t'…'");
    return t.literal!.value as string;
  }

  private comparisonOr(): Comparison {
    return this.leftAssoc(
      'OR',
      () => this.comparisonAnd(),
      (left, right): Comparison => ({ kind: 'or', left, right }),
    );
  }
  private comparisonAnd(): Comparison {
    return this.leftAssoc(
      'AND',
      () => this.propTest(),
      (left, right): Comparison => ({ kind: 'and', left, right }),
    );
  }
  private propTest(): Comparison {
    return this.deeper(() => {
      if (this.is('punct', '(')) {
        this.k++;
        const c = this.comparisonOr();
        this.take('punct', ')');
        return c;
      }
      if (this.is('keyword', 'NOT') || this.is('keyword', 'EXISTS')) {
        const negated = this.is('keyword', 'NOT');
        if (negated) this.k++;
        this.take('keyword', 'EXISTS');
        return { kind: 'exists', path: this.objectPath(), negated };
      }
      const path = this.objectPath();
      const negated = this.is('keyword', 'NOT');
      if (negated) this.k++;
      if (this.is('op')) {
        const op = this.tokens[this.k++]!.text as '=' | '!=' | '<' | '<=' | '>' | '>=';
        const v = this.take('literal', undefined, 'a literal');
        if (op !== '=' && op !== '!=' && v.literal!.kind === 'bool') throw new PatternError(v.pos, `${op} cannot compare a boolean`);
        return { kind: 'test', path, negated, op, value: v.literal! };
      }
      if (this.is('keyword', 'IN')) {
        this.k++;
        this.take('punct', '(');
        const values: Literal[] = [];
        if (!this.is('punct', ')')) {
          values.push(this.take('literal', undefined, 'a literal').literal!);
          while (this.is('punct', ',')) {
            this.k++;
            values.push(this.take('literal', undefined, 'a literal').literal!);
          }
        }
        this.take('punct', ')');
        return { kind: 'in', path, negated, values };
      }
      for (const op of ['LIKE', 'MATCHES', 'ISSUBSET', 'ISSUPERSET'] as const) {
        if (this.is('keyword', op)) {
          this.k++;
          const v = this.take('literal', undefined, 'a string literal');
          if (v.literal!.kind !== 'string') throw new PatternError(v.pos, `${op} needs a string literal`);
          return { kind: 'test', path, negated, op, value: v.literal! };
        }
      }
      throw new PatternError(this.t.pos, `expected a comparison operator after the object path, found "${this.t.text}"`);
    });
  }

  private objectPath(): ObjectPath {
    const type = this.take('ident', undefined, 'an object type such as ipv4-addr');
    this.take('punct', ':', '":" after the object type');
    const steps: ObjectPath['steps'] = [];
    const first = this.t;
    if (first.kind === 'ident' && !first.text.includes('-')) {
      steps.push(first.text);
      this.k++;
    } else if (first.kind === 'literal' && first.literal!.kind === 'string') {
      steps.push(first.literal!.value as string);
      this.k++;
    } else throw new PatternError(first.pos, 'expected a property name (no hyphens) after ":"');
    for (;;) {
      if (this.is('punct', '.')) {
        this.k++;
        const p = this.t;
        if (p.kind === 'ident' && !p.text.includes('-')) {
          steps.push(p.text);
          this.k++;
        } else if (p.kind === 'literal' && p.literal!.kind === 'string') {
          steps.push(p.literal!.value as string);
          this.k++;
        } else throw new PatternError(p.pos, 'expected a property name after "."');
      } else if (this.is('punct', '[')) {
        this.k++;
        if (this.is('punct', '*')) {
          this.k++;
          steps.push('*');
        } else {
          const n = this.take('literal', undefined, 'an index or "*"');
          if (n.literal!.kind !== 'int') throw new PatternError(n.pos, 'an index must be a whole number or "*"');
          steps.push(n.literal!.value as number);
        }
        this.take('punct', ']');
      } else {
        return { objectType: type.text, steps };
      }
    }
  }
}

export function parsePattern(text: string): Observation {
  if (text.length > MAX_LENGTH) throw new PatternError(MAX_LENGTH, `longer than ${MAX_LENGTH} characters`);
  return new Parser(tokenize(text)).pattern();
}

/** A STIX string literal for `value`, quotes and backslashes escaped. */
export function stringLiteral(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
