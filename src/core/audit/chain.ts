/**
 * The hash chain. Each entry commits to its own fields and to the previous
 * entry's hash, so an edited, deleted, inserted or reordered entry breaks the
 * chain at a place `verifyChain` can name. Anchors (heads written elsewhere)
 * make a cut-off tail detectable too.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** An entry exactly: a damaged key in an exported file must not pass as a missing (null) value. */
export const auditEntrySchema = z.strictObject({
  seq: z.number().int().positive(),
  ts: z.string(),
  actor: z.string(),
  measure: z.string().nullable(),
  action: z.string(),
  object: z.string().nullable(),
  caseId: z.string().nullable(),
  counts: z.record(z.string(), z.number()).nullable(),
  outcome: z.enum(['ok', 'refused', 'error']),
  prev: z.string().regex(/^[0-9a-f]{64}$/),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;

/** `sig`: the Ed25519 signature of an anchor taken with audit.signingKeyFile (signing.ts). */
export interface Anchor {
  seq: number;
  hash: string;
  ts: string;
  sig?: string;
}

export function genesisHash(chainId: string): string {
  return sha256(`mamori-audit-genesis:${chainId}`);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function canonicalCounts(counts: Record<string, number> | null): string | null {
  if (!counts) return null;
  return JSON.stringify(
    Object.keys(counts)
      .sort()
      .map((k) => [k, counts[k]]),
  );
}

export function entryHash(e: Omit<AuditEntry, 'hash'>): string {
  return sha256(
    JSON.stringify([e.seq, e.ts, e.actor, e.measure, e.action, e.object, e.caseId, canonicalCounts(e.counts), e.outcome, e.prev]),
  );
}

export interface ChainProblem {
  /** seq of the entry where the chain breaks (or the position in a file). */
  seq: number | null;
  line?: number;
  problem: string;
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  firstSeq: number | null;
  lastSeq: number | null;
  headHash: string | null;
  anchorsChecked: number;
  problems: ChainProblem[];
}

export interface VerifyOptions {
  /** The genesis hash; when given and the first entry is seq 1, its prev must equal it. */
  genesis?: string;
  anchors?: Anchor[];
  /** Stop collecting after this many problems (the first one is what matters most). */
  maxProblems?: number;
  onProgress?: (checked: number) => void;
}

export type ChainItem = { entry: AuditEntry; line?: number } | { error: string; line?: number; seq?: number };

/** Verifies a stream of entries in storage order. Works for the live store and for exported files. */
export async function verifyChain(items: AsyncIterable<ChainItem> | Iterable<ChainItem>, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const maxProblems = opts.maxProblems ?? 20;
  const problems: ChainProblem[] = [];
  const report = (p: ChainProblem) => {
    if (problems.length < maxProblems) problems.push(p);
  };
  const hashBySeq = new Map<number, string>();
  const anchorSeqs = new Set((opts.anchors ?? []).map((a) => a.seq));
  let checked = 0;
  let firstSeq: number | null = null;
  let lastSeq: number | null = null;
  let prevHash: string | null = null;
  let expectedSeq: number | null = null;

  for await (const item of items as AsyncIterable<ChainItem>) {
    if ('error' in item) {
      report({ seq: item.seq ?? expectedSeq, ...(item.line !== undefined ? { line: item.line } : {}), problem: item.error });
      prevHash = null; // the next entry cannot be linked to an unreadable one
      if (item.seq !== undefined) expectedSeq = item.seq + 1;
      else if (expectedSeq !== null) expectedSeq += 1;
      continue;
    }
    const e = item.entry;
    const where = { seq: e.seq, ...(item.line !== undefined ? { line: item.line } : {}) };
    checked += 1;
    if (firstSeq === null) {
      firstSeq = e.seq;
      if (e.seq === 1 && opts.genesis && e.prev !== opts.genesis) {
        report({
          ...where,
          problem: "entry 1 does not start from this installation's genesis hash (log replaced or from another installation)",
        });
      }
    }
    if (expectedSeq !== null && e.seq !== expectedSeq) {
      report({
        ...where,
        problem:
          e.seq > expectedSeq
            ? `entries ${expectedSeq}..${e.seq - 1} are missing (deleted) before entry ${e.seq}`
            : `entry ${e.seq} is out of order: expected ${expectedSeq} (entries reordered or inserted)`,
      });
    }
    if (prevHash !== null && e.prev !== prevHash) {
      report({ ...where, problem: `entry ${e.seq} does not link to the entry before it (an entry was deleted, inserted or swapped here)` });
    }
    if (entryHash(e) !== e.hash) {
      report({ ...where, problem: `entry ${e.seq} was altered: its content does not match its hash` });
    }
    if (anchorSeqs.has(e.seq)) hashBySeq.set(e.seq, e.hash);
    prevHash = e.hash;
    expectedSeq = e.seq + 1;
    lastSeq = e.seq;
    if (opts.onProgress && checked % 10000 === 0) opts.onProgress(checked);
  }

  let anchorsChecked = 0;
  for (const a of opts.anchors ?? []) {
    if (firstSeq !== null && a.seq < firstSeq) continue; // outside an exported range
    anchorsChecked += 1;
    if (lastSeq === null || a.seq > lastSeq) {
      report({
        seq: a.seq,
        problem: `the log ends at entry ${lastSeq ?? 0} but was anchored at entry ${a.seq} on ${a.ts}: the tail was cut off`,
      });
      continue;
    }
    const seen = hashBySeq.get(a.seq);
    if (seen !== undefined && seen !== a.hash) {
      report({ seq: a.seq, problem: `entry ${a.seq} differs from the anchor taken on ${a.ts}: the log was rewritten` });
    }
  }
  opts.onProgress?.(checked);
  return { ok: problems.length === 0, checked, firstSeq, lastSeq, headHash: prevHash, anchorsChecked, problems };
}
