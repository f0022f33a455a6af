/**
 * Append-only JSON-lines files (audit anchors, exports). A crash can leave a
 * torn last line; it is moved aside, never silently glued to the next record.
 */
import {
  appendFileSync,
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  ftruncateSync,
  writeFileSync,
  fsyncSync,
} from 'node:fs';

export interface JsonLine<T> {
  line: number;
  value?: T;
  error?: string;
}

/** Reads every line; a line that is not JSON, or a last line without its newline, is reported, not thrown. */
export function readJsonLines<T>(path: string): JsonLine<T>[] {
  const text = readFileSync(path, 'utf8');
  if (text.length === 0) return [];
  const lines = text.split('\n');
  const complete = text.endsWith('\n');
  if (complete) lines.pop();
  return lines.map((raw, i) => {
    const line = i + 1;
    if (!complete && i === lines.length - 1) return { line, error: `line ${line} is incomplete: the file was truncated mid-line` };
    try {
      return { line, value: JSON.parse(raw) as T };
    } catch {
      return { line, error: `line ${line} is not valid JSON (edited or damaged)` };
    }
  });
}

/**
 * Appends one record and fsyncs. If the file ends in a torn line, the fragment
 * is copied to `<path>.torn-<time>` and cut off first; returns that path if so.
 */
export function appendJsonLine(path: string, value: unknown): string | undefined {
  let tornPath: string | undefined;
  if (existsSync(path)) {
    const fd = openSync(path, 'r+');
    try {
      const size = fstatSync(fd).size;
      if (size > 0) {
        const last = Buffer.alloc(1);
        readSync(fd, last, 0, 1, size - 1);
        if (last[0] !== 0x0a) {
          const whole = readFileSync(path);
          const cut = whole.lastIndexOf(0x0a) + 1;
          tornPath = `${path}.torn-${Date.now()}`;
          writeFileSync(tornPath, whole.subarray(cut));
          ftruncateSync(fd, cut);
        }
      }
    } finally {
      closeSync(fd);
    }
  }
  appendFileSync(path, JSON.stringify(value) + '\n');
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return tornPath;
}
