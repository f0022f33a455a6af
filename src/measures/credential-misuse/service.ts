/**
 * M4 at work. Authentication events arrive from the AAA (FreeRADIUS rlm_rest
 * calling the authorize and post-auth endpoints), accounting from the
 * broker's accounting feed; both are kept in memory for a short, bounded
 * time. Every `analysisInterval` the trigger looks for an anomaly; only then
 * do the detectors run, and each finding becomes a case, a Disconnect-Request
 * to the NAS, a suspension of the ID until the password is changed (never
 * longer than `maxSuspension`), and a notice asking for the change — or, in
 * dry-run, a case and nothing else. The authorize endpoint rejects a
 * suspended ID. Everything is audited.
 */
import { parseDuration } from '../../core/duration.js';
import type { Logger } from '../../core/logger.js';
import type { MeasureState } from '../../core/measure-state.js';
import type { SessionEvent } from '../../ingest/radius/apply.js';
import type { CaseApi } from '../../notify/cases.js';
import { noticeTime, type Notifier } from '../../notify/notices.js';
import { tablesOf, type StateDb } from '../../store/state/tables.js';
import { detect, trigger, type AuthEvent, type Finding, type SessionStart, type SessionStop } from './detectors.js';
import type { DisconnectResult, Disconnector } from '../../ingest/radius/disconnect.js';
import type { CredentialMisuseSettings } from './settings.js';
import type { M4Tables } from './tables.js';

export { M4_DATASETS, M4_TABLES, m4Migrations } from './tables.js';

const mdb = (d: StateDb) => tablesOf<M4Tables>(d);

const AUTH_KEEP_S = 15 * 60;
const SESSIONS_KEEP_S = 3 * 86_400;
const MAX_EVENTS = 1_000_000;
const authCost = (e: AuthEvent) => 96 + 2 * (e.account.length + e.nas.length + (e.station?.length ?? 0));

export interface Suspension {
  account: string;
  since: string;
  until: string;
  caseId: string;
  detector: string;
}

export class CredentialMisuse {
  private auth: AuthEvent[] = [];
  /** Estimated bytes held by `auth` (strings at two bytes a character, plus the object): bounded by maxHeldAuthMiB. */
  private authBytes = 0;
  /** Authentications forgotten early because memory was at its bound. */
  private authDropped = 0;
  private starts: SessionStart[] = [];
  private stops: SessionStop[] = [];
  private readonly accountOf = new Map<string, string>();
  private readonly actor = 'measure:credential-misuse';

  constructor(
    private readonly own: MeasureState & { settings: CredentialMisuseSettings },
    private readonly cases: CaseApi,
    private readonly notifier: Notifier,
    private readonly logger: Logger,
    private readonly disconnector: Disconnector,
  ) {}

  private get s(): CredentialMisuseSettings {
    return this.own.settings;
  }

  onAuth(e: AuthEvent): void {
    this.auth.push(e);
    this.authBytes += authCost(e);
    const maxBytes = (this.s.maxHeldAuthMiB ?? 256) * 1024 * 1024;
    if (this.auth.length > MAX_EVENTS || this.authBytes > maxBytes) {
      let n = Math.max(0, this.auth.length - MAX_EVENTS);
      let bytes = this.authBytes;
      for (let i = 0; i < n; i++) bytes -= authCost(this.auth[i]!);
      while (bytes > maxBytes && n < this.auth.length) bytes -= authCost(this.auth[n++]!);
      this.auth.splice(0, n);
      this.authBytes = bytes;
      this.authDropped += n;
    }
  }

  /** What the AAA's authentications hold in memory now, and how many were forgotten early (the listener status). */
  heldAuth(): { events: number; bytes: number; dropped: number } {
    return { events: this.auth.length, bytes: this.authBytes, dropped: this.authDropped };
  }

  onSession(e: SessionEvent): void {
    if (e.kind === 'begin') {
      this.accountOf.set(e.key, e.subscriber);
      this.starts.push({ account: e.subscriber, at: e.at, session: e.key, address: e.address, nas: e.key.split('|')[0]! });
    } else if (e.kind === 'finish') {
      const account = this.accountOf.get(e.key);
      if (account) this.stops.push({ account, at: e.at, session: e.key });
    } else if (e.kind === 'finish-all') {
      for (const [key, account] of this.accountOf) if (key.startsWith(`${e.nas}|`)) this.stops.push({ account, at: e.at, session: key });
    }
    if (this.starts.length > MAX_EVENTS) this.starts.splice(0, this.starts.length - MAX_EVENTS);
    if (this.stops.length > MAX_EVENTS) this.stops.splice(0, this.stops.length - MAX_EVENTS);
  }

  /** Forgets what is older than the detectors look at: memory stays bounded by time and by count. */
  private prune(now: number): void {
    this.auth = this.auth.filter((e) => e.at > now - AUTH_KEEP_S);
    this.authBytes = this.auth.reduce((sum, e) => sum + authCost(e), 0);
    this.starts = this.starts.filter((e) => e.at > now - SESSIONS_KEEP_S);
    this.stops = this.stops.filter((e) => e.at > now - SESSIONS_KEEP_S);
    const live = new Set(this.starts.map((e) => e.session));
    for (const k of this.accountOf.keys()) if (!live.has(k)) this.accountOf.delete(k);
  }

  async suspension(account: string, now = new Date()): Promise<Suspension | undefined> {
    const r = await mdb(this.own.store.db)
      .selectFrom('m4_suspensions')
      .selectAll()
      .where('account', '=', account)
      .where('lifted_at', 'is', null)
      .where('until', '>', now.toISOString())
      .executeTakeFirst();
    return r ? { account: r.account, since: r.since, until: r.until, caseId: r.case_id, detector: r.detector } : undefined;
  }

  /** One pass: trigger, detectors, response. Returns the findings acted on. */
  async analyze(now = new Date()): Promise<Finding[]> {
    const t = Math.floor(now.getTime() / 1000);
    this.prune(t);
    await this.sweep(now);
    const fired = trigger(this.auth, t, this.s);
    if (!fired.fired) return [];
    // Index the events by account once: a NAS reboot puts thousands of accounts in one pass.
    const byAccount = <T extends { account: string }>(events: readonly T[]) => {
      const m = new Map<string, T[]>();
      for (const e of events) {
        const l = m.get(e.account);
        if (l) l.push(e);
        else m.set(e.account, [e]);
      }
      return m;
    };
    const auth = byAccount(this.auth),
      starts = byAccount(this.starts),
      stops = byAccount(this.stops);
    const acted: Finding[] = [];
    for (const account of fired.accounts) {
      const findings = detect(
        account,
        { auth: auth.get(account) ?? [], starts: starts.get(account) ?? [], stops: stops.get(account) ?? [] },
        t,
        this.s,
      );
      if (findings.length === 0 || (await this.suspension(account, now))) continue;
      await this.act(findings, now);
      acted.push(...findings);
    }
    if (acted.length > 0)
      this.logger.info({ event: 'm4.analysis', trigger: fired.reason, findings: acted.length }, 'credential misuse found');
    return acted;
  }

  private async act(findings: Finding[], now: Date): Promise<void> {
    const f = findings[0]!;
    const summary = findings.map((x) => x.en).join('; ');
    const { case: c } = await this.cases.open({ kind: 'credential-misuse', subscriber: f.account, summary, at: now });
    for (const x of findings) await this.cases.note(c.id, `finding:${x.detector}`, `${x.ja} / ${x.en}`);
    let action = 'dry-run: no action taken';
    let ackMs: number | null = null;
    if (!this.s.dryRun) {
      let dm: DisconnectResult | undefined;
      const nas = f.target ? this.s.nas.find((n) => n.name === f.target!.nas) : undefined;
      if (f.target && nas) {
        dm = await this.disconnector.disconnect({
          nas,
          userName: f.account,
          sessionId: f.target.session.slice(f.target.nas.length + 1),
          framedIp: f.target.address.includes('.') ? f.target.address : undefined,
        });
        if (dm.result === 'ack') ackMs = dm.ms;
        await this.cases.note(
          c.id,
          `disconnect:${dm.result}`,
          dm.result === 'nak' ? `Error-Cause ${dm.errorCause ?? '-'} ${dm.errorText ?? ''}` : `${dm.attempts} attempt(s), ${dm.ms} ms`,
        );
        await this.own.audit.append({
          actor: this.actor,
          measure: 'credential-misuse',
          action: 'm4.disconnect',
          object: `case:${c.id}`,
          caseId: c.id,
          outcome: dm.result === 'ack' ? 'ok' : 'error',
          counts: { attempts: dm.attempts, ms: dm.ms },
        });
      } else if (f.target) {
        await this.cases.note(c.id, 'disconnect:not-configured', `no Dynamic Authorization settings for NAS ${f.target.nas}`);
      }
      const until = new Date(now.getTime() + parseDuration(this.s.maxSuspension) * 1000).toISOString();
      await this.own.audit.withAudit(
        { actor: this.actor, measure: 'credential-misuse', action: 'm4.suspend', object: `case:${c.id}`, caseId: c.id },
        async (tx) => {
          await mdb(tx)
            .insertInto('m4_suspensions')
            .values({
              account: f.account,
              since: now.toISOString(),
              until,
              case_id: c.id,
              detector: f.detector,
              lifted_at: null,
              lifted_by: null,
              reminded: 0,
            })
            .execute();
        },
      );
      await this.cases.note(c.id, 'suspended', `until the password is changed, at the latest ${until}`);
      try {
        await this.notifier.notify(c.id, { detectionTime: noticeTime(now), support: '' });
      } catch (err) {
        await this.cases.note(c.id, 'notice:not-sent', (err as Error).message);
      }
      action = `disconnect ${dm?.result ?? 'not sent'}; suspended until ${until}`;
    }
    await this.own.audit.withAudit(
      {
        actor: this.actor,
        measure: 'credential-misuse',
        action: 'm4.finding',
        object: `case:${c.id}`,
        caseId: c.id,
        counts: { findings: findings.length, dryRun: this.s.dryRun ? 1 : 0 },
      },
      async (tx) => {
        for (const x of findings)
          await mdb(tx)
            .insertInto('m4_findings')
            .values({
              account: x.account,
              detector: x.detector,
              at: now.toISOString(),
              case_id: c.id,
              ja: x.ja,
              en: x.en,
              action,
              detection_to_ack_ms: ackMs,
            })
            .execute();
      },
    );
  }

  /** The password was changed (the customer system says so) or an operator decided: the suspension ends now. */
  async lift(account: string, by: string, why: string, now = new Date()): Promise<boolean> {
    const s = await this.suspension(account, now);
    if (!s) return false;
    await this.own.audit.withAudit(
      { actor: by, measure: 'credential-misuse', action: 'm4.lift', object: `case:${s.caseId}`, caseId: s.caseId },
      async (tx) => {
        await mdb(tx)
          .updateTable('m4_suspensions')
          .set({ lifted_at: now.toISOString(), lifted_by: by })
          .where('account', '=', account)
          .where('lifted_at', 'is', null)
          .execute();
      },
    );
    await this.cases.note(s.caseId, 'lifted', why);
    return true;
  }

  /** Suspensions never outlive their maximum; a day before it, the case gets a reminder. */
  private async sweep(now: Date): Promise<void> {
    const t = now.toISOString();
    const s = mdb(this.own.store.db);
    for (const r of await s.selectFrom('m4_suspensions').selectAll().where('lifted_at', 'is', null).execute()) {
      if (r.until <= t) {
        await this.own.audit.withAudit(
          { actor: this.actor, measure: 'credential-misuse', action: 'm4.expire', object: `case:${r.case_id}`, caseId: r.case_id },
          async (tx) => {
            await mdb(tx)
              .updateTable('m4_suspensions')
              .set({ lifted_at: t, lifted_by: 'expiry' })
              .where('account', '=', r.account)
              .where('case_id', '=', r.case_id)
              .execute();
          },
        );
        await this.cases.note(r.case_id, 'lifted', 'maximum suspension reached');
      } else if (!r.reminded && Date.parse(r.until) - now.getTime() < 86_400_000) {
        await mdb(this.own.store.db)
          .updateTable('m4_suspensions')
          .set({ reminded: 1 })
          .where('account', '=', r.account)
          .where('case_id', '=', r.case_id)
          .execute();
        await this.cases.note(r.case_id, 'reminder', `suspension ends at ${r.until}: check whether the password was changed`);
      }
    }
  }

  /** A read that showed account IDs: who, and how many rows (never which accounts). */
  async auditRead(actor: string, counts: { suspensions: number; findings: number }): Promise<void> {
    const object = 'dataset:m4-suspensions';
    await this.own.audit.append({ actor, measure: 'credential-misuse', action: 'm4.suspensions.read', object, counts });
  }

  async findings(): Promise<Array<M4Tables['m4_findings']>> {
    return mdb(this.own.store.db).selectFrom('m4_findings').selectAll().orderBy('at', 'desc').limit(1000).execute();
  }

  async suspensions(): Promise<Array<M4Tables['m4_suspensions']>> {
    return mdb(this.own.store.db).selectFrom('m4_suspensions').selectAll().orderBy('since', 'desc').limit(1000).execute();
  }
}
