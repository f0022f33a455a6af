/**
 * M2 — sharing detected C&C servers with trusted ISPs and industry bodies
 * (4th summary). Only IP address and port leave: a list detached from any
 * individual communication, hence not secret of communications.
 */
import { defineMeasure } from '../../core/measure.js';
import type { MeasureModule } from '../../core/registry.js';
import { ccSharingCli } from './cli.js';
import { indicatorFeed } from './partners.js';
import { ccSharingRoutes } from './routes.js';
import { startSharing } from './run.js';
import { ccSharingSettings } from './settings.js';
import { SHARE_DATASETS, SHARE_TABLES, shareMigrations } from './tables.js';

export const declaration = defineMeasure({
  id: 'cc-sharing',
  code: 'M2',
  title: { ja: 'C&Cサーバ情報の共有', en: 'Sharing C&C server information' },
  purpose: {
    ja: '他の電気通信事業者等がサイバー攻撃への対処に用いるため、C&Cサーバ候補のIPアドレスとポート番号を共有するため',
    en: 'to share the IP address and port of C&C candidates so that other carriers can defend against cyber attacks',
  },
  description: {
    ja: '検知したC&Cサーバ候補のIPアドレスとポート番号のみを、適切な情報管理を確認した事業者・団体に提供します。個々の通信に関する情報は含みません。',
    en:
      'Only the IP address and port of detected C&C candidates ' +
      'are given to organisations whose information ' +
      ('management we have checked. Nothing about individual ' + 'communications is included.'),
  },
  bases: [
    {
      basis: 'not-secret',
      scope: {
        ja: '個別の通信と切り離されたIPアドレス・ポート番号の一覧',
        en: 'a list of addresses and ports detached from individual communications',
      },
    },
  ],
  dataItems: [
    {
      item: 'cc.candidate',
      retention: '90d',
      use: { ja: '共有する一覧の作成と、古い情報の定期的な失効', en: 'building the shared list and expiring stale entries' },
    },
    {
      item: 'threat.indicator',
      retention: '90d',
      use: {
        ja: '提携先から受け取ったC&Cサーバ情報の保持（出典付き）',
        en: 'keeping C&C indicators received from partners, with their provenance',
      },
    },
  ],
  outputs: ['shared-indicators'],
  identifiesSubscribers: false,
  conditions: [
    { ja: '共有するのはIPアドレスとポート番号のみとする', en: 'only IP address and port are shared' },
    { ja: '適切な情報管理を行う信頼できる提供先に限る', en: 'only to trusted recipients with proper information management' },
    { ja: '提供先はサイバー攻撃への対処にのみ用いる', en: 'recipients use it for cyber defence only' },
    { ja: '古いIPアドレスは定期的に見直し、失効させる', en: 'stale entries are reviewed and expired periodically' },
  ],
  source: { ja: '研究会 第四次とりまとめ', en: 'Study group, 4th summary' },
});

/** The TAXII server, the feeds and the maintenance of the list run while M2 is enabled (run.ts). */
export const measure: MeasureModule = {
  declaration,
  migrations: shareMigrations,
  stateTables: SHARE_TABLES,
  datasets: SHARE_DATASETS,
  settings: ccSharingSettings,
  publishes: { 'indicator-feed': indicatorFeed },
  implementation: { start: startSharing },
  routes: ccSharingRoutes,
  cli: ccSharingCli,
};
