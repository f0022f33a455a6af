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

/** Sightings of one subscriber, family and purpose gathered during an import. */
type Groups = Map<string, { subscriber: string; e: ReportEntry; first: number; last: number; days: Set<string>; n: number }>;
/** Alerts gathered in memory during one import before they are written (about 300 bytes each). */
const MAX_GROUPS = 50_000;
const groupKey = (subscriber: string, family: string, purpose: string) => `${subscriber}\u0000${family}\u0000${purpose}`;

function gather(groups: Groups, found: ReadonlyArray<{ subscriber: string; e: ReportEntry }>): void {
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
    // One session answers every entry of its address inside it: asked once (and audited once) per report.
    const sessions = new Map<string, { subscriber: string; start: number; end: number }>();
    let error: string | null = null;
    try {
      for await (const batch of reader) {
        const found: Array<{ subscriber: string; e: ReportEntry }> = [];
        const notFound: Array<{ e: ReportEntry; reason: string }> = [];
        for (const e of batch) {
          // Behind CGNAT the port picks the subscriber; elsewhere the address alone does.
          const key = this.lookup.shared(e.address) ? `${e.address}|${e.port ?? ''}` : e.address;
          const t = Math.floor(e.timeMs / 1000);
          const known = sessions.get(key);
          if (known && known.start <= t && t <= known.end) {
            result.lookupsReused++;
            found.push({ subscriber: known.subscriber, e });
            continue;
          }
          const answer = await this.lookup.lookup({
            caseId: id,
            address: e.address,
            at: new Date(e.timeMs),
            ...(e.port !== undefined ? { port: e.port } : {}),
          });
          if (answer.found) {
            if (sessions.size >= 100_000) sessions.clear();
            sessions.set(key, { subscriber: answer.subscriber, start: answer.start, end: answer.end ?? Math.floor(now.getTime() / 1000) });
            found.push({ subscriber: answer.subscriber, e });
          } else notFound.push({ e, reason: answer.reason });
        }
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
                })),
              )
              .execute();
          }
        });
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
