/**
 * Debian's FreeRADIUS as a peer for tests and benchmarks: a private copy of
 * its configuration with only the virtual server, clients and modules given,
 * its logs and run files inside that copy, started in the foreground on
 * loopback, ready when it says so.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A port nobody listens on now (TCP probe; good enough for UDP on loopback in tests). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export interface FreeRadius {
  dir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startFreeRadius(
  dir: string,
  opts: { site: string; clients: string; mods?: Record<string, string>; files?: Record<string, string> },
): Promise<FreeRadius> {
  rmSync(dir, { recursive: true, force: true });
  cpSync('/etc/freeradius/3.0', dir, { recursive: true, dereference: true });
  for (const f of readdirSync(join(dir, 'sites-enabled'))) rmSync(join(dir, 'sites-enabled', f));
  // Modules that need certificates or an Auth-Type of their own: not wanted here.
  for (const m of ['eap', 'mschap', 'ntlm_auth', 'soh', 'cache_eap', 'digest']) rmSync(join(dir, 'mods-enabled', m), { force: true });
  writeFileSync(join(dir, 'sites-enabled', 'test'), opts.site);
  writeFileSync(join(dir, 'clients.conf'), opts.clients);
  for (const [name, text] of Object.entries(opts.mods ?? {})) writeFileSync(join(dir, 'mods-enabled', name), text);
  for (const [path, text] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, path), text);
  mkdirSync(join(dir, 'log', 'radacct'), { recursive: true });
  mkdirSync(join(dir, 'run'), { recursive: true });
  writeFileSync(
    join(dir, 'radiusd.conf'),
    readFileSync(join(dir, 'radiusd.conf'), 'utf8')
      .replace(/^logdir = .*$/m, `logdir = ${join(dir, 'log')}`)
      .replace(/^run_dir = .*$/m, `run_dir = ${join(dir, 'run')}`)
      .replace(/^(\s*)(user|group) = freerad$/gm, '$1#$2 = freerad'),
  );
  const p = spawn('freeradius', ['-f', '-d', dir, '-l', 'stdout'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  p.stderr!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  for (let i = 0; i < 100 && !out.includes('Ready to process requests'); i++) await new Promise((r) => setTimeout(r, 100));
  if (!out.includes('Ready to process requests')) {
    p.kill();
    throw new Error(`freeradius did not start: ${out.slice(-2000)}`);
  }
  return {
    dir,
    process: p,
    // Waits for the exit before removing the directory: it may still be writing its logs.
    stop: async () => {
      if (p.exitCode === null && p.signalCode === null)
        await new Promise((r) => {
          p.once('exit', r);
          p.kill();
        });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * radclient as a child process, asynchronously (the server answering it may run
 * in this process): one request of `code` with the attribute lines given.
 */
export function radclient(
  port: number,
  code: 'acct' | 'auth' | 'disconnect' | 'coa',
  secret: string,
  attributes: string,
  o: { timeoutS?: number } = {},
): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('radclient', ['-r', '1', '-t', String(o.timeoutS ?? 2), '-x', `127.0.0.1:${port}`, code, secret], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    p.stderr!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('error', reject);
    p.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, out });
    });
    p.stdin!.end(attributes);
  });
}
