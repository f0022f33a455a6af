/**
 * The docs say what the code does: the README's measure table is the one
 * generated from the declarations (and agrees with `mamori measures`), no doc
 * states a status the registry contradicts, and every command line in the
 * docs is one a newcomer can run after the quick start (`npx mamori …`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MeasureRegistry } from '../../src/core/registry.js';
import { ALL_MEASURES } from '../../src/measures/index.js';
import {
  DROP_REASONS_BEGIN,
  DROP_REASONS_END,
  dropReasonTable,
  measureTable,
  withGeneratedBlock,
  withMeasureTable,
} from '../../src/policy/readme.js';
import { DROP_REASON_TEXT, DROP_REASONS } from '../../src/ingest/flow/exporters.js';
import { CLI, REPO_ROOT } from '../support/fixtures.js';

const registry = new MeasureRegistry(ALL_MEASURES);
const available = new Map(registry.list().map((s) => [s.declaration.code, s.available]));
const DOCS = [
  'README.md',
  'README.ja.md',
  'BENCHMARKS.md',
  ...['en', 'ja'].flatMap((l) =>
    readdirSync(join(REPO_ROOT, 'docs', l))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${l}/${f}`),
  ),
];
const read = (f: string) => readFileSync(join(REPO_ROOT, f), 'utf8');

/** Words that say a measure is not there yet, in either language. */
const NOT_THERE = new RegExp(
  [
    'not available',
    'not (?:yet )?(?:landed|implemented)',
    'when (?:it|they) lands?',
    'until (?:it|they) lands?',
    'collects nothing',
    '未提供',
    '実装されていません',
    '提供に備えて',
    '提供後',
    '何も収集しません',
  ].join('|'),
  'i',
);

/** M1–M8 named in a sentence, ranges ("M1 to M4", "M1〜M4") included. */
function codesIn(sentence: string): string[] {
  const codes = new Set<string>();
  for (const m of sentence.matchAll(/\bM([1-8])\s*(?:to|–|-|〜|～)\s*M([1-8])\b/g)) {
    for (let i = Number(m[1]); i <= Number(m[2]); i++) codes.add(`M${i}`);
  }
  for (const m of sentence.matchAll(/(?<![\w-])M([1-8])(?![\w-])/g)) codes.add(`M${m[1]}`);
  return [...codes];
}

describe('docs agree with the code', () => {
  it('has in each README the measure table generated from the declarations', () => {
    for (const [file, lang] of [
      ['README.md', 'en'],
      ['README.ja.md', 'ja'],
    ] as const) {
      const text = read(file);
      assert.equal(withMeasureTable(text, measureTable(registry, lang)), text, `${file}: run npm run docs:measures`);
    }
  });

  it('lists in docs/{en,ja}/flows.md every drop reason the collector counts, as the code explains it', () => {
    for (const lang of ['en', 'ja'] as const) {
      const text = read(`docs/${lang}/flows.md`);
      const table = dropReasonTable(
        DROP_REASONS.map((reason) => ({ reason, text: DROP_REASON_TEXT[reason][lang] })),
        lang,
      );
      assert.equal(
        withGeneratedBlock(text, DROP_REASONS_BEGIN, DROP_REASONS_END, table),
        text,
        `docs/${lang}/flows.md: run npm run docs:measures`,
      );
      for (const reason of DROP_REASONS) assert.ok(text.includes(`| \`${reason}\` |`), `docs/${lang}/flows.md lacks ${reason}`);
    }
  });

  it('gives in the table the state `mamori measures` prints', () => {
    const r = spawnSync(process.execPath, [CLI, 'measures'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const cli = new Map(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\t'))
        .map(([code, , state]) => [code!, state!]),
    );
    assert.equal(cli.size, 8);
    const table = measureTable(registry, 'en');
    for (const [code, state] of cli) {
      const row = table.split('\n').find((l) => l.startsWith(`| ${code} |`));
      assert.ok(row, code);
      assert.equal(/not available/.test(row), state === 'not-available', `${code}: README "${row}" vs mamori measures "${state}"`);
    }
  });

  it('states no status the registry contradicts', () => {
    const problems: string[] = [];
    for (const f of DOCS) {
      // Sentences: paragraphs joined, split after a full stop (English or Japanese) or at a list item or table row.
      const sentences = read(f)
        .split(/\n\s*\n|\n(?=\s*(?:[-*|#]|\d+\.)\s)|(?<=\.)\s+|(?<=。)/)
        .map((s) => s.replace(/\s+/g, ' '));
      for (const s of sentences) {
        if (!NOT_THERE.test(s)) continue;
        for (const code of codesIn(s)) {
          if (available.get(code)) problems.push(`${f}: says ${code} is not there, but it is available: "${s.slice(0, 160)}"`);
        }
      }
      // A measure page's status line names its own measure.
      const status = /\*\*(?:Status|状態):\s*([^*]+)\*\*/.exec(read(f));
      const code = /^# (M[1-8])\b/m.exec(read(f))?.[1];
      if (status && code) {
        const saysAvailable = /^(?:available|提供中)/.test(status[1]!.trim());
        if (saysAvailable !== available.get(code)) {
          problems.push(`${f}: status "${status[1]}" but ${code} is ${available.get(code) ? '' : 'not '}available`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  it('writes every command as a newcomer runs it after the quick start: npx mamori …', () => {
    const bare: string[] = [];
    for (const f of DOCS) {
      const text = read(f).replace(/\s+/g, ' ');
      const commands =
        'serve|config|policy|audit|users|tokens|flows|cc|share|dns-blocking|credential-misuse|ddos|subscribers|simulate|retention|' +
        'measures|--help|-c';
      for (const m of text.matchAll(new RegExp(`(?<!npx )(?<![\\w/.-])mamori (?:${commands})\\b`, 'g'))) {
        bare.push(`${f}: "${text.slice(Math.max(0, m.index - 20), m.index + 30)}"`);
      }
    }
    assert.deepEqual(bare, []);
  });
});
