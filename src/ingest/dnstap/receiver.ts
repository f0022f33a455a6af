/**
 * The dnstap receiver: Frame Streams over unix sockets and TCP from several
 * resolvers at once, each frame decoded and minimised at once (dnstap.ts),
 * events handed to the sink in batches. Bounded everywhere: connections (in
 * all and per source address), frame size, events waiting for the sink
 * (beyond that, new events are dropped and counted); a resolver that
 * disconnects mid-frame loses only that frame.
 *
 * Only resolvers are heard: a unix socket is mode 0660 (its group the
 * resolver's), TCP connections come from allowed addresses only, with TLS
 * and a client certificate when configured (Unbound's dnstap-tls). A
 * connection that has not finished its handshake in time, or stays silent,
 * is closed; an event dated too far from the time it arrives is dropped
 * (a resolver's clock cannot hold an M6 decision open). Counted per reason,
 * never logged with content.
 */
import { chmodSync, chownSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { ListenerStatus } from '../../core/listeners.js';
import { decodeDnstap, DnstapDecodeError, dnstapIdentity, type DnsEvent } from './dnstap.js';
import { FrameStreamError, FrameStreamReader } from './frame-stream.js';
import { unmapIPv4 } from '../../core/net-address.js';

export interface DnstapReceiverOptions {
  /** Unix socket paths to listen on (BIND's dnstap-output unix, Unbound's dnstap-socket-path). */
  unix?: string[];
  /** The group that may connect to the unix sockets (the resolver's: bind, unbound), by name or id; mode 0660. */
  unixGroup?: string | number;
  tcp?: Array<{ host: string; port: number }>;
  /** Addresses or prefixes ("192.0.2.0/28") of the resolvers that may connect over TCP; everyone else is closed at once. */
  allow?: string[];
  /** TLS on the TCP listeners, PEM: the server's certificate and key, and the CA that signed the resolvers' client certificates. */
  tls?: { cert: string | Buffer; key: string | Buffer; ca: string | Buffer };
  maxFrameBytes?: number;
  /** Events waiting for the sink before new ones are dropped. */
  maxQueuedEvents?: number;
  maxConnections?: number;
  /** Connections open at once from one address (unix sockets: all together). */
  maxConnectionsPerSource?: number;
  /** From connect to START allowed (TLS and Frame Streams handshakes). */
  handshakeTimeoutMs?: number;
  /** A connection with nothing received for this long is closed. */
  idleTimeoutMs?: number;
  /** How far an event's own time may be ahead of, or behind, the time it arrives; outside, it is dropped. */
  maxAheadMs?: number;
  maxBehindMs?: number;
  /** Events per call of the sink. */
  batchSize?: number;
}

/** Why connections were closed or events dropped before reaching the sink (the `errors` of the status, besides decoding reasons). */
export const REFUSALS = [
  'refused-address',
  'refused-source-cap',
  'refused-connection-cap',
  'tls-failed',
  'handshake-timeout',
  'idle-timeout',
  'clock-skew',
] as const;

/** A group name or id to a gid (/etc/group): Node has no getgrnam. */
function groupId(group: string | number): number {
  if (typeof group === 'number' || /^\d+$/.test(group)) return Number(group);
  const line = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .find((l) => l.split(':')[0] === group);
  const gid = line?.split(':')[2];
  if (gid === undefined || !/^\d+$/.test(gid)) throw new Error(`dnstap: no group "${group}" in /etc/group (unixGroup)`);
  return Number(gid);
}

/** Takes a batch of events of one resolver; a promise makes the receiver wait (its queue bounds the wait). */
export type DnstapSink = (events: DnsEvent[], resolver: string) => void | Promise<void>;

export interface DnstapStatus {
  connections: number;
  accepted: number;
  frames: number;
  events: number;
  dropped: number;
  errors: Record<string, number>;
}

/** What one resolver (by its dnstap identity, or its connection's label) sent: frames, events dropped by any reason, when. */
export interface ResolverTally {
  frames: number;
  dropped: number;
  lastSeenMs: number;
}
/** Bounded by the resolvers a site runs; beyond, the rest are counted together as "(other)". */
const MAX_TALLIED_RESOLVERS = 256;

/**
 * The `dnstap-input` capability: the core's dnstap receiver, started for a measure that declares the
 * names queried (dns.qname), with the measure's own listener settings.
 */
export interface DnstapInput {
  start(options: DnstapReceiverOptions, sink: DnstapSink): Promise<DnstapReceiver>;
}

export class DnstapReceiver {
  private readonly servers: net.Server[] = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly counters = { accepted: 0, frames: 0, events: 0, dropped: 0 };
  private readonly errors = new Map<string, number>();
  private readonly perSource = new Map<string, number>();
  private readonly tallies = new Map<string, ResolverTally>();
  private readonly allowList = new net.BlockList();
  /** Never listens: accepted TCP connections are handed to it for the TLS handshake and its client-certificate check. */
  private tlsServer: tls.Server | undefined;
  private readonly tlsStarted = new Map<string, () => void>();
  private queue: Array<{ resolver: string; events: DnsEvent[] }> = [];
  private queued = 0;
  private flushing: Promise<void> | undefined;
  private flushScheduled = false;
  readonly addresses: { unix: string[]; tcp: Array<{ host: string; port: number }> } = { unix: [], tcp: [] };

  private constructor(
    private readonly o: Required<Omit<DnstapReceiverOptions, 'unix' | 'unixGroup' | 'tcp' | 'allow' | 'tls'>>,
    private readonly sink: DnstapSink,
  ) {}

  static async start(options: DnstapReceiverOptions, sink: DnstapSink): Promise<DnstapReceiver> {
    const r = new DnstapReceiver(
      {
        maxFrameBytes: options.maxFrameBytes ?? 256 * 1024,
        maxQueuedEvents: options.maxQueuedEvents ?? 200_000,
        maxConnections: options.maxConnections ?? 64,
        batchSize: options.batchSize ?? 4096,
        maxConnectionsPerSource: options.maxConnectionsPerSource ?? 4,
        handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
        idleTimeoutMs: options.idleTimeoutMs ?? 300_000,
        maxAheadMs: options.maxAheadMs ?? 60_000,
        maxBehindMs: options.maxBehindMs ?? 600_000,
      },
      sink,
    );
    for (const a of options.allow ?? ['127.0.0.1', '::1']) {
      const [address, length] = a.split('/');
      const family = net.isIPv6(address!) ? 'ipv6' : 'ipv4';
      if (!net.isIP(address!)) throw new Error(`dnstap: allow: "${a}" is not an address or prefix`);
      if (length === undefined) r.allowList.addAddress(address!, family);
      else r.allowList.addSubnet(address!, Number(length), family);
    }
    if (options.tls) {
      r.tlsServer = tls.createServer(
        {
          cert: options.tls.cert,
          key: options.tls.key,
          ca: options.tls.ca,
          minVersion: 'TLSv1.2',
          requestCert: true,
          rejectUnauthorized: true,
        },
        (secure) => {
          const key = `${unmapIPv4(secure.remoteAddress ?? '')}|${secure.remotePort}`;
          const started = r.tlsStarted.get(key);
          r.tlsStarted.delete(key);
          if (!started || !secure.authorized) {
            r.count('tls-failed');
            secure.destroy();
            return;
          }
          r.serve(secure, `tls:${unmapIPv4(secure.remoteAddress ?? '')}`, started);
        },
      );
      r.tlsServer.on('tlsClientError', () => r.count('tls-failed'));
    }
    try {
      for (const path of options.unix ?? []) {
        // A socket file left by an earlier run would make listen fail; only a socket is removed.
        if (existsSync(path)) {
          if (!statSync(path).isSocket()) throw new Error(`dnstap: ${path} exists and is not a socket`);
          rmSync(path);
        }
        const s = await r.listen((server) => server.listen(path), `unix:${path}`);
        // The resolver runs as its own user (bind, unbound): its group may connect, nobody else.
        if (options.unixGroup !== undefined) chownSync(path, -1, groupId(options.unixGroup));
        chmodSync(path, 0o660);
        r.servers.push(s);
        r.addresses.unix.push(path);
      }
      for (const t of options.tcp ?? []) {
        const s = await r.listen((server) => server.listen(t.port, t.host), null);
        r.servers.push(s);
        const a = s.address() as net.AddressInfo;
        r.addresses.tcp.push({ host: a.address, port: a.port });
      }
    } catch (err) {
      await r.stop();
      throw err;
    }
    return r;
  }

  private listen(bind: (s: net.Server) => void, label: string | null): Promise<net.Server> {
    const server = net.createServer((socket) => this.accept(socket, label));
    server.maxConnections = this.o.maxConnections;
    server.on('drop', () => this.count('refused-connection-cap'));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.once('listening', () => {
        server.off('error', reject);
        resolve(server);
      });
      bind(server);
    });
  }

  private count(reason: string, n = 1): void {
    this.errors.set(reason, (this.errors.get(reason) ?? 0) + n);
  }

  /** A new connection: checked (address, caps), timed, wrapped in TLS when configured, then served. */
  private accept(raw: net.Socket, unixLabel: string | null): void {
    const address = unixLabel === null ? unmapIPv4(raw.remoteAddress ?? '') : unixLabel;
    if (unixLabel === null && !this.allowList.check(address, net.isIPv6(address) ? 'ipv6' : 'ipv4')) {
      this.count('refused-address');
      raw.destroy();
      return;
    }
    const open = this.perSource.get(address) ?? 0;
    if (open >= this.o.maxConnectionsPerSource) {
      this.count('refused-source-cap');
      raw.destroy();
      return;
    }
    this.perSource.set(address, open + 1);
    this.sockets.add(raw);
    raw.on('close', () => {
      this.sockets.delete(raw);
      const n = (this.perSource.get(address) ?? 1) - 1;
      if (n > 0) this.perSource.set(address, n);
      else this.perSource.delete(address);
    });
    raw.on('error', () => this.count('connection-error'));
    const handshake = setTimeout(() => {
      this.count('handshake-timeout');
      raw.destroy();
    }, this.o.handshakeTimeoutMs);
    raw.on('close', () => clearTimeout(handshake));
    const started = () => clearTimeout(handshake);
    if (unixLabel !== null || !this.tlsServer) {
      this.serve(raw, unixLabel ?? `tcp:${address}`, started);
      return;
    }
    const key = `${address}|${raw.remotePort}`;
    this.tlsStarted.set(key, started);
    raw.on('close', () => this.tlsStarted.delete(key));
    // The TLS server checks the client certificate against the CA (rejectUnauthorized) before it hands the socket back.
    this.tlsServer.emit('connection', raw);
  }

  private serve(socket: net.Socket, label: string, started: () => void): void {
    this.counters.accepted++;
    let resolver = label;
    let named = false;
    let tally: ResolverTally = { frames: 0, dropped: 0, lastSeenMs: 0 };
    let batch: DnsEvent[] = [];
    let now = Date.now();
    const reader = new FrameStreamReader(
      {
        data: (frame) => {
          this.counters.frames++;
          if (!named) {
            resolver = dnstapIdentity(frame) ?? label;
            named = true;
            tally = this.tallyOf(resolver);
          }
          tally.frames++;
          tally.lastSeenMs = now;
          let event: DnsEvent;
          try {
            event = decodeDnstap(frame);
          } catch (err) {
            if (err instanceof DnstapDecodeError) {
              this.count(err.reason);
              tally.dropped++;
              return;
            }
            throw err;
          }
          if (event.timeMs > now + this.o.maxAheadMs || event.timeMs < now - this.o.maxBehindMs) {
            this.count('clock-skew');
            tally.dropped++;
            return;
          }
          if (this.queued >= this.o.maxQueuedEvents) {
            this.counters.dropped++;
            tally.dropped++;
            return;
          }
          this.counters.events++;
          this.queued++;
          batch.push(event);
          if (batch.length >= this.o.batchSize) {
            this.queue.push({ resolver, events: batch });
            batch = [];
          }
        },
        reply: (bytes) => {
          socket.write(bytes);
        },
        finished: () => {
          socket.end();
        },
      },
      this.o.maxFrameBytes,
    );
    socket.setTimeout(this.o.idleTimeoutMs, () => {
      this.count('idle-timeout');
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      now = Date.now();
      try {
        reader.feed(chunk);
        // A resolver may hold its frames a while after START (BIND buffers): the handshake ends at START.
        if (reader.started) started();
      } catch (err) {
        if (!(err instanceof FrameStreamError)) throw err;
        this.count(err.reason);
        socket.destroy();
      }
      if (batch.length > 0) {
        this.queue.push({ resolver, events: batch });
        batch = [];
      }
      this.scheduleFlush();
    });
    if (socket instanceof tls.TLSSocket) socket.on('error', () => this.count('connection-error'));
    socket.on('close', () => {
      if (!reader.stopped) this.count('closed-without-stop');
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.queue.length === 0) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushing ??= this.flush().finally(() => {
        this.flushing = undefined;
        this.scheduleFlush();
      });
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const next = this.queue.shift()!;
      try {
        await this.sink(next.events, next.resolver);
      } catch {
        this.count('sink-failed', next.events.length);
      }
      this.queued -= next.events.length;
    }
  }

  /** Waits until every event received so far has been through the sink. */
  async drained(): Promise<void> {
    for (let i = 0; i < 1000 && (this.queue.length > 0 || this.flushing || this.flushScheduled); i++) {
      await (this.flushing ?? new Promise((r) => setImmediate(r)));
    }
  }

  private tallyOf(resolver: string): ResolverTally {
    const key = this.tallies.has(resolver) || this.tallies.size < MAX_TALLIED_RESOLVERS ? resolver : '(other)';
    let t = this.tallies.get(key);
    if (!t) this.tallies.set(key, (t = { frames: 0, dropped: 0, lastSeenMs: 0 }));
    return t;
  }

  /** Per resolver: frames received, events dropped (decoding, clock skew, backlog) and when it last sent a frame. */
  resolvers(): Map<string, ResolverTally> {
    return new Map([...this.tallies].map(([k, v]) => [k, { ...v }]));
  }

  status(): DnstapStatus {
    return { connections: this.sockets.size, ...this.counters, errors: Object.fromEntries(this.errors) };
  }

  /** The status as every listener reports it; events dropped because the sink was behind count as "backlog". */
  listener(): ListenerStatus {
    const { connections, accepted, frames, events, dropped, errors } = this.status();
    return { counts: { connections, accepted, frames, events }, refused: { ...errors, backlog: dropped } };
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    await this.drained();
    for (const path of this.addresses.unix) rmSync(path, { force: true });
  }
}
