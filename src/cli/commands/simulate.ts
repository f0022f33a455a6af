/** `mamori` commands: the synthetic ISP. */
import { createWriteStream } from 'node:fs';
import { isIP } from 'node:net';
import { DEFAULT_FAMILIES, simulateIsp } from '../../simulate/isp.js';
import { sendIpfix } from '../../simulate/ipfix-exporter.js';
import { progress } from '../progress.js';
import { UsageError, isoTime } from '../context.js';
import type { Command } from 'commander';

/** A period of `hours` ending at the current minute (now's seconds dropped, so flows never lie in the future). */
export function simulatedStartEndingNow(hours: number, now = Date.now()): Date {
  return new Date(Math.floor(now / 60_000) * 60_000 - hours * 3_600_000);
}

export function simulateCommands(program: Command): void {
  const simulate = program.command('simulate').description('synthetic test data, sent through the real protocols');
  simulate
    .command('flows')
    .description(
      'a synthetic ISP (subscribers, CDNs, benign periodic ' +
        'services, botnets) exported as IPFIX to ' +
        'a collector on this machine; writes the ground truth',
    )
    .option('--seed <n>', 'random seed', (v) => Number(v), 1)
    .option('--subscribers <n>', 'subscribers', (v) => Number(v), 2000)
    .option('--hours <n>', 'length of the simulated period', (v) => Number(v), 24)
    .option('--start <time>', "start of the simulated period (default: so that it ends now, inside M1's window)", isoTime)
    .option('--to <host:port>', 'the collector (loopback only)', '127.0.0.1:2055')
    .option('--rate <records/s>', 'sending rate', (v) => Number(v), 200_000)
    .option('--truth <file>', 'write the ground truth (endpoints and their labels) as JSON')
    .action(async (o: { seed: number; subscribers: number; hours: number; start?: string; to: string; rate: number; truth?: string }) => {
      const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(o.to);
      const host = m?.[1] ?? m?.[2];
      if (!m || !host || isIP(host) === 0) throw new UsageError(`--to ${o.to}: write ADDRESS:PORT, e.g. 127.0.0.1:2055 or [::1]:2055`);
      if (!(host.startsWith('127.') || host === '::1'))
        throw new UsageError(`--to ${o.to}: the simulator sends only to this machine (127.0.0.0/8 or ::1)`);
      for (const [name, v, max] of [
        ['--subscribers', o.subscribers, 1_000_000],
        ['--hours', o.hours, 24 * 14],
        ['--rate', o.rate, 10_000_000],
      ] as const) {
        if (!Number.isInteger(v) || v < 1 || v > max) throw new UsageError(`${name} ${v}: a whole number from 1 to ${max}`);
      }
      // Ending now (to the minute): a fixed date would put the flows outside M1's rolling window.
      const start = o.start ? new Date(o.start) : simulatedStartEndingNow(o.hours);
      const sim = simulateIsp({ seed: o.seed, subscribers: o.subscribers, hours: o.hours, start, families: DEFAULT_FAMILIES });
      if (o.truth)
        createWriteStream(o.truth).end(
          JSON.stringify(
            { seed: o.seed, subscribers: o.subscribers, hours: o.hours, start: start.toISOString(), endpoints: sim.truth },
            null,
            1,
          ),
        );
      const bar = progress('records sent', 0);
      const r = await sendIpfix(sim.flows(), host, Number(m[3]), o.rate, (n) => bar.update(n));
      bar.stop();
      process.stdout.write(`period ${start.toISOString()} – ${new Date(start.getTime() + o.hours * 3_600_000).toISOString()}\n`);
      process.stdout.write(
        `sent ${r.records} flow records in ${r.datagrams} IPFIX ` +
          `datagrams to ${o.to} in ${r.seconds.toFixed(1)} ` +
          (`s; ${sim.truth.filter((t) => t.truth === 'cc').length} ` + `C&C endpoints in the ground truth\n`),
      );
    });
}
