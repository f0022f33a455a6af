/**
 * The console's message catalogues (console/src/locales): every text in both languages, every key the
 * pages use present, and nothing that vue-i18n would read as syntax (linked messages, plurals).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROLES } from '../../src/core/roles.js';
import { REPO_ROOT } from '../support/fixtures.js';

const SRC = join(REPO_ROOT, 'console/src');
type Tree = { [k: string]: string | Tree };
const load = (lang: string) => JSON.parse(readFileSync(join(SRC, 'locales', `${lang}.json`), 'utf8')) as Tree;

function flatten(tree: Tree, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(tree)) {
    if (typeof v === 'string') out.set(prefix + k, v);
    else for (const [kk, vv] of flatten(v, `${prefix}${k}.`)) out.set(kk, vv);
  }
  return out;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.(vue|ts)$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

/** Keys in ja and not in en, and the reverse. */
export function missingKeys(ja: Tree, en: Tree): { onlyJa: string[]; onlyEn: string[] } {
  const j = flatten(ja);
  const e = flatten(en);
  return { onlyJa: [...j.keys()].filter((k) => !e.has(k)), onlyEn: [...e.keys()].filter((k) => !j.has(k)) };
}

describe('console message catalogues', () => {
  const ja = load('ja');
  const en = load('en');

  it('has every key in both languages, each a non-empty text', () => {
    assert.deepEqual(missingKeys(ja, en), { onlyJa: [], onlyEn: [] });
    for (const [lang, tree] of [
      ['ja', ja],
      ['en', en],
    ] as const) {
      for (const [k, v] of flatten(tree)) {
        assert.ok(v.trim().length > 0, `${lang}: ${k} is empty`);
        // '@' starts a linked message and '|' separates plural forms in vue-i18n: neither is meant here.
        assert.doesNotMatch(v, /[@|]/, `${lang}: ${k} has vue-i18n syntax`);
      }
    }
  });

  it('tells a key missing in one language (the check above can fail)', () => {
    assert.deepEqual(missingKeys({ a: { b: 'x', c: 'y' } }, { a: { b: 'x' }, d: 'z' }), { onlyJa: ['a.c'], onlyEn: ['d'] });
  });

  it('has every key the pages use', () => {
    const keys = flatten(ja);
    const used = new Set<string>();
    for (const file of sources(SRC)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\bt\('([\w.]+)'/g)) used.add(m[1]!);
      for (const m of text.matchAll(/nav: '([\w.]+)'/g)) used.add(m[1]!);
    }
    // Keys built at run time: roles, input kinds, disclosure formats.
    for (const r of ROLES) used.add(`roles.${r}`);
    for (const k of ['dnstap', 'radius', 'rpz', 'aaa', 'smtp', 'secondaries']) used.add(`overview.kinds.${k}`);
    for (const f of ['terms', 'notice', 'report']) used.add(`disclosure.${f}`);
    assert.ok(used.size > 100, `only ${used.size} keys found in the sources`);
    assert.deepEqual(
      [...used].filter((k) => !keys.has(k)),
      [],
    );
  });
});
