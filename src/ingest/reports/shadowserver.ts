/**
 * The Shadowserver daily reports M7 reads, by their published column names
 * (The-Shadowserver-Foundation/report_schema; field names only). A report is
 * CSV with a header whose column order changes from day to day, so it is read
 * by header name; columns the schema does not list are tolerated and counted.
 *
 * Only reports whose address is the device in question are accepted. Some
 * similar-looking reports name somebody else — a DDoS victim whose address was
 * spoofed, a C&C server, a resolver, a web visitor — and alerting that
 * subscriber would accuse the wrong person: they are refused with the reason.
 */
import type { ReportPurpose } from './entry.js';

export interface ShadowserverReportType {
  /** How the report's file names begin after the date, e.g. "event4_sinkhole". */
  type: string;
  purpose: ReportPurpose;
  /** The column holding the device's address, and the one with its port (if any). */
  address: string;
  port?: string;
  /** Columns tried in order for the family (first non-empty wins); `fallback` when all are empty. */
  family: readonly string[];
  fallback: string;
  /** IntelMQ classification type of the report (from the schema; infected-system where it names none). */
  classification: string;
  /** Every column the schema publishes for it (any order). */
  columns: readonly string[];
}

// Columns shared by the event reports (sinkhole, honeypot, darknet), in the schema's order.
const EVENT = [
  'timestamp',
  'protocol',
  'src_ip',
  'src_port',
  'src_asn',
  'src_geo',
  'src_region',
  'src_city',
  'src_hostname',
  'src_naics',
  'src_sector',
  'device_vendor',
  'device_type',
  'device_model',
  'severity',
  'dst_ip',
  'dst_port',
  'dst_asn',
  'dst_geo',
  'dst_region',
  'dst_city',
  'dst_hostname',
  'dst_naics',
  'dst_sector',
  'public_source',
  'infection',
  'family',
  'tag',
  'application',
  'version',
  'event_id',
];
const SSL = ['ssl_cipher', 'ssl_servername'];
const HTTP = ['http_url', 'http_host', 'http_agent', 'forwarded_by', 'ssl_cipher', 'http_referer', 'ssl_servername', 'machine_name'];
const VULN = [
  'vulnerability_enum',
  'vulnerability_id',
  'vulnerability_class',
  'vulnerability_score',
  'vulnerability_severity',
  'vulnerability_version',
];
const THREAT = ['threat_framework', 'threat_tactic_id', 'threat_technique_id'];
const TARGET = ['target_vendor', 'target_product', 'target_class'];
const IOT = [
  'timestamp',
  'severity',
  'ip',
  'protocol',
  'port',
  'hostname',
  'tag',
  'asn',
  'geo',
  'region',
  'city',
  'naics',
  'hostname_source',
  'sector',
  'device_vendor',
  'device_type',
  'device_model',
  'device_version',
  'source_type',
  'category',
  'family',
  'status',
  'detail',
  'public_source',
  'account',
  'server_host_key',
  'malpubkey_sha256',
];
const BLOCKLIST = ['timestamp', 'severity', 'ip', 'hostname', 'source', 'reason', 'asn', 'geo', 'region', 'city', 'naics', 'sector', 'tag'];

const sinkhole = (type: string, extra: readonly string[]): ShadowserverReportType => ({
  type,
  purpose: 'infection',
  address: 'src_ip',
  port: 'src_port',
  family: ['infection', 'family'],
  fallback: 'unknown',
  classification: 'infected-system',
  columns: [...EVENT, ...extra],
});

const honeypot = (type: string, classification: string, fallback: string, extra: readonly string[]): ShadowserverReportType => ({
  type,
  purpose: 'infection',
  address: 'src_ip',
  port: 'src_port',
  // Honeypot rows name the family when the scanning or brute-forcing tool is fingerprinted; otherwise the activity stands in.
  family: ['infection', 'family'],
  fallback,
  classification,
  columns: [...EVENT, ...extra],
});

export const SHADOWSERVER_REPORTS: readonly ShadowserverReportType[] = [
  sinkhole('event4_sinkhole', SSL),
  sinkhole('event6_sinkhole', SSL),
  sinkhole('event4_sinkhole_http', HTTP),
  sinkhole('event6_sinkhole_http', HTTP),
  sinkhole('event4_microsoft_sinkhole', SSL),
  sinkhole('event4_microsoft_sinkhole_http', HTTP),
  ...['compromised_iot', 'compromised_iot6'].map((type): ShadowserverReportType => ({
    type,
    purpose: 'infection',
    address: 'ip',
    port: 'port',
    family: ['family', 'category'],
    fallback: 'unknown',
    classification: 'system-compromise',
    columns: IOT,
  })),
  honeypot('event4_honeypot_brute_force', 'brute-force', 'brute-force', [
    'service',
    'start_time',
    'end_time',
    'client_version',
    'username',
    'password',
    'payload_url',
    'payload_md5',
    ...VULN,
    ...TARGET,
  ]),
  honeypot('event4_honeypot_darknet', 'other', 'darknet-scan', ['count']),
  honeypot('event4_honeypot_adb_scan', 'scanner', 'adb-scan', [
    ...VULN,
    ...THREAT,
    ...TARGET,
    'banner',
    'commands',
    'maxdata',
    'system_type',
    'opened',
  ]),
  honeypot('event4_honeypot_http_scan', 'scanner', 'http-scan', [
    'pattern',
    'http_url',
    'http_agent',
    'http_request_method',
    'url_scheme',
    'session_tags',
    ...VULN,
    ...THREAT,
    ...TARGET,
    'file_md5',
    'file_sha256',
    'request_raw',
    'body_raw',
  ]),
  honeypot('event4_honeypot_ics_scan', 'scanner', 'ics-scan', ['state', 'sensor_id', 'slave_id', 'function_code', 'request', 'response']),
  honeypot('event4_honeypot_ikev2_scan', 'scanner', 'ikev2-scan', [...VULN, ...THREAT, ...TARGET]),
  honeypot('event4_honeypot_rdp_scan', 'scanner', 'rdp-scan', [...VULN, ...THREAT, ...TARGET, 'cookie', 'session_tags']),
  honeypot('event4_honeypot_rocketmq_scan', 'scanner', 'rocketmq-scan', [
    ...VULN,
    ...THREAT,
    ...TARGET,
    'code',
    'flag',
    'language',
    'opaque',
    'serialize_type',
    'body',
    'body_base64',
  ]),
  honeypot('event4_honeypot_smb_scan', 'scanner', 'smb-scan', [
    ...VULN,
    ...THREAT,
    ...TARGET,
    'command',
    'flags',
    'supported_protocols',
    'session_tags',
  ]),
  {
    type: 'blocklist',
    purpose: 'blocklist',
    address: 'ip',
    // The list that names the address (e.g. a DNSBL) is the "family" of a blocklist entry; `reason` is free text and not kept.
    family: ['source'],
    fallback: 'unknown',
    classification: 'blocklist',
    columns: BLOCKLIST,
  },
];

/** Reports with Shadowserver names that M7 refuses, and why: their address is not an infected subscriber device. */
export const SHADOWSERVER_REFUSED: Record<string, { en: string; ja: string }> = {
  event4_honeypot_ddos_amp: {
    en: 'its src_ip is the victim of a reflected DDoS (the address was spoofed), not an infected device',
    ja: 'src_ip は反射型 DDoS の被害者（詐称されたアドレス）であり、感染端末ではありません',
  },
  event4_honeypot_ddos_target: {
    en: 'it lists DDoS targets (dst_ip) and the C&C servers commanding them (src_ip), not infected devices',
    ja: 'DDoS の攻撃対象（dst_ip）と指令を出す C&C サーバ（src_ip）の一覧であり、感染端末ではありません',
  },
  event4_honeypot_ddos: {
    en: 'its src_ip is a C&C server issuing attack commands, not an infected subscriber device',
    ja: 'src_ip は攻撃指令を出す C&C サーバであり、契約者の感染端末ではありません',
  },
  event4_ddos_participant: {
    en: 'its addresses may be spoofed or open reflectors, so they do not show an infection',
    ja: 'アドレスが詐称されているか反射に使われた公開サービスである可能性があり、感染を示しません',
  },
  event4_sinkhole_dns: {
    en: 'its src_ip is usually the DNS resolver that asked for the sinkholed name, not the infected device',
    ja: 'src_ip は通常シンクホールされた名前を問い合わせた DNS リゾルバであり、感染端末ではありません',
  },
  event4_sinkhole_http_referer: {
    en: 'it lists visitors of web pages that link to sinkholed names, not infected devices',
    ja: 'シンクホールされた名前にリンクするウェブページの閲覧者の一覧であり、感染端末ではありません',
  },
  event6_sinkhole_http_referer: {
    en: 'it lists visitors of web pages that link to sinkholed names, not infected devices',
    ja: 'シンクホールされた名前にリンクするウェブページの閲覧者の一覧であり、感染端末ではありません',
  },
};

const SCAN_REFUSAL = {
  en: 'scan reports list exposed or vulnerable services, not infections (they belong to the router survey, M5)',
  ja: 'スキャン報告は公開・脆弱なサービスの一覧であり、感染ではありません（M5 の調査の対象です）',
};

const BY_TYPE = new Map(SHADOWSERVER_REPORTS.map((r) => [r.type, r]));

export function shadowserverReport(type: string): ShadowserverReportType | undefined {
  return BY_TYPE.get(type);
}

/** Why a Shadowserver report type is refused, or undefined if it is accepted or unknown. */
export function refusalOf(type: string): { en: string; ja: string } | undefined {
  if (SHADOWSERVER_REFUSED[type]) return SHADOWSERVER_REFUSED[type];
  if (/^scan6?_/.test(type)) return SCAN_REFUSAL;
  return undefined;
}

/**
 * The report type from a Shadowserver file name such as
 * "2026-11-29-event4_sinkhole-asn-jp.csv": what follows the date, up to the
 * first "-" or "." (report type names have neither).
 */
export function reportTypeFromFileName(name: string): string | undefined {
  const base = name.replace(/^.*[\\/]/, '').replace(/^\d{4}-\d{2}-\d{2}-/, '');
  return /^([a-z0-9_]+)(?=[-.]|$)/.exec(base)?.[1];
}
