/**
 * Notices to subscribers: the contact directory (only what a notice needs:
 * e-mail address, name, language), templates per case kind in Japanese and
 * English with variables, and a queue that delivers by SMTP (nodemailer:
 * STARTTLS, auth, optional DKIM) or, with no SMTP configured, into an outbox
 * directory of .eml files. Delivery is throttled and retried with backoff; a
 * notice is never lost while SMTP is down; each outcome goes on the case's
 * timeline and into the audit log (never the address or the text).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Migration } from 'kysely';
import nodemailer from 'nodemailer';
import type { AuditLog } from '../core/audit/log.js';
import type { Dataset } from '../core/datasets.js';
import { type StateDb, type StateStore, tablesOf } from '../store/state/store.js';
import { caseNotClosed, cdb as caseDb, measureOfCase } from './cases.js';
import { MamoriError } from '../core/errors.js';
import type { UntypedDb } from '../store/state/untyped.js';

type NoticeTables = {
  subscriber_contacts: { subscriber: string; email: string; name: string | null; language: string; updated_at: string };
  notices: {
    id: string;
    case_id: string;
    subscriber: string;
    language: string;
    subject: string;
    body: string;
    status: string;
    attempts: number;
    next_attempt_at: string;
    last_error: string | null;
    created_at: string;
    sent_at: string | null;
  };
  notice_templates: { kind: string; language: string; subject: string; body: string; updated_at: string; updated_by: string };
};

export const noticeMigrations: Record<string, Migration> = {
  '0061_notices': {
    async up(db: UntypedDb) {
      await db.schema
        .createTable('subscriber_contacts')
        .addColumn('subscriber', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('language', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('notices')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('case_id', 'text', (c) => c.notNull())
        .addColumn('subscriber', 'text', (c) => c.notNull())
        .addColumn('language', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'text', (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('sent_at', 'text')
        .execute();
      await db.schema
        .createTable('notice_templates')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('language', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('notice_templates_pk', ['kind', 'language'])
        .execute();
    },
  },
  // The retention clock of a contact runs from its last import (the directory is re-imported from the customer system).
  '0062_contacts_updated_at': {
    async up(db: UntypedDb) {
      await db.schema.alterTable('subscriber_contacts').addColumn('updated_at', 'text').execute();
      await db.updateTable('subscriber_contacts').set({ updated_at: new Date().toISOString() }).execute();
    },
  },
};

/**
 * Notices and the contact directory, for the retention job. A notice follows its case (the declaration
 * of the measure that opened it; kept while the case is not closed where it says so); a contact is kept
 * from its last import as long as the longest declaration of contacts, and while its subscriber has a case
 * that is not closed.
 */
export const NOTICE_DATASETS: readonly Dataset[] = [
  {
    name: 'notices',
    store: 'state',
    table: 'notices',
    timeColumn: 'created_at',
    items: ['subscriber.id', 'subscriber.contact'],
    owner: 'service:notices',
    rowOwner: measureOfCase('notices'),
    hold: { condition: 'case-open', rows: caseNotClosed('notices') },
  },
  {
    name: 'subscriber-contacts',
    store: 'state',
    table: 'subscriber_contacts',
    timeColumn: 'updated_at',
    items: ['subscriber.id', 'subscriber.contact'],
    owner: 'service:notices',
    hold: {
      condition: 'case-open',
      rows: (eb) =>
        eb.exists(
          eb
            .selectFrom('cases')
            .select('cases.id')
            .whereRef('cases.subscriber', '=', 'subscriber_contacts.subscriber')
            .where('cases.status', '!=', 'closed'),
        ),
    },
  },
];

const ndb = (d: StateDb) => tablesOf<NoticeTables>(d);

export type Language = 'ja' | 'en';

/** Built-in templates; an operator's edited version (notice_templates) takes precedence. */
export const DEFAULT_TEMPLATES: Record<string, Record<Language, { subject: string; body: string }>> = {
  'infection-alert': {
    ja: {
      subject: '【重要】お客様の機器がマルウェアに感染している可能性があります',
      body:
        '{{name}} 様\n\n{{detectionTime}}（日本時間）、お客様の回線から、ボットネットの指令サーバ（C&Cサーバ）への通信が確認されました。' +
        'お客様のパソコン、スマートフォン、ルータ等の機器がマルウェアに感染している可能性があります。\n\n対処方法:\n{{deviceAdvice}}\n\nこのお知らせの停止（オプトアウト）: ' +
        '{{optOut}}\nお問い合わせ: {{support}}\n',
    },
    en: {
      subject: '[Important] A device on your line may be infected with malware',
      body:
        'Dear {{name}},\n\nAt {{detectionTime}} (JST) we saw traffic from your line to a botnet command-and-control ' +
        '(C&C) server. A computer, phone or router on your line may be infected with malware.\n\nWhat ' +
        'to do:\n{{deviceAdvice}}\n\nTo stop these notices (opt out): {{optOut}}\nQuestions: {{support}}\n',
    },
  },
  'credential-misuse': {
    ja: {
      subject: '【重要】接続用パスワードの変更をお願いします',
      body:
        '{{name}} 様\n\n{{detectionTime}}（日本時間）、お客様の接続用ID（認証ID）が第三者に不正に使われている可能性を検知したため、' +
        '接続を切断し、このIDでの接続を一時的に停止しました。\n\n会員ページから接続用パスワードを変更すると、' +
        '停止は解除されます。ルータに保存しているパスワードも新しいものに変更してください。\n\nお問い合わせ: ' +
        '{{support}}\n',
    },
    en: {
      subject: '[Important] Please change your connection password',
      body:
        'Dear {{name}},\n\nAt {{detectionTime}} (JST) we found signs that your connection ID is being ' +
        'used by someone else. We disconnected it and suspended connections with this ID for now.\n\nChange ' +
        'your connection password on the member page and the suspension ends. Please also enter the ' +
        'new password in your router.\n\nQuestions: {{support}}\n',
    },
  },
  'cc-blocking': {
    ja: {
      subject: '【重要】マルウェア感染の可能性と、不正な通信先の名前解決の遮断について',
      body:
        '{{name}} 様\n\n{{detectionTime}}（日本時間）、お客様の回線の機器が、ボットネットの指令サーバ（C&Cサーバ）として知られたドメイン名の名前解決を当社のDNSサーバに要求しました。' +
        'お客様のパソコン、スマートフォン、ルータ等がマルウェアに感染している可能性があります。\n\n当社は契約約款に基づき、' +
        'これらのドメイン名の名前解決を拒否しており、この通信は遮断されました。その他の通信には影響はありません。' +
        '\n\n対処方法:\n{{deviceAdvice}}\n\n遮断を希望されない場合は、いつでも設定を変更できます（{{optOut}}）。' +
        '遮断を行わないDNSサーバ（{{unfilteredResolver}}）を利用することもできます。' +
        '設定の有無にかかわらず、その他の提供条件は同一です。設定はいつでも元に戻せます。\nお問い合わせ: ' +
        '{{support}}\n',
    },
    en: {
      subject: '[Important] A device on your line may be infected: resolution of known C&C domains is blocked',
      body:
        'Dear {{name}},\n\nAt {{detectionTime}} (JST) a device on your line asked our DNS servers to ' +
        'resolve a domain name known to belong to a botnet command-and-control (C&C) server. A computer, ' +
        'phone or router on your line may be infected with malware.\n\nUnder the contract terms our ' +
        'DNS servers refuse to resolve these domain names, so this connection was blocked. Nothing ' +
        'else you do is affected.\n\nWhat to do:\n{{deviceAdvice}}\n\nIf you do not want this blocking, ' +
        'you can change the setting at any time ({{optOut}}), or use our DNS server without blocking ' +
        '({{unfilteredResolver}}). All other terms of service are the same either way, and you can ' +
        'change back at any time.\nQuestions: {{support}}\n',
    },
  },
  'vulnerable-router': {
    ja: {
      subject: '【重要】お客様のルータの設定の見直しをお願いします',
      body:
        '{{name}} 様\n\n{{detectionTime}}（日本時間）の調査で、お客様のブロードバンドルータがインターネット側から悪用されうる状態であることが分かりました。\n\n対処方法:\n{{deviceAdvice}}\n\nお問い合わせ: ' +
        '{{support}}\n',
    },
    en: {
      subject: '[Important] Please review the settings of your router',
      body:
        'Dear {{name}},\n\nOur survey at {{detectionTime}} (JST) found that your broadband router can ' +
        'be misused from the Internet.\n\nWhat to do:\n{{deviceAdvice}}\n\nQuestions: {{support}}\n',
    },
  },
};

/**
 * M7's notices: which family, when and by whom the device was seen, what to do, how to opt out, where to
 * ask. Stage 2 (a subscriber who opted out, under legitimate business) says why it is sent anyway.
 */
const M7_TEMPLATES: typeof DEFAULT_TEMPLATES = {
  'infected-host': {
    ja: {
      subject: '【重要】お客様の機器がマルウェア（{{family}}）に感染している可能性があります',
      body:
        '{{name}} 様\n\n{{detectionTime}}（日本時間）、{{seenBy}}から当社に提供された情報により、お客様の回線の機器が' +
        'マルウェア「{{family}}」に感染している可能性があることが分かりました。当社は契約約款に基づき、提供された感染端末の' +
        '情報（IPアドレスと時刻）を当社の割当て記録と照合してお客様を特定しました。お客様の通信の内容は見ていません。\n\n' +
        '対処方法:\n{{deviceAdvice}}\n\nこのお知らせの停止（オプトアウト）: {{optOut}}\n' +
        '停止してもその他の提供条件は同一です。\nお問い合わせ: {{support}}\n',
    },
    en: {
      subject: '[Important] A device on your line may be infected with malware ({{family}})',
      body:
        'Dear {{name}},\n\nAt {{detectionTime}} (JST), information supplied to us by {{seenBy}} showed that a device on ' +
        'your line may be infected with the malware "{{family}}". Under the contract terms we matched the supplied ' +
        'information (address and time) against our assignment records to find you. We did not look at what you send ' +
        'or receive.\n\nWhat to do:\n{{deviceAdvice}}\n\nTo stop these notices (opt out): {{optOut}}\n' +
        'All other terms of service stay the same if you do.\nQuestions: {{support}}\n',
    },
  },
  'infected-host-stage2': {
    ja: {
      subject: '【重要】お客様の機器のマルウェア（{{family}}）感染への対処のお願い',
      body:
        '{{name}} 様\n\nお客様は感染端末に関するお知らせを停止されていますが、{{detectionTime}}（日本時間）以降、' +
        '{{seenBy}}から提供された情報により、お客様の回線の機器がマルウェア「{{family}}」に感染しており、' +
        '{{reason}}ことが分かりました。当社のネットワークとサービスを維持するため（正当業務行為）、' +
        'この場合に限りご連絡しています。\n\n対処方法:\n{{deviceAdvice}}\n\nお問い合わせ: {{support}}\n',
    },
    en: {
      subject: '[Important] Please clean a device on your line infected with malware ({{family}})',
      body:
        'Dear {{name}},\n\nYou chose not to receive notices about infected devices. Since {{detectionTime}} (JST), ' +
        'however, information supplied by {{seenBy}} shows that a device on your line is infected with the malware ' +
        '"{{family}}" and {{reason}}. We contact you in this case only, to keep our network and service running ' +
        '(a legitimate business act).\n\nWhat to do:\n{{deviceAdvice}}\n\nQuestions: {{support}}\n',
    },
  },
  'blocklisted-host': {
    ja: {
      subject: '【重要】お客様の回線のIPアドレスが迷惑メール等の送信元として掲載されています',
      body:
        '{{name}} 様\n\n{{detectionTime}}（日本時間）、お客様の回線に割り当てたIPアドレスが、{{seenBy}}のブロックリスト' +
        '「{{family}}」に迷惑メール等の送信元として掲載されていました。お客様の機器がマルウェアに感染し、' +
        '迷惑メールを送信している可能性があります。\n\n対処方法:\n{{deviceAdvice}}\n\n' +
        'このお知らせの停止（オプトアウト）: {{optOut}}\n停止してもその他の提供条件は同一です。\nお問い合わせ: {{support}}\n',
    },
    en: {
      subject: '[Important] The address of your line is listed as a source of spam',
      body:
        'Dear {{name}},\n\nAt {{detectionTime}} (JST) the address we assigned to your line was listed by the blocklist ' +
        '"{{family}}" of {{seenBy}} as a source of spam. A device on your line may be infected and sending spam.\n\n' +
        'What to do:\n{{deviceAdvice}}\n\nTo stop these notices (opt out): {{optOut}}\n' +
        'All other terms of service stay the same if you do.\nQuestions: {{support}}\n',
    },
  },
};
Object.assign(DEFAULT_TEMPLATES, M7_TEMPLATES);

export const VARIABLES = [
  'name',
  'detectionTime',
  'deviceAdvice',
  'optOut',
  'support',
  'unfilteredResolver',
  'family',
  'seenBy',
  'reason',
] as const;
export type Variables = Partial<Record<(typeof VARIABLES)[number], string>>;
/** Variables for one language each (texts such as remediation advice exist in both): the subscriber's is used. */
export type LocalisedVariables = { ja: Variables; en: Variables };
export type NoticeVariables = Variables | LocalisedVariables;

function isLocalised(v: NoticeVariables): v is LocalisedVariables {
  return typeof (v as LocalisedVariables).ja === 'object' && typeof (v as LocalisedVariables).en === 'object';
}

export class NoticeError extends MamoriError {
  static override readonly code = 'notice';
  static override readonly status = 400;
}

/** A time as notices give it: Japan time, to the minute ("2026-11-24 20:00"), as the templates say (日本時間). */
export function noticeTime(at: Date): string {
  return new Intl.DateTimeFormat('sv-SE', {
    timeZone: 'Asia/Tokyo',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  }).format(at);
}

export function render(template: { subject: string; body: string }, vars: Variables): { subject: string; body: string } {
  const fill = (t: string) =>
    t.replace(/\{\{(\w+)\}\}/g, (all, name: string) => {
      if (!(VARIABLES as readonly string[]).includes(name))
        throw new NoticeError(`unknown variable {{${name}}}: use ${VARIABLES.join(', ')}`);
      return vars[name as keyof Variables] ?? '';
    });
  return { subject: fill(template.subject), body: fill(template.body) };
}

export interface SmtpSettings {
  host: string;
  port: number;
  secure: boolean;
  requireTLS: boolean;
  user?: string | undefined;
  password?: string | undefined;
  from: string;
  dkim?: { domainName: string; keySelector: string; privateKeyFile: string } | undefined;
}

export interface DeliverySettings {
  smtp?: SmtpSettings | undefined;
  /** Where .eml files go when no SMTP server is configured. */
  outbox: string;
  from: string;
  /** Notices per minute at most. */
  perMinute: number;
  maxAttempts: number;
}

export class Notices {
  private readonly transport: nodemailer.Transporter | undefined;
  /** Deliveries since start, by outcome: counts only (an SMTP error can quote an address, so none is kept here). */
  private readonly tally = { sent: 0, retried: 0, failed: 0 };

  constructor(
    private readonly store: StateStore,
    private readonly audit: AuditLog,
    private readonly settings: DeliverySettings,
    dkimKey?: string,
  ) {
    const s = settings.smtp;
    this.transport = s
      ? nodemailer.createTransport({
          host: s.host,
          port: s.port,
          secure: s.secure,
          requireTLS: s.requireTLS,
          ...(s.user ? { auth: { user: s.user, pass: s.password ?? '' } } : {}),
          ...(s.dkim && dkimKey ? { dkim: { domainName: s.dkim.domainName, keySelector: s.dkim.keySelector, privateKey: dkimKey } } : {}),
          connectionTimeout: 10_000,
          greetingTimeout: 10_000,
          socketTimeout: 20_000,
        })
      : undefined;
  }

  /** Contacts from CSV `subscriber,email,name,language`: only what a notice needs. */
  async importContacts(csv: string, actor: string): Promise<{ applied: number; skipped: Array<{ line: number; reason: string }> }> {
    const skipped: Array<{ line: number; reason: string }> = [];
    const rows: NoticeTables['subscriber_contacts'][] = [];
    const now = new Date().toISOString();
    csv.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#') || (i === 0 && /^subscriber,/i.test(line))) return;
      const [subscriber, email, name, language] = line.split(',').map((x) => x.trim());
      if (!subscriber || !email || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
        skipped.push({ line: i + 1, reason: 'expected subscriber,email[,name[,language]] with an e-mail address' });
        return;
      }
      rows.push({ subscriber, email, name: name || null, language: language === 'en' ? 'en' : 'ja', updated_at: now });
    });
    await this.audit.withAudit(
      {
        actor,
        action: 'contacts.import',
        object: 'dataset:subscriber-contacts',
        counts: { applied: rows.length, skipped: skipped.length },
      },
      async (tx) => {
        for (const r of rows)
          await ndb(tx)
            .insertInto('subscriber_contacts')
            .values(r)
            .onConflict((oc) =>
              oc.column('subscriber').doUpdateSet({ email: r.email, name: r.name, language: r.language, updated_at: r.updated_at }),
            )
            .execute();
      },
    );
    return { applied: rows.length, skipped };
  }

  async template(kind: string, language: Language): Promise<{ subject: string; body: string }> {
    const edited = await ndb(this.store.db)
      .selectFrom('notice_templates')
      .select(['subject', 'body'])
      .where('kind', '=', kind)
      .where('language', '=', language)
      .executeTakeFirst();
    const t = edited ?? DEFAULT_TEMPLATES[kind]?.[language];
    if (!t) throw new NoticeError(`no template for case kind "${kind}" in ${language}`);
    return t;
  }

  /**
   * Every case kind's template in each language: the operator's edited version (with who saved it and when) or
   * the built-in one; kinds that only an edit brought in are listed too.
   */
  async templates(): Promise<
    Array<{ kind: string; language: Language; subject: string; body: string; edited: { at: string; by: string } | null }>
  > {
    const edited = await ndb(this.store.db).selectFrom('notice_templates').selectAll().execute();
    const kinds = [...new Set([...Object.keys(DEFAULT_TEMPLATES), ...edited.map((e) => e.kind)])].sort();
    return kinds.flatMap((kind) =>
      (['ja', 'en'] as const).flatMap((language) => {
        const e = edited.find((x) => x.kind === kind && x.language === language);
        const t = e ?? DEFAULT_TEMPLATES[kind]?.[language];
        if (!t) return [];
        return [{ kind, language, subject: t.subject, body: t.body, edited: e ? { at: e.updated_at, by: e.updated_by } : null }];
      }),
    );
  }

  async saveTemplate(kind: string, language: Language, t: { subject: string; body: string }, actor: string): Promise<void> {
    render(t, {}); // refuses unknown variables before anything is stored
    await this.audit.withAudit({ actor, action: 'notice.template.update', object: `template:${kind}-${language}` }, async (tx) => {
      await ndb(tx)
        .insertInto('notice_templates')
        .values({ kind, language, ...t, updated_at: new Date().toISOString(), updated_by: actor })
        .onConflict((oc) => oc.columns(['kind', 'language']).doUpdateSet({ ...t, updated_at: new Date().toISOString(), updated_by: actor }))
        .execute();
    });
  }

  /** Queues the notice of a case to its subscriber, in their language; the case's timeline says so. */
  async queue(caseId: string, vars: NoticeVariables, actor: string): Promise<string> {
    const c = await caseDb(this.store.db)
      .selectFrom('cases')
      .select(['id', 'kind', 'subscriber'])
      .where('id', '=', caseId)
      .executeTakeFirst();
    if (!c) throw new NoticeError(`no case ${caseId}`);
    const contact = await ndb(this.store.db)
      .selectFrom('subscriber_contacts')
      .selectAll()
      .where('subscriber', '=', c.subscriber)
      .executeTakeFirst();
    if (!contact) throw new NoticeError(`case ${caseId}: no contact for its subscriber in the directory`);
    const language = contact.language === 'en' ? 'en' : 'ja';
    const chosen = isLocalised(vars) ? vars[language] : vars;
    const { subject, body } = render(await this.template(c.kind, language), { name: contact.name ?? '', ...chosen });
    const id = `n-${createHash('sha256').update(`${caseId}|${Date.now()}|${Math.random()}`).digest('hex').slice(0, 16)}`;
    const now = new Date().toISOString();
    await this.audit.withAudit({ actor, action: 'notice.queue', object: `notice:${id}`, caseId }, async (tx) => {
      await ndb(tx)
        .insertInto('notices')
        .values({
          id,
          case_id: caseId,
          subscriber: c.subscriber,
          language,
          subject,
          body,
          status: 'queued',
          attempts: 0,
          next_attempt_at: now,
          last_error: null,
          created_at: now,
          sent_at: null,
        })
        .execute();
      await caseDb(tx).insertInto('case_events').values({ case_id: caseId, at: now, actor, event: 'notice.queued', detail: id }).execute();
    });
    return id;
  }

  /** One delivery pass: due notices, within the rate limit; failures are retried with backoff. */
  /**
   * The sender's health for the overview and /metrics, as the listeners report theirs: `smtp` when a server is
   * configured, `notice-outbox` when notices are written to the outbox folder instead.
   */
  sender(): { listener: string; counts: Record<string, number>; refused: Record<string, number> } {
    return {
      listener: this.transport ? 'smtp' : 'notice-outbox',
      counts: { sent: this.tally.sent },
      refused: { retried: this.tally.retried, failed: this.tally.failed },
    };
  }

  async deliver(now = new Date()): Promise<{ sent: number; failed: number; deferred: number }> {
    const minuteAgo = new Date(now.getTime() - 60_000).toISOString();
    const sentLastMinute = await ndb(this.store.db)
      .selectFrom('notices')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('sent_at', '>=', minuteAgo)
      .executeTakeFirstOrThrow();
    const room = Math.max(0, this.settings.perMinute - Number(sentLastMinute.n));
    const due = await ndb(this.store.db)
      .selectFrom('notices')
      .selectAll()
      .where('status', '=', 'queued')
      .where('next_attempt_at', '<=', now.toISOString())
      .orderBy('created_at')
      .limit(room)
      .execute();
    const result = { sent: 0, failed: 0, deferred: 0 };
    for (const n of due) {
      const contact = await ndb(this.store.db)
        .selectFrom('subscriber_contacts')
        .select(['email'])
        .where('subscriber', '=', n.subscriber)
        .executeTakeFirst();
      let error: string | null = null;
      try {
        if (!contact) throw new NoticeError('the subscriber has no contact any more');
        const message = {
          from: this.settings.from,
          to: contact.email,
          subject: n.subject,
          text: n.body,
          headers: { 'X-Mamori-Notice': n.id },
        };
        if (this.transport) await this.transport.sendMail(message);
        else await this.toOutbox(n.id, message);
      } catch (err) {
        error = (err as Error).message.slice(0, 200);
      }
      const attempts = n.attempts + 1;
      const t = new Date().toISOString();
      const status = error === null ? 'sent' : attempts >= this.settings.maxAttempts ? 'failed' : 'queued';
      this.tally[status === 'queued' ? 'retried' : status]++;
      // Backoff: 1, 2, 4 … minutes, at most an hour.
      const next = new Date(now.getTime() + Math.min(3600, 60 * 2 ** (attempts - 1)) * 1000).toISOString();
      await this.audit.withAudit(
        {
          actor: 'module:notices',
          action: `notice.${status === 'queued' ? 'retry' : status}`,
          object: `notice:${n.id}`,
          caseId: n.case_id,
          counts: { attempts },
        },
        async (tx) => {
          await ndb(tx)
            .updateTable('notices')
            .set({ status, attempts, next_attempt_at: next, last_error: error, sent_at: status === 'sent' ? t : null })
            .where('id', '=', n.id)
            .execute();
          await caseDb(tx)
            .insertInto('case_events')
            .values({
              case_id: n.case_id,
              at: t,
              actor: 'module:notices',
              event: `notice.${status === 'queued' ? 'retry' : status}`,
              detail: error === null ? n.id : `${n.id}: ${error}`,
            })
            .execute();
          if (status === 'sent')
            await caseDb(tx)
              .updateTable('cases')
              .set({ status: 'notified', updated_at: t })
              .where('id', '=', n.case_id)
              .where('status', '=', 'open')
              .execute();
        },
      );
      if (status === 'sent') result.sent++;
      else if (status === 'failed') result.failed++;
      else result.deferred++;
    }
    return result;
  }

  private async toOutbox(id: string, message: nodemailer.SendMailOptions): Promise<void> {
    const built = await nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' }).sendMail(message);
    mkdirSync(this.settings.outbox, { recursive: true, mode: 0o750 });
    writeFileSync(join(this.settings.outbox, `${id}.eml`), built.message as Buffer, { mode: 0o640 });
  }

  async status(id: string): Promise<NoticeTables['notices'] | undefined> {
    return ndb(this.store.db).selectFrom('notices').selectAll().where('id', '=', id).executeTakeFirst();
  }
}

export interface Notifier {
  /** Queues the notice of one of this measure's cases. */
  notify(caseId: string, vars: NoticeVariables): Promise<string>;
}

/** The notifier as the broker hands it to one measure: only that measure's cases. */
export function notifierFor(store: StateStore, notices: Notices, measure: { id: string }): Notifier {
  return {
    async notify(caseId, vars) {
      const c = await caseDb(store.db).selectFrom('cases').select('measure').where('id', '=', caseId).executeTakeFirst();
      if (!c || c.measure !== measure.id) throw new NoticeError(`case ${caseId} is not a case of ${measure.id}`);
      return notices.queue(caseId, vars, `measure:${measure.id}`);
    },
  };
}
