/**
 * What a declaration says about retention is what the store does: for every
 * measure's declaration (and the shared subscriber, case and notice services),
 * each data item lives in a registered dataset; rows older than the retention
 * are deleted by the retention job and audited; rows a declared hold covers
 * stay (until the hold's bound), and nothing else does.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Mamori } from '../../src/app/mamori.js';
import { SERVICE_OWNER, type Dataset, type RetentionPass } from '../../src/core/datasets.js';
import { runRetention } from '../../src/core/retention.js';
import type { AuditEntry } from '../../src/core/audit/chain.js';
import { openTest } from '../support/fixtures.js';
import type { UntypedDb } from '../../src/store/state/untyped.js';

const NOW = new Date('2027-06-01T12:00:00Z');
const HOUR = 3_600_000;

/**
 * State tables that hold no declared data item, and why. A new table goes here or into a dataset;
 * anything else fails the last test.
 */
const NOT_DATA: Record<string, string> = {
  meta: 'schema bookkeeping',
  kysely_migration: 'schema bookkeeping',
  kysely_migration_lock: 'schema bookkeeping',
  users: 'operator accounts',
  sessions: 'operator logins (expire by their own time)',
  api_tokens: 'operator tokens',
  audit_log: 'the audit chain (references and counts only)',
  audit_anchors: 'the audit chain',
  radius_detail_cursors: 'file offsets',
  m3_log_cursors: 'file offsets',
  notice_templates: 'template texts',
  cc_label_sources: 'names and hashes of imported lists',
  cc_models: 'trained models (aggregates)',
  cc_runs: 'detection runs: window bounds, model version, counts (no endpoint, no flow data)',
  flow_imports: 'flow back-fills: content hash, when, who, counts (no file name, no flow data)',
  m3_entries: "C&C names from published lists, not from subscribers' queries",
  share_recipients: 'partner organisations',
  share_credentials: 'partner credentials (hashes)',
  share_rights: 'partner rights',
  share_inbound_sources: 'partner feeds and their cursors',
  m7_imports: 'report imports: source, who, when, counts per reason (no entry of the report)',
  m7_outcomes: 'remediation statistics: family, channel, stage, notice and last-seen times (no subscriber, no address)',
  m7_remediation: 'remediation texts the operator writes per malware family',
};

type Row = Record<string, unknown>;
interface Ctx {
  measure: string | undefined;
  held: boolean;
  insert(table: string, values?: Row): Promise<Row>;
}
/** How to write a row of a dataset: its own values (parents inserted first) and, if not the default, its time. */
interface Spec {
  row?(c: Ctx): Row | Promise<Row>;
  time?(t: Date): unknown;
}

const openCase = (c: Ctx, extra: Row = {}) =>
  c.insert('cases', {
    measure: c.measure ?? 'retired-measure',
    status: c.held ? 'open' : 'closed',
    updated_at: NOW.toISOString(),
    ...extra,
  });

const SPECS: Record<string, Spec> = {
  'cc-labels': { row: async (c) => ({ source: (await c.insert('cc_label_sources')).name }) },
  'inbound-indicators': { row: async (c) => ({ source: (await c.insert('share_inbound_sources')).name }) },
  'm3-consent': { row: (c) => ({ choice: c.held ? 'opt-out' : 'opt-in' }) },
  'm3-blocked-counts': { time: (t) => t.toISOString().slice(0, 10) },
  'm7-consent': { row: (c) => ({ choice: c.held ? 'opt-out' : 'opt-in' }) },
  'm7-garden-choice': { row: (c) => ({ choice: c.held ? 'opt-out' : 'opt-in' }) },
  'm4-suspensions': {
    row: (c) =>
      c.held
        ? { lifted_at: null, until: new Date(NOW.getTime() + 86_400_000).toISOString() }
        : { lifted_at: new Date(NOW.getTime() - 86_400_000).toISOString(), until: NOW.toISOString() },
  },
  cases: { row: (c) => ({ measure: c.measure ?? 'retired-measure', status: c.held ? 'notified' : 'closed' }) },
  'case-events': { row: async (c) => ({ case_id: (await openCase(c)).id }) },
  notices: { row: async (c) => ({ case_id: (await openCase(c)).id }) },
  'subscriber-contacts': {
    row: async (c) => {
      const subscriber = `sub-${Math.random().toString(36).slice(2)}`;
      if (c.held) await openCase(c, { subscriber });
      return { subscriber };
    },
  },
};

/** Inserts a row, filling every column not given (nullable ones too: SQLite keys may be) with a distinct value of its type. */
function inserter(db: UntypedDb, columns: Map<string, Array<{ name: string; dataType: string; isAutoIncrementing: boolean }>>) {
  let n = 0;
  return async (table: string, values: Row = {}): Promise<Row> => {
    const cols = columns.get(table);
    assert.ok(cols, `no table ${table}`);
    const row: Row = {};
    for (const c of cols) {
      if (c.name in values) row[c.name] = values[c.name];
      else if (c.isAutoIncrementing) continue;
      else row[c.name] = /INT/i.test(c.dataType) ? 1_000 + ++n : /REAL|FLOA|DOUB/i.test(c.dataType) ? ++n / 2 : `v${++n}`;
    }
    try {
      return (await db.insertInto(table).values(row).returningAll().executeTakeFirstOrThrow()) as Row;
    } catch (err) {
      throw new Error(`${table} ${JSON.stringify(row)}: ${(err as Error).message}`, { cause: err });
    }
  };
}

async function present(db: UntypedDb, table: string, row: Row): Promise<boolean> {
  let q = db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'));
  for (const [k, v] of Object.entries(row)) q = v === null ? q.where(k, 'is', null) : q.where(k, '=', v);
  return Number((await q.executeTakeFirstOrThrow()).n) > 0;
}

function timeOf(ds: Dataset, t: Date): unknown {
  return SPECS[ds.name]?.time?.(t) ?? (ds.timeFormat === 'epoch-seconds' ? Math.floor(t.getTime() / 1000) : t.toISOString());
}

describe('retention of every declared data item', () => {
  let m: Mamori;
  before(async () => {
    m = await openTest('', { analytics: true });
  });

  /** The datasets holding `item` for measure `id`, and the pass that governs that measure's rows in each. */
  function governing(id: string, item: string): Array<{ ds: Dataset; pass: RetentionPass }> {
    const out: Array<{ ds: Dataset; pass: RetentionPass }> = [];
    for (const ds of m.datasets.list().filter((d) => (d.items as readonly string[]).includes(item))) {
      const passes = m.datasets.passes(ds);
      if (ds.owner === id) out.push({ ds, pass: passes[0]! });
      else if (SERVICE_OWNER.test(ds.owner)) {
        const pass = ds.rowOwner ? passes.find((p) => p.measure === id) : passes[0];
        if (pass) out.push({ ds, pass });
      }
    }
    return out;
  }

  it('finds, for every item of every available measure, the datasets holding it, kept no longer than declared', () => {
    const problems: string[] = [];
    for (const s of m.registry.list()) {
      const d = s.declaration;
      for (const i of d.dataItems) {
        const found = governing(d.id, i.item);
        if (found.length === 0) {
          // A measure not in this build collects nothing; the day it lands, its items need datasets.
          if (s.available) problems.push(`${d.code} declares ${i.item}, which no dataset holds`);
          continue;
        }
        // A declared hold is a promise too (an opt-out must not vanish after 30 days): some dataset keeps it.
        for (const h of i.keptWhile) {
          if (!found.some((f) => f.pass.hold?.condition === h)) {
            problems.push(`${d.code} keeps ${i.item} while ${h}, but no dataset holding it does`);
          }
        }
        for (const { ds, pass } of found) {
          // One shared index (the subscriber service) keeps an item as long as the longest declaration of it.
          const declared = m.registry
            .declarations()
            .flatMap((x) => x.dataItems)
            .filter((y) => y.item === i.item);
          const shared = SERVICE_OWNER.test(ds.owner) && !ds.rowOwner;
          const allowed = shared ? Math.max(...declared.map((y) => y.retentionSeconds)) : i.retentionSeconds;
          if (pass.retentionSeconds > allowed) {
            problems.push(`${d.code} ${i.item}: dataset ${ds.name} keeps it ${pass.retentionSeconds} s, more than ${allowed} s`);
          }
          if (pass.hold && ds.owner === d.id && !i.keptWhile.includes(pass.hold.condition)) {
            problems.push(`${d.code} ${i.item}: dataset ${ds.name} holds rows while ${pass.hold.condition}, undeclared`);
          }
        }
      }
      const owned = m.datasets.list().filter((x) => x.owner === d.id).length;
      if (!s.available) assert.equal(owned, 0, `${d.code} is not available, yet owns datasets`);
    }
    assert.deepEqual(problems, []);
    // The shared services' tables are datasets too.
    const tables = new Set(m.datasets.list().map((x) => x.table));
    for (const t of ['ip_sessions', 'cgnat_blocks', 'cases', 'case_events', 'notices', 'subscriber_contacts']) {
      assert.ok(tables.has(t), `${t} is in no dataset`);
    }
  });

  it("deletes every dataset's rows past the retention, keeps fresh and held ones, and audits each pass", async () => {
    const db = m.state.db as unknown as UntypedDb;
    const tables = await db.introspection.getTables();
    const insert = inserter(db, new Map(tables.map((t) => [t.name, t.columns])));
    type Kind = 'expired' | 'fresh' | 'held' | 'beyond-hold';
    const expectations: Array<{ ds: Dataset; pass: RetentionPass; row: Row; kind: Kind; gone: boolean }> = [];
    let flowRows = 0;
    for (const ds of m.datasets.list()) {
      const passes = m.datasets.passes(ds);
      assert.ok(passes.length > 0, ds.name);
      for (const pass of passes) {
        const cutoff = NOW.getTime() - pass.retentionSeconds * 1000;
        if (ds.store === 'analytics') {
          // Flows: one row just past the retention, one just inside.
          for (const t of [cutoff - HOUR, cutoff + 25 * HOUR]) {
            const insert = `INSERT INTO ${ds.table} (${ds.timeColumn}) VALUES (parseDateTime64BestEffort({t:String}, 3, 'UTC'))`;
            await m.analytics!.exec(insert, { t: new Date(t).toISOString() });
          }
          flowRows++;
          continue;
        }
        // Rows of this pass: of its measure, of a measure that retired (the orphan pass), or of every measure.
        const owner = pass.rows && 'owner' in pass.rows ? pass.rows.owner : undefined;
        const cases: Array<[Kind, number, boolean]> = [
          ['expired', cutoff - HOUR, false],
          ['fresh', cutoff + 25 * HOUR, false],
        ];
        if (ds.hold) cases.push(['held', cutoff - 2 * HOUR, true]);
        if (pass.hold && pass.holdMaxSeconds !== undefined) {
          cases.push(['beyond-hold', NOW.getTime() - pass.holdMaxSeconds * 1000 - 3 * HOUR, true]);
        }
        for (const [kind, t, held] of cases) {
          const ctx: Ctx = { measure: owner, held, insert };
          const row = await insert(ds.table, { ...(await SPECS[ds.name]?.row?.(ctx)), [ds.timeColumn]: timeOf(ds, new Date(t)) });
          // A held row stays only where the governing declaration states the hold.
          const gone = kind === 'expired' || kind === 'beyond-hold' || (kind === 'held' && !pass.hold);
          expectations.push({ ds, pass, row, kind, gone });
        }
      }
    }
    const firstSeq = (await m.audit.head()).seq;
    const results = await runRetention(m, 'module:test', NOW);
    const audited: AuditEntry[] = [];
    for await (const e of m.audit.entries()) if (e.seq > firstSeq && e.action === 'retention.delete') audited.push(e);

    const problems: string[] = [];
    for (const x of expectations) {
      const still = await present(db, x.ds.table, x.row);
      if (still === x.gone) {
        problems.push(`${x.ds.name} (${x.pass.measure ?? 'all measures'}): the ${x.kind} row is ${still ? 'still there' : 'gone'}`);
      }
    }
    assert.deepEqual(problems, []);

    for (const r of results) {
      const mine = expectations.filter((x) => x.ds.name === r.dataset && x.pass.measure === r.measure);
      const expected = r.dataset === 'flows' ? 1 : mine.filter((x) => x.gone).length;
      assert.equal(r.deleted, expected, `${r.dataset} ${r.measure ?? ''}`);
      const e = audited.filter((a) => a.object === `dataset:${r.dataset}` && (a.measure ?? undefined) === r.measure);
      assert.equal(e.length, 1, `one audit entry for ${r.dataset} ${r.measure ?? ''}`);
      assert.equal(e[0]!.counts!.rows! + (e[0]!.counts!.dependentRows ?? 0), expected, `${r.dataset}: audited count`);
      assert.equal(e[0]!.counts!.retentionSeconds, r.retentionSeconds);
      const held = mine.filter((x) => !x.gone && x.kind === 'held').length;
      if (r.held !== undefined) assert.equal(e[0]!.counts!.held, held, `${r.dataset}: held rows audited`);
    }
    assert.equal(flowRows, 1);
    assert.equal(audited.length, results.length, 'every pass is audited, none twice');
  });

  it('keeps only the choice in force: a superseded opt-out goes, one in force stays, an opt-in that ended it goes with it', async () => {
    const db = m.state.db as unknown as UntypedDb;
    const day = (n: number) => new Date(NOW.getTime() - n * 86_400_000).toISOString();
    const add = (subscriber_id: string, choice: string, at: string) =>
      db.insertInto('m3_consent').values({ subscriber_id, choice, channel: 'member-site', actor: 'test', at }).execute();
    await add('alice', 'opt-out', day(400)); // in force for over a year: stays
    await add('bob', 'opt-out', day(200));
    await add('bob', 'opt-in', day(100)); // bob changed back: both go
    await add('carol', 'opt-out', day(90));
    await add('carol', 'opt-in', day(60));
    await add('carol', 'opt-out', day(45)); // the latest: stays; her earlier two go
    await runRetention(m, 'module:test', NOW);
    const left = await db
      .selectFrom('m3_consent')
      .select(['subscriber_id', 'choice', 'at'])
      .where('subscriber_id', 'in', ['alice', 'bob', 'carol'])
      .orderBy('id')
      .execute();
    assert.deepEqual(left, [
      { subscriber_id: 'alice', choice: 'opt-out', at: day(400) },
      { subscriber_id: 'carol', choice: 'opt-out', at: day(45) },
    ]);
  });

  it('accounts for every state table: in a dataset, or listed as holding no declared data', async () => {
    const inDatasets = new Set(
      m.datasets
        .list()
        .filter((d) => d.store === 'state')
        .map((d) => d.table),
    );
    const tables = (await m.state.db.introspection.getTables()).map((t) => t.name);
    const unaccounted = tables.filter((t) => !inDatasets.has(t) && !(t in NOT_DATA));
    assert.deepEqual(unaccounted, []);
  });
});
