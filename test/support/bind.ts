/**
 * BIND 9.18 for the DNS tests, on loopback only: a configuration of our own,
 * its own root zone (so it never asks the Internet), zone files written from
 * text, started in the foreground, stopped only after it has exited.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT_ZONE = '$TTL 60\n@ IN SOA localhost. root.localhost. 1 60 30 600 60\n@ IN NS localhost.\nlocalhost. IN A 127.0.0.1\n';

export interface Named {
  port: number;
  log(): string;
  stop(): Promise<void>;
}

/** `options` and `zones` are named.conf text; `files` are written into `dir` first. */
export async function startNamed(
  dir: string,
  port: number,
  opts: { options: string; zones: string; files: Record<string, string>; ready: RegExp; ipv6?: boolean },
): Promise<Named> {
  for (const [name, text] of Object.entries({ 'root.db': ROOT_ZONE, ...opts.files })) writeFileSync(join(dir, name), text);
  writeFileSync(
    join(dir, 'named.conf'),
    `options {
	directory "${dir}";
	pid-file "${dir}/named.pid";
	listen-on port ${port} { 127.0.0.1; };
	listen-on-v6 ${opts.ipv6 ? `port ${port} { ::1; }` : '{ none; }'};
	allow-query { 127.0.0.0/8;${opts.ipv6 ? ' ::1;' : ''} };
	dnssec-validation no;
	empty-zones-enable no;
${opts.options}
};
controls { };
zone "." { type primary; file "root.db"; };
${opts.zones}
`,
  );
  const check = spawnSync('named-checkconf', [join(dir, 'named.conf')], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`named.conf: ${check.stderr}${check.stdout}`);
  const p: ChildProcess = spawn('named', ['-g', '-u', 'root', '-c', join(dir, 'named.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  p.stderr!.on('data', (c: Buffer) => {
    log += c.toString();
  });
  p.stdout!.on('data', (c: Buffer) => {
    log += c.toString();
  });
  for (let i = 0; i < 100 && !opts.ready.test(log); i++) await new Promise((r) => setTimeout(r, 100));
  if (!opts.ready.test(log)) {
    p.kill();
    throw new Error(`named did not become ready: ${log.slice(-3000)}`);
  }
  return {
    port,
    log: () => log,
    stop: async () => {
      if (p.exitCode === null && p.signalCode === null)
        await new Promise((r) => {
          p.once('exit', r);
          p.kill();
        });
    },
  };
}

/** kdig, asynchronously (the servers under test may run in this process). */
export function kdig(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn('kdig', [...args, '+time=2', '+retry=0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    p.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    p.on('close', () => resolve(out));
  });
}
