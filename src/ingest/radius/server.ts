/**
 * The RADIUS accounting server (UDP, RFC 2866): it can be the NAS's own
 * accounting target or a copy target beside the ISP's real one. Each packet is
 * checked against its NAS's shared secret before anything in it is believed;
 * a valid one is applied to the session index and answered; a retransmission
 * (same NAS, port, identifier and authenticator) gets the same answer again
 * and is not applied twice; everything else is dropped and counted by reason.
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import type { SessionIndex } from '../../subscriber/sessions.js';
import { applyAccounting } from './apply.js';
import { accountingResponse, decodeAccounting, header, RadiusError, type Accounting } from './packet.js';

export interface RadiusServerConfig {
  listeners: Array<{ host: string; port: number }>;
  clients: Array<{ address: string; secret: string; name?: string | undefined }>;
}

export type { SessionEvent } from './apply.js';
import type { SessionEvent } from './apply.js';

export interface RadiusStatus {
  packets: number;
  applied: number;
  duplicates: number;
  /** Dropped packets by reason: unknown-nas, short, length, code, attribute, authenticator, missing, no-address. */
  dropped: Record<string, number>;
}

const DUPLICATE_WINDOW_MS = 30_000;
const DUPLICATE_CACHE = 65_536;

const unmap = (a: string) => (a.startsWith('::ffff:') ? a.slice(7) : a);

export class RadiusAccountingServer {
  private readonly counters: RadiusStatus = { packets: 0, applied: 0, duplicates: 0, dropped: {} };
  private readonly recent = new Map<string, { at: number; response: Buffer }>();

  private constructor(private readonly sockets: dgram.Socket[], private readonly clients: Map<string, { secret: Buffer; name: string }>, private readonly index: SessionIndex, private readonly onEvent: (e: SessionEvent) => void) {}

  static async start(config: RadiusServerConfig, index: SessionIndex, onEvent: (e: SessionEvent) => void = () => {}): Promise<RadiusAccountingServer> {
    const clients = new Map(config.clients.map((c) => [unmap(c.address), { secret: Buffer.from(c.secret), name: c.name ?? unmap(c.address) }]));
    const sockets: dgram.Socket[] = [];
    const server = new RadiusAccountingServer(sockets, clients, index, onEvent);
    for (const l of config.listeners) {
      const s = dgram.createSocket({ type: l.host.includes(':') ? 'udp6' : 'udp4', ipv6Only: false });
      s.on('message', (msg, rinfo) => server.receive(s, msg, rinfo));
      s.on('error', () => { /* counted nowhere better: the socket stays open */ });
      await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(l.port, l.host, () => { s.off('error', reject); resolve(); }); });
      sockets.push(s);
    }
    return server;
  }

  get addresses(): Array<{ host: string; port: number }> {
    return this.sockets.map((s) => { const a = s.address() as AddressInfo; return { host: a.address, port: a.port }; });
  }

  status(): RadiusStatus {
    return { ...this.counters, dropped: { ...this.counters.dropped } };
  }

  private drop(reason: string): void {
    this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + 1;
  }

  private receive(socket: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.counters.packets++;
    const client = this.clients.get(unmap(rinfo.address));
    if (!client) { this.drop('unknown-nas'); return; }
    let a: Accounting;
    try {
      const h = header(msg);
      const dupKey = `${rinfo.address}|${rinfo.port}|${h.identifier}|${msg.subarray(4, 20).toString('hex')}`;
      const seen = this.recent.get(dupKey);
      if (seen && Date.now() - seen.at < DUPLICATE_WINDOW_MS) {
        this.counters.duplicates++;
        socket.send(seen.response, rinfo.port, rinfo.address);
        return;
      }
      a = decodeAccounting(msg, client.secret);
      if (applyAccounting(this.index, a, client.name, this.onEvent)) this.counters.applied++;
      else this.drop('no-address');
      const response = accountingResponse(a.identifier, a.authenticator, client.secret);
      this.recent.set(dupKey, { at: Date.now(), response });
      if (this.recent.size > DUPLICATE_CACHE) this.recent.delete(this.recent.keys().next().value!);
      socket.send(response, rinfo.port, rinfo.address);
    } catch (err) {
      if (err instanceof RadiusError) { this.drop(err.reason); return; }
      throw err;
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
