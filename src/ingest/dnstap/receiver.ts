/**
 * The dnstap receiver: Frame Streams over unix sockets and TCP from several
 * resolvers at once, each frame decoded and minimised at once (dnstap.ts),
 * events handed to the sink in batches. Bounded everywhere: connections,
 * frame size, events waiting for the sink (beyond that, new events are
 * dropped and counted); a resolver that disconnects mid-frame loses only that
 * frame. Counted per reason, never logged with content.
 */
import { chmodSync, existsSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { decodeDnstap, DnstapDecodeError, dnstapIdentity, type DnsEvent } from './dnstap.js';
import { FrameStreamError, FrameStreamReader } from './frame-stream.js';

export interface DnstapReceiverOptions {
  /** Unix socket paths to listen on (BIND's dnstap-output unix, Unbound's dnstap-socket-path). */
  unix?: string[];
  tcp?: Array<{ host: string; port: number }>;
  maxFrameBytes?: number;
  /** Events waiting for the sink before new ones are dropped. */
  maxQueuedEvents?: number;
  maxConnections?: number;
  /** Events per call of the sink. */
  batchSize?: number;
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

export class DnstapReceiver {
  private readonly servers: net.Server[] = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly counters = { accepted: 0, frames: 0, events: 0, dropped: 0 };
  private readonly errors = new Map<string, number>();
  private queue: Array<{ resolver: string; events: DnsEvent[] }> = [];
  private queued = 0;
  private flushing: Promise<void> | undefined;
  private flushScheduled = false;
  readonly addresses: { unix: string[]; tcp: Array<{ host: string; port: number }> } = { unix: [], tcp: [] };

  private constructor(private readonly o: Required<Omit<DnstapReceiverOptions, 'unix' | 'tcp'>>, private readonly sink: DnstapSink) {}

  static async start(options: DnstapReceiverOptions, sink: DnstapSink): Promise<DnstapReceiver> {
    const r = new DnstapReceiver({
      maxFrameBytes: options.maxFrameBytes ?? 256 * 1024, maxQueuedEvents: options.maxQueuedEvents ?? 200_000,
      maxConnections: options.maxConnections ?? 64, batchSize: options.batchSize ?? 4096,
    }, sink);
    try {
      for (const path of options.unix ?? []) {
        // A socket file left by an earlier run would make listen fail; only a socket is removed.
        if (existsSync(path)) {
          if (!statSync(path).isSocket()) throw new Error(`dnstap: ${path} exists and is not a socket`);
          rmSync(path);
        }
        const s = await r.listen((server) => server.listen(path), `unix:${path}`);
        // The resolver runs as its own user (bind, unbound): it must be able to connect.
        chmodSync(path, 0o666);
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
    const server = net.createServer((socket) => this.serve(socket, label ?? `tcp:${socket.remoteAddress}`));
    server.maxConnections = this.o.maxConnections;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.once('listening', () => { server.off('error', reject); resolve(server); });
      bind(server);
    });
  }

  private count(reason: string, n = 1): void { this.errors.set(reason, (this.errors.get(reason) ?? 0) + n); }

  private serve(socket: net.Socket, label: string): void {
    this.sockets.add(socket);
    this.counters.accepted++;
    let resolver = label;
    let named = false;
    let batch: DnsEvent[] = [];
    const reader = new FrameStreamReader({
      data: (frame) => {
        this.counters.frames++;
        if (!named) { resolver = dnstapIdentity(frame) ?? label; named = true; }
        let event: DnsEvent;
        try { event = decodeDnstap(frame); } catch (err) {
          if (err instanceof DnstapDecodeError) { this.count(err.reason); return; }
          throw err;
        }
        if (this.queued >= this.o.maxQueuedEvents) { this.counters.dropped++; return; }
        this.counters.events++;
        this.queued++;
        batch.push(event);
        if (batch.length >= this.o.batchSize) { this.queue.push({ resolver, events: batch }); batch = []; }
      },
      reply: (bytes) => { socket.write(bytes); },
      finished: () => { socket.end(); },
    }, this.o.maxFrameBytes);
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.feed(chunk);
      } catch (err) {
        if (!(err instanceof FrameStreamError)) throw err;
        this.count(err.reason);
        socket.destroy();
      }
      if (batch.length > 0) { this.queue.push({ resolver, events: batch }); batch = []; }
      this.scheduleFlush();
    });
    socket.on('error', () => this.count('connection-error'));
    socket.on('close', () => {
      if (!reader.stopped) this.count('closed-without-stop');
      this.sockets.delete(socket);
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.queue.length === 0) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushing ??= this.flush().finally(() => { this.flushing = undefined; this.scheduleFlush(); });
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

  status(): DnstapStatus {
    return { connections: this.sockets.size, ...this.counters, errors: Object.fromEntries(this.errors) };
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    await this.drained();
    for (const path of this.addresses.unix) rmSync(path, { force: true });
  }
}
