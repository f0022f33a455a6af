/**
 * M1 — C&C server detection from router flow records (4th summary).
 * Legitimate business act: minimum header fields, mechanical analysis, used for
 * C&C detection only; flows of legitimate communications deleted after analysis.
 */
import { defineMeasure } from '../../core/measure.js';
import type { MeasureModule } from '../../core/registry.js';
import { candidateFeed } from './candidates.js';
import { ccDetectionCli } from './cli.js';
import { ccDetectionRoutes } from './routes.js';
import { readiness, startDetection } from './run.js';
import { ccDetectionSettings } from './settings.js';
import { CC_DETECTION_DATASETS, CC_DETECTION_MIGRATIONS, CC_DETECTION_TABLES } from './tables.js';

export const declaration = defineMeasure({
  id: 'cc-detection',
  code: 'M1',
  title: { ja: 'フロー情報によるC&Cサーバの検知', en: 'C&C server detection from flow records' },
  purpose: {
    ja: 'ボットネットのC&Cサーバである蓋然性が高い機器を検知し、その通信先を特定するため',
    en: 'to detect devices that are likely botnet command-and-control (C&C) servers',
  },
  description: {
    ja: 'ルータが出力するフロー情報（IPアドレス、ポート番号、プロトコル、時刻、通信量）を機械的に分析し、多数の端末が周期的に通信する等、C&Cサーバに特有の傾向を示す通信先を抽出します。契約者の特定には用いません。',
    en:
      'Flow records exported by our routers (addresses, ports, ' +
      'protocol, times, volumes) are analysed ' +
      ('mechanically to find destinations that behave like ' + 'C&C servers, such as many devices contacting ') +
      ('them periodically. They are never used to identify ' + 'subscribers.'),
  },
  bases: [
    {
      basis: 'legitimate-business',
      scope: {
        ja: '平時における必要最小限のフロー情報の収集・分析',
        en: 'collecting and analysing the minimum flow fields in normal times',
      },
    },
  ],
  dataItems: [
    { item: 'flow.addresses', retention: '7d', use: { ja: '通信先ごとの特徴量の算出', en: 'computing per-destination features' } },
    { item: 'flow.ports', retention: '7d', use: { ja: '通信先ごとの特徴量の算出', en: 'computing per-destination features' } },
    { item: 'flow.protocol', retention: '7d', use: { ja: '通信先ごとの特徴量の算出', en: 'computing per-destination features' } },
    { item: 'flow.times', retention: '7d', use: { ja: '通信の周期性の分析', en: 'analysing the periodicity of contacts' } },
    { item: 'flow.counters', retention: '7d', use: { ja: '通信量の規則性の分析', en: 'analysing the regularity of volumes' } },
    {
      item: 'flow.exporter',
      retention: '30d',
      use: { ja: 'サンプリング率の補正と収集状況の監視', en: 'correcting for sampling and monitoring collection' },
    },
    { item: 'cc.candidate', retention: '90d', use: { ja: 'C&Cサーバ候補の一覧の維持', en: 'keeping the list of C&C candidates' } },
    {
      item: 'threat.indicator',
      retention: '180d',
      use: { ja: '検知モデルの学習と評価のための教師データ', en: 'labels for training and evaluating the detection model' },
    },
  ],
  outputs: ['cc-candidates'],
  identifiesSubscribers: false,
  conditions: [
    { ja: '収集する情報は必要最小限（ヘッダ情報）に限る', en: 'only the minimum header fields are collected' },
    {
      ja: 'C&Cサーバの検知以外の目的に用いない（感染者の特定にも用いない）',
      en: 'used for nothing but C&C detection (not even to find infected subscribers)',
    },
    { ja: '正当な通信に係るフロー情報は分析後に削除する', en: 'flows of legitimate communications are deleted after analysis' },
    { ja: '保存期間を限定し、利用者に分かりやすく周知する', en: 'bounded retention, explained to subscribers in plain words' },
  ],
  source: { ja: '研究会 第四次とりまとめ', en: 'Study group, 4th summary' },
});

/**
 * The inlet (src/ingest/flow) runs while M1 runs; the detection job
 * (run.ts) scores the rolling window every hour with the latest model.
 */
export const measure: MeasureModule = {
  declaration,
  migrations: CC_DETECTION_MIGRATIONS,
  stateTables: CC_DETECTION_TABLES,
  datasets: CC_DETECTION_DATASETS,
  settings: ccDetectionSettings,
  readiness,
  publishes: { 'candidate-feed': candidateFeed },
  implementation: { start: startDetection },
  routes: ccDetectionRoutes,
  cli: ccDetectionCli,
};
