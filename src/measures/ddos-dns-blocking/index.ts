/**
 * M6 — blocking DNS names used in water-torture and amplification attacks
 * (2nd summary §4). Legitimate business act to keep the resolvers running;
 * the block list is vetted against legitimate domains and by a person so that
 * normal use is never blocked. Never identifies subscribers.
 */
import { defineMeasure } from '../../core/measure.js';
import type { MeasureModule } from '../../core/registry.js';
import { startDdosDnsBlocking } from './run.js';
import { ddosDnsBlockingCli } from './cli.js';
import { ddosDnsBlockingRoutes } from './routes.js';
import { ddosDnsBlockingSettings } from './settings.js';
import { M6_DATASETS, M6_TABLES, m6Migrations } from './tables.js';

export const declaration = defineMeasure({
  id: 'ddos-dns-blocking',
  code: 'M6',
  title: { ja: 'DNSを悪用したDDoS攻撃に用いられる問合せの遮断', en: 'Blocking DNS queries used in DNS-based DDoS attacks' },
  purpose: {
    ja: 'DNS水責め攻撃・DNSアンプ攻撃からDNSサーバと電気通信役務の提供を守るため',
    en: 'to protect the DNS resolvers and the service from DNS water-torture and amplification attacks',
  },
  description: {
    ja: '当社のDNSサーバへの全ての問合せのFQDNを機械的に確認し、攻撃に用いられている名前（ランダムなサブドメイン、増幅に悪用される名前）への問合せを遮断します。正当な名前が遮断されないよう、ホワイトリストと担当者の確認を経た一覧のみを用います。',
    en:
      'The FQDN of every query to our resolvers is checked ' +
      'mechanically, and queries for names used ' +
      ('in attacks (random subdomains, names abused for amplification) ' + 'are refused. Only lists checked ') +
      ('against legitimate domains and reviewed by staff are ' + 'used, so normal use is not blocked.'),
  },
  bases: [
    {
      basis: 'legitimate-business',
      scope: {
        ja: 'DNSサーバの安定運用のための問合せFQDNの機械的な確認',
        en: 'mechanical checking of queried FQDNs to keep the resolvers running',
      },
    },
  ],
  dataItems: [
    {
      item: 'dns.qname',
      retention: '7d',
      use: { ja: '攻撃に用いられる名前の検知と平常時の基準の作成', en: 'detecting attack names and building the normal baseline' },
    },
    { item: 'dns.qtype', retention: '7d', use: { ja: '増幅攻撃の検知', en: 'detecting amplification' } },
    {
      item: 'dns.response',
      retention: '7d',
      use: { ja: '応答不能（NXDOMAIN・SERVFAIL）と応答サイズの分析', en: 'analysing failures (NXDOMAIN, SERVFAIL) and answer sizes' },
    },
    { item: 'dns.times', retention: '7d', use: { ja: '問合せ頻度の分析', en: 'analysing query rates' } },
  ],
  outputs: ['rpz-rules'],
  identifiesSubscribers: false,
  maxActionDuration: '7d',
  conditions: [
    {
      ja: '正当な名前のホワイトリストと人による確認を経た一覧のみで遮断する',
      en: 'block only with a list vetted against a whitelist and by human review',
    },
    { ja: '攻撃が止んだら遮断を解除する', en: 'rules are lifted when the attack stops' },
    { ja: '取得したFQDNを本対策以外の目的に用いない', en: 'the FQDNs are used for nothing else' },
  ],
  source: { ja: '研究会 第二次とりまとめ 第2章第4節', en: 'Study group, 2nd summary, ch. 2 §4' },
});

/**
 * dnstap in, detectors, review and RPZ rules out, while M6 is enabled (run.ts):
 * the attacked zone from a tree of name suffixes (random-subdomain.ts), the
 * rules that mean the same on Unbound and BIND (rules.ts), amplification by
 * factor (amplification.ts), baselines kept across restarts (tables.ts). The
 * evaluation through both resolvers: bench/m6-eval.ts and BENCHMARKS.md.
 */
export const measure: MeasureModule = {
  declaration,
  migrations: m6Migrations,
  stateTables: M6_TABLES,
  datasets: M6_DATASETS,
  settings: ddosDnsBlockingSettings,
  implementation: { start: startDdosDnsBlocking },
  routes: ddosDnsBlockingRoutes,
  cli: ddosDnsBlockingCli,
};
