/**
 * The drop directory for third-party reports: the mail robot or the download
 * job that fetches Shadowserver's daily reports writes them into
 * `<dir>/<source id>/`, and the importer takes each file once. A file is taken
 * only when it has not changed for `settleMs` (a writer still copying it is
 * left alone) and names no temporary suffix. A report holds addresses and
 * times: once imported it is deleted, and only its result (counts and
 * reasons, never entries) stays in `<dir>/done/`. A report that could not be
 * read at all moves to `<dir>/failed/` for the operator to look at, and is
 * deleted there when the retention of reported hosts has passed.
 */
import { createReadStream, mkdirSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { decompressed } from './read.js';

/** A report file as a stream of chunks, gunzipped when it is gzip (Shadowserver sends some reports compressed). */
export function openReportFile(path: string): AsyncGenerator<Buffer> {
  return decompressed(createReadStream(path, { highWaterMark: 256 * 1024 }));
}

/**
 * What the `report-input` capability grants a measure that declares reported hosts: the drop directory its settings
 * name, read by the core (a measure opens no file itself).
 */
export interface ReportDropInput {
  ready: typeof readyDrops;
  open: typeof openReportFile;
  settle: typeof settleDrop;
  purge: typeof purgeDrops;
}

export interface DroppedFile {
  path: string;
  /** The registered source: the name of the folder it was dropped in. */
  source: string;
  name: string;
  bytes: number;
}

const TEMPORARY = /(\.part|\.tmp|\.partial|~)$|^\./;
/** Folders the importer writes itself: not sources. */
const OWN = new Set(['done', 'failed']);

/** Files ready to import, oldest first; folders that are not registered sources are reported in `unknown`. */
export function readyDrops(
  dir: string,
  sources: readonly string[],
  now = Date.now(),
  settleMs = 2000,
  max = 100,
): { files: DroppedFile[]; unknown: string[] } {
  const files: Array<DroppedFile & { mtime: number }> = [];
  const unknown: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return { files: [], unknown: [] };
  }
  for (const folder of entries) {
    if (OWN.has(folder) || TEMPORARY.test(folder)) continue;
    const path = join(dir, folder);
    if (!statSync(path, { throwIfNoEntry: false })?.isDirectory()) continue;
    if (!sources.includes(folder)) {
      unknown.push(folder);
      continue;
    }
    for (const name of readdirSync(path)) {
      if (TEMPORARY.test(name)) continue;
      const st = statSync(join(path, name), { throwIfNoEntry: false });
      if (!st?.isFile() || now - st.mtimeMs < settleMs) continue;
      files.push({ path: join(path, name), source: folder, name, bytes: st.size, mtime: st.mtimeMs });
    }
  }
  files.sort((a, b) => a.mtime - b.mtime);
  return { files: files.slice(0, max).map(({ mtime: _m, ...f }) => f), unknown };
}

/** Deletes (imported) or moves to failed/ (unreadable) a taken file, with its result in done/ or failed/. */
export function settleDrop(dir: string, file: DroppedFile, ok: boolean, result: unknown, now = new Date()): string {
  const target = join(dir, ok ? 'done' : 'failed');
  mkdirSync(target, { recursive: true, mode: 0o750 });
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const to = join(target, `${stamp}-${file.source}-${basename(file.name)}`);
  if (ok) unlinkSync(file.path);
  else renameSync(file.path, to);
  writeFileSync(`${to}.result.json`, JSON.stringify(result, null, 2), { mode: 0o640 });
  return to;
}

/** Deletes what failed/ and done/ hold from before `cutoff` (failed reports hold addresses; results age out too). */
export function purgeDrops(dir: string, cutoff: Date): number {
  let n = 0;
  for (const folder of ['done', 'failed']) {
    let names: string[];
    try {
      names = readdirSync(join(dir, folder));
    } catch {
      continue;
    }
    for (const name of names) {
      const path = join(dir, folder, name);
      const st = statSync(path, { throwIfNoEntry: false });
      if (st && st.mtimeMs < cutoff.getTime()) {
        rmSync(path, { force: true });
        n++;
      }
    }
  }
  return n;
}

export const REPORT_DROP_INPUT: ReportDropInput = { ready: readyDrops, open: openReportFile, settle: settleDrop, purge: purgeDrops };
