/**
 * What the reports-in pipeline hands to M7, and why a row did not become
 * one. An entry is minimised at the edge: the reported address, its port,
 * the time, the family or list name and where it came from — nothing else of
 * the row (no destination, URL, user agent, payload or geolocation) leaves
 * the parser.
 */
import { MamoriError } from '../../core/errors.js';

export type ReportPurpose = 'infection' | 'blocklist';

export interface ReportEntry {
  /** Canonical address text (IPv4 dotted quad, IPv6 per RFC 5952). */
  address: string;
  version: 4 | 6;
  /**
   * The port on that address when the report gives one: the connection's source port for sinkholes and
   * honeypots, the port where the device answered for compromised-device reports. Behind carrier-grade NAT the
   * subscriber is found only with it (RFC 6302).
   */
  port?: number;
  /** When the address was seen, UTC, milliseconds since 1970. */
  timeMs: number;
  /** Malware family, or for a blocklist the list's name; normalised (lower case, at most 64 characters); "unknown" if none. */
  family: string;
  /** What the row says happened, IntelMQ's classification type (e.g. infected-system, brute-force, blocklist). */
  classification: string;
  purpose: ReportPurpose;
  /** The registered source (feed id) the report was imported under. */
  source: string;
  /** Shadowserver report type (event4_sinkhole …), IntelMQ feed name, or "plain". */
  reportType: string;
}

export const DROP_REASONS = [
  'malformed-row',
  'missing-field',
  'bad-address',
  'bad-time',
  'time-without-zone',
  'bad-port',
  'future-time',
  'outside-prefixes',
  'duplicate',
  'unknown-report-type',
  'unknown-source',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** One sentence per reason for the operator (ja/en); docs and the import result show them. */
export const DROP_REASON_TEXT: Record<DropReason, { en: string; ja: string }> = {
  'malformed-row': {
    en:
      'The row could not be read as a record of its format: a CSV row with a different number of fields than the header, a quote ' +
      'never closed, a record over the size limit, or a JSON line that is not an object.',
    ja: '行をその形式のレコードとして読めませんでした（ヘッダと項目数が異なる CSV 行、閉じられていない引用符、サイズ上限を超えるレコード、オブジェクトでない JSON 行など）。',
  },
  'missing-field': {
    en: 'A field the entry needs was empty or absent: the address or the time.',
    ja: '注意喚起に必要な項目（アドレスまたは時刻）が空か、ありませんでした。',
  },
  'bad-address': {
    en: 'The address was not an IPv4 or IPv6 address (zone identifiers and octets with leading zeros are refused).',
    ja: 'アドレスが IPv4 または IPv6 アドレスではありませんでした（ゾーン識別子付きや先頭にゼロのあるオクテットは受け付けません）。',
  },
  'bad-time': {
    en: 'The time was not a date and time (a date alone names no moment a session can be matched at).',
    ja: '時刻が日付と時刻の形式ではありませんでした（日付だけではセッションと照合できる時点になりません）。',
  },
  'time-without-zone': {
    en:
      'The time named no time zone and its source does not document one, so it could be hours off: matching it to a session ' +
      'could name the wrong subscriber.',
    ja: '時刻にタイムゾーンがなく、提供元もそれを定めていないため、数時間ずれている可能性があります。セッションと照合すると別の契約者を特定するおそれがあります。',
  },
  'bad-port': {
    en: 'The port was not a number from 1 to 65535.',
    ja: 'ポート番号が 1 から 65535 の数ではありませんでした。',
  },
  'future-time': {
    en: 'The time was later than the import time plus the allowed clock difference: no session can be matched at it yet.',
    ja: '時刻が取込み時刻と許容する時計のずれを超えて未来でした。その時点のセッションはまだ照合できません。',
  },
  'outside-prefixes': {
    en: "The address is not in the ISP's prefixes: it is not a subscriber's, and nothing more is done with it.",
    ja: 'アドレスが当社のプレフィックスに含まれません。契約者のものではないため、以後何にも用いません。',
  },
  duplicate: {
    en: 'The same address, port, time, family and report type appeared earlier in the same report.',
    ja: '同じアドレス、ポート、時刻、ファミリー、報告種別が同じ報告の中に先に現れていました。',
  },
  'unknown-report-type': {
    en:
      'The row is of a kind its source is not registered to supply for this purpose (e.g. an IntelMQ event classified as a ' +
      'C&C server or a DDoS victim rather than an infected device).',
    ja: 'その提供元がこの目的のために提供するものとして登録されていない種類の行でした（例：感染端末ではなく C&C サーバや DDoS 被害者と分類された IntelMQ のイベント）。',
  },
  'unknown-source': {
    en: 'The row names a source that is not registered for this format.',
    ja: '行が、この形式について登録されていない提供元を示していました。',
  },
};

/** A report the pipeline cannot read at all (wrong format, missing required columns, a report type not accepted): nothing was read. */
export class ReportFormatError extends MamoriError {
  static override readonly code = 'report-format';
  static override readonly status = 422;
}

/** Where a file stopped being readable (the rest could not be parsed as its format), if it did. */
export interface ReportTruncation {
  /** Rows read before the stop (the unreadable record itself is counted as one malformed row). */
  afterRow: number;
  reason: string;
  unreadBytes: number;
}

/** What one report gave: rows = entries + the sum of dropped, always. */
export interface ReportSummary {
  source: string;
  format: 'shadowserver-csv' | 'intelmq-jsonl' | 'plain-csv' | 'plain-json';
  /** Shadowserver report type, when the format has one per file. */
  reportType?: string;
  bytes: number;
  rows: number;
  entries: number;
  dropped: Record<DropReason, number>;
  /** Up to 5 row numbers (1 = the first data row) per reason, for the operator to look at. */
  examples: Partial<Record<DropReason, number[]>>;
  /** Header columns the published schema does not list (tolerated; their values are not read). */
  unknownColumns: string[];
  /** Entries the bounded duplicate memory forgot (a repeat of them later in the report is not caught here). */
  dedupeForgotten: number;
  truncated?: ReportTruncation;
}
