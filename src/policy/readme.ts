/**
 * The measure table of README.md and README.ja.md, generated from the
 * declarations and this build (`npm run docs:measures`), so that what the
 * README says about each measure is what `mamori measures` says.
 */
import type { MeasureRegistry } from '../core/registry.js';
import { LEGAL_BASES } from '../core/vocabulary.js';
import type { Lang } from './render.js';

export const TABLE_BEGIN = '<!-- measures: generated from the declarations by `npm run docs:measures`; do not edit by hand -->';
export const TABLE_END = '<!-- /measures -->';

const TEXT = {
  en: {
    head: '| Measure | | Legal basis | State |',
    sep: ' + ',
    not: 'not available yet',
    available: '**available** (off until enabled)',
    configure: '**available** (off until configured and enabled)',
  },
  ja: {
    head: '| 措置 | | 法的根拠 | 状態 |',
    sep: '＋',
    available: '**提供中**（有効にするまで停止）',
    configure: '**提供中**（設定して有効にするまで停止）',
    not: '未提供',
  },
} as const;

export function measureTable(registry: MeasureRegistry, lang: Lang): string {
  const t = TEXT[lang];
  const rows = registry.list().map((s) => {
    const d = s.declaration;
    const state = !s.available ? t.not : registry.get(d.id)?.readiness ? t.configure : t.available;
    return `| ${d.code} | ${d.title[lang]} | ${d.bases.map((b) => LEGAL_BASES[b.basis].short[lang]).join(t.sep)} | ${state} |`;
  });
  return [t.head, '|---|---|---|---|', ...rows].join('\n');
}

/** `text` with the table between the markers replaced; throws if the markers are missing. */
export function withMeasureTable(text: string, table: string): string {
  return withGeneratedBlock(text, TABLE_BEGIN, TABLE_END, table);
}

/** `text` with what stands between two marker lines replaced by `body`; throws if the markers are missing. */
export function withGeneratedBlock(text: string, beginMarker: string, endMarker: string, body: string): string {
  const begin = text.indexOf(beginMarker);
  const end = text.indexOf(endMarker);
  if (begin < 0 || end < begin) throw new Error(`no "${beginMarker}" … "${endMarker}" block`);
  return `${text.slice(0, begin + beginMarker.length)}\n${body}\n${text.slice(end)}`;
}

export const DROP_REASONS_BEGIN =
  '<!-- drop-reasons: generated from src/ingest/flow/exporters.ts by `npm run docs:measures`; do not edit by hand -->';
export const DROP_REASONS_END = '<!-- /drop-reasons -->';

/** The flow collector's drop reasons, one row each, as the API and /metrics name them. */
export function dropReasonTable(reasons: ReadonlyArray<{ reason: string; text: string }>, lang: Lang): string {
  const head = lang === 'ja' ? '| 理由 | 意味 |' : '| Reason | What it means |';
  return [head, '|---|---|', ...reasons.map((r) => `| \`${r.reason}\` | ${r.text} |`)].join('\n');
}
