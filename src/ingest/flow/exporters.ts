/**
 * What the collector knows of each exporter (router): its templates, sampling
 * rates, sequence numbers and counts of records, errors and estimated loss.
 * Everything here is bounded: exporters, templates per exporter, held data.
 */
import type { Template } from './templates.js';

export const DROP_REASONS = [
  'truncated', 'bad-version', 'bad-length', 'bad-template', 'too-many-templates', 'no-template',
  'bad-sample', 'unknown-exporter', 'too-many-exporters', 'too-many-domains', 'storage-backlog', 'staging-failed', 'decoder-error',
  // Framing and records (issue 14).
  'trailing-bytes', 'count-mismatch', 'template-mismatch', 'zero-addresses', 'sample-without-packet',
  // Packets carried as bytes (sFlow raw headers, IPFIX/v9 packet sections) in which no IP header could be reached.
  'frame-truncated', 'frame-not-ip', 'frame-malformed', 'frame-link-type',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/**
 * What each reason means, one sentence for the operator (docs and API are
 * generated from this). "Counted" is per exporter, except for the reasons
 * that concern an exporter the collector does not keep (unknown-exporter,
 * too-many-exporters).
 */
export const DROP_REASON_TEXT: Record<DropReason, { en: string; ja: string }> = {
  'truncated': {
    en: 'A datagram, set, record or sample ended before the length it declared (cut in transit, or a lying length): what did ' +
      'not fit was not read.',
    ja: 'データグラム、セット、レコードまたは標本が、宣言された長さより前に終わっていました（転送中の切断か偽りの長さ）。収まらない部分は読んでいません。',
  },
  'bad-version': {
    en: 'The datagram was not NetFlow v5, NetFlow v9, IPFIX or sFlow v5.',
    ja: 'データグラムが NetFlow v5、NetFlow v9、IPFIX、sFlow v5 のいずれでもありませんでした。',
  },
  'bad-length': {
    en: 'A length field was impossible (an IPFIX message length outside the datagram, a set shorter than its own header, a ' +
      'NetFlow v5 count of 0 or above 30).',
    ja: '長さの欄があり得ない値でした（データグラムに収まらない IPFIX メッセージ長、自身のヘッダより短いセット、0 または 30 を超える NetFlow v5 のレコード数など）。',
  },
  'bad-template': {
    en: 'A template could not be used (reserved id, no fields or more than 512, a variable length in NetFlow v9, a wrong scope ' +
      'count), and the rest of its set was skipped.',
    ja: 'テンプレートが使えませんでした（予約済み ID、項目数 0 または 512 超、NetFlow v9 での可変長、スコープ数の誤りなど）。そのセットの残りは読み飛ばしました。',
  },
  'too-many-templates': {
    en: 'The exporter already had as many templates as allowed (2,048), so a new one was refused.',
    ja: 'ルータのテンプレート数が上限（2,048）に達していたため、新しいテンプレートを拒否しました。',
  },
  'no-template': {
    en: 'A data set arrived for a template the collector did not have, and its template did not come within the hold time ' +
      '(10 s) or the hold space was full.',
    ja: 'テンプレートが未着のデータセットが届き、保留時間（10 秒）内にテンプレートが届かないか、保留領域が満杯でした。',
  },
  'bad-sample': {
    en: 'An sFlow datagram or sample was unusable (unknown agent address type, or more samples or records than allowed).',
    ja: 'sFlow のデータグラムまたは標本が使えませんでした（未知のエージェントアドレス種別、または上限を超える標本数・レコード数）。',
  },
  'unknown-exporter': {
    en: 'A datagram came from an address that is not in the list of allowed exporters.',
    ja: '許可されたルータの一覧にないアドレスからデータグラムが届きました。',
  },
  'too-many-exporters': {
    en: 'A datagram came from a new exporter while the collector already tracked as many exporters as allowed (10,000).',
    ja: '収集部が追跡するルータ数が上限（10,000）に達している状態で、新しいルータからデータグラムが届きました。',
  },
  'too-many-domains': {
    en: 'A datagram named an observation domain, source id or sFlow sub-agent beyond the number the exporter may have at once.',
    ja: 'ルータが同時に持てる数を超える観測ドメイン、ソース ID または sFlow サブエージェントを名乗るデータグラムでした。',
  },
  'storage-backlog': {
    en: 'Records were decoded but dropped because storage was behind and the bounded queue in front of it was full.',
    ja: 'レコードは復号しましたが、保存が追いつかず前段の上限付き待ち行列が満杯だったため破棄しました。',
  },
  'staging-failed': {
    en: 'Records were decoded but dropped because the staging file on their way to storage could not be written.',
    ja: 'レコードは復号しましたが、保存前の一時ファイルに書き込めなかったため破棄しました。',
  },
  'decoder-error': {
    en: 'A decoder failed on this datagram (a bug: it should always stay at zero, please report it).',
    ja: 'このデータグラムで復号器が失敗しました（不具合です。常に 0 のはずなので報告してください）。',
  },
  'trailing-bytes': {
    en: 'Bytes were left after the last set or sample (or after the IPFIX message length) that no header described: part of the ' +
      'datagram may be missing.',
    ja: '最後のセットまたは標本の後（または IPFIX メッセージ長の後）に、どのヘッダにも記述されていないバイトが残っていました。データグラムの一部が欠けている可能性があります。',
  },
  'count-mismatch': {
    en: 'A NetFlow v9 datagram held fewer records than its header counts: sets were cut off or lost on the way.',
    ja: 'NetFlow v9 のデータグラムに、ヘッダの件数より少ないレコードしかありませんでした。セットが途中で切れたか失われています。',
  },
  'template-mismatch': {
    en: 'A data set was not a whole number of records of its template (beyond the zero padding allowed): the template held does ' +
      'not describe the exporter\'s data.',
    ja: 'データセットの長さがテンプレートのレコードの整数倍ではありませんでした（許される 0 の詰め物を除く）。保持しているテンプレートがルータのデータと合っていません。',
  },
  'zero-addresses': {
    en: 'A record\'s source and destination addresses were all zero (and it carried no packet to read them from), so it names ' +
      'no communication.',
    ja: 'レコードの送信元・宛先アドレスがすべて 0 で（読み取れるパケットも含まず）、どの通信も示していませんでした。',
  },
  'sample-without-packet': {
    en: 'An sFlow flow sample carried neither a raw packet header nor a sampled IPv4/IPv6 record.',
    ja: 'sFlow のフロー標本に、生パケットヘッダもサンプル IPv4／IPv6 レコードも含まれていませんでした。',
  },
  'frame-truncated': {
    en: 'A sampled packet (sFlow raw header or IPFIX/NetFlow v9 packet section) was cut off before its IP addresses.',
    ja: 'サンプルされたパケット（sFlow の生ヘッダ、IPFIX／NetFlow v9 のパケット断片）が IP アドレスより前で切れていました。',
  },
  'frame-not-ip': {
    en: 'A sampled packet carried something other than IP (ARP, LLDP, LACP, IS-IS, MPLS OAM …), which holds no flow.',
    ja: 'サンプルされたパケットが IP 以外（ARP、LLDP、LACP、IS-IS、MPLS の OAM など）で、フローを含んでいませんでした。',
  },
  'frame-malformed': {
    en: 'A sampled packet had an impossible header (an IP version that contradicts its type, an IPv4 header under 20 bytes, too ' +
      'many VLAN tags or MPLS labels).',
    ja: 'サンプルされたパケットのヘッダがあり得ないものでした（種別と矛盾する IP バージョン、20 バイト未満の IPv4 ヘッダ、多すぎる VLAN タグや MPLS ラベルなど）。',
  },
  'frame-link-type': {
    en: 'An sFlow raw header was of a link type the decoder does not read (only Ethernet, IPv4, IPv6 and MPLS are read).',
    ja: 'sFlow の生ヘッダが、復号器の読まないリンク種別でした（読むのは Ethernet、IPv4、IPv6、MPLS のみ）。',
  },
};

export const LIMITS = {
  exporters: 10_000,
  /** Source ids / observation domains / sFlow sub-agents per exporter. */
  domainsPerExporter: 256,
  templatesPerExporter: 2_048,
  fieldsPerTemplate: 512,
  /** Data sets held per exporter while waiting for their template. */
  heldSetsPerExporter: 64,
  heldBytesPerExporter: 256 * 1024,
  /** How long data waits for its template before it is dropped. */
  holdMs: 10_000,
  samplersPerExporter: 1_024,
} as const;

/** A sequence stream: v5 counts flows, v9 datagrams, IPFIX data records, sFlow datagrams. */
export class SequenceTracker {
  private expected: number | undefined;
  lost = 0;
  resets = 0;

  /** `seq` as received and how far it advances the sequence. */
  observe(seq: number, advance: number): void {
    if (this.expected !== undefined && seq !== this.expected) {
      const gap = (seq - this.expected) >>> 0;
      // A gap of more than 2^31 is an exporter restart or reordering, not loss.
      if (gap < 0x80000000) this.lost += gap; else this.resets += 1;
    }
    this.expected = (seq + advance) >>> 0;
  }
}

export interface HeldSet { templateId: number; data: Buffer; receivedMs: number; header: { unixMs: number; uptimeMs: number } }

/** Templates and samplers of one observation domain (v9 source id / IPFIX domain). */
export class Domain {
  readonly templates = new Map<number, Template>();
  /** Options templates: only their layout is needed to read sampler options. */
  readonly samplerRates = new Map<number, number>();
  /** A sampling rate announced for the whole domain (options with no sampler id). */
  defaultRate = 0;
  readonly sequence = new SequenceTracker();
  held: HeldSet[] = [];
  heldBytes = 0;
  /** IPFIX systemInitTimeMilliseconds, for relative timestamps. */
  systemInitMs = 0;
}

export class Exporter {
  readonly domains = new Map<number, Domain>();
  lastSeen = 0;
  datagrams = 0;
  records = 0;
  readonly errors = new Map<DropReason, number>();
  /** Protocols seen from this exporter: netflow5, netflow9, ipfix, sflow5. */
  readonly versions = new Set<string>();

  /** @param holdMs how long data waits for its template (0: drop at once, as nfcapd does). */
  constructor(readonly address: string, readonly holdMs: number = LIMITS.holdMs) {}

  /** The domain's state, or undefined (counted) when the exporter already has as many as allowed. */
  domain(id: number): Domain | undefined {
    let d = this.domains.get(id);
    if (!d) {
      if (this.domains.size >= LIMITS.domainsPerExporter) { this.error('too-many-domains'); return undefined; }
      d = new Domain();
      this.domains.set(id, d);
    }
    return d;
  }

  error(reason: DropReason, n = 1): void {
    this.errors.set(reason, (this.errors.get(reason) ?? 0) + n);
  }

  templateCount(): number {
    let n = 0;
    for (const d of this.domains.values()) n += d.templates.size;
    return n;
  }

  /** Estimated lost records (v5, IPFIX) or datagrams (v9, sFlow) from sequence gaps. */
  lost(): number {
    let n = 0;
    for (const d of this.domains.values()) n += d.sequence.lost;
    return n;
  }
}

export interface ExporterStatus {
  address: string;
  lastSeen: string | null;
  versions: string[];
  datagrams: number;
  records: number;
  templates: number;
  estimatedLoss: number;
  errors: Partial<Record<DropReason, number>>;
}

export class ExporterTable {
  private readonly byAddress = new Map<string, Exporter>();
  /** Errors that cannot be put on a known exporter (unknown, or the table is full). */
  readonly unattributed = new Map<DropReason, number>();

  /**
   * @param allowed when given, only these exporter addresses are accepted.
   */
  constructor(private readonly allowed?: ReadonlySet<string>, readonly holdMs: number = LIMITS.holdMs) {}

  /** The exporter for a source address, or undefined (counted) if it is not accepted. */
  get(address: string): Exporter | undefined {
    let e = this.byAddress.get(address);
    if (e) return e;
    if (this.allowed && !this.allowed.has(address)) { this.count('unknown-exporter'); return undefined; }
    if (this.byAddress.size >= LIMITS.exporters) { this.count('too-many-exporters'); return undefined; }
    e = new Exporter(address, this.holdMs);
    this.byAddress.set(address, e);
    return e;
  }

  private count(reason: DropReason): void {
    this.unattributed.set(reason, (this.unattributed.get(reason) ?? 0) + 1);
  }

  list(): Exporter[] { return [...this.byAddress.values()]; }

  status(): ExporterStatus[] {
    return this.list().map((e) => ({
      address: e.address,
      lastSeen: e.lastSeen ? new Date(e.lastSeen).toISOString() : null,
      versions: [...e.versions].sort(),
      datagrams: e.datagrams,
      records: e.records,
      templates: e.templateCount(),
      estimatedLoss: e.lost(),
      errors: Object.fromEntries(e.errors),
    }));
  }
}
