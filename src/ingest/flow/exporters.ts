/**
 * What the collector knows of each exporter (router): its templates, sampling
 * rates, sequence numbers and counts of records, errors and estimated loss.
 * Everything here is bounded: exporters, templates per exporter, held data.
 */
import type { Template } from './templates.js';

export const DROP_REASONS = [
  'truncated',
  'bad-version',
  'bad-length',
  'bad-template',
  'too-many-templates',
  'no-template',
  'bad-sample',
  'unknown-exporter',
  'too-many-exporters',
  'domain-evicted',
  'no-valid-set',
  'storage-backlog',
  'staging-failed',
  'decoder-error',
  // Framing and records (issue 14).
  'trailing-bytes',
  'count-mismatch',
  'template-mismatch',
  'zero-addresses',
  'sample-without-packet',
  // Packets carried as bytes (sFlow raw headers, IPFIX/v9 packet sections) in which no IP header could be reached.
  'frame-truncated',
  'frame-not-ip',
  'frame-malformed',
  'frame-link-type',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/**
 * What each reason means, one sentence for the operator (docs and API are
 * generated from this). "Counted" is per exporter, except for the reasons
 * that concern an exporter the collector does not keep (unknown-exporter,
 * too-many-exporters).
 */
export const DROP_REASON_TEXT: Record<DropReason, { en: string; ja: string }> = {
  truncated: {
    en:
      'A datagram, set, record or sample ended before the length it declared (cut in transit, or a lying length): what did ' +
      'not fit was not read.',
    ja: 'データグラム、セット、レコードまたは標本が、宣言された長さより前に終わっていました（転送中の切断か偽りの長さ）。収まらない部分は読んでいません。',
  },
  'bad-version': {
    en: 'The datagram was not NetFlow v5, NetFlow v9, IPFIX or sFlow v5.',
    ja: 'データグラムが NetFlow v5、NetFlow v9、IPFIX、sFlow v5 のいずれでもありませんでした。',
  },
  'bad-length': {
    en:
      'A length field was impossible (an IPFIX message length outside the datagram, a set shorter than its own header, a ' +
      'NetFlow v5 count of 0 or above 30).',
    ja: '長さの欄があり得ない値でした（データグラムに収まらない IPFIX メッセージ長、自身のヘッダより短いセット、0 または 30 を超える NetFlow v5 のレコード数など）。',
  },
  'bad-template': {
    en:
      'A template could not be used (reserved id, no fields or more than 512, a variable length in NetFlow v9, a wrong scope ' +
      'count), and the rest of its set was skipped.',
    ja: 'テンプレートが使えませんでした（予約済み ID、項目数 0 または 512 超、NetFlow v9 での可変長、スコープ数の誤りなど）。そのセットの残りは読み飛ばしました。',
  },
  'too-many-templates': {
    en: 'The exporter already had as many templates as allowed (2,048), so a new one was refused.',
    ja: 'ルータのテンプレート数が上限（2,048）に達していたため、新しいテンプレートを拒否しました。',
  },
  'no-template': {
    en:
      'A data set arrived for a template the collector did not have, and its template did not come within the hold time ' +
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
  'domain-evicted': {
    en:
      'The exporter had as many observation domains, source ids, sFlow sub-agents or v5 engines as allowed (256, plus 16 that ' +
      'have sent data but no template yet): the one unused for longest was forgotten to make room (its templates are relearnt ' +
      'when the router resends them).',
    ja:
      'ルータの観測ドメイン、ソース ID、sFlow サブエージェント、v5 エンジンの数が上限（256、ほかにテンプレート未着のもの 16）に達したため、' +
      '最も長く使われていないものを忘れて場所を空けました（そのテンプレートはルータの再送時に覚え直します）。',
  },
  'no-valid-set': {
    en:
      'A datagram for an observation domain the collector did not know carried no set it could frame (lengths that do not ' +
      'tile the datagram, reserved set ids): it creates no state, so a stream of corrupt or spoofed datagrams cannot fill the ' +
      'table.',
    ja:
      '収集部が知らない観測ドメインのデータグラムに、正しく区切れるセットがありませんでした（データグラムを埋めない長さ、予約済みのセット ID）。' +
      '状態を作らないため、壊れた・偽装されたデータグラムが続いても表を埋め尽くせません。',
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
    en:
      'Bytes were left after the last set or sample (or after the IPFIX message length) that no header described: part of the ' +
      'datagram may be missing.',
    ja: '最後のセットまたは標本の後（または IPFIX メッセージ長の後）に、どのヘッダにも記述されていないバイトが残っていました。データグラムの一部が欠けている可能性があります。',
  },
  'count-mismatch': {
    en: 'A NetFlow v9 datagram held fewer records than its header counts: sets were cut off or lost on the way.',
    ja: 'NetFlow v9 のデータグラムに、ヘッダの件数より少ないレコードしかありませんでした。セットが途中で切れたか失われています。',
  },
  'template-mismatch': {
    en:
      'A data set was not a whole number of records of its template (beyond the zero padding allowed): the template held does ' +
      "not describe the exporter's data.",
    ja: 'データセットの長さがテンプレートのレコードの整数倍ではありませんでした（許される 0 の詰め物を除く）。保持しているテンプレートがルータのデータと合っていません。',
  },
  'zero-addresses': {
    en:
      "A record's source and destination addresses were all zero (and it carried no packet to read them from), so it names " +
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
    en:
      'A sampled packet had an impossible header (an IP version that contradicts its type, an IPv4 header under 20 bytes, too ' +
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
  /** Source ids / observation domains / sFlow sub-agents / v5 engines per exporter (least recently used gives way). */
  domainsPerExporter: 256,
  /** v9/IPFIX domains that have sent data but no template yet. */
  provisionalDomainsPerExporter: 16,
  /** A domain that sends nothing for this long is forgotten (templates are resent far more often). */
  domainIdleMs: 3_600_000,
  /** An exporter that sends nothing for this long gives way when the exporter table is full. */
  exporterIdleMs: 600_000,
  templatesPerExporter: 2_048,
  fieldsPerTemplate: 512,
  /** Data sets held per exporter while waiting for their template. */
  heldSetsPerExporter: 64,
  heldBytesPerExporter: 256 * 1024,
  /** How long data waits for its template before it is dropped. */
  holdMs: 10_000,
  samplersPerExporter: 1_024,
} as const;

/**
 * What a sequence number counts, as exporters really do it: datagrams, or data
 * records (options data included, as RFC 7011 says) or flow records only,
 * sent before this datagram or including its own.
 */
export type SequenceUnit = 'datagrams' | 'records-before' | 'records-including' | 'flows-before' | 'flows-including';

/**
 * One reading of a sequence stream under one assumption of what it counts.
 * A gap is loss only once the next datagram continues from the one after the
 * gap: a single corrupt or spoofed sequence number is then an outlier, not
 * billions of lost records. A gap larger than the exporter could have sent in
 * the time since its previous datagram is a restart, not loss. A datagram
 * behind the expected number that the stream does not follow was late
 * (reordered): it gives back loss already counted, never more than was
 * counted; one that the stream follows is a restart. Reordering by more than
 * one datagram is read as an outlier and a gap: the estimate stays bounded.
 */
class SequenceReading {
  /** The sequence number expected next. */
  private head: number | undefined;
  private pending: { next: number; gap: number; advance: number; plausible: boolean; late: boolean } | undefined;
  private largestAdvance = 1;
  private lastMs = 0;
  lost = 0;
  gaps = 0;
  resets = 0;
  outliers = 0;
  late = 0;
  /** Datagrams that arrived exactly where this reading expected them. */
  inSequence = 0;

  constructor(readonly unit: SequenceUnit) {}

  observe(seq: number, records: number, flows: number, nowMs: number): void {
    const counted = this.unit.startsWith('flows') ? flows : records;
    // Held data (no template yet) has an unknown record count: resynchronise on the next datagram.
    if (counted < 0 && this.unit !== 'datagrams') {
      this.head = undefined;
      this.pending = undefined;
      return;
    }
    const advance = this.unit === 'datagrams' ? 1 : counted;
    const start = this.unit.endsWith('-including') ? (seq - advance) >>> 0 : seq;
    const next = (start + advance) >>> 0;
    const elapsedMs = Math.max(0, nowMs - this.lastMs);
    this.lastMs = nowMs;
    if (advance > this.largestAdvance) this.largestAdvance = advance;
    if (this.head === undefined) {
      this.head = next;
      return;
    }
    const p = this.pending;
    if (p) {
      const fromPending = (start - p.next) | 0;
      if (fromPending === 0 || (p.plausible && fromPending > 0 && fromPending <= this.bound(elapsedMs))) {
        // Confirmed: the stream goes on from the jump (and may have jumped again, by a plausible gap).
        this.pending = undefined;
        if (!p.plausible) this.resets += 1;
        else if (p.gap > 0) {
          this.lost += p.gap;
          this.gaps += 1;
        }
        if (fromPending > 0) {
          this.lost += fromPending;
          this.gaps += 1;
        } else this.inSequence += 1;
        this.head = next;
        return;
      }
      const intoGap = (start - this.head) | 0;
      if (p.plausible && intoGap >= 0 && intoGap + advance <= p.gap) {
        // Inside the gap before the jump: a datagram overtaken by the next one, not lost.
        p.gap -= advance;
        this.late += 1;
        return;
      }
      this.pending = undefined;
      if (p.late) {
        // Behind, and not followed: a datagram that arrived late, not lost after all.
        this.late += 1;
        this.lost -= Math.min(this.lost, p.advance);
      } else this.outliers += 1; // not followed: a corrupt or stray sequence number
    }
    const d = (start - this.head) | 0;
    if (d === 0) {
      this.inSequence += 1;
      this.head = next;
      return;
    }
    this.pending = { next, gap: d, advance, plausible: d > 0 && d <= this.bound(elapsedMs), late: d < 0 && -d <= this.window() };
  }

  /** Loss counted so far, with a plausible gap still waiting for its confirmation. */
  estimate(): number {
    return this.lost + (this.pending?.plausible ? this.pending.gap : 0);
  }

  /** Gaps counted so far, with one still waiting for its confirmation. */
  estimateGaps(): number {
    return this.gaps + (this.pending?.plausible && this.pending.gap > 0 ? 1 : 0);
  }

  /** The most an exporter could have sent in `elapsedMs`: 100,000 datagrams a second, at least 1,000 datagrams. */
  private bound(elapsedMs: number): number {
    return this.largestAdvance * Math.max(1_000, Math.ceil(elapsedMs * 100));
  }

  /** How far behind the expected number a datagram still counts as late rather than a restart. */
  private window(): number {
    return this.largestAdvance * 1_000;
  }
}

/**
 * A sequence stream of one (exporter, version, domain). RFC 3954 counts
 * datagrams, NetFlow v5 and RFC 7011 count records sent before this datagram,
 * sFlow counts datagrams — but exporters differ (softflowd's IPFIX counts the
 * records including this datagram's). Each plausible reading is kept side by
 * side and the one the stream follows is reported.
 */
export class SequenceTracker {
  private readonly readings: SequenceReading[];

  /** @param units the readings to try, the standard one first (it wins ties). */
  constructor(units: readonly SequenceUnit[]) {
    this.readings = units.map((u) => new SequenceReading(u));
  }

  /** `records`: data records the datagram carried (-1: unknown, data held); `flows`: those that were flows. */
  observe(seq: number, records: number, flows: number, nowMs: number): void {
    for (const r of this.readings) r.observe(seq, records, flows, nowMs);
  }

  private best(): SequenceReading {
    let best = this.readings[0]!;
    for (const r of this.readings) if (r.inSequence > best.inSequence) best = r;
    return best;
  }

  get unit(): SequenceUnit {
    return this.best().unit;
  }
  get lost(): number {
    return this.best().estimate();
  }
  get gaps(): number {
    return this.best().estimateGaps();
  }
  get resets(): number {
    return this.best().resets;
  }
  get outliers(): number {
    return this.best().outliers;
  }
  get late(): number {
    return this.best().late;
  }
}

export interface HeldSet {
  templateId: number;
  data: Buffer;
  receivedMs: number;
  header: { unixMs: number; uptimeMs: number };
}

/** The protocols an exporter speaks; each keeps its own domains (a v9 and an IPFIX domain 0 are different streams). */
export type FlowProtocol = 'netflow5' | 'netflow9' | 'ipfix' | 'sflow5';

/** What each protocol's sequence number counts by its standard, and what exporters are seen to do instead. */
const SEQUENCE_UNITS: Record<FlowProtocol, readonly SequenceUnit[]> = {
  netflow5: ['records-before', 'records-including'],
  netflow9: ['datagrams', 'records-before', 'records-including', 'flows-before', 'flows-including'],
  ipfix: ['records-before', 'records-including', 'flows-before', 'flows-including', 'datagrams'],
  sflow5: ['datagrams'],
};
const PROTOCOL_KEY: Record<FlowProtocol, number> = { netflow5: 0, netflow9: 1, ipfix: 2, sflow5: 3 };

/** Templates and samplers of one observation domain (v9 source id / IPFIX domain / v5 engine / sFlow sub-agent). */
export class Domain {
  readonly templates = new Map<number, Template>();
  /** Options templates: only their layout is needed to read sampler options. */
  readonly samplerRates = new Map<number, number>();
  /** A sampling rate announced for the whole domain (options with no sampler id). */
  defaultRate = 0;
  readonly sequence: SequenceTracker;
  held: HeldSet[] = [];
  heldBytes = 0;
  /** IPFIX systemInitTimeMilliseconds, for relative timestamps. */
  systemInitMs = 0;
  lastUsedMs = 0;

  constructor(
    readonly protocol: FlowProtocol,
    readonly id: number,
  ) {
    this.sequence = new SequenceTracker(SEQUENCE_UNITS[protocol]);
  }

  /** `seq` as received; the data records this datagram carried (-1: not known, data held for its template) and its flows. */
  observeSequence(seq: number, records: number, flows = records): void {
    this.sequence.observe(seq, records, flows, this.lastUsedMs);
  }
}

/**
 * One router. Its domains are bounded and never lock it out: a domain idle for
 * `domainIdleMs` is forgotten, and when the bound is reached the least recently
 * used one gives way (counted). A v9/IPFIX domain that has only sent data
 * (no template yet) is provisional, in a small pool of its own: a stream of
 * datagrams with flipped or spoofed domain ids churns that pool and the
 * established domains, which a live router touches all the time, stay.
 */
export class Exporter {
  /** Established domains, least recently used first (Map order). */
  readonly domains = new Map<number, Domain>();
  /** Provisional domains: data seen, no template yet. */
  private readonly provisional = new Map<number, Domain>();
  lastSeen = 0;
  datagrams = 0;
  records = 0;
  readonly errors = new Map<DropReason, number>();
  /** Protocols seen from this exporter: netflow5, netflow9, ipfix, sflow5. */
  readonly versions = new Set<string>();
  /** Domains forgotten: idle, or the least recently used when the bound was reached. */
  domainsExpired = 0;
  domainsEvicted = 0;

  /** @param holdMs how long data waits for its template (0: drop at once, as nfcapd does). */
  constructor(
    readonly address: string,
    readonly holdMs: number = LIMITS.holdMs,
  ) {}

  private static key(protocol: FlowProtocol, id: number): number {
    return PROTOCOL_KEY[protocol] * 2 ** 32 + id;
  }

  /** The domain if it exists (marked as used now), else undefined; creates nothing. */
  existing(protocol: FlowProtocol, id: number): Domain | undefined {
    const key = Exporter.key(protocol, id);
    const pool = this.domains.has(key) ? this.domains : this.provisional.has(key) ? this.provisional : undefined;
    const d = pool?.get(key);
    if (!pool || !d) return undefined;
    // Map order is the LRU order: move to the end.
    pool.delete(key);
    pool.set(key, d);
    d.lastUsedMs = this.lastSeen;
    return d;
  }

  /**
   * The domain, created if needed. Call it only for a datagram whose framing
   * is valid: a datagram that carries no valid set creates no state.
   * `provisional`: the datagram brings data but no template.
   */
  domain(protocol: FlowProtocol, id: number, provisional = false): Domain {
    const found = this.existing(protocol, id);
    if (found) {
      if (!provisional) this.establish(found);
      return found;
    }
    const d = new Domain(protocol, id);
    d.lastUsedMs = this.lastSeen;
    this.admit(
      provisional ? this.provisional : this.domains,
      Exporter.key(protocol, id),
      d,
      provisional ? LIMITS.provisionalDomainsPerExporter : LIMITS.domainsPerExporter,
    );
    return d;
  }

  /** A provisional domain that has received its template joins the established ones. */
  establish(d: Domain): void {
    const key = Exporter.key(d.protocol, d.id);
    if (!this.provisional.delete(key)) return;
    this.admit(this.domains, key, d, LIMITS.domainsPerExporter);
  }

  private admit(pool: Map<number, Domain>, key: number, d: Domain, bound: number): void {
    if (pool.size >= bound) {
      const [oldest] = pool.keys();
      pool.delete(oldest!);
      this.domainsEvicted += 1;
      this.error('domain-evicted');
    }
    pool.set(key, d);
  }

  /** Forgets domains idle for longer than `idleMs`; returns how many. */
  expireIdle(nowMs: number, idleMs: number): number {
    let n = 0;
    for (const pool of [this.domains, this.provisional]) {
      // Least recently used first: stop at the first domain still in use.
      for (const [key, d] of pool) {
        if (nowMs - d.lastUsedMs <= idleMs) break;
        pool.delete(key);
        n += 1;
      }
    }
    this.domainsExpired += n;
    return n;
  }

  /** Every domain, established and provisional. */
  allDomains(): Domain[] {
    return [...this.domains.values(), ...this.provisional.values()];
  }

  error(reason: DropReason, n = 1): void {
    this.errors.set(reason, (this.errors.get(reason) ?? 0) + n);
  }

  templateCount(): number {
    let n = 0;
    for (const d of this.domains.values()) n += d.templates.size;
    return n;
  }

  /** Estimated lost records (v5, IPFIX) or datagrams (v9, sFlow) from sequence gaps, over the domains known now. */
  lost(): number {
    let n = 0;
    for (const d of this.allDomains()) n += d.sequence.lost;
    return n;
  }

  sequenceStatus(): SequenceStatus {
    const s: SequenceStatus = { gaps: 0, resets: 0, outliers: 0, late: 0, units: [] };
    const units = new Set<string>();
    for (const d of this.allDomains()) {
      const t = d.sequence;
      s.gaps += t.gaps;
      s.resets += t.resets;
      s.outliers += t.outliers;
      s.late += t.late;
      units.add(`${d.protocol}:${t.unit}`);
    }
    s.units = [...units].sort();
    return s;
  }
}

/** How an exporter's sequence numbers read: gaps (loss), restarts, stray numbers, late datagrams, and what they count. */
export interface SequenceStatus {
  gaps: number;
  resets: number;
  outliers: number;
  late: number;
  units: string[];
}

export interface ExporterStatus {
  address: string;
  lastSeen: string | null;
  versions: string[];
  datagrams: number;
  records: number;
  templates: number;
  estimatedLoss: number;
  sequence: SequenceStatus;
  domains: number;
  errors: Partial<Record<DropReason, number>>;
}

export class ExporterTable {
  private readonly byAddress = new Map<string, Exporter>();
  /** Errors that cannot be put on a known exporter (unknown, or the table is full). */
  readonly unattributed = new Map<DropReason, number>();
  /** Exporters forgotten to make room for a new one. */
  exportersExpired = 0;

  /**
   * @param allowed when given, only these exporter addresses are accepted.
   */
  constructor(
    private readonly allowed?: ReadonlySet<string>,
    readonly holdMs: number = LIMITS.holdMs,
  ) {}

  /**
   * The exporter for a source address, or undefined (counted) if it is not
   * accepted. When the table is full, the exporter silent for longest gives way
   * if it has been silent for `exporterIdleMs`; otherwise the newcomer is refused.
   */
  get(address: string, nowMs: number): Exporter | undefined {
    let e = this.byAddress.get(address);
    if (e) {
      // Keep Map order close to recency without reordering on every datagram.
      if (nowMs - e.lastSeen > 1_000) {
        this.byAddress.delete(address);
        this.byAddress.set(address, e);
      }
      return e;
    }
    if (this.allowed && !this.allowed.has(address)) {
      this.count('unknown-exporter');
      return undefined;
    }
    if (this.byAddress.size >= LIMITS.exporters) {
      const [oldest] = this.byAddress.values();
      if (!oldest || nowMs - oldest.lastSeen <= LIMITS.exporterIdleMs) {
        this.count('too-many-exporters');
        return undefined;
      }
      this.byAddress.delete(oldest.address);
      this.exportersExpired += 1;
    }
    e = new Exporter(address, this.holdMs);
    this.byAddress.set(address, e);
    return e;
  }

  /** The exporter known at this address, if any; creates nothing. */
  find(address: string): Exporter | undefined {
    return this.byAddress.get(address);
  }

  /** The periodic sweep: forgets idle domains of every exporter. */
  expireIdle(nowMs: number, domainIdleMs: number = LIMITS.domainIdleMs): void {
    for (const e of this.byAddress.values()) e.expireIdle(nowMs, domainIdleMs);
  }

  private count(reason: DropReason): void {
    this.unattributed.set(reason, (this.unattributed.get(reason) ?? 0) + 1);
  }

  list(): Exporter[] {
    return [...this.byAddress.values()];
  }

  status(): ExporterStatus[] {
    return this.list().map((e) => ({
      address: e.address,
      lastSeen: e.lastSeen ? new Date(e.lastSeen).toISOString() : null,
      versions: [...e.versions].sort(),
      datagrams: e.datagrams,
      records: e.records,
      templates: e.templateCount(),
      estimatedLoss: e.lost(),
      sequence: e.sequenceStatus(),
      domains: e.domains.size,
      errors: Object.fromEntries(e.errors),
    }));
  }
}
