/**
 * The RPZ primary: an authoritative DNS server for Mamori's policy zones, on
 * UDP and TCP. It answers SOA, NS and the zone's own names authoritatively,
 * transfers whole zones (AXFR, TCP only) to the secondaries allowed to ask,
 * and refuses everything else. Messages are parsed by dns-packet; a message it
 * cannot parse is dropped and counted, never answered with a guess.
 *
 * After a change, NOTIFY (RFC 1996) tells each configured secondary at once,
 * retried until it answers, so the resolvers need not wait for their SOA poll.
 *
 * It answers only its secondaries — every query, not only transfers: the
 * opt-out zone's records name opted-out subscribers' addresses, so a lookup
 * of one name is as telling as the whole zone. A secondary is an address in
 * `transferTo` and, when TSIG keys are configured (HMAC-SHA256, RFC 8945), a
 * request signed with one of them; anything else is REFUSED and counted by
 * reason. Answers to signed requests are signed in every message; NOTIFYs too.
 *
 * IXFR (RFC 1995) answers from the zone's journal of diffs; a secondary whose
 * serial is older than the journal gets the whole zone instead, and so does a
 * secondary in `wholeZoneOnClientIpRemoval` when the diffs delete a client-IP
 * rule (RFC 1995 §4 lets a server answer IXFR with the whole zone): Unbound
 * 1.17 ignores such a deletion in an IXFR and keeps applying the rule
 * (test/interop/unbound-rpz-ixfr.test.ts, with BIND 9.18 as the primary).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type Answer, type Packet } from 'dns-packet';
import { MamoriError } from '../core/errors.js';
import type { ListenerStatus } from '../core/listeners.js';
import type { RpzRecord, RpzZone } from './rpz.js';
import { signAnswer, signRequest, TsigError, verifyRequest, type TsigKey } from './tsig.js';
import { unmapIPv4 } from '../core/net-address.js';

export interface PrimaryConfig {
  host: string;
  port: number;
  /** The secondaries' addresses: the only ones answered (queries and transfers). */
  transferTo: string[];
  /** SOA timers, seconds. */
  refresh?: number;
  /** Secondaries to NOTIFY when a zone changes. */
  notify?: Array<{ host: string; port: number }>;
  /** TSIG keys: when set, every request needs a valid signature with one of them as well as an allowed address. */
  tsig?: TsigKey[];
  /** Secondaries (of `transferTo`) sent the whole zone instead of an IXFR that deletes a client-IP rule (Unbound 1.17). */
  wholeZoneOnClientIpRemoval?: string[];
}

/** Two measures' zones would overlap on the one primary. */
export class ZoneConflictError extends MamoriError {
  static override readonly code = 'zone-conflict';
  static override readonly status = 409;
}

export interface NotifyResult {
  host: string;
  port: number;
  answered: boolean;
  attempts: number;
  ms: number;
}

/**
 * Why a request was REFUSED: an address not in `transferTo`, unsigned while keys are set, a name outside the zones, AXFR over UDP, too many
 * connections.
 */
export type RefusalReason = 'address' | 'unsigned' | 'zone' | 'udp-transfer' | 'connection-cap';

export interface PrimaryStatus {
  queries: number;
  transfers: number;
  incremental: number;
  /** IXFRs answered with the whole zone because they would delete a client-IP rule at a `wholeZoneOnClientIpRemoval` secondary. */
  wholeForClientIpRemoval: number;
  malformed: number;
  badTsig: number;
  refused: Record<RefusalReason, number>;
}

/** What one secondary last took of one zone: the serial it holds since, and when (for the operators' overview). */
export interface SecondaryTransfer {
  secondary: string;
  zone: string;
  /** The serial the last transfer brought it to (an up-to-date IXFR answer counts: it holds that serial). */
  serial: number;
  kind: 'axfr' | 'ixfr' | 'up-to-date';
  at: string;
  /** Its last SOA query (refresh check), if any since. */
  checkedAt: string | null;
}

const MAX_ANSWERS_PER_MESSAGE = 500;
const MAX_TCP_MESSAGE = 65_535;
/** Open transfer connections at once, all secondaries together. */
const MAX_TCP_CONNECTIONS = 64;

/** A policy record as dns-packet encodes it: a CNAME's target without the trailing dot ("." stays), A/AAAA as they are. */
const wire = (r: RpzRecord): Answer =>
  r.type === 'CNAME'
    ? { name: r.name, type: 'CNAME', ttl: 60, class: 'IN', data: r.data.replace(/\.$/, '') || '.' }
    : { name: r.name, type: r.type, ttl: 60, class: 'IN', data: r.data };

export class RpzPrimary {
  private readonly counters: PrimaryStatus = {
    queries: 0,
    transfers: 0,
    incremental: 0,
    wholeForClientIpRemoval: 0,
    malformed: 0,
    badTsig: 0,
    refused: { address: 0, unsigned: 0, zone: 0, 'udp-transfer': 0, 'connection-cap': 0 },
  };
  private readonly allowed: Set<string>;
  private readonly wholeOnClientIpRemoval: Set<string>;
  private udp!: dgram.Socket;
  private tcp!: net.Server;
  private readonly sockets = new Set<net.Socket>();
  /** SOA refresh per zone, where the zone's measure sets one. */
  private readonly refreshes = new Map<string, number>();
  /** Per allowed secondary and zone (so bounded by `transferTo` × zones): its last transfer. */
  private readonly transfers = new Map<string, SecondaryTransfer>();

  private constructor(
    private readonly zones: Map<string, RpzZone>,
    private readonly config: PrimaryConfig,
  ) {
    this.allowed = new Set(config.transferTo.map(unmapIPv4));
    this.wholeOnClientIpRemoval = new Set((config.wholeZoneOnClientIpRemoval ?? []).map(unmapIPv4));
  }

  static async start(zones: readonly RpzZone[], config: PrimaryConfig): Promise<RpzPrimary> {
    const p = new RpzPrimary(new Map(zones.map((z) => [z.origin, z])), config);
    p.udp = dgram.createSocket(config.host.includes(':') ? 'udp6' : 'udp4');
    p.udp.on('message', (msg, rinfo) => {
      const answer = p.answer(msg, unmapIPv4(rinfo.address), 'udp');
      for (const a of answer) p.udp.send(a, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve, reject) => {
      p.udp.once('error', reject);
      p.udp.bind(config.port, config.host, () => resolve());
    });
    p.tcp = net.createServer((s) => p.serveTcp(s));
    p.tcp.maxConnections = MAX_TCP_CONNECTIONS;
    p.tcp.on('drop', () => {
      p.counters.refused['connection-cap']++;
    });
    await new Promise<void>((resolve, reject) => {
      p.tcp.once('error', reject);
      p.tcp.listen(p.udp.address().port, config.host, () => resolve());
    });
    return p;
  }

  get port(): number {
    return this.udp.address().port;
  }

  /**
   * Serves one more zone from this primary (a measure registers its zones through the broker's
   * policy-zone-writer). A zone inside or around one already served is refused: which one would answer
   * a name would depend on the order they came in.
   */
  serve(zone: RpzZone, refresh?: number): void {
    const o = zone.origin;
    for (const served of this.zones.keys()) {
      if (served === o || served.endsWith(`.${o}`) || o.endsWith(`.${served}`)) {
        throw new ZoneConflictError(
          `policy zone ${o} overlaps ${served}, which the RPZ primary already serves: give each zone its own name`,
        );
      }
    }
    this.zones.set(o, zone);
    if (refresh !== undefined) this.refreshes.set(o, refresh);
  }

  /** Stops serving a zone (its measure stopped). */
  withdraw(origin: string): void {
    this.zones.delete(origin);
    this.refreshes.delete(origin);
  }

  /** The zones served now. */
  get origins(): string[] {
    return [...this.zones.keys()];
  }

  /** The zones served now, themselves (the policy-zone writer checks one measure's passthru names against the others' rules). */
  served(): RpzZone[] {
    return [...this.zones.values()];
  }

  /** Each secondary's last transfer of each zone, by secondary then zone. */
  secondaries(): SecondaryTransfer[] {
    return [...this.transfers.values()].sort((a, b) => a.secondary.localeCompare(b.secondary) || a.zone.localeCompare(b.zone));
  }

  private transferred(from: string, zone: RpzZone, kind: SecondaryTransfer['kind']): void {
    this.transfers.set(`${from} ${zone.origin}`, {
      secondary: from,
      zone: zone.origin,
      serial: zone.serial,
      kind,
      at: new Date().toISOString(),
      checkedAt: null,
    });
  }

  status(): PrimaryStatus {
    return { ...this.counters, refused: { ...this.counters.refused } };
  }

  /** The status as every listener reports it: answers given, requests refused or dropped by reason. */
  listener(): ListenerStatus {
    const c = this.counters;
    return {
      counts: {
        queries: c.queries,
        transfers: c.transfers,
        incremental: c.incremental,
        wholeForClientIpRemoval: c.wholeForClientIpRemoval,
        connections: this.sockets.size,
      },
      refused: { ...c.refused, 'bad-tsig': c.badTsig, malformed: c.malformed },
    };
  }

  private soa(z: RpzZone): Answer {
    const r = this.refreshes.get(z.origin) ?? this.config.refresh ?? 60;
    return {
      name: z.origin,
      type: 'SOA',
      ttl: 60,
      class: 'IN',
      data: {
        mname: 'localhost',
        rname: `hostmaster.${z.origin}`,
        serial: z.serial,
        refresh: r,
        retry: Math.max(10, Math.floor(r / 2)),
        expire: 604_800,
        minimum: 60,
      },
    };
  }

  private zoneOf(name: string): RpzZone | undefined {
    const n = name.toLowerCase().replace(/\.$/, '');
    for (const [origin, z] of this.zones) if (n === origin || n.endsWith(`.${origin}`)) return z;
    return undefined;
  }

  /** The answer(s) to one query: several messages for an AXFR. */
  answer(msg: Buffer, from: string, transport: 'udp' | 'tcp'): Buffer[] {
    let q: Packet;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      this.counters.malformed++;
      return [];
    }
    if (q.type !== 'query' || !q.questions || q.questions.length !== 1) {
      this.counters.malformed++;
      return [];
    }
    const refuse = (reason: RefusalReason) => {
      this.counters.refused[reason]++;
      return dnsPacket.encode({ type: 'response', id: q.id, flags: 5, questions: q.questions ?? [] });
    };
    // Not a secondary's address: refused before anything else is looked at (a signature included).
    if (!this.allowed.has(unmapIPv4(from))) return [refuse('address')];
    let signer: { key: TsigKey; mac: Buffer } | undefined;
    try {
      signer = this.config.tsig?.length ? verifyRequest(msg, this.config.tsig) : undefined;
    } catch (err) {
      if (!(err instanceof TsigError)) throw err;
      // A bad signature is answered NOTAUTH, unsigned (RFC 8945 §5.2), and counted.
      this.counters.badTsig++;
      return [dnsPacket.encode({ type: 'response', id: q.id, flags: 9, questions: q.questions })];
    }
    if (this.config.tsig?.length && !signer) return [refuse('unsigned')];
    const sign = (messages: Buffer[]) => (signer ? signAnswer(messages, signer.key, signer.mac) : messages);
    this.counters.queries++;
    const question = q.questions[0]!;
    const reply = (rcode: 'NOERROR' | 'NXDOMAIN', answers: Answer[] = [], authorities: Answer[] = []) =>
      dnsPacket.encode({
        type: 'response',
        id: q.id,
        flags: dnsPacket.AUTHORITATIVE_ANSWER | (rcode === 'NXDOMAIN' ? 3 : 0),
        questions: q.questions,
        answers,
        authorities,
      });
    const zone = this.zoneOf(question.name);
    // A signed request gets a signed answer, even a refusal: else the secondary cannot trust it.
    if (!zone) return sign([refuse('zone')]);
    if (question.type === 'AXFR') {
      if (transport !== 'tcp') return sign([refuse('udp-transfer')]);
      this.counters.transfers++;
      this.transferred(unmapIPv4(from), zone, 'axfr');
      return sign(this.axfr(q, zone));
    }
    if (question.type === 'IXFR') {
      this.counters.transfers++;
      const theirs = (q.authorities?.find((a) => a.type === 'SOA')?.data as { serial?: number } | undefined)?.serial;
      let diffs = theirs === undefined ? undefined : zone.diffsSince(theirs);
      const clientIpRule = (r: RpzRecord) => r.name.endsWith(`.rpz-client-ip.${zone.origin}`);
      if (diffs && this.wholeOnClientIpRemoval.has(unmapIPv4(from)) && diffs.some((d) => d.removed.some(clientIpRule))) {
        this.counters.wholeForClientIpRemoval++;
        diffs = undefined;
      }
      // Up to date: one SOA (RFC 1995 §4); too old for the journal, or a deletion this secondary would ignore: the whole zone.
      this.transferred(unmapIPv4(from), zone, diffs && diffs.length === 0 ? 'up-to-date' : diffs ? 'ixfr' : 'axfr');
      if (diffs && diffs.length === 0) return sign([reply('NOERROR', [this.soa(zone)])]);
      if (diffs) this.counters.incremental++;
      return sign(diffs === undefined ? this.axfr(q, zone) : this.ixfr(q, zone, diffs));
    }
    const name = question.name.toLowerCase().replace(/\.$/, '');
    if (name === zone.origin) {
      if (question.type === 'SOA') {
        const t = this.transfers.get(`${unmapIPv4(from)} ${zone.origin}`);
        if (t) t.checkedAt = new Date().toISOString();
        return sign([reply('NOERROR', [this.soa(zone)])]);
      }
      if (question.type === 'NS')
        return sign([reply('NOERROR', [{ name: zone.origin, type: 'NS', ttl: 60, class: 'IN', data: 'localhost' }])]);
      return sign([reply('NOERROR', [], [this.soa(zone)])]);
    }
    const rrs = zone.lookup(name);
    if (rrs.length === 0) return sign([reply('NXDOMAIN', [], [this.soa(zone)])]);
    return sign([reply('NOERROR', rrs.map(wire))]);
  }

  /** AXFR (RFC 5936): SOA, every record, SOA, in as many messages as needed. */
  private axfr(q: Packet, zone: RpzZone): Buffer[] {
    const soa = this.soa(zone);
    const all: Answer[] = [soa, { name: zone.origin, type: 'NS', ttl: 60, class: 'IN', data: 'localhost' }, ...zone.list().map(wire), soa];
    const out: Buffer[] = [];
    for (let i = 0; i < all.length; i += MAX_ANSWERS_PER_MESSAGE) {
      out.push(
        dnsPacket.encode({
          type: 'response',
          id: q.id,
          flags: dnsPacket.AUTHORITATIVE_ANSWER,
          questions: i === 0 ? q.questions : [],
          answers: all.slice(i, i + MAX_ANSWERS_PER_MESSAGE),
        }),
      );
    }
    return out;
  }

  /** IXFR: new SOA, then per version: old SOA, removed records, new SOA, added records; new SOA at the end. */
  private ixfr(q: Packet, zone: RpzZone, diffs: ReturnType<RpzZone['diffsSince']> & object): Buffer[] {
    const soaAt = (serial: number): Answer => {
      const s = this.soa(zone) as Answer & { data: object };
      return { ...s, data: { ...s.data, serial } } as Answer;
    };
    const all: Answer[] = [this.soa(zone)];
    for (const d of diffs) all.push(soaAt(d.from), ...d.removed.map(wire), soaAt(d.to), ...d.added.map(wire));
    all.push(this.soa(zone));
    const out: Buffer[] = [];
    for (let i = 0; i < all.length; i += MAX_ANSWERS_PER_MESSAGE) {
      out.push(
        dnsPacket.encode({
          type: 'response',
          id: q.id,
          flags: dnsPacket.AUTHORITATIVE_ANSWER,
          questions: i === 0 ? q.questions : [],
          answers: all.slice(i, i + MAX_ANSWERS_PER_MESSAGE),
        }),
      );
    }
    return out;
  }

  private serveTcp(socket: net.Socket): void {
    // Only secondaries may hold a connection: anyone else is closed at once, counted.
    if (!this.allowed.has(unmapIPv4(socket.remoteAddress ?? ''))) {
      this.counters.refused.address++;
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.setTimeout(30_000, () => socket.destroy());
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length > MAX_TCP_MESSAGE + 2) {
        this.counters.malformed++;
        socket.destroy();
        return;
      }
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const len = buffered.readUInt16BE(0);
        const msg = buffered.subarray(2, 2 + len);
        buffered = buffered.subarray(2 + len);
        for (const a of this.answer(msg, unmapIPv4(socket.remoteAddress ?? ''), 'tcp')) {
          const framed = Buffer.alloc(2 + a.length);
          framed.writeUInt16BE(a.length, 0);
          a.copy(framed, 2);
          socket.write(framed);
        }
      }
    });
    socket.on('error', () => {
      /* the peer went away: nothing to answer */
    });
  }

  /**
   * A zone changed: its staged changes are published as a new serial and every secondary is told (NOTIFY, RFC 1996 §3.6: retried on
   * silence).
   */
  async changed(zone: RpzZone, opts: { timeoutMs?: number; retries?: number } = {}): Promise<NotifyResult[]> {
    zone.bump();
    return Promise.all((this.config.notify ?? []).map((t) => this.notifyOne(zone, t, opts.timeoutMs ?? 1000, opts.retries ?? 5)));
  }

  private async notifyOne(
    zone: RpzZone,
    target: { host: string; port: number },
    timeoutMs: number,
    retries: number,
  ): Promise<NotifyResult> {
    const id = Math.floor(Math.random() * 65_536);
    // Opcode NOTIFY (4) with AA set; the SOA in the answer section tells the secondary the new serial.
    const unsigned = dnsPacket.encode({
      type: 'query',
      id,
      flags: (4 << 11) | dnsPacket.AUTHORITATIVE_ANSWER,
      questions: [{ name: zone.origin, type: 'SOA', class: 'IN' }],
      answers: [this.soa(zone)],
    });
    const key = this.config.tsig?.[0];
    const msg = key ? signRequest(unsigned, key) : unsigned;
    const socket = dgram.createSocket(target.host.includes(':') ? 'udp6' : 'udp4');
    const started = Date.now();
    try {
      await new Promise<void>((r) => socket.bind(0, this.config.host, () => r()));
      for (let attempt = 1; attempt <= retries; attempt++) {
        socket.send(msg, target.port, target.host);
        const ok = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => {
            socket.off('message', on);
            resolve(false);
          }, timeoutMs);
          const on = (answer: Buffer) => {
            if (answer.length < 12 || answer.readUInt16BE(0) !== id || (answer[2]! & 0x80) === 0) return;
            clearTimeout(timer);
            socket.off('message', on);
            resolve(true);
          };
          socket.on('message', on);
        });
        if (ok) return { ...target, answered: true, attempts: attempt, ms: Date.now() - started };
      }
      return { ...target, answered: false, attempts: retries, ms: Date.now() - started };
    } finally {
      socket.close();
    }
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all([new Promise<void>((r) => this.udp.close(() => r())), new Promise<void>((r) => this.tcp.close(() => r()))]);
  }
}
