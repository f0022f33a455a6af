/**
 * The core's one RPZ primary and the zones measures serve from it — as CoreDNS plugins register the
 * zones they serve with one server. One listener, one list of resolvers that may transfer, one NOTIFY
 * list, one set of TSIG keys (the configuration's `rpz` section); a measure that declares the output
 * "rpz-rules" gets a PolicyZoneWriter from the broker and registers its zones through it. The primary
 * starts with the first zone and stops with the instance.
 */
import type { MeasureDeclaration } from '../core/measure.js';
import type { ListenerStatus } from '../core/listeners.js';
import { RpzPrimary, type NotifyResult, type SecondaryTransfer } from './primary.js';
import type { RpzZone } from './rpz.js';
import { primaryConfig, primaryEndpoint, type ServingSettings } from './serving-settings.js';

/** A zone served by the primary. */
export interface ServedZone {
  /** host:port resolvers transfer it from. */
  readonly endpoint: string;
  readonly host: string;
  readonly port: number;
  /** The TSIG key resolvers sign with, if keys are configured (its name only: the secret stays in the configuration). */
  readonly tsigKeyName: string | undefined;
  /** Publishes the zone's staged changes as one serial and NOTIFYs the resolvers. */
  changed(): Promise<NotifyResult[]>;
  /** Stops serving it (the measure stopped). */
  withdraw(): void;
}

/** A name another served zone has a QNAME rule for (at it, under it, or a wildcard above it). */
export interface RuleElsewhere {
  name: string;
  zone: string;
}

/** The `policy-zone-writer` capability. */
export interface PolicyZoneWriter {
  serve(zone: RpzZone, options?: { refresh?: number }): Promise<ServedZone>;
  /**
   * Of `names`, those a QNAME rule (not passthru) of another served zone acts on, `except` the caller's own zones:
   * a zone of passthru names listed before those zones would lift their rules for every client.
   */
  rulesElsewhere(names: readonly string[], except: readonly string[]): RuleElsewhere[];
  /** The other zones' origins and serials: changes when one of them publishes (time to check `rulesElsewhere` again). */
  versionElsewhere(except: readonly string[]): string;
}

export class PolicyZones {
  private primary: Promise<RpzPrimary> | undefined;
  private started: RpzPrimary | undefined;

  constructor(private readonly settings: ServingSettings) {}

  private ensure(): Promise<RpzPrimary> {
    this.primary ??= RpzPrimary.start([], primaryConfig(this.settings)).then(
      (p) => {
        this.started = p;
        return p;
      },
      (err: unknown) => {
        this.primary = undefined;
        throw err;
      },
    );
    return this.primary;
  }

  /** What the broker hands a measure that declares "rpz-rules". */
  writerFor(_measure: MeasureDeclaration): PolicyZoneWriter {
    return {
      serve: async (zone, options = {}) => {
        const p = await this.ensure();
        p.serve(zone, options.refresh);
        const host = this.settings.primary.host;
        return {
          endpoint: primaryEndpoint(host, p.port),
          host,
          port: p.port,
          tsigKeyName: this.settings.tsig[0]?.name,
          changed: () => p.changed(zone),
          withdraw: () => p.withdraw(zone.origin),
        };
      },
      rulesElsewhere: (names, except) =>
        this.others(except).flatMap((z) => z.qnameRulesOver(names).map((name) => ({ name, zone: z.origin }))),
      versionElsewhere: (except) =>
        this.others(except)
          .map((z) => `${z.origin}@${z.serial}`)
          .sort()
          .join(' '),
    };
  }

  private others(except: readonly string[]): RpzZone[] {
    return (this.started?.served() ?? []).filter((z) => !except.includes(z.origin));
  }

  /** The primary's counts and refusals, once it listens. */
  listener(): ListenerStatus | undefined {
    return this.started?.listener();
  }

  /** Each secondary's last transfer of each zone (none before the primary listens). */
  secondaries(): SecondaryTransfer[] {
    return this.started?.secondaries() ?? [];
  }

  /** The zones served now. */
  get origins(): string[] {
    return this.started?.origins ?? [];
  }

  async stop(): Promise<void> {
    const p = await this.primary?.catch(() => undefined);
    this.primary = undefined;
    this.started = undefined;
    await p?.stop();
  }
}
