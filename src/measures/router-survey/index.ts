/**
 * M5 — surveying vulnerable broadband routers and alerting their users
 * (2nd summary §3). Replies to the ISP's own probes are not secret; finding
 * the subscriber behind an address is a legitimate business act. Credentials
 * are never entered or guessed: that would be unauthorised access.
 */
import { defineMeasure } from '../../core/measure.js';
import type { MeasureModule } from '../../core/registry.js';

export const declaration = defineMeasure({
  id: 'router-survey',
  code: 'M5',
  title: {
    ja: '脆弱性を有するブロードバンドルータの調査と利用者への注意喚起',
    en: 'Surveying vulnerable home routers and alerting their users',
  },
  purpose: {
    ja: '攻撃に悪用されるおそれのある設定のルータを利用する契約者に、設定の見直しを呼びかけるため',
    en: 'to ask subscribers whose routers are open to abuse to fix their settings',
  },
  description: {
    ja: '当社から契約者の機器にDNS問合せ・HTTP要求を送り、オープンリゾルバや管理画面の外部公開の有無を調べます。ID・パスワードの入力や推測は一切行いません。該当する機器の契約者を割当て記録から特定し、個別にご連絡します。',
    en:
      "We send DNS queries and HTTP requests to subscribers' devices to find open resolvers and admin " +
      'pages exposed to the Internet. We never enter or guess any ID or password. The subscriber ' +
      'behind such a device is found from our assignment records and contacted individually.',
  },
  bases: [
    { basis: 'not-secret', scope: { ja: '当社が送信した調査への応答', en: 'replies to probes we sent ourselves' } },
    {
      basis: 'legitimate-business',
      scope: { ja: 'IPアドレスと時刻からの契約者の特定', en: 'identifying the subscriber from address and time' },
    },
  ],
  dataItems: [
    { item: 'probe.reply', retention: '30d', use: { ja: '脆弱な機器の判定', en: 'judging which devices are vulnerable' } },
    {
      item: 'aaa.assigned-address',
      retention: '30d',
      use: { ja: '応答したIPアドレスからの契約者の特定', en: 'identifying the subscriber behind a replying address' },
    },
    {
      item: 'aaa.times',
      retention: '30d',
      use: { ja: '応答時刻における割当ての照合', en: 'matching the assignment at the time of the reply' },
    },
    { item: 'subscriber.id', retention: '180d', use: { ja: '注意喚起の管理', en: 'managing the alert' }, keptWhile: ['case-open'] },
    { item: 'subscriber.contact', retention: '180d', use: { ja: '注意喚起の送付', en: 'sending the alert' }, keptWhile: ['case-open'] },
  ],
  outputs: ['cases', 'subscriber-notices'],
  identifiesSubscribers: true,
  conditions: [
    {
      ja: 'ID・パスワードを入力・推測しない（不正アクセスとなるため）',
      en: 'never enter or guess credentials (that would be unauthorised access)',
    },
    { ja: 'CGNAT配下ではポート番号も用いて契約者を特定する', en: 'behind CGNAT the port is used too to identify the subscriber' },
    { ja: '調査結果を注意喚起以外の目的に用いない', en: 'results are used for nothing but the alert' },
  ],
  source: { ja: '研究会 第二次とりまとめ 第2章第3節', en: 'Study group, 2nd summary, ch. 2 §3' },
});

/** The probes and alerts have not landed yet: declared, "not available". */
export const measure: MeasureModule = { declaration };
