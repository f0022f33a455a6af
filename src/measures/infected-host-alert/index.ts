/**
 * M7 — alerting infected subscribers (industry guideline, WG minutes).
 * Two stages: an alert under comprehensive consent first; a legitimate-business
 * alert when the device burdens the network or keeps contacting C&C servers.
 * Flow data from M1 must never be used to find infected subscribers.
 */
import { defineMeasure } from '../../core/measure.js';
import type { MeasureModule } from '../../core/registry.js';
import { infectedHostAlertCli } from './cli.js';
import { infectedHostAlertRoutes } from './routes.js';
import { startInfectedHostAlert } from './run.js';
import { infectedHostAlertReadiness, infectedHostAlertSettings } from './settings.js';
import { M7_DATASETS, M7_TABLES, m7Migrations } from './tables.js';
import { GARDEN_DATASETS, GARDEN_TABLES, gardenMigrations } from './garden-tables.js';
import { GARDEN_MAX } from './garden-settings.js';

export const declaration = defineMeasure({
  id: 'infected-host-alert',
  code: 'M7',
  title: { ja: 'マルウェア感染端末の利用者への注意喚起', en: 'Alerting subscribers with infected devices' },
  purpose: {
    ja: 'マルウェアに感染した端末の利用者に感染の事実と対処方法を知らせるため',
    en: 'to tell subscribers that a device of theirs is infected and how to clean it',
  },
  description: {
    ja: '乗っ取られたC&Cサーバ、シンクホール、ハニーポット等を運用する第三者から提供された、感染端末のIPアドレスと時刻の一覧を、当社の割当て記録と照合して契約者を特定し、個別にご連絡します。当社のフロー情報は用いません。',
    en:
      'Lists of infected hosts (address and time) supplied by third parties that run taken-down C&C ' +
      'servers, sinkholes or honeypots are matched against our assignment records to find the subscriber, ' +
      'who is contacted individually. Our own flow records are not used.',
  },
  bases: [
    {
      basis: 'comprehensive-consent',
      scope: { ja: '第一段階：契約約款に基づく注意喚起', en: 'first stage: alert under the contract terms' },
    },
    {
      basis: 'legitimate-business',
      scope: {
        ja: '第二段階：ネットワークに負荷を与え、又はC&Cサーバとの通信を続ける端末の利用者への注意喚起',
        en: 'second stage: alert when the device burdens the network or keeps contacting C&C servers',
      },
    },
  ],
  dataItems: [
    { item: 'report.host', retention: '30d', use: { ja: '感染端末の利用者の特定', en: 'finding the subscriber behind an infected host' } },
    {
      item: 'aaa.assigned-address',
      retention: '30d',
      use: { ja: 'IPアドレス・時刻からの契約者の特定', en: 'identifying the subscriber from address and time' },
    },
    {
      item: 'aaa.times',
      retention: '30d',
      use: { ja: '報告時刻における割当ての照合', en: 'matching the assignment at the reported time' },
    },
    {
      item: 'subscriber.id',
      retention: '180d',
      use: { ja: '注意喚起の管理と、利用者による設定変更の記録', en: "managing the alert, and recording the subscriber's choice" },
      keptWhile: ['case-open', 'choice-in-force'],
    },
    { item: 'subscriber.contact', retention: '180d', use: { ja: '注意喚起の送付', en: 'sending the alert' }, keptWhile: ['case-open'] },
  ],
  outputs: ['cases', 'subscriber-notices'],
  identifiesSubscribers: true,
  consentTerms: {
    detection: {
      ja: '当社は、第三者から提供された感染端末の情報を当社の割当て記録と照合します。',
      en: 'We match information about infected hosts supplied by third parties against our assignment records.',
    },
    timing: {
      ja: '第三者から感染端末の情報の提供を受けた際に照合します。',
      en: 'Matching takes place when a third party supplies information about infected hosts.',
    },
    optOut: {
      ja: '利用者は、いつでも会員サイトで設定を変更し、第一段階の注意喚起を停止することができます。設定の有無にかかわらず、その他の提供条件は同一です。',
      en:
        'The subscriber may change the setting in the member site at any time to stop first-stage alerts. ' +
        'All other terms of service are the same either way.',
    },
  },
  conditions: [
    { ja: '二段階で対応し、丁寧に説明する', en: 'two stages, with a careful explanation' },
    { ja: 'M1のフロー情報を感染者の特定に用いない', en: 'flow data from M1 is never used to find infected subscribers' },
  ],
  source: { ja: 'ガイドライン及びワーキンググループ議事要旨', en: 'Industry guideline and WG minutes' },
  // Off unless measures.infected-host-alert.walledGarden.enabled (and refused at start until basisConfirmedBy is set).
  options: [
    {
      id: 'walled-garden',
      setting: 'walledGarden',
      title: { ja: 'ウォールドガーデン（注意喚起画面の一時的な表示）', en: 'walled garden (a notice page for a limited time)' },
      description: {
        ja:
          '第一段階の注意喚起の後も感染端末として報告される利用者について、期間を限って、その利用者に割り当てたIPアドレスからの' +
          'DNSによる名前解決に注意喚起画面のアドレスを応答し、ブラウザに感染の事実と対処方法を表示します。' +
          '利用者は画面のボタンで表示を解除できます（回数に上限があり、その後はサポート窓口が対応します）。',
        en:
          'For a subscriber still reported as infected after the first-stage alert, for a limited time, name resolution from ' +
          "the addresses assigned to them is answered with the notice page's address, so that their browser shows the " +
          'infection and what to do. The subscriber can lift the page with its button (a limited number of times; then the ' +
          'support desk helps).',
      },
      bases: [
        {
          basis: 'comprehensive-consent',
          scope: {
            ja: 'ウォールドガーデン：契約約款に基づく注意喚起画面の一時的な表示（第一段階の利用者に限る）',
            en: 'walled garden: a notice page for a limited time under the contract terms (first-stage subscribers only)',
          },
        },
      ],
      dataItems: [
        {
          item: 'aaa.account-id',
          retention: '30d',
          use: {
            ja: '対象の利用者の接続中のIPアドレスへの追従（メモリ上で接続中のみ保持し、M7は保存しません）',
            en: "following the gardened subscriber's current addresses (held in memory while the session lasts; M7 stores none)",
          },
        },
      ],
      outputs: ['walled-garden'],
      maxActionDuration: GARDEN_MAX,
      consentTerms: {
        detection: {
          ja:
            '第一段階の注意喚起の後も感染端末として報告される場合、当社は、期間を限って、お客様の回線からの名前解決に注意喚起画面の' +
            'アドレスを応答し、感染の事実と対処方法を表示します。お客様は画面のボタンで表示を解除できます（回数に上限があります）。',
          en:
            'If a device is still reported as infected after the first-stage alert, we answer name resolution from your line with ' +
            'the address of a notice page, for a limited time, showing the infection and what to do. You can lift the page with ' +
            'its button (a limited number of times).',
        },
        timing: {
          ja:
            `第一段階の注意喚起の後に感染端末の情報の提供を受けた際に開始し、最長${GARDEN_MAX.replace('d', '日')}で自動的に終了します。` +
            '対処が確認された場合は直ちに終了します。',
          en:
            'It starts when a report arrives after the first-stage alert and ends by itself after at most ' +
            `${GARDEN_MAX.replace('d', ' days')}, at once when the device is cleaned.`,
        },
        optOut: {
          ja:
            'お客様は、いつでも会員サイトで設定を変更し、注意喚起画面の表示を停止することができます。第一段階の注意喚起を停止した場合も' +
            '表示されません。設定の有無にかかわらず、その他の提供条件は同一です。',
          en:
            'You may change the setting in the member site at any time to stop the notice page; it is not shown either if you ' +
            'stopped first-stage alerts. All other terms of service are the same either way.',
        },
      },
      conditions: [
        {
          ja: '第一段階（包括同意）の利用者に限る。注意喚起又は本画面を停止した利用者、同意のない利用者（第二段階）には行わない',
          en: 'first-stage (consent) subscribers only; never one who stopped alerts or this page, never one without consent (stage 2)',
        },
        {
          ja: '期間を限り（最長14日）、対処の確認、設定変更、利用者自身による解除（回数に上限）又はサポート窓口の判断で直ちに終了する',
          en: 'time-boxed (at most 14 days); ends at once on remediation, opt-out, self-release (limited) or by the abuse desk',
        },
        {
          ja: '利用者は接続元のIPアドレスのみで識別し、アクセスしようとしたサイト（Host、パス）は記録も表示もしない',
          en: 'the subscriber is identified by the source address only; the site they asked for (Host, path) is never stored or shown',
        },
      ],
      caveat: {
        ja:
          '情報源（第二次とりまとめ）が契約約款による包括同意で認めているのは、マルウェア配布サイトへのアクセスに対するブラウザ経由の' +
          '注意喚起画面であり、一人の利用者の名前解決全体を注意喚起画面に向けることは論じていません。この根拠は類推です。' +
          '運用者の法務担当が確認するまで有効にしないでください（walledGarden.basisConfirmedBy）。',
        en:
          'The source (the second summary) clears, under comprehensive consent in the terms, a warning screen in the browser before ' +
          "access to a malware distribution site; it does not discuss sending all of one subscriber's name resolution to a notice " +
          "page. This basis is an analogy: do not enable it until the operator's counsel has confirmed it (walledGarden.basisConfirmedBy).",
      },
    },
  ],
});

/** Reports in, subscriber lookup, two-stage cases and notices, remediation measured, while M7 is enabled (run.ts). */
export const measure: MeasureModule = {
  declaration,
  migrations: { ...m7Migrations, ...gardenMigrations },
  stateTables: [...M7_TABLES, ...GARDEN_TABLES],
  datasets: [...M7_DATASETS, ...GARDEN_DATASETS],
  settings: infectedHostAlertSettings,
  readiness: infectedHostAlertReadiness,
  implementation: { start: startInfectedHostAlert },
  routes: infectedHostAlertRoutes,
  cli: infectedHostAlertCli,
};
