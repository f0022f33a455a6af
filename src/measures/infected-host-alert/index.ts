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
});

/** Reports in, subscriber lookup, two-stage cases and notices, remediation measured, while M7 is enabled (run.ts). */
export const measure: MeasureModule = {
  declaration,
  migrations: m7Migrations,
  stateTables: M7_TABLES,
  datasets: M7_DATASETS,
  settings: infectedHostAlertSettings,
  readiness: infectedHostAlertReadiness,
  implementation: { start: startInfectedHostAlert },
  routes: infectedHostAlertRoutes,
  cli: infectedHostAlertCli,
};
