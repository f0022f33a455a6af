/**
 * Which tables a query reads, decided by the engine's own parser (EXPLAIN AST),
 * not by pattern-matching SQL text. Used to hold purpose-bound handles to the
 * tables their measure declared. Conservative by design: a query the guard
 * cannot account for is refused.
 */
import type { AnalyticsStore } from './store.js';
import { MamoriError } from '../../core/errors.js';

export class TableAccessError extends MamoriError {
  static override readonly code = 'table-access';
  static override readonly status = 403;
  constructor(message: string) {
    super(message);
  }
}

/** Functions that read data outside the FROM clause. */
const DATA_READING_FUNCTIONS =
  /^(dictGet\w*|dictHas|dictIsIn|dictGetHierarchy|dictGetChildren|dictGetDescendants|joinGet\w*|getSubcolumn|hasColumnInTable|filesystem\w*)$/i;

interface AstLine {
  depth: number;
  kind: string;
  rest: string;
}

function parseAst(text: string): AstLine[] {
  const lines: AstLine[] = [];
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    const depth = raw.length - raw.trimStart().length;
    const [kind = '', ...rest] = raw.trim().split(' ');
    lines.push({ depth, kind, rest: rest.join(' ') });
  }
  return lines;
}

/** `m1.flows (alias f)` → `m1.flows` */
function nameOf(rest: string): string {
  return rest.replace(/\s*\(.*\)\s*$/, '').trim();
}

/**
 * Returns the qualified tables `sql` reads, or throws if it is not a plain
 * SELECT over tables in `allowed` (names written `database.table`).
 */
export async function checkReadAccess(
  store: AnalyticsStore,
  sql: string,
  allowed: ReadonlySet<string>,
  params?: Record<string, unknown>,
): Promise<string[]> {
  let ast: AstLine[];
  try {
    ast = parseAst(await store.explainAst(sql, params));
  } catch (err) {
    throw new TableAccessError(`the query could not be parsed: ${(err as Error).message}`);
  }
  const root = ast[0]?.kind;
  if (root !== 'SelectWithUnionQuery' && root !== 'SelectIntersectExceptQuery') {
    throw new TableAccessError(`only SELECT queries are allowed through a purpose-bound handle (got ${root ?? 'nothing'})`);
  }
  const databases = new Set(await store.databases());
  const read = new Set<string>();
  const parents: AstLine[] = [];
  for (const line of ast) {
    while (parents.length > 0 && parents[parents.length - 1]!.depth >= line.depth) parents.pop();
    const parent = parents[parents.length - 1];
    if (line.kind === 'TableIdentifier') {
      const name = nameOf(line.rest);
      // Unqualified names resolve in the empty sandbox database: they can only be CTEs.
      if (name.includes('.')) {
        if (!allowed.has(name)) throw new TableAccessError(`the query reads ${name}, which this handle does not grant`);
        read.add(name);
      }
    } else if (line.kind === 'Function') {
      const name = nameOf(line.rest);
      if (parent?.kind === 'TableExpression')
        throw new TableAccessError(`table function ${name}() is not allowed through a purpose-bound handle`);
      if (DATA_READING_FUNCTIONS.test(name)) throw new TableAccessError(`function ${name}() reads data outside the granted tables`);
    } else if (line.kind === 'Identifier') {
      // `x IN db.table` names a table as a plain identifier.
      const name = nameOf(line.rest);
      const db = name.split('.')[0]!;
      if (name.includes('.') && databases.has(db) && !allowed.has(name)) {
        throw new TableAccessError(`the query refers to ${name}, which this handle does not grant`);
      }
    }
    parents.push(line);
  }
  return [...read];
}
