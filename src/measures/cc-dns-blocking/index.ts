/**
 * M3 — blocking resolution of C&C FQDNs at the ISP's resolvers (2nd summary §1).
 * Comprehensive consent in the contract terms is valid here only because the
 * terms state the five items, the subscriber can opt out at any time with
 * otherwise identical service, and each affected subscriber is told individually.
 */
import { defineMeasure } from '../../core/measure.js';
import type { MeasureModule } from '../../core/registry.js';
import { startCcDnsBlocking } from './run.js';
import { ccDnsBlockingCli } from './cli.js';
import { ccDnsBlockingRoutes } from './routes.js';
import { ccDnsBlockingSettings } from './settings.js';
import { M3_DATASETS, M3_TABLES, m3Migrations } from './tables.js';

export const declaration = defineMeasure({
  id: 'cc-dns-blocking',
  code: 'M3',
  title: { ja: 'C&Cサーバ等への通信の遮断（DNS）', en: 'Blocking access to C&C servers at the DNS resolvers' },
  purpose: {
    ja: '利用者がC&Cサーバ等へアクセスしようとする場合に、そのアクセスを遮断し、マルウェア感染による被害の拡大を防ぐため',
    en:
      "to block access when a subscriber's device tries to " +
      'reach a C&C server, and so stop the damage ' +
      'of a malware infection from spreading',
  },
  description: {
    ja: '当社のDNSサーバで、C&Cサーバとして知られたドメイン名（FQDN）の名前解決を機械的に拒否します。遮断を希望しない方は、いつでも設定を変更できます（遮断を行わないDNSサーバの利用）。設定にかかわらず、その他の提供条件は同一です。',
    en:
      'Our DNS resolvers mechanically refuse to resolve domain ' +
      'names (FQDNs) known to belong to C&C ' +
      ('servers. Subscribers who do not want this can change ' + 'the setting at any time (use of a resolver ') +
      'without blocking); all other terms of service stay the same.',
  },
  bases: [
    {
      basis: 'comprehensive-consent',
      scope: {
        ja: '契約約款に定める遮断（随時の設定変更が可能）',
        en: 'blocking as set out in the contract terms, changeable at any time',
      },
    },
  ],
  dataItems: [
    {
      item: 'dns.qname',
      retention: '30d',
      use: { ja: '遮断対象のFQDNとの照合と、遮断された問合せの記録', en: 'matching against blocked FQDNs and recording blocked queries' },
    },
    { item: 'dns.times', retention: '30d', use: { ja: '遮断された問合せの記録', en: 'recording blocked queries' } },
    {
      item: 'aaa.account-id',
      retention: '30d',
      use: { ja: '設定変更（オプトアウト）した利用者の接続の特定', en: 'recognising the sessions of subscribers who opted out' },
      keptWhile: ['choice-in-force'],
    },
    {
      item: 'aaa.assigned-address',
      retention: '30d',
      use: {
        ja: '設定変更（オプトアウト）した利用者への遮断の解除と、個別の通知先の特定',
        en: 'exempting subscribers who opted out, and finding whom to notify',
      },
    },
    {
      item: 'subscriber.id',
      retention: '180d',
      use: { ja: '個別の通知と設定変更の管理', en: 'individual notices and the opt-out setting' },
      keptWhile: ['choice-in-force', 'case-open'],
    },
    {
      item: 'subscriber.contact',
      retention: '180d',
      use: { ja: 'マルウェア感染の注意喚起と遮断の説明の送付', en: 'sending the malware warning and the explanation of blocking' },
      keptWhile: ['case-open'],
    },
  ],
  outputs: ['rpz-rules', 'cases', 'subscriber-notices'],
  identifiesSubscribers: true,
  consentTerms: {
    detection: {
      ja: '当社は、C&Cサーバ等へのアクセスに係る通信の検知を行います。',
      en: 'We detect communications that access C&C servers.',
    },
    timing: {
      ja: '利用者が、インターネット上のサーバに対するアクセス要求（DNSによる名前解決の要求）をした際に検知します。',
      en: 'Detection takes place when the subscriber requests access to a server on the Internet (a DNS resolution request).',
    },
    optOut: {
      ja: '利用者は、いつでも設定を変更し検知及び遮断を中止することができます（会員サイトでの設定変更、又は遮断を行わないDNSサーバの利用）。設定の有無にかかわらず、その他の提供条件は同一です。',
      en:
        'The subscriber may change the setting at any time ' +
        'and stop the detection and blocking (in ' +
        ('the member site, or by using a resolver without blocking). ' + 'All other terms of service are ') +
        'the same either way.',
    },
  },
  conditions: [
    {
      ja: '契約約款に5項目（検知を行うこと、目的、時期、対象情報の範囲、設定変更できること）を記載する',
      en: 'the contract terms state the five items (detection, purpose, timing, scope, the right to change the setting)',
    },
    { ja: 'オプトアウト後もその他の提供条件は同一とする', en: 'opting out leaves all other terms of service unchanged' },
    {
      ja: 'ウェブサイトへの掲載に加え、メール等で個別に注意喚起と説明を行う',
      en: 'besides the web site, each affected subscriber is told individually (e-mail)',
    },
    { ja: '取得したFQDNを本対策以外の目的に用いない', en: 'the FQDNs obtained are used for nothing else' },
  ],
  source: { ja: '研究会 第二次とりまとめ 第2章第1節', en: 'Study group, 2nd summary, ch. 2 §1' },
});

/** The RPZ primary, the policy zones and the consent registry run while M3 is enabled (run.ts). */
export const measure: MeasureModule = {
  declaration,
  migrations: m3Migrations,
  stateTables: M3_TABLES,
  datasets: M3_DATASETS,
  settings: ccDnsBlockingSettings,
  implementation: { start: startCcDnsBlocking },
  routes: ccDnsBlockingRoutes,
  cli: ccDnsBlockingCli,
};
