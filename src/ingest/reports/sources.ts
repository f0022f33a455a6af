/**
 * The sources of third-party reports M7 may read, as plain data the measure
 * declares: who supplies each feed, what one of its entries means, which
 * parser reads it and for which declared purpose (an infection alert, or the
 * guideline's blocklist-based alert). A report is always imported under one
 * registered source; rows of a kind the source is not registered for are
 * counted, not used.
 */
import type { ReportPurpose } from './entry.js';
import { SHADOWSERVER_REPORTS } from './shadowserver.js';

export type ReportParser = 'shadowserver-csv' | 'intelmq-jsonl' | 'plain';

export interface ReportSource {
  /** Feed id: lower case letters, digits and "-". */
  id: string;
  parser: ReportParser;
  purpose: ReportPurpose;
  supplier: { ja: string; en: string };
  /** What one entry means, for the operator and the notice ("seen by …"). */
  meaning: { ja: string; en: string };
  /**
   * What the source may supply: Shadowserver report types, IntelMQ classification types, or for plain lists
   * the classification given to every row.
   */
  accepts: readonly string[];
  /** The supplier documents that times without a zone are UTC (Shadowserver: "in UTC+0"). */
  naiveTimesAreUtc: boolean;
}

/** IntelMQ classification types whose source.ip is the infected or attacking device (IntelMQ's event documentation). */
export const INTELMQ_INFECTION_TYPES = ['infected-system', 'system-compromise', 'malware', 'dga-domain', 'brute-force', 'scanner', 'spam'];

export const REPORT_SOURCES: readonly ReportSource[] = [
  {
    id: 'shadowserver',
    parser: 'shadowserver-csv',
    purpose: 'infection',
    supplier: {
      ja: 'Shadowserver Foundation（無償の日次ネットワーク報告）',
      en: 'The Shadowserver Foundation (free daily network reports)',
    },
    meaning: {
      ja: 'この時刻にこのアドレス（とポート）の機器が、シンクホール化された C&C サーバへ接続したか、ハニーポット・ダークネットで攻撃・探索を観測されたか、侵害された機器として観測されました。',
      en:
        'At this time the device at this address (and port) connected to a sinkholed C&C server, was seen attacking or scanning ' +
        'honeypots or a darknet, or was seen as a compromised device.',
    },
    accepts: SHADOWSERVER_REPORTS.filter((r) => r.purpose === 'infection').map((r) => r.type),
    naiveTimesAreUtc: true,
  },
  {
    id: 'shadowserver-blocklist',
    parser: 'shadowserver-csv',
    purpose: 'blocklist',
    supplier: { ja: 'Shadowserver Foundation（ブロックリスト報告）', en: 'The Shadowserver Foundation (blocklist report)' },
    meaning: {
      ja: 'この時刻にこのアドレスが、迷惑メール等の送信元として公開ブロックリストに掲載されていました。',
      en: 'At this time this address was listed by a public blocklist, e.g. as a source of spam.',
    },
    accepts: SHADOWSERVER_REPORTS.filter((r) => r.purpose === 'blocklist').map((r) => r.type),
    naiveTimesAreUtc: true,
  },
  {
    id: 'intelmq',
    parser: 'intelmq-jsonl',
    purpose: 'infection',
    supplier: {
      ja: 'IntelMQ を運用する CSIRT（events を JSON Lines で出力）',
      en: 'A CSIRT running IntelMQ (events written as JSON lines)',
    },
    meaning: {
      ja: 'この時刻にこのアドレス（とポート）の機器が、感染端末・侵害された機器、または攻撃・探索の送信元として観測されました（feed.name が元の観測者）。',
      en:
        'At this time the device at this address (and port) was seen as infected or compromised, or as the source of attacks ' +
        'or scans (feed.name names the original observer).',
    },
    accepts: INTELMQ_INFECTION_TYPES,
    naiveTimesAreUtc: false,
  },
  {
    id: 'intelmq-blocklist',
    parser: 'intelmq-jsonl',
    purpose: 'blocklist',
    supplier: { ja: 'IntelMQ を運用する CSIRT（ブロックリストのイベント）', en: 'A CSIRT running IntelMQ (blocklist events)' },
    meaning: {
      ja: 'この時刻にこのアドレスがブロックリストに掲載されていました。',
      en: 'At this time this address was on a blocklist.',
    },
    // IntelMQ's documentation says blacklist; Shadowserver's schema (and newer IntelMQ) blocklist.
    accepts: ['blocklist', 'blacklist', 'spam'],
    naiveTimesAreUtc: false,
  },
  {
    id: 'operator-list',
    parser: 'plain',
    purpose: 'infection',
    supplier: {
      ja: '当社が受け取った感染端末の一覧（CERT・他事業者等から；address, port, time, family, source の CSV または JSON）',
      en: 'Lists of infected hosts the ISP received (from CERTs, other operators…), as CSV or JSON of address, port, time, family, source',
    },
    meaning: {
      ja: 'この時刻にこのアドレス（とポート）の機器が、提供元によりマルウェア感染端末として観測されました。',
      en: 'At this time the device at this address (and port) was seen by the supplier as infected with malware.',
    },
    accepts: ['infected-system'],
    naiveTimesAreUtc: false,
  },
  {
    id: 'dnsbl-export',
    parser: 'plain',
    purpose: 'blocklist',
    supplier: {
      ja: 'DNSBL 運営者のエクスポート（address, time, family=リスト名, source の CSV または JSON）',
      en: "A DNSBL operator's export (CSV or JSON of address, time, family = list name, source)",
    },
    meaning: {
      ja: 'この時刻にこのアドレスが、迷惑メールの送信元として DNSBL に掲載されていました。',
      en: 'At this time this address was listed by the DNSBL as a source of spam.',
    },
    accepts: ['blocklist'],
    naiveTimesAreUtc: false,
  },
];

/** Checks a registry (the built-in one plus the operator's): unique ids, a known parser, something accepted. */
export function checkSources(sources: readonly ReportSource[]): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  for (const s of sources) {
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(s.id)) problems.push(`source id "${s.id}" must be lower-case letters, digits and "-"`);
    if (ids.has(s.id)) problems.push(`source id "${s.id}" is registered twice`);
    ids.add(s.id);
    if (!['shadowserver-csv', 'intelmq-jsonl', 'plain'].includes(s.parser)) problems.push(`source "${s.id}": unknown parser "${s.parser}"`);
    if (s.purpose !== 'infection' && s.purpose !== 'blocklist') problems.push(`source "${s.id}": purpose must be infection or blocklist`);
    if (s.accepts.length === 0) problems.push(`source "${s.id}" accepts nothing`);
    if (s.parser === 'plain' && s.accepts.length !== 1)
      problems.push(`source "${s.id}": a plain list gives one classification to every row`);
    if (!s.supplier.ja || !s.supplier.en || !s.meaning.ja || !s.meaning.en) problems.push(`source "${s.id}" needs ja and en texts`);
    if (s.parser === 'shadowserver-csv') {
      for (const t of s.accepts) {
        const report = SHADOWSERVER_REPORTS.find((r) => r.type === t);
        if (!report) problems.push(`source "${s.id}": "${t}" is not a Shadowserver report type M7 reads`);
        else if (report.purpose !== s.purpose)
          problems.push(`source "${s.id}" (${s.purpose}) cannot take "${t}", a ${report.purpose} report`);
      }
    }
  }
  return problems;
}
