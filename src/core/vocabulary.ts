/**
 * The fixed vocabulary every measure declaration is written in.
 *
 * Nothing outside these lists can be declared, so nothing outside them can be
 * granted, stored or disclosed. Adding a word here is a change to what the ISP
 * may tell subscribers it does: it needs ja/en text, and review.
 */

export type Text = { readonly ja: string; readonly en: string };

/** Legal bases recognised by the MIC study group and the industry guideline (DESIGN.md §1). */
export const LEGAL_BASES = {
  consent: {
    ja: '個別の同意',
    en: 'individual consent',
    short: { ja: '個別の同意', en: 'individual consent' },
  },
  'comprehensive-consent': {
    ja: '契約約款に基づく事前の包括同意（随時設定変更可能）',
    en: 'comprehensive consent in the contract terms, with opt-out at any time',
    short: { ja: '契約約款による包括同意', en: 'comprehensive consent' },
  },
  'legitimate-business': {
    ja: '正当業務行為',
    en: 'legitimate business act',
    short: { ja: '正当業務行為', en: 'legitimate business act' },
  },
  emergency: {
    ja: '正当防衛・緊急避難',
    en: 'self-defence / emergency',
    short: { ja: '正当防衛・緊急避難', en: 'emergency' },
  },
  'not-secret': {
    ja: '通信の秘密に該当しない情報（自ら送信した通信の応答、個別の通信と切り離された一覧等）',
    en: "not secret (replies to the ISP's own probes, lists detached from individual communications)",
    short: { ja: '通信の秘密に該当しない', en: 'not secret' },
  },
} as const satisfies Record<string, Text & { short: Text }>;
export type LegalBasis = keyof typeof LEGAL_BASES;
export const LEGAL_BASIS_IDS = Object.keys(LEGAL_BASES) as LegalBasis[];

/**
 * Data items. `secret: true` marks a constituent element of a communication
 * protected by art. 4 of the Telecommunications Business Act: such an item may
 * only be declared under a basis other than `not-secret`.
 */
export const DATA_ITEMS = {
  'flow.addresses': { secret: true, ja: 'フロー記録の送信元・宛先IPアドレス', en: 'source and destination IP addresses in flow records' },
  'flow.ports': { secret: true, ja: 'フロー記録の送信元・宛先ポート番号', en: 'source and destination ports in flow records' },
  'flow.protocol': { secret: true, ja: 'フロー記録のプロトコル番号', en: 'transport protocol in flow records' },
  'flow.times': { secret: true, ja: 'ルータが記録したフローの開始・終了時刻', en: 'flow start and end times recorded by routers' },
  'flow.counters': { secret: true, ja: 'フローのバイト数・パケット数・TCPフラグ', en: 'byte and packet counts and TCP flags of flows' },
  'flow.exporter': {
    secret: false,
    ja: 'フローを送出したルータとサンプリング率',
    en: 'the router that exported a flow and its sampling rate',
  },
  'cc.candidate': {
    secret: false,
    ja: 'C&Cサーバ候補のIPアドレスとポート番号（個別の通信と切り離した一覧）',
    en: 'IP address and port of C&C candidates (a list detached from individual communications)',
  },
  'threat.indicator': {
    secret: false,
    ja: '公開・提供されたC&Cサーバ等の評判情報（IPアドレス・ポート番号・有効期間）',
    en: 'published or supplied reputation data on C&C servers (IP address, port, validity)',
  },
  'dns.qname': { secret: true, ja: 'DNS問合せのFQDN', en: 'the FQDN of DNS queries' },
  'dns.qtype': { secret: true, ja: 'DNS問合せのタイプ', en: 'the type of DNS queries' },
  'dns.response': { secret: true, ja: 'DNS応答コードと応答サイズ', en: 'DNS response code and response size' },
  'dns.times': { secret: true, ja: 'DNS問合せの時刻', en: 'the time of DNS queries' },
  'aaa.account-id': { secret: true, ja: '認証ID（PPPoEのユーザ名）', en: 'authentication ID (PPPoE user name)' },
  'aaa.assigned-address': {
    secret: true,
    ja: '利用者に割り当てたIPアドレス・プレフィックス',
    en: 'IP addresses and prefixes assigned to subscribers',
  },
  'aaa.times': { secret: true, ja: '認証・アカウンティングの時刻', en: 'authentication and accounting timestamps' },
  'aaa.nas': { secret: false, ja: '接続を収容した装置（NAS）の識別子', en: 'identity of the access server (NAS) that carried the session' },
  'probe.reply': {
    secret: false,
    ja: 'ISP自らが送信した調査に対する応答（送信元IPアドレス・時刻）',
    en: 'replies to probes the ISP itself sent (source IP address, time)',
  },
  'report.host': {
    secret: true,
    ja: '第三者から提供された感染端末のIPアドレス・時刻・ポート番号',
    en: 'IP address, time and port of infected hosts reported by third parties',
  },
  'attack.headers': {
    secret: true,
    ja: '攻撃通信のヘッダ情報（IPアドレス・ポート番号・プロトコル）',
    en: 'header fields of attack traffic (addresses, ports, protocol)',
  },
  'subscriber.id': { secret: true, ja: '契約者識別子', en: 'subscriber identifier' },
  'subscriber.contact': { secret: false, ja: '契約者の連絡先（メールアドレス等）', en: 'subscriber contact details (e-mail address etc.)' },
} as const satisfies Record<string, Text & { secret: boolean }>;
export type DataItem = keyof typeof DATA_ITEMS;
export const DATA_ITEM_IDS = Object.keys(DATA_ITEMS) as DataItem[];

/**
 * Reasons to keep data past its plain retention. A declaration states them per data item
 * (`keptWhile`), the disclosures print them beside the retention, and the retention job applies
 * them (a dataset names the rows each one covers); nothing else keeps a row longer. `maxDays`
 * bounds a hold that nothing else ends: past it (counted on the dataset's time column) rows go
 * whatever the condition. A subscriber's choice has no such bound: it stays until they change it.
 */
export const HOLDS = {
  'choice-in-force': {
    ja: '利用者による設定変更（オプトアウト）が有効な間は、その間も保持します（利用者が設定を戻すまで）',
    en: "kept for as long as the subscriber's choice (opt-out) is in force, until they change it",
    maxDays: undefined,
  },
  'action-in-force': {
    ja: '一時停止・遮断が続いている間は、その間も保持します（宣言した最長期間まで）',
    en: 'kept while the suspension or block is in force (never beyond its declared maximum)',
    maxDays: 400,
  },
  'case-open': {
    ja: '対応案件が終了するまでは保持します（最後の対応から最長400日）',
    en: 'kept until the case is closed (at most 400 days after its last activity)',
    maxDays: 400,
  },
} as const satisfies Record<string, Text & { maxDays: number | undefined }>;
export type Hold = keyof typeof HOLDS;
export const HOLD_IDS = Object.keys(HOLDS) as Hold[];

/** What a measure may produce. Each output needs a capability from the core. */
export const OUTPUTS = {
  'cc-candidates': { ja: 'C&Cサーバ候補の一覧', en: 'a list of C&C server candidates' },
  'shared-indicators': { ja: '信頼できる他事業者への共有', en: 'indicators shared with trusted recipients' },
  'rpz-rules': { ja: 'DNSリゾルバでの名前解決の遮断ルール', en: "resolution-blocking rules for the ISP's resolvers" },
  cases: { ja: '対応案件', en: 'cases for the abuse desk' },
  'subscriber-notices': { ja: '契約者への個別の通知', en: 'individual notices to subscribers' },
  disconnects: { ja: '接続の切断', en: 'disconnection of sessions' },
  'auth-suspensions': { ja: '認証の一時停止', en: 'temporary suspension of authentication' },
  'traffic-blocks': { ja: '攻撃通信の一時的な遮断', en: 'temporary blocking of attack traffic' },
  'walled-garden': {
    ja: '利用者の名前解決への注意喚起画面による一時的な応答（ウォールドガーデン）',
    en: "temporarily answering a subscriber's name resolution with a notice page (walled garden)",
  },
} as const satisfies Record<string, Text>;
export type Output = keyof typeof OUTPUTS;
export const OUTPUT_IDS = Object.keys(OUTPUTS) as Output[];

export function isDataItem(value: string): value is DataItem {
  return Object.hasOwn(DATA_ITEMS, value);
}
