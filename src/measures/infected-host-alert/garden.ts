/**
 * M7's walled garden (the option "walled-garden", off by default): a stage-1 subscriber whose device is still
 * reported after the notices (or of a family the operator lists) has, for a limited time, every name their
 * resolvers answer replaced by the notice page's address — an `rpz-client-ip` rule with local data for each
 * address of theirs, following their sessions (src/dns/client-zone.ts) — and the page, served by the core
 * (garden-page), explains the case and offers a limited number of self-releases.
 *
 * Who is gardened: only subscribers under the comprehensive consent of stage 1 — never one who opted out of
 * stage-1 alerts or of the garden, never a stage-2 (no consent) or blocklist alert. A garden ends by itself
 * after `duration`, at once on remediation, on opt-out, on a self-release, when the abuse desk ends it, and
 * when M7 stops. After a release the subscriber is gardened again only if the device is reported again after
 * it; after `maxReleases` releases the page has no button and names the support desk. Every start, release
 * and end is audited, noted on the case, counted, and the garden is a channel of the remediation report.
 */
import { randomUUID } from 'node:crypto';
import type { ClientAddressZone } from '../../dns/client-zone.js';
import type { ClientAction } from '../../dns/rpz.js';
import { parseDuration } from '../../core/duration.js';
import { MamoriError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { MeasureState } from '../../core/measure-state.js';
import type { CaseApi } from '../../notify/cases.js';
import type { GardenPageHandler, GardenReleaseResult, GardenView } from '../../notify/garden-page.js';
import { noticeTime } from '../../notify/notices.js';
import { tablesOf, type StateDb } from '../../store/state/tables.js';
import type { WalledGardenSettings } from './garden-settings.js';
import type { GardenTables } from './garden-tables.js';
import { supplierName, type InfectedHostAlert } from './service.js';
import type { InfectedHostAlertSettings } from './settings.js';
import type { M7Tables } from './tables.js';

const MEASURE = 'infected-host-alert';
const gdb = (d: StateDb) => tablesOf<M7Tables & GardenTables>(d);

export type GardenEndReason = 'time-box' | 'remediated' | 'opted-out' | 'released' | 'abuse-desk' | 'stopped';
export type GardenEntry = GardenTables['m7_garden'];

export interface GardenPassResult {
  started: number;
  ended: Partial<Record<GardenEndReason, number>>;
}

/**
 * Gardens left in force by an earlier run (a crash, or the option turned off since): ended as "stopped",
 * audited, when M7 starts without the option — no zone serves them any more.
 */
export async function endLeftoverGardens(own: MeasureState): Promise<number> {
  const left = await gdb(own.store.db).selectFrom('m7_garden').select(['id', 'case_id']).where('ended_at', 'is', null).execute();
  for (const e of left)
    await own.audit.withAudit(
      { actor: `measure:${MEASURE}`, measure: MEASURE, action: 'm7.garden.end', object: `m7-garden:${e.id}`, caseId: e.case_id },
      (tx) =>
        gdb(tx)
          .updateTable('m7_garden')
          .set({ ended_at: new Date().toISOString(), end_reason: 'stopped', ended_by: `measure:${MEASURE}` })
          .where('id', '=', e.id)
          .execute(),
    );
  return left.length;
}

/** end() found the garden ended already: thrown inside its transaction to roll the audit entry back, never seen outside. */
class NotEnded extends MamoriError {
  static override readonly code = 'garden-not-ended';
  static override readonly status = 409;
}

export class WalledGarden implements GardenPageHandler {
  private readonly g: WalledGardenSettings;
  private readonly action: ClientAction;
  /** Counts since start, for /metrics and the listener status. */
  readonly counts = { started: 0, released: 0, ended: 0, exhausted: 0 };
  /** Every change to the gardens, one at a time: two passes, or two releases, at once would both act on the same row. */
  private changing: Promise<unknown> = Promise.resolve();
  /** The time-box's own timer (watchTimeBox): a garden ends on time even when the analysis pass fails or is slow. */
  private timeBox: { timer?: NodeJS.Timeout; arm?: (ms: number) => void } | undefined;

  constructor(
    private readonly own: MeasureState & { settings: InfectedHostAlertSettings },
    readonly zone: ClientAddressZone,
    private readonly service: InfectedHostAlert,
    private readonly cases: CaseApi,
    /** Publishes the zone's staged changes (new serial, NOTIFY). */
    private readonly publish: () => Promise<void>,
    private readonly logger: Logger,
  ) {
    this.g = own.settings.walledGarden;
    this.action = { kind: 'local-data', a: this.g.address.ipv4, aaaa: this.g.address.ipv6 };
  }

  private get db() {
    return gdb(this.own.store.db);
  }

  /** The gardens in force (after a restart too): their subscribers are listed in the zone. */
  async load(): Promise<void> {
    for (const e of await this.active()) this.zone.set(e.subscriber, this.action);
  }

  /** Gardens not ended, oldest first. */
  async active(): Promise<GardenEntry[]> {
    return this.db.selectFrom('m7_garden').selectAll().where('ended_at', 'is', null).orderBy('started_at').limit(100_000).execute();
  }

  private async gardenOptedOut(subscriber: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('m7_garden_choice')
      .select('choice')
      .where('subscriber', '=', subscriber)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return r?.choice === 'opt-out';
  }

  /** Whether the subscriber may not be gardened: opted out of stage-1 alerts or of the garden. */
  private async excluded(subscriber: string): Promise<boolean> {
    return (await this.service.choiceOf(subscriber)).optedOut || (await this.gardenOptedOut(subscriber));
  }

  private async releasesOf(caseId: string): Promise<number> {
    const r = await this.db
      .selectFrom('m7_garden')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('case_id', '=', caseId)
      .where('end_reason', '=', 'released')
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.changing.catch(() => {}).then(fn);
    this.changing = run;
    return run;
  }

  /** One pass: ends what is due, starts what the rules call for, publishes once. */
  pass(now = new Date()): Promise<GardenPassResult> {
    return this.exclusive(() => this.passNow(now));
  }

  /**
   * Ends gardens at their `ends_at` by themselves, whatever the analysis pass does: a timer at the earliest end,
   * at most a minute away (a garden started meanwhile is seen then), until the returned function is called.
   */
  watchTimeBox(): () => void {
    const w: { timer?: NodeJS.Timeout; due?: number; arm?: (ms: number) => void } = {};
    this.timeBox = w;
    // Only ever brought forward: a check already due sooner stays.
    const arm = (ms: number) => {
      const wait = Math.min(60_000, Math.max(250, ms));
      if (this.timeBox !== w || (w.timer && w.due! <= Date.now() + wait)) return;
      clearTimeout(w.timer);
      w.due = Date.now() + wait;
      w.timer = setTimeout(tick, wait);
      w.timer.unref();
    };
    w.arm = arm;
    const tick = () => {
      w.timer = undefined;
      this.exclusive(() => this.endDue(new Date()))
        .then(async () => {
          const next = await this.db
            .selectFrom('m7_garden')
            .select((eb) => eb.fn.min('ends_at').as('at'))
            .where('ended_at', 'is', null)
            .executeTakeFirst();
          arm(next?.at ? Date.parse(next.at) - Date.now() : 60_000);
        })
        .catch((err: Error) => {
          this.logger.error(
            { event: 'm7.garden.time-box.failed', err: { type: err.name, message: err.message } },
            'garden time-box check failed',
          );
          arm(60_000);
        });
    };
    tick();
    return () => {
      clearTimeout(w.timer);
      if (this.timeBox === w) this.timeBox = undefined;
    };
  }

  /** Ends the gardens past their time-box and publishes. */
  private async endDue(now: Date): Promise<number> {
    let n = 0;
    for (const e of await this.active())
      if (e.ends_at <= now.toISOString() && (await this.end(e, 'time-box', `measure:${MEASURE}`, now))) n++;
    if (this.zone.flush()) await this.publish();
    return n;
  }

  private async passNow(now: Date): Promise<GardenPassResult> {
    const r: GardenPassResult = { started: 0, ended: {} };
    const ended = (reason: GardenEndReason) => (r.ended[reason] = (r.ended[reason] ?? 0) + 1);
    for (const e of await this.active()) {
      const alert = await this.db.selectFrom('m7_alerts').select(['status']).where('id', '=', e.alert_id).executeTakeFirst();
      const reason: GardenEndReason | undefined =
        e.ends_at <= now.toISOString()
          ? 'time-box'
          : !alert || alert.status === 'remediated'
            ? 'remediated'
            : (await this.excluded(e.subscriber))
              ? 'opted-out'
              : undefined;
      if (reason) {
        await this.end(e, reason, `measure:${MEASURE}`, now);
        ended(reason);
      }
    }
    const families = this.g.families.map((f) => f.toLowerCase());
    // Stage 1 only (comprehensive consent), infections only, still seen after the last notice — or a listed family.
    const candidates = await this.db
      .selectFrom('m7_alerts')
      .selectAll()
      .where('status', '=', 'notified')
      .where('stage', '=', 1)
      .where('basis', '=', 'comprehensive-consent')
      .where('purpose', '=', 'infection')
      .where('case_id', 'is not', null)
      .where((eb) =>
        eb.or([
          eb.and([eb('notices', '>=', this.g.afterNotices), eb('last_seen', '>', eb.ref('last_notice_at'))]),
          ...(families.length > 0 ? [eb.and([eb('family', 'in', families), eb('notices', '>=', 1)])] : []),
        ]),
      )
      .orderBy('first_seen')
      .limit(10_000)
      .execute();
    for (const a of candidates) {
      if (this.zone.isListed(a.subscriber) || (await this.excluded(a.subscriber))) continue;
      const last = await this.db
        .selectFrom('m7_garden')
        .selectAll()
        .where('alert_id', '=', a.id)
        .orderBy('started_at', 'desc')
        .limit(1)
        .executeTakeFirst();
      // Once per alert, and again only after a self-release when the device is reported after it.
      if (last && !(last.end_reason === 'released' && last.ended_at !== null && a.last_seen > last.ended_at)) continue;
      await this.start(a, now, last === undefined);
      r.started++;
    }
    // A garden started now may end before the time-box timer's next check.
    if (r.started > 0) this.timeBox?.arm?.(parseDuration(this.g.duration) * 1000);
    if (this.zone.flush()) await this.publish();
    if (r.started > 0 || Object.keys(r.ended).length > 0) {
      await this.own.audit.append({
        actor: `measure:${MEASURE}`,
        measure: MEASURE,
        action: 'm7.garden.pass',
        object: 'm7-garden',
        counts: { started: r.started, ...r.ended },
      });
    }
    return r;
  }

  private async start(a: M7Tables['m7_alerts'], now: Date, first: boolean): Promise<void> {
    const id = randomUUID();
    const ends = new Date(now.getTime() + parseDuration(this.g.duration) * 1000).toISOString();
    await this.own.audit.withAudit(
      { actor: `measure:${MEASURE}`, measure: MEASURE, action: 'm7.garden.start', object: `m7-garden:${id}`, caseId: a.case_id! },
      async (tx) => {
        await gdb(tx)
          .insertInto('m7_garden')
          .values({
            id,
            alert_id: a.id,
            case_id: a.case_id!,
            subscriber: a.subscriber,
            family: a.family,
            started_at: now.toISOString(),
            ends_at: ends,
            ended_at: null,
            end_reason: null,
            ended_by: null,
          })
          .execute();
        // The garden is a channel of the remediation report: counted once per alert, from its first garden.
        if (first)
          await gdb(tx)
            .insertInto('m7_outcomes')
            .values({
              alert_id: a.id,
              family: a.family,
              purpose: a.purpose,
              channel: 'walled-garden',
              stage: 1,
              notified_at: now.toISOString(),
              remediated_at: null,
              reinfected: 0,
            })
            .execute();
      },
    );
    await this.cases.note(a.case_id!, 'walled-garden:start', `until ${ends}`);
    this.zone.set(a.subscriber, this.action);
    this.counts.started++;
  }

  /** Ends one garden: the zone rule goes at the next publish (at once for a release or the abuse desk). */
  private async end(e: GardenEntry, reason: GardenEndReason, actor: string, now = new Date()): Promise<boolean> {
    const ended = await this.own.audit
      .withAudit(
        {
          actor,
          measure: MEASURE,
          action: `m7.garden.${reason === 'released' ? 'release' : 'end'}`,
          object: `m7-garden:${e.id}`,
          caseId: e.case_id,
        },
        async (tx) => {
          const r = await gdb(tx)
            .updateTable('m7_garden')
            .set({ ended_at: now.toISOString(), end_reason: reason, ended_by: actor })
            .where('id', '=', e.id)
            .where('ended_at', 'is', null)
            .executeTakeFirst();
          // Ended already (by another path): no audit entry, no note — the transaction is rolled back.
          if (Number(r.numUpdatedRows) === 0) throw new NotEnded('the garden had ended already');
          return true;
        },
      )
      .catch((err: unknown) => {
        if (err instanceof NotEnded) return false;
        throw err;
      });
    if (!ended) return false;
    await this.cases.note(e.case_id, reason === 'released' ? 'walled-garden:released' : 'walled-garden:end', reason);
    this.zone.set(e.subscriber, undefined);
    if (reason === 'released') this.counts.released++;
    else this.counts.ended++;
    return true;
  }

  private async activeOf(subscriber: string): Promise<GardenEntry | undefined> {
    return (
      this.db
        .selectFrom('m7_garden')
        .selectAll()
        .where('subscriber', '=', subscriber)
        .where('ended_at', 'is', null)
        // Past its time-box a garden is over, even before the timer has closed its row: the page is not shown.
        .where('ends_at', '>', new Date().toISOString())
        .executeTakeFirst()
    );
  }

  /** The abuse desk ends a subscriber's garden: at once (new serial, NOTIFY). */
  endFor(subscriber: string, actor: string): Promise<boolean> {
    return this.exclusive(async () => {
      const e = await this.activeOf(subscriber);
      if (!e || !(await this.end(e, 'abuse-desk', actor))) return false;
      if (this.zone.flush()) await this.publish();
      return true;
    });
  }

  /** A subscriber's choice about the garden (member site, support desk); opting out ends a garden at once. */
  setChoice(subscriber: string, choice: 'opt-out' | 'opt-in', channel: string, actor: string): Promise<void> {
    return this.exclusive(async () => {
      await WalledGarden.recordChoice(this.own, subscriber, choice, channel, actor);
      await this.endIfExcluded(subscriber);
    });
  }

  /** Stores a garden choice, audited; needs no running garden (the option may be off). */
  static async recordChoice(
    own: MeasureState,
    subscriber: string,
    choice: 'opt-out' | 'opt-in',
    channel: string,
    actor: string,
  ): Promise<void> {
    await own.audit.withAudit(
      (id: number) => ({ actor, measure: MEASURE, action: `m7.garden.${choice}`, object: `m7-garden-choice:${id}` }),
      async (tx) => {
        const r = await gdb(tx)
          .insertInto('m7_garden_choice')
          .values({ subscriber, choice, channel, at: new Date().toISOString(), actor } as GardenTables['m7_garden_choice'])
          .returning('id')
          .executeTakeFirstOrThrow();
        return Number(r.id);
      },
    );
  }

  /** After any opt-out (of stage 1 or of the garden): the subscriber's garden ends at once. */
  onChoice(subscriber: string): Promise<void> {
    return this.exclusive(() => this.endIfExcluded(subscriber));
  }

  private async endIfExcluded(subscriber: string): Promise<void> {
    const e = await this.activeOf(subscriber);
    if (!e || !(await this.excluded(subscriber))) return;
    await this.end(e, 'opted-out', `measure:${MEASURE}`);
    if (this.zone.flush()) await this.publish();
  }

  /** Every garden in force ends (M7 stops or the option is turned off): rows closed, audited. */
  stopAll(): Promise<void> {
    return this.exclusive(async () => {
      for (const e of await this.active()) await this.end(e, 'stopped', `measure:${MEASURE}`);
    });
  }

  /** The gardens in force for the abuse desk: the read is audited by the route. */
  async list(): Promise<Array<GardenEntry & { releases: number; releasesLeft: number }>> {
    const out = [];
    for (const e of await this.active()) {
      const releases = await this.releasesOf(e.case_id);
      out.push({ ...e, releases, releasesLeft: Math.max(0, this.g.maxReleases - releases) });
    }
    return out;
  }

  async auditRead(actor: string, n: number): Promise<void> {
    await this.own.audit.append({ actor, measure: MEASURE, action: 'm7.garden.read', object: 'm7-garden', counts: { gardens: n } });
  }

  // ---- the page (garden-page calls these with the request's source address only) ----

  private async gardenAt(address: string): Promise<GardenEntry | undefined> {
    const subscriber = this.zone.subscriberAt(address);
    return subscriber === undefined ? undefined : this.activeOf(subscriber);
  }

  async view(address: string): Promise<GardenView | undefined> {
    const e = await this.gardenAt(address);
    if (!e) return undefined;
    const a = await this.db.selectFrom('m7_alerts').selectAll().where('id', '=', e.alert_id).executeTakeFirst();
    const source = this.service.sources.find((x) => x.id === a?.source);
    const advice = await this.service.advice(e.family);
    const left = Math.max(0, this.g.maxReleases - (await this.releasesOf(e.case_id)));
    const seen = noticeTime(new Date(a?.last_seen ?? e.started_at));
    const until = noticeTime(new Date(e.ends_at));
    const { optOut, support } = this.own.settings.notice;
    return {
      canRelease: left > 0,
      ja: {
        title: 'お使いの機器がマルウェアに感染しているおそれがあります',
        paragraphs: [
          `${supplierName(source?.supplier.ja) || '外部の機関'}からの報告により、${seen}ごろ、お客様の回線から` +
            `マルウェア「${e.family}」に感染した機器の通信が確認されました。すでにメールでお知らせしています。`,
          `感染した機器の対処をお願いするため、${until}まで、ウェブサイトを開くとこのページを表示しています` +
            '（契約約款に基づく注意喚起です。通信の内容は見ていません）。https:// のサイトでは証明書の警告が出ることがありますが、この表示のためです。',
          `対処方法:\n${advice.ja}`,
          left > 0
            ? `下のボタンでこのページの表示を解除できます（残り${left}回）。解除後も感染が報告されると、再び表示されることがあります。`
            : '',
          `このページの表示は ${optOut} で停止できます（その他の提供条件は変わりません）。お問い合わせ: ${support}`,
        ].filter((p) => p !== ''),
        releaseLabel: '表示を解除する',
        noRelease: `ご自身で解除できる回数を超えました。${support} にご連絡ください。`,
      },
      en: {
        title: 'A device of yours may be infected with malware',
        paragraphs: [
          `According to a report from ${supplierName(source?.supplier.en) || 'an outside organisation'}, around ${seen} (JST) ` +
            `a device on your line was seen communicating as one infected with the malware "${e.family}". We have told you by e-mail.`,
          `To ask you to clean the device, this page is shown when you open a website until ${until} (JST) ` +
            "(an alert under the contract terms; we do not look at what you communicate). An https:// site may show a certificate warning: that is this page's doing.",
          `What to do:\n${advice.en}`,
          left > 0
            ? `The button above lifts this page (${left} time(s) left). If the device is reported again afterwards, the page may come back.`
            : '',
          `You can stop this page at ${optOut} (all other terms stay the same). Questions: ${support}`,
        ].filter((p) => p !== ''),
        releaseLabel: 'Lift this page',
        noRelease: `You have used every self-release. Please contact ${support}.`,
      },
    };
  }

  release(address: string): Promise<GardenReleaseResult> {
    return this.exclusive(() => this.releaseNow(address));
  }

  private async releaseNow(address: string): Promise<GardenReleaseResult> {
    const e = await this.gardenAt(address);
    const { support } = this.own.settings.notice;
    const lifted = () => ({
      outcome: 'not-gardened' as const,
      ja: { title: '表示は解除されています', paragraphs: ['このページの表示は、すでに解除されています。'] },
      en: { title: 'Already lifted', paragraphs: ['This page is no longer shown for your line.'] },
    });
    if (!e) return lifted();
    if ((await this.releasesOf(e.case_id)) >= this.g.maxReleases) {
      this.counts.exhausted++;
      return {
        outcome: 'exhausted',
        ja: { title: '解除できません', paragraphs: [`ご自身で解除できる回数を超えました。${support} にご連絡ください。`] },
        en: { title: 'Cannot be lifted', paragraphs: [`You have used every self-release. Please contact ${support}.`] },
      };
    }
    if (!(await this.end(e, 'released', 'subscriber:self-release'))) return lifted();
    if (this.zone.flush()) await this.publish();
    this.logger.info({ event: 'm7.garden.released' }, 'a subscriber lifted their walled garden');
    return {
      outcome: 'released',
      ja: {
        title: '表示を解除しました',
        paragraphs: ['このページの表示を解除しました。まもなく通常どおりウェブサイトを閲覧できます。機器の対処を必ず行ってください。'],
      },
      en: {
        title: 'Lifted',
        paragraphs: ['This page has been lifted; websites will open normally again shortly. Please do clean the device.'],
      },
    };
  }

  /** The neutral page: for an address that is not in the garden. No subscriber data. */
  readonly neutral = {
    ja: { title: 'お知らせ', paragraphs: ['このページには、お客様の回線へのお知らせはありません。'] },
    en: { title: 'Notice', paragraphs: ['There is no notice for your line on this page.'] },
  };
}
