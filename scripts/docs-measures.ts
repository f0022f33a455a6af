/**
 * `npm run docs:measures`: writes the measure table of README.md and
 * README.ja.md from the declarations, and the flow drop reasons of
 * docs/{en,ja}/flows.md from the code; with --check, exits 1 if any differs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MeasureRegistry } from '../src/core/registry.js';
import { ALL_MEASURES } from '../src/measures/index.js';
import { DROP_REASON_TEXT, DROP_REASONS } from '../src/ingest/flow/exporters.js';
import {
  DROP_REASONS_BEGIN,
  DROP_REASONS_END,
  dropReasonTable,
  measureTable,
  withGeneratedBlock,
  withMeasureTable,
} from '../src/policy/readme.js';

const root = new URL('../../', import.meta.url).pathname;
const check = process.argv.includes('--check');
const registry = new MeasureRegistry(ALL_MEASURES);
let stale = 0;
for (const [file, lang] of [
  ['README.md', 'en'],
  ['README.ja.md', 'ja'],
] as const) {
  const path = join(root, file);
  const text = readFileSync(path, 'utf8');
  const next = withMeasureTable(text, measureTable(registry, lang));
  if (next === text) continue;
  stale++;
  if (check) process.stderr.write(`${file}: the measure table differs from the declarations; run npm run docs:measures\n`);
  else {
    writeFileSync(path, next);
    process.stdout.write(`${file}: measure table updated\n`);
  }
}
// The flow collector's drop reasons in docs/{en,ja}/flows.md, from the same text the code carries.
for (const lang of ['en', 'ja'] as const) {
  const path = join(root, 'docs', lang, 'flows.md');
  const text = readFileSync(path, 'utf8');
  const table = dropReasonTable(
    DROP_REASONS.map((reason) => ({ reason, text: DROP_REASON_TEXT[reason][lang] })),
    lang,
  );
  const next = withGeneratedBlock(text, DROP_REASONS_BEGIN, DROP_REASONS_END, table);
  if (next === text) continue;
  stale++;
  if (check) process.stderr.write(`docs/${lang}/flows.md: the drop reasons differ from the code; run npm run docs:measures\n`);
  else {
    writeFileSync(path, next);
    process.stdout.write(`docs/${lang}/flows.md: drop reasons updated\n`);
  }
}
if (check && stale > 0) process.exitCode = 1;
