/**
 * M4 — stopping misuse of stolen PPPoE credentials (2nd summary §2).
 * Legitimate business act, started only when the authentication server sees
 * an anomaly; suspension lasts only until the risk is gone.
 */
import { defineMeasure } from '../../core/measure.js';
import type { MeasureModule } from '../../core/registry.js';
import { startCredentialMisuse } from './run.js';
import { credentialMisuseCli } from './cli.js';
import { credentialMisuseRoutes } from './routes.js';
import { credentialMisuseSettings } from './settings.js';
import { M4_DATASETS, M4_TABLES, m4Migrations } from './tables.js';

export const declaration = defineMeasure({
  id: 'credential-misuse',
  code: 'M4',
  title: { ja: '他人のID・パスワードを悪用した不正利用への対処', en: 'Stopping misuse of stolen PPPoE credentials' },
  purpose: {
    ja: '不正に利用されている認証IDの接続を切断・一時停止し、正規の利用者にパスワードの変更を依頼するため',
    en:
      'to disconnect and temporarily suspend an authentication ' +
      'ID that is being misused, and ask ' +
      'the real subscriber to change the password',
  },
  description: {
    ja: '認証サーバで短時間の大量認証等の異常を検知した場合に限り、認証ログ（認証ID、割り当てたIPアドレス、時刻）を分析し、不正利用の蓋然性が高いIDの接続を切断し、パスワードが変更されるまで認証を一時停止し、利用者にご連絡します。',
    en:
      'Only when our authentication servers see an anomaly ' +
      'such as a burst of logins, the authentication ' +
      ('log (ID, assigned address, times) is analysed; an ' + 'ID that is very likely misused is disconnected, ') +
      ('its authentication is suspended until the password ' + 'is changed, and the subscriber is contacted.'),
  },
  bases: [
    {
      basis: 'legitimate-business',
      scope: {
        ja: '認証サーバで異常を検知した際の認証ログの分析と対処',
        en: 'analysing authentication logs and acting when the authentication server sees an anomaly',
      },
    },
  ],
  dataItems: [
    {
      item: 'aaa.account-id',
      retention: '90d',
      use: { ja: '不正利用の蓋然性の判定と一時停止', en: 'judging likely misuse and suspending the ID' },
      keptWhile: ['action-in-force'],
    },
    {
      item: 'aaa.assigned-address',
      retention: '90d',
      use: { ja: '割当てIPアドレスの地域の急な移動の検知', en: 'detecting assigned addresses jumping between regions' },
    },
    {
      item: 'aaa.times',
      retention: '90d',
      use: { ja: '短時間の大量認証の検知', en: 'detecting bursts of authentication' },
      keptWhile: ['action-in-force'],
    },
    { item: 'aaa.nas', retention: '90d', use: { ja: '切断要求の送信先の特定', en: 'finding where to send the disconnect request' } },
    { item: 'subscriber.id', retention: '180d', use: { ja: '対応案件の管理', en: 'managing the case' }, keptWhile: ['case-open'] },
    {
      item: 'subscriber.contact',
      retention: '180d',
      use: { ja: 'パスワード変更の依頼', en: 'asking for a password change' },
      keptWhile: ['case-open'],
    },
  ],
  outputs: ['cases', 'disconnects', 'auth-suspensions', 'subscriber-notices'],
  identifiesSubscribers: true,
  maxActionDuration: '30d',
  conditions: [
    { ja: '認証サーバで異常を検知した場合に限り分析する', en: 'analysis starts only when the authentication server sees an anomaly' },
    {
      ja: '認証の一時停止はパスワード変更等で危険がなくなるまでに限る',
      en: 'suspension lasts only until the risk is gone (password changed)',
    },
    { ja: '取得した情報を本対策以外の目的に用いない', en: 'the data is used for nothing else' },
  ],
  source: { ja: '研究会 第二次とりまとめ 第2章第2節', en: 'Study group, 2nd summary, ch. 2 §2' },
});

/** Trigger, detectors, RFC 5176 disconnects, suspensions and notices run while M4 is enabled (run.ts). */
export const measure: MeasureModule = {
  declaration,
  migrations: m4Migrations,
  stateTables: M4_TABLES,
  datasets: M4_DATASETS,
  settings: credentialMisuseSettings,
  implementation: { start: startCredentialMisuse },
  routes: credentialMisuseRoutes,
  cli: credentialMisuseCli,
};
