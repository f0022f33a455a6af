/**
 * The core's shared inputs (the flow inlet, the RADIUS accounting server): each listens while at least one running
 * measure holds a capability that reads it, and stops when the last holder stops. Nothing is collected for a purpose
 * no running measure declared, and a measure reaches an input only through the broker's grant.
 */
import { CapabilityRefusedError, type CapabilityProvider } from '../core/capabilities.js';

export class SharedInput<T extends { stop(): Promise<unknown> }> {
  private readonly holders = new Set<string>();
  private starting: Promise<T> | undefined;
  private started: T | undefined;

  constructor(
    readonly name: string,
    private readonly open: () => Promise<T>,
  ) {}

  /** Started on the first holder; every later holder shares it. A start that fails leaves nothing held. */
  async acquire(holder: string): Promise<T> {
    this.holders.add(holder);
    try {
      this.starting ??= this.open().then((t) => (this.started = t));
      return await this.starting;
    } catch (err) {
      this.holders.delete(holder);
      this.starting = undefined;
      throw err;
    }
  }

  /** The holder is done; the input stops when nobody holds it. */
  async release(holder: string): Promise<void> {
    if (!this.holders.delete(holder) || this.holders.size > 0) return;
    await this.stop();
  }

  /** Running now (for status, metrics and readiness), or undefined. */
  current(): T | undefined {
    return this.started;
  }

  /** Stopped whoever holds it (the server is closing). */
  async stop(): Promise<void> {
    this.holders.clear();
    const starting = this.starting;
    this.starting = undefined;
    this.started = undefined;
    if (starting) await (await starting.catch(() => undefined))?.stop();
  }

  /**
   * A provider that grants `inner` (or, without it, the input's own handle) while holding the input for the measure.
   * `only`, when given, names the one measure the input may be held by, and why.
   */
  provider<H>(
    grant: (input: T, measure: Parameters<CapabilityProvider>[0]) => H,
    only?: { measure: string; why: string },
  ): CapabilityProvider {
    return async (measure, hold) => {
      if (only && measure.id !== only.measure) throw new CapabilityRefusedError(measure.id, this.name, only.why);
      const input = await this.acquire(measure.id);
      hold(this.name, () => this.release(measure.id));
      return grant(input, measure);
    };
  }
}
