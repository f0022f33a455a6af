/**
 * The drop directory for reports (src/ingest/reports/drop.ts): a file is taken only once it has settled and
 * names no temporary suffix, only from a registered source's folder (others are named); an imported file is
 * deleted and only its result stays; an unreadable one moves to failed/; both age out.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { purgeDrops, readyDrops, settleDrop } from '../../src/ingest/reports/drop.js';
import { tempDir } from '../support/fixtures.js';

describe('report drop directory', () => {
  it('takes settled files of registered sources, oldest first, and names folders of no source', () => {
    const dir = tempDir();
    for (const f of ['shadowserver', 'intelmq', 'someone-else']) mkdirSync(join(dir, f));
    const put = (path: string, ageMs: number) => {
      writeFileSync(join(dir, path), 'x');
      const t = new Date(Date.now() - ageMs);
      utimesSync(join(dir, path), t, t);
    };
    put('shadowserver/b.csv', 10_000);
    put('shadowserver/a.csv', 20_000);
    put('shadowserver/c.csv.part', 20_000); // still being written under its temporary name
    put('intelmq/fresh.jsonl', 0); // changed a moment ago: not settled
    put('someone-else/x.csv', 20_000);
    const { files, unknown } = readyDrops(dir, ['shadowserver', 'intelmq']);
    assert.deepEqual(
      files.map((f) => `${f.source}/${f.name}`),
      ['shadowserver/a.csv', 'shadowserver/b.csv'],
    );
    assert.deepEqual(unknown, ['someone-else']);
    assert.deepEqual(readyDrops(join(dir, 'missing'), ['shadowserver']), { files: [], unknown: [] });
  });

  it('deletes an imported report and keeps its result; moves an unreadable one to failed/; purges both with age', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'shadowserver'));
    writeFileSync(join(dir, 'shadowserver', 'ok.csv'), '198.51.100.1');
    writeFileSync(join(dir, 'shadowserver', 'bad.csv'), '198.51.100.2');
    const [ok, bad] = ['ok.csv', 'bad.csv'].map((name) => ({
      path: join(dir, 'shadowserver', name),
      source: 'shadowserver',
      name,
      bytes: 12,
    }));
    const done = settleDrop(dir, ok!, true, { rows: 1 });
    assert.ok(!existsSync(ok!.path) && !existsSync(done), 'the imported report is gone');
    assert.deepEqual(JSON.parse(readFileSync(`${done}.result.json`, 'utf8')), { rows: 1 });
    const failed = settleDrop(dir, bad!, false, { error: 'no header' });
    assert.equal(readFileSync(failed, 'utf8'), '198.51.100.2', 'kept for the operator to look at');
    assert.equal(purgeDrops(dir, new Date(Date.now() - 60_000)), 0, 'nothing old yet');
    assert.equal(purgeDrops(dir, new Date(Date.now() + 60_000)), 3);
    assert.deepEqual([readdirSync(join(dir, 'done')), readdirSync(join(dir, 'failed'))], [[], []]);
  });
});
