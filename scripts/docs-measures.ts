/**
 * `npm run docs:measures`: writes the measure table of README.md and
 * README.ja.md from the declarations; with --check, exits 1 if either differs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MeasureRegistry } from '../src/core/registry.js';
import { ALL_MEASURES } from '../src/measures/index.js';
import { measureTable, withMeasureTable } from '../src/policy/readme.js';

const root = new URL('../../', import.meta.url).pathname;
const check = process.argv.includes('--check');
const registry = new MeasureRegistry(ALL_MEASURES);
let stale = 0;
for (const [file, lang] of [['README.md', 'en'], ['README.ja.md', 'ja']] as const) {
  const path = join(root, file);
  const text = readFileSync(path, 'utf8');
  const next = withMeasureTable(text, measureTable(registry, lang));
  if (next === text) continue;
  stale++;
  if (check) process.stderr.write(`${file}: the measure table differs from the declarations; run npm run docs:measures\n`);
  else { writeFileSync(path, next); process.stdout.write(`${file}: measure table updated\n`); }
}
if (check && stale > 0) process.exitCode = 1;
