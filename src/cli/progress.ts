/** Progress for long CLI operations, on stderr so that stdout stays clean for data. */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number): void;
  stop(): void;
}

export function progress(label: string, total: number): Progress {
  if (!process.stderr.isTTY) {
    // In logs and pipes, only long operations are worth progress lines (total 0: unknown length).
    if (total < 10_000) return { update() {}, stop() {} };
    let last = 0;
    return {
      update(done) {
        if (done - last >= Math.max(1, Math.floor(total / 10))) {
          process.stderr.write(`${label}: ${done}/${total}\n`);
          last = done;
        }
      },
      stop() {
        process.stderr.write(`${label}: done\n`);
      },
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total}`, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return { update: (d) => bar.update(d), stop: () => bar.stop() };
}
