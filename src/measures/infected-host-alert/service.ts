/**
 * M7's work: reports in (through the reports pipeline, minimised at the edge),
 * each entry matched to a subscriber through the audited lookup, sightings
 * folded into one alert per subscriber, family and purpose; then, on the
 * analysis pass, the two stages (comprehensive consent unless the subscriber
 * opted out; for one who did, legitimate business only under the declared
 * condition, with the reason on the case), bounded reminders, and
 * remediation: an alert whose subscriber is not seen for `remediatedAfter` is
 * closed as remediated, and a sighting after that reopens it.
 */
import { randomBytes } from 'node:crypto';
import type { MeasureState } from '../../core/measure-state.js';
import { parseDuration } from '../../core/duration.js';
import type { Logger } from '../../core/logger.js';
import { ReportFormatError, type ReportEntry, type ReportSummary } from '../../ingest/reports/entry.js';
import { readReport } from '../../ingest/reports/read.js';
import { checkSources, REPORT_SOURCES, type ReportSource } from '../../ingest/reports/sources.js';
import { PrefixSet } from '../../ingest/reports/values.js';
import type { CaseApi } from '../../notify/cases.js';
import { noticeTime, type LocalisedVariables, type Notifier } from '../../notify/notices.js';
import type { SubscriberLookup } from '../../subscriber/service.js';
import { tablesOf, type StateDb } from '../../store/state/tables.js';
import type { InfectedHostAlertSettings } from './settings.js';
import type { M7Tables } from './tables.js';

const MEASURE = 'infected-host-alert';
const mdb = (d: StateDb) => tablesOf<M7Tables>(d);
const DAY = 86_400_000;

export type Choice = 'opt-out' | 'opt-in';

export interface ImportOptions {
  source: string;
  reportType?: string | undefined;
  fileName?: string | undefined;
  format?: 'csv' | 'json' | undefined;
  /** Where it came from: the API, the CLI (through the API) or the drop directory. */
  origin: 'api' | 'cli' | 'drop';
  actor: string;
}

export interface ImportResult {
  id: string;
  summary: ReportSummary;
  /** Entries matched to a subscriber, and those not, by the lookup's reason. */
  resolved: number;
  unresolved: number;
  unresolvedReasons: Record<string, number>;
  /** Lookups answered from an earlier answer for the same address in the same session (not asked again). */
  lookupsReused: number;
  /** Alerts (subscriber, family, purpose) new or seen again in this report. */
  alerts: number;
}

/** One pass over unresolved entries (late accounting, or the periodic retry). */
export interface RetryResult {
  /** Entries looked up again, those now matched to a subscriber, those still without a session, those with another reason now. */
  tried: number;
  resolved: number;
  unresolved: number;
  otherReason: number;
  /** Alerts (subscriber, family, purpose) new or seen again through them. */
  alerts: number;
  /** The batch was full: more entries wait for the next pass. */
  more: boolean;
}

/** Entries looked up again per pass: one transaction, one audit entry per import they came from. */
const RETRY_BATCH = 2_000;
/** Reported hosts are kept 30 days (report.host): no entry is retried after that. */
const RETRY_WITHIN_MS = 30 * DAY;
/** The periodic retry of an entry no accounting has covered yet: 1 h after the import, then doubling up to a day. */
const retryAfterMs = (tries: number) => Math.min(DAY, 3_600_000 * 2 ** tries);
/** Spans of late accounting remembered between passes; beyond this the closest merge (a retry may then ask a little more). */
const MAX_SPANS = 16;

export interface AnalysisResult {
  notified: number;
  reminders: number;
  stage2: number;
  held: number;
  noticeFailures: number;
  remediated: number;
  reopened: number;
}

/** Generic advice when the operator has written none for a family. */
const DEFAULT_ADVICE = {
  ja:
    '・パソコン・スマートフォンはセキュリティ対策ソフトで検査し、OS とソフトウェアを最新にしてください。\n' +
    '・ルータ・カメラ等の機器は再起動し、ファームウェアを更新し、初期パスワードを変更してください。',
  en:
    '- Scan computers and phones with security software and bring the system and applications up to date.\n' +
    '- Restart routers, cameras and other devices, update their firmware and change default passwords.',
};

const REASON_TEXT = {
  'burdens-network': {
    ja: '当社のネットワークに大きな負荷を与える種類のマルウェアである',
    en: 'this kind of malware burdens our network',
  },
  'keeps-contacting-cc': {
    ja: '繰り返しC&Cサーバとの通信が観測されている',
    en: 'it keeps contacting command-and-control servers',
  },
} as const;
type Stage2Reason = keyof typeof REASON_TEXT;

type Alert = M7Tables['m7_alerts'];

/** What a sighting needs of its entry (an entry at import, or an unresolved entry matched later). */
type Sighting = Pick<ReportEntry, 'timeMs' | 'family' | 'purpose' | 'source'>;
/** Sightings of one subscriber, family and purpose gathered during an import. */
type Groups = Map<string, { subscriber: string; e: Sighting; first: number; last: number; days: Set<string>; n: number }>;
/** Alerts gathered in memory during one import before they are written (about 300 bytes each). */
const MAX_GROUPS = 50_000;
const groupKey = (subscriber: string, family: string, purpose: string) => `${subscriber}\u0000${family}\u0000${purpose}`;

function gather(groups: Groups, found: ReadonlyArray<{ subscriber: string; e: Sighting }>): void {
  for (const { subscriber, e } of found) {
    const key = groupKey(subscriber, e.family, e.purpose);
    const g = groups.get(key) ?? { subscriber, e, first: e.timeMs, last: e.timeMs, days: new Set<string>(), n: 0 };
    g.first = Math.min(g.first, e.timeMs);
    if (e.timeMs >= g.last) {
      g.last = e.timeMs;
      g.e = e;
    }
    g.days.add(new Date(e.timeMs).toISOString().slice(0, 10));
    g.n++;
    groups.set(key, g);
  }
}

export class InfectedHostAlert {
  readonly sources: readonly ReportSource[];
  private readonly prefixes: PrefixSet;
  private readonly s: InfectedHostAlertSettings;
  /** Spans (ms) that late accounting covered since the last pass, and when the latest of each was noticed. */
  private spans: Array<{ from: number; to: number; noticed: number }> = [];
  /** The time of the newest entry waiting for a session (ms), once known (a pass learns it): accounting after it cannot help. */
  private newestWaiting = -Infinity;
  private newestKnown = false;

  constructor(
    private readonly own: MeasureState & { settings: InfectedHostAlertSettings },
    private readonly lookup: SubscriberLookup,
    private readonly cases: CaseApi,
    private readonly notifier: Notifier,
    private readonly logger: Logger,
  ) {
    this.s = own.settings;
    const extra: ReportSource[] = this.s.sources.map((x) => ({ ...x }));
    this.sources = [...REPORT_SOURCES, ...extra];
    const problems = checkSources(this.sources);
    if (problems.length > 0) throw new ReportFormatError(`report sources: ${problems.join('; ')}`);
    this.prefixes = new PrefixSet(this.s.prefixes);
  }

  private get db() {
    return mdb(this.own.store.db);
  }

  // ---- reports in ----

  /**
   * Reads one report as a stream and matches its entries. A report that cannot be read at all (unknown
   * source, report type not accepted, no header) throws ReportFormatError before anything is stored.
   */
  async importReport(input: AsyncIterable<Uint8Array | string>, o: ImportOptions, now = new Date()): Promise<ImportResult> {
    const reader = readReport(input, {
      source: o.source,
      sources: this.sources,
      prefixes: this.prefixes,
      ...(o.reportType ? { reportType: o.reportType } : {}),
      ...(o.fileName ? { fileName: o.fileName } : {}),
      ...(o.format ? { format: o.format } : {}),
      nowMs: now.getTime(),
      futureToleranceMs: parseDuration(this.s.futureTolerance) * 1000,
    });
    const id = `m7i-${randomBytes(8).toString('hex')}`;
    const result: ImportResult = {
      id,
      summary: reader.summary,
      resolved: 0,
      unresolved: 0,
      unresolvedReasons: {},
      lookupsReused: 0,
      alerts: 0,
    };
    await this.own.store.writeTransaction((tx) =>
      mdb(tx)
        .insertInto('m7_imports')
        .values({
          id,
          source: o.source,
          format: reader.summary.format,
          report_type: reader.summary.reportType ?? null,
          origin: o.origin,
          actor: o.actor,
          started_at: now.toISOString(),
          finished_at: null,
          rows: 0,
          entries: 0,
          resolved: 0,
          unresolved: 0,
          resolved_later: 0,
          alerts: 0,
          dropped: '{}',
          unresolved_reasons: '{}',
          error: null,
        })
        .execute(),
    );
    const touched = new Set<string>();
    // Sightings are gathered per alert across batches (a bot appears all day long) and written when the memory
    // bound is reached and at the end: one write per alert, not per row.
    const groups: Groups = new Map();
    const flush = async () => {
      if (groups.size === 0) return;
      const ks = await this.own.store.writeTransaction((tx) => this.fold(tx, groups));
      for (const k of ks) touched.add(k);
      groups.clear();
    };
    // One session answers every entry of its address inside it: asked once per report. The lookups of a batch are asked
    // together and audited as one entry naming this import (each used to be its own audit write).
    const sessions = new Map<string, { subscriber: string; start: number; end: number }>();
    const nowIso = now.toISOString();
    const firstRetry = new Date(now.getTime() + retryAfterMs(0)).toISOString();
    let error: string | null = null;
    try {
      for await (const batch of reader) {
        const found: Array<{ subscriber: string; e: ReportEntry }> = [];
        const notFound: Array<{ e: ReportEntry; reason: string }> = [];
        // Behind CGNAT the port picks the subscriber; elsewhere the address alone does.
        const keyOf = (e: ReportEntry) => (this.lookup.shared(e.address) ? `${e.address}|${e.port ?? ''}` : e.address);
        const reuse = (e: ReportEntry, key: string) => {
          const known = sessions.get(key);
          const t = Math.floor(e.timeMs / 1000);
          if (!known || known.start > t || t > known.end) return false;
          result.lookupsReused++;
          found.push({ subscriber: known.subscriber, e });
          return true;
        };
        const ask = async (entries: ReadonlyArray<{ e: ReportEntry; key: string }>) => {
          const answers = await this.lookup.lookupMany(
            id,
            entries.map(({ e }) => ({ address: e.address, at: new Date(e.timeMs), ...(e.port !== undefined ? { port: e.port } : {}) })),
          );
          entries.forEach(({ e, key }, i) => {
            const answer = answers[i]!;
            if (answer.found) {
              if (sessions.size >= 100_000) sessions.clear();
              sessions.set(key, {
                subscriber: answer.subscriber,
                start: answer.start,
                end: answer.end ?? Math.floor(now.getTime() / 1000),
              });
              found.push({ subscriber: answer.subscriber, e });
            } else notFound.push({ e, reason: answer.reason });
          });
        };
        // First the first entry of each key not answered yet; then the others of those keys, unless that answer covers them.
        const first: Array<{ e: ReportEntry; key: string }> = [];
        const later: Array<{ e: ReportEntry; key: string }> = [];
        const asked = new Set<string>();
        for (const e of batch) {
          const key = keyOf(e);
          if (reuse(e, key)) continue;
          (asked.has(key) ? later : first).push({ e, key });
          asked.add(key);
        }
        await ask(first);
        await ask(later.filter(({ e, key }) => !reuse(e, key)));
        result.resolved += found.length;
        result.unresolved += notFound.length;
        for (const u of notFound) result.unresolvedReasons[u.reason] = (result.unresolvedReasons[u.reason] ?? 0) + 1;
        await this.own.store.writeTransaction(async (tx) => {
          for (let i = 0; i < notFound.length; i += 500) {
            await mdb(tx)
              .insertInto('m7_unresolved')
              .values(
                notFound.slice(i, i + 500).map(({ e, reason }) => ({
                  import_id: id,
                  address: e.address,
                  port: e.port ?? null,
                  seen_at: new Date(e.timeMs).toISOString(),
                  family: e.family,
                  reason,
                  tries: 0,
                  tried_at: nowIso,
                  // Only "no session then" can change (late accounting); outside retention or no port behind CGNAT cannot.
                  next_try_at: reason === 'no-session' ? firstRetry : null,
                })),
              )
              .execute();
          }
        });
        for (const u of notFound) if (u.reason === 'no-session') this.newestWaiting = Math.max(this.newestWaiting, u.e.timeMs);
        gather(groups, found);
        if (groups.size >= MAX_GROUPS) await flush();
      }
      await flush();
    } catch (err) {
      error = (err as Error).message.slice(0, 300);
      throw err;
    } finally {
      result.alerts = touched.size;
      const s = reader.summary;
      await this.own.audit.withAudit(
        {
          actor: o.actor,
          measure: MEASURE,
          action: 'm7.report.import',
          object: `m7-import:${id}`,
          counts: {
            rows: s.rows,
            entries: s.entries,
            resolved: result.resolved,
            unresolved: result.unresolved,
            lookupsReused: result.lookupsReused,
            alerts: result.alerts,
          },
          outcome: error ? 'error' : 'ok',
        },
        (tx) =>
          mdb(tx)
            .updateTable('m7_imports')
            .set({
              finished_at: new Date().toISOString(),
              rows: s.rows,
              entries: s.entries,
              resolved: result.resolved,
              unresolved: result.unresolved,
              alerts: result.alerts,
              dropped: JSON.stringify(s.dropped),
              unresolved_reasons: JSON.stringify(result.unresolvedReasons),
              error,
            })
            .where('id', '=', id)
            .execute(),
      );
    }
    return result;
  }

  /** Folds gathered sightings into alerts (one per subscriber, family and purpose); returns the alerts touched. */
  private async fold(tx: StateDb, groups: Groups): Promise<string[]> {
    const s = mdb(tx);
    const touched: string[] = [];
    // The latest alert of each subscriber, family and purpose, 500 subscribers a query.
    const latest = new Map<string, Alert>();
    const subscribers = [...new Set([...groups.values()].map((g) => g.subscriber))];
    for (let i = 0; i < subscribers.length; i += 500) {
      const rows = await s
        .selectFrom('m7_alerts')
        .selectAll()
        .where('subscriber', 'in', subscribers.slice(i, i + 500))
        .execute();
      for (const r of rows) {
        const k = groupKey(r.subscriber, r.family, r.purpose);
        const had = latest.get(k);
        if (!had || r.first_seen > had.first_seen) latest.set(k, r);
      }
    }
    for (const [k, g] of groups) {
      const current = latest.get(k);
      const last = new Date(g.last).toISOString();
      const lastDay = last.slice(0, 10);
      if (!current) {
        const id = `m7a-${randomBytes(8).toString('hex')}`;
        await s
          .insertInto('m7_alerts')
          .values({
            id,
            subscriber: g.subscriber,
            family: g.e.family,
            purpose: g.e.purpose,
            source: g.e.source,
            first_seen: new Date(g.first).toISOString(),
            last_seen: last,
            last_day: lastDay,
            days_seen: g.days.size,
            sightings: g.n,
            status: 'new',
            stage: 0,
            basis: null,
            reason: null,
            case_id: null,
            notices: 0,
            first_notice_at: null,
            last_notice_at: null,
            reinfections: 0,
            remediated_at: null,
            pending: 1,
          })
          .execute();
        touched.push(id);
        continue;
      }
      const newer = last > current.last_seen;
      const newDays = [...g.days].filter((d) => d > current.last_day).length;
      // Seen again after it was judged remediated: the device is infected again; the analysis reopens its case.
      const reinfected = current.status === 'remediated' && newer;
      await s
        .updateTable('m7_alerts')
        .set({
          last_seen: newer ? last : current.last_seen,
          last_day: lastDay > current.last_day ? lastDay : current.last_day,
          days_seen: current.days_seen + newDays,
          sightings: current.sightings + g.n,
          source: newer ? g.e.source : current.source,
          pending: newer ? 1 : current.pending,
          ...(reinfected ? { status: 'reinfected', reinfections: current.reinfections + 1, remediated_at: null } : {}),
        })
        .where('id', '=', current.id)
        .execute();
      touched.push(current.id);
    }
    return touched;
  }

  // ---- unresolved entries retried when late accounting arrives ----

  /**
   * The lookup's coverage feed: assignments were added or lengthened for [from, to] (seconds). Remembers the span and
   * says whether a pass should run; accounting after the newest entry waiting for a session (live traffic) and spans
   * older than the entries' retention cannot resolve anything and are ignored.
   */
  covered(from: number, to: number, now = Date.now()): boolean {
    const span = { from: from * 1000, to: to * 1000, noticed: now };
    // Live accounting (a Start now, an Interim lengthening a session into the future) covers no reported time.
    if (span.from > now || span.to < now - RETRY_WITHIN_MS || (this.newestKnown && span.from > this.newestWaiting)) return false;
    const spans = [...this.spans, span].sort((a, b) => a.from - b.from);
    const merged: typeof spans = [];
    for (const x of spans) {
      const last = merged.at(-1);
      if (last && x.from <= last.to) Object.assign(last, { to: Math.max(last.to, x.to), noticed: Math.max(last.noticed, x.noticed) });
      else merged.push({ ...x });
    }
    while (merged.length > MAX_SPANS) {
      let i = 0;
      for (let j = 1; j < merged.length - 1; j++) if (merged[j + 1]!.from - merged[j]!.to < merged[i + 1]!.from - merged[i]!.to) i = j;
      const [a, b] = [merged[i]!, merged[i + 1]!];
      merged.splice(i, 2, { from: a.from, to: Math.max(a.to, b.to), noticed: Math.max(a.noticed, b.noticed) });
    }
    this.spans = merged;
    return true;
  }

  /** Whether late accounting is waiting for a pass. */
  get coverageWaiting(): boolean {
    return this.spans.length > 0;
  }

  private retrying: Promise<unknown> = Promise.resolve();

  /** One pass over the entries waiting for a session whose time late accounting covered (a bounded batch). */
  retryCovered(now = new Date()): Promise<RetryResult> {
    return this.exclusive(async () => {
      const spans = this.spans;
      const iso = (ms: number) => new Date(Math.min(ms, 8.64e15)).toISOString();
      const rows =
        spans.length === 0
          ? []
          : await this.waiting(now)
              .where((eb) =>
                eb.or(
                  spans.map((x) =>
                    eb.and([eb('u.seen_at', '>=', iso(x.from)), eb('u.seen_at', '<=', iso(x.to)), eb('u.tried_at', '<', iso(x.noticed))]),
                  ),
                ),
              )
              .orderBy('u.seen_at')
              .limit(RETRY_BATCH)
              .execute();
      const r = await this.retry(rows, now);
      // Spans noticed while the pass ran stay for the next one; the others are done unless the batch was full.
      if (!r.more) this.spans = this.spans.filter((x) => x.noticed >= now.getTime());
      return r;
    });
  }

  /** The periodic pass (on the analysis interval): entries whose next try is due, should a feed span have been missed. */
  retryDue(now = new Date()): Promise<RetryResult> {
    return this.exclusive(async () => {
      const rows = await this.waiting(now)
        .where((eb) => eb.or([eb('u.next_try_at', 'is', null), eb('u.next_try_at', '<=', now.toISOString())]))
        .orderBy('u.next_try_at')
        .limit(RETRY_BATCH)
        .execute();
      return this.retry(rows, now);
    });
  }

  /** Passes one at a time: two at once could match the same entry twice. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.retrying.catch(() => {}).then(fn);
    this.retrying = run;
    return run;
  }

  /** Entries without a session at their time, within their retention, with their import's source. */
  private waiting(now: Date) {
    return this.db
      .selectFrom('m7_unresolved as u')
      .innerJoin('m7_imports as i', 'i.id', 'u.import_id')
      .select(['u.id', 'u.import_id', 'u.address', 'u.port', 'u.seen_at', 'u.family', 'u.tries', 'i.source'])
      .where('u.reason', '=', 'no-session')
      .where('u.seen_at', '>=', new Date(now.getTime() - RETRY_WITHIN_MS).toISOString());
  }

  /**
   * Looks the entries up again (audited per import they came from: the lookups name it as the import's did) and
   * folds those now matched into alerts exactly as an import does; they leave m7_unresolved and count on their import.
   */
  private async retry(
    rows: ReadonlyArray<{
      id: number;
      import_id: string;
      address: string;
      port: number | null;
      seen_at: string;
      family: string;
      tries: number;
      source: string;
    }>,
    now: Date,
  ): Promise<RetryResult> {
    const r: RetryResult = { tried: rows.length, resolved: 0, unresolved: 0, otherReason: 0, alerts: 0, more: rows.length >= RETRY_BATCH };
    if (rows.length > 0) {
      const byImport = new Map<string, Array<(typeof rows)[number]>>();
      for (const u of rows) byImport.set(u.import_id, [...(byImport.get(u.import_id) ?? []), u]);
      const found: Array<{ subscriber: string; e: Sighting }> = [];
      const resolved: number[] = [];
      const still = new Map<number, number[]>(); // by the tries they will have
      const other = new Map<string, number[]>(); // by their new reason
      const perImport = new Map<string, number>();
      const push = <K>(m: Map<K, number[]>, k: K, id: number) => m.set(k, [...(m.get(k) ?? []), id]);
      for (const [importId, list] of byImport) {
        const answers = await this.lookup.lookupMany(
          importId,
          list.map((u) => ({ address: u.address, at: new Date(u.seen_at), ...(u.port !== null ? { port: u.port } : {}) })),
        );
        list.forEach((u, i) => {
          const a = answers[i]!;
          if (a.found) {
            // A source no longer registered keeps the purpose its entries were imported for: infection unless it said blocklist.
            const purpose = this.sources.find((x) => x.id === u.source)?.purpose ?? 'infection';
            found.push({ subscriber: a.subscriber, e: { timeMs: Date.parse(u.seen_at), family: u.family, purpose, source: u.source } });
            resolved.push(u.id);
            perImport.set(importId, (perImport.get(importId) ?? 0) + 1);
          } else if (a.reason === 'no-session') push(still, u.tries + 1, u.id);
          else push(other, a.reason, u.id);
        });
      }
      r.resolved = resolved.length;
      r.unresolved = [...still.values()].reduce((n, x) => n + x.length, 0);
      r.otherReason = [...other.values()].reduce((n, x) => n + x.length, 0);
      const groups: Groups = new Map();
      gather(groups, found);
      const touched = await this.own.audit.withAudit(
        (t: string[]) => ({
          actor: `measure:${MEASURE}`,
          measure: MEASURE,
          action: 'm7.unresolved.retry',
          object: 'm7-unresolved',
          counts: {
            tried: r.tried,
            resolved: r.resolved,
            unresolved: r.unresolved,
            otherReason: r.otherReason,
            imports: byImport.size,
            alerts: t.length,
          },
        }),
        async (tx) => {
          const t = groups.size > 0 ? await this.fold(tx, groups) : [];
          const u = mdb(tx);
          const tried = now.toISOString();
          for (let i = 0; i < resolved.length; i += 500)
            await u
              .deleteFrom('m7_unresolved')
              .where('id', 'in', resolved.slice(i, i + 500))
              .execute();
          for (const [tries, ids] of still)
            for (let i = 0; i < ids.length; i += 500)
              await u
                .updateTable('m7_unresolved')
                .set({ tries, tried_at: tried, next_try_at: new Date(now.getTime() + retryAfterMs(tries)).toISOString() })
                .where('id', 'in', ids.slice(i, i + 500))
                .execute();
          for (const [reason, ids] of other)
            for (let i = 0; i < ids.length; i += 500)
              await u
                .updateTable('m7_unresolved')
                .set({ reason, tried_at: tried, next_try_at: null })
                .where('id', 'in', ids.slice(i, i + 500))
                .execute();
          for (const [id, n] of perImport)
            await u
              .updateTable('m7_imports')
              .set((eb) => ({ resolved_later: eb('resolved_later', '+', n) }))
              .where('id', '=', id)
              .execute();
          return t;
        },
      );
      r.alerts = touched.length;
    }
    // What is waiting bounds which late accounting can matter (the feed ignores spans after it). Learnt once, then
    // raised by each import: a bound too high only lets more spans through.
    if (!this.newestKnown) {
      const newest = await this.db
        .selectFrom('m7_unresolved')
        .select((eb) => eb.fn.max('seen_at').as('t'))
        .where('reason', '=', 'no-session')
        .executeTakeFirst();
      this.newestWaiting = Math.max(this.newestWaiting, newest?.t ? Date.parse(newest.t) : -Infinity);
      this.newestKnown = true;
    }
    return r;
  }

  // ---- consent (opt-out of stage 1), as M3 keeps it: a history, the latest choice decides ----

  async setChoice(subscriber: string, choice: Choice, channel: string, actor: string, now = new Date()): Promise<{ optedOut: boolean }> {
    await this.own.audit.withAudit(
      (id: number) => ({ actor, measure: MEASURE, action: `m7.consent.${choice}`, object: `m7-consent:${id}` }),
      async (tx) => {
        const r = await mdb(tx)
          .insertInto('m7_consent')
          .values({ subscriber, choice, channel, at: now.toISOString(), actor } as M7Tables['m7_consent'])
          .returning('id')
          .executeTakeFirstOrThrow();
        return Number(r.id);
      },
    );
    return { optedOut: choice === 'opt-out' };
  }

  async choiceOf(subscriber: string): Promise<{ optedOut: boolean; since: string | null }> {
    const r = await this.db
      .selectFrom('m7_consent')
      .select(['choice', 'at'])
      .where('subscriber', '=', subscriber)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return { optedOut: r?.choice === 'opt-out', since: r?.at ?? null };
  }

  /** A person's choice read by someone: audited, naming no subscriber. */
  async auditConsentRead(actor: string): Promise<void> {
    await this.own.audit.append({ actor, measure: MEASURE, action: 'm7.consent.read', object: 'm7-consent:read' });
  }

  // ---- remediation texts the operator maintains ----

  async advice(family: string): Promise<{ ja: string; en: string }> {
    const edited = await this.db.selectFrom('m7_remediation').select(['ja', 'en']).where('family', '=', family).executeTakeFirst();
    return edited ?? this.s.remediation[family] ?? DEFAULT_ADVICE;
  }

  async remediationTexts(): Promise<Array<{ family: string; ja: string; en: string; origin: string }>> {
    const edited = await this.db.selectFrom('m7_remediation').select(['family', 'ja', 'en']).execute();
    const configured = Object.entries(this.s.remediation)
      .filter(([f]) => !edited.some((e) => e.family === f))
      .map(([family, t]) => ({ family, ...t, origin: 'configuration' }));
    return [...edited.map((e) => ({ ...e, origin: 'edited' })), ...configured, { family: '*', ...DEFAULT_ADVICE, origin: 'default' }];
  }

  async setRemediation(family: string, text: { ja: string; en: string }, actor: string): Promise<void> {
    const now = new Date().toISOString();
    await this.own.audit.withAudit({ actor, measure: MEASURE, action: 'm7.remediation.update', object: `m7-remediation:${family}` }, (tx) =>
      mdb(tx)
        .insertInto('m7_remediation')
        .values({ family, ...text, updated_at: now, updated_by: actor })
        .onConflict((oc) => oc.column('family').doUpdateSet({ ...text, updated_at: now, updated_by: actor }))
        .execute(),
    );
  }

  // ---- the analysis pass: stages, reminders, remediation ----

  async analyze(now = new Date()): Promise<AnalysisResult> {
    const r: AnalysisResult = { notified: 0, reminders: 0, stage2: 0, held: 0, noticeFailures: 0, remediated: 0, reopened: 0 };
    const pending = await this.db
      .selectFrom('m7_alerts')
      .selectAll()
      .where('pending', '=', 1)
      .orderBy('first_seen')
      .limit(10_000)
      .execute();
    for (const a of pending) await this.decide(a, now, r);
    await this.remediate(now, r);
    if (Object.values(r).some((n) => n > 0)) {
      await this.own.audit.append({
        actor: `measure:${MEASURE}`,
        measure: MEASURE,
        action: 'm7.analysis',
        object: 'm7-alerts',
        counts: { ...r },
      });
    }
    return r;
  }

  /** The stage-2 condition the operator declared, for an alert of a subscriber without consent; undefined if it does not hold. */
  private stage2Reason(a: Alert): Stage2Reason | undefined {
    if (a.purpose !== 'infection') return undefined;
    if (this.s.stage2.burdenFamilies.map((f) => f.toLowerCase()).includes(a.family)) return 'burdens-network';
    if (this.s.stage2.repeatedDays > 0 && a.days_seen >= this.s.stage2.repeatedDays) return 'keeps-contacting-cc';
    return undefined;
  }

  private async decide(a: Alert, now: Date, r: AnalysisResult): Promise<void> {
    const { optedOut } = await this.choiceOf(a.subscriber);
    const reason = optedOut ? this.stage2Reason(a) : undefined;
    const stage = !optedOut ? 1 : reason ? 2 : 0;
    const set = (v: Partial<Alert>) => this.db.updateTable('m7_alerts').set(v).where('id', '=', a.id).execute();
    if (stage === 0) {
      // Opted out and the declared condition does not hold: nothing is sent, the sighting is only counted.
      await set({ pending: 0, status: a.status === 'notified' ? 'notified' : 'held', reason: 'opted-out' });
      r.held++;
      return;
    }
    const reopened = a.status === 'reinfected';
    const fresh = a.case_id === null || a.stage !== stage || reopened;
    if (!fresh) {
      // Same case, seen again: a reminder when the last notice is old enough and the bound allows.
      const due = a.last_notice_at !== null && now.getTime() - Date.parse(a.last_notice_at) >= parseDuration(this.s.reminders.after) * 1000;
      const room = a.notices - 1 < this.s.reminders.max;
      if (due && room && a.last_seen > (a.last_notice_at ?? '')) {
        if (await this.send(a, stage, reason, true)) {
          await set({ pending: 0, notices: a.notices + 1, last_notice_at: now.toISOString() });
          r.reminders++;
          return;
        }
        r.noticeFailures++;
      }
      await set({ pending: 0 });
      return;
    }
    const kind = a.purpose === 'blocklist' ? 'blocklisted-host' : stage === 2 ? 'infected-host-stage2' : 'infected-host';
    const summary =
      a.purpose === 'blocklist'
        ? `ブロックリスト掲載（${a.family}） / listed by a blocklist (${a.family})`
        : `マルウェア感染（${a.family}） / infected device (${a.family})`;
    let caseId: string;
    if (reopened && a.case_id && a.stage === stage) {
      caseId = a.case_id;
      await this.cases.setStatus(caseId, 'open', `measure:${MEASURE}`);
      await this.cases.note(caseId, 'reinfected', `seen again after remediation (${a.reinfections})`);
      await this.db.updateTable('m7_outcomes').set({ reinfected: 1 }).where('alert_id', '=', a.id).execute();
      r.reopened++;
    } else {
      const opened = await this.cases.open({
        kind,
        subscriber: a.subscriber,
        summary,
        at: now,
        key: `${a.purpose}:${a.family}:${stage}`,
        stage: stage as 1 | 2,
      });
      caseId = opened.case.id;
    }
    const basis = stage === 1 ? 'comprehensive-consent' : 'legitimate-business';
    await this.cases.note(
      caseId,
      `basis:${basis}`,
      stage === 2 ? `stage 2: ${reason} (${REASON_TEXT[reason!].en})` : 'stage 1: consent in the terms',
    );
    await set({ case_id: caseId, stage, basis, reason: reason ?? null, status: 'notified', pending: 0, remediated_at: null });
    const sent = await this.send({ ...a, case_id: caseId }, stage, reason, false);
    if (!sent) {
      r.noticeFailures++;
      return;
    }
    await set({ notices: a.notices + 1, first_notice_at: a.first_notice_at ?? now.toISOString(), last_notice_at: now.toISOString() });
    await this.db
      .insertInto('m7_outcomes')
      .values({
        alert_id: a.id,
        family: a.family,
        purpose: a.purpose,
        channel: 'email',
        stage,
        notified_at: now.toISOString(),
        remediated_at: null,
        reinfected: 0,
      })
      .execute();
    r.notified++;
    if (stage === 2) r.stage2++;
  }

  /** Queues the notice of the alert's case (ja/en by the subscriber's language); false, noted on the case, if it cannot be. */
  private async send(a: Alert, stage: number, reason: Stage2Reason | undefined, reminder: boolean): Promise<boolean> {
    const source = this.sources.find((x) => x.id === a.source);
    const advice = await this.advice(a.family);
    const at = new Date(reminder ? a.last_seen : a.first_seen);
    const common = { detectionTime: noticeTime(at), family: a.family, optOut: this.s.notice.optOut, support: this.s.notice.support };
    const vars: LocalisedVariables = {
      ja: { ...common, seenBy: supplierName(source?.supplier.ja), deviceAdvice: advice.ja, reason: reason ? REASON_TEXT[reason].ja : '' },
      en: { ...common, seenBy: supplierName(source?.supplier.en), deviceAdvice: advice.en, reason: reason ? REASON_TEXT[reason].en : '' },
    };
    try {
      const id = await this.notifier.notify(a.case_id!, vars);
      await this.cases.note(a.case_id!, reminder ? 'reminder' : `notice:stage-${stage}`, id);
      return true;
    } catch (err) {
      await this.cases.note(a.case_id!, 'notice:not-sent', (err as Error).message.slice(0, 200));
      this.logger.warn({ event: 'm7.notice.not-sent', err: { type: (err as Error).name } }, 'an M7 notice could not be queued');
      return false;
    }
  }

  /** Alerts not seen for `remediatedAfter` are remediated: their case closes, the outcome records when it was last seen. */
  private async remediate(now: Date, r: AnalysisResult): Promise<void> {
    const cutoff = new Date(now.getTime() - parseDuration(this.s.remediatedAfter) * 1000).toISOString();
    const quiet = await this.db
      .selectFrom('m7_alerts')
      .selectAll()
      .where('status', 'in', ['notified', 'held', 'new'])
      .where('pending', '=', 0)
      .where('last_seen', '<', cutoff)
      .limit(10_000)
      .execute();
    for (const a of quiet) {
      await this.db
        .updateTable('m7_alerts')
        .set({ status: 'remediated', remediated_at: now.toISOString() })
        .where('id', '=', a.id)
        .execute();
      await this.db
        .updateTable('m7_outcomes')
        .set({ remediated_at: a.last_seen })
        .where('alert_id', '=', a.id)
        .where('remediated_at', 'is', null)
        .execute();
      if (a.case_id) {
        await this.cases.note(a.case_id, 'remediated', `not seen since the last report for ${this.s.remediatedAfter}`);
        await this.cases.setStatus(a.case_id, 'closed', `measure:${MEASURE}`);
      }
      r.remediated++;
    }
  }

  // ---- what the routes show ----

  async imports(limit = 50) {
    const rows = await this.db.selectFrom('m7_imports').selectAll().orderBy('started_at', 'desc').limit(limit).execute();
    return rows.map((x) => ({
      ...x,
      dropped: JSON.parse(x.dropped) as Record<string, number>,
      unresolved_reasons: JSON.parse(x.unresolved_reasons) as Record<string, number>,
    }));
  }

  async alerts(limit = 200): Promise<Alert[]> {
    return this.db.selectFrom('m7_alerts').selectAll().orderBy('last_seen', 'desc').limit(limit).execute();
  }

  async auditAlertRead(actor: string, n: number): Promise<void> {
    await this.own.audit.append({ actor, measure: MEASURE, action: 'm7.alerts.read', object: 'm7-alerts', counts: { alerts: n } });
  }

  /**
   * The remediation report: per family and channel, notices sent since `since`, and of those how many were
   * remediated (last seen) within 14 and 30 days of the first notice, still open, reinfected.
   */
  async report(since: Date): Promise<RemediationRow[]> {
    const rows = await this.db.selectFrom('m7_outcomes').selectAll().where('notified_at', '>=', since.toISOString()).execute();
    const by = new Map<string, RemediationRow>();
    for (const o of rows) {
      const k = `${o.family}|${o.purpose}|${o.channel}|${o.stage}`;
      const g = by.get(k) ?? {
        family: o.family,
        purpose: o.purpose,
        channel: o.channel,
        stage: o.stage,
        notified: 0,
        within14d: 0,
        within30d: 0,
        open: 0,
        reinfected: 0,
      };
      g.notified++;
      if (o.remediated_at === null) g.open++;
      else {
        const days = (Date.parse(o.remediated_at) - Date.parse(o.notified_at)) / DAY;
        if (days <= 14) g.within14d++;
        if (days <= 30) g.within30d++;
      }
      g.reinfected += o.reinfected;
      by.set(k, g);
    }
    return [...by.values()].sort((a, b) => b.notified - a.notified || a.family.localeCompare(b.family));
  }

  /** Counts for /metrics: alerts by status, imports and entries by outcome. */
  async counts(): Promise<{ alerts: Record<string, number>; imports: number }> {
    const alerts = await this.db
      .selectFrom('m7_alerts')
      .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute();
    const imports = await this.db
      .selectFrom('m7_imports')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return { alerts: Object.fromEntries(alerts.map((a) => [a.status, Number(a.n)])), imports: Number(imports.n) };
  }
}

/** One line of the remediation report: notices of one family, purpose, channel and stage, and what became of them. */
export interface RemediationRow {
  family: string;
  purpose: string;
  channel: string;
  stage: number;
  notified: number;
  within14d: number;
  within30d: number;
  open: number;
  reinfected: number;
}

/** "The Shadowserver Foundation (free daily network reports)" → "The Shadowserver Foundation": the name a notice gives. */
export function supplierName(text: string | undefined): string {
  if (!text) return '';
  const i = text.search(/[（(]/);
  return (i > 0 ? text.slice(0, i) : text).trim();
}
