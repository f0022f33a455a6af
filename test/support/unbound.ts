/**
 * Unbound 1.17 for the DNS tests and benchmarks, on loopback only: an RPZ
 * secondary of a given primary, forwarding everything else to a loopback
 * server (never to the root servers), opt-out by access-control-tag.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** rpzZone '' leaves out the policy zone; extra is appended to unbound.conf (e.g. a dnstap: clause). */
export interface UnboundOptions {
  port: number;
  rpzZone: string;
  primaryPort: number;
  forwardPort: number;
  optedOut?: string[];
  extra?: string;
  /** 1 unless set; 4 logs each transfer's kind ("last IXFR packet" / "last AXFR packet"). */
  verbosity?: number;
}
export interface Unbound {
  log(): string;
  stop(): Promise<void>;
}

export async function startUnbound(dir: string, o: UnboundOptions): Promise<Unbound> {
  writeFileSync(
    join(dir, 'unbound.conf'),
    `server:
	interface: 127.0.0.1
	port: ${o.port}
	do-ip6: no
	chroot: ""
	username: ""
	directory: "${dir}"
	pidfile: "${dir}/unbound.pid"
	use-syslog: no
	logfile: ""
	verbosity: ${o.verbosity ?? 1}
	do-not-query-localhost: no
	module-config: "respip iterator"
	define-tag: "filtered optout"
	access-control: 127.0.0.0/8 allow
	access-control-tag: 127.0.0.0/8 "filtered"
${(o.optedOut ?? []).map((a) => `\taccess-control: ${a}/32 allow\n\taccess-control-tag: ${a}/32 "optout"`).join('\n')}
${
  o.rpzZone
    ? `rpz:
	name: "${o.rpzZone}"
	primary: 127.0.0.1@${o.primaryPort}
	zonefile: "${dir}/rpz.zone"
	rpz-log: yes
	rpz-log-name: "${o.rpzZone}"
	tags: "filtered"`
    : ''
}
forward-zone:
	name: "."
	forward-addr: 127.0.0.1@${o.forwardPort}
${o.extra ?? ''}
`,
  );
  const p: ChildProcess = spawn('unbound', ['-d', '-c', join(dir, 'unbound.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  p.stderr!.on('data', (c: Buffer) => {
    log += c.toString();
  });
  p.stdout!.on('data', (c: Buffer) => {
    log += c.toString();
  });
  for (let i = 0; i < 100 && !/start of service/.test(log); i++) await new Promise((r) => setTimeout(r, 100));
  if (!/start of service/.test(log)) {
    p.kill();
    throw new Error(`unbound did not start: ${log.slice(-3000)}`);
  }
  return {
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
