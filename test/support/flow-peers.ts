/**
 * The real peers of flow ingest: softflowd as an exporter, nfcapd/nfdump as
 * the reference collector and decoder. All traffic stays on 127.0.0.1.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readNfdump } from '../../src/ingest/flow/nfdump.js';
import { join } from 'node:path';

/**
 * Whether a peer is installed. Outside CI a missing peer skips its tests with
 * a notice; in CI (CI=true) it is an error, so a green CI always means the
 * interop tests ran.
 */
export function have(command: string): boolean {
  const found = spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
  if (!found && process.env.CI === 'true')
    throw new Error(`${command} is not installed, and CI must run the interop tests (see test/debian-packages.txt)`);
  return found;
}

/** Whether Debian's Python has a module (e.g. aiosmtpd from python3-aiosmtpd); in CI a missing one is an error. */
export function havePythonModule(module: string): boolean {
  const found = spawnSync('/usr/bin/python3', ['-c', `import ${module}`]).status === 0;
  if (!found && process.env.CI === 'true')
    throw new Error(`python module ${module} is not installed, and CI must run the interop tests (see test/debian-packages.txt)`);
  return found;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Collects every datagram sent to a loopback port, in arrival order. */
export async function collectDatagrams(): Promise<{ port: number; datagrams: Buffer[]; close(): void }> {
  const socket = dgram.createSocket('udp4');
  const datagrams: Buffer[] = [];
  socket.on('message', (m) => datagrams.push(m));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return { port: socket.address().port, datagrams, close: () => socket.close() };
}

/** Runs softflowd over a traffic pcap and returns the export datagrams it sent. */
export async function softflowdExport(pcap: string, version: 5 | 9 | 10, workDir: string): Promise<Buffer[]> {
  const sink = await collectDatagrams();
  const args = [
    '-r',
    pcap,
    '-n',
    `127.0.0.1:${sink.port}`,
    '-v',
    String(version),
    '-c',
    'none',
    '-a',
    '-d',
    '-p',
    join(workDir, `softflowd-${version}.pid`),
    '-6',
  ];
  if (version === 10) args.push('-A', 'milli');
  const r = spawnSync('softflowd', args, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`softflowd failed (${r.status}): ${r.stderr}`);
  // Datagrams are already on the socket when softflowd exits; give the loop a moment to read them.
  for (let i = 0; i < 20 && sink.datagrams.length === 0; i++) await sleep(50);
  await sleep(200);
  sink.close();
  return sink.datagrams;
}

export interface ReferenceRecord {
  start: number;
  end: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  packets: number;
  bytes: number;
  tcpFlags?: number;
  samplingRate?: number;
}

/** Sends datagrams (paced) to a fresh nfcapd on loopback and returns once it has written its file. */
export async function nfcapdReceive(datagrams: readonly Buffer[], dir: string, port: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const child: ChildProcess = spawn('nfcapd', ['-w', dir, '-p', String(port), '-b', '127.0.0.1', '-t', '3600'], { stdio: 'ignore' });
  try {
    await sleep(500);
    const socket = dgram.createSocket('udp4');
    for (const d of datagrams) {
      await new Promise<void>((r, j) => socket.send(d, port, '127.0.0.1', (e) => (e ? j(e) : r())));
      await sleep(2); // nfcapd loses datagrams when flooded (DESIGN.md §5): pace the replay
    }
    socket.close();
    await sleep(2_500);
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  }
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('nfcapd.') && !f.includes('current')) : [];
  if (files.length === 0) throw new Error(`nfcapd wrote no file in ${dir}`);
}

/** Sends datagrams to a fresh nfcapd and reads back what nfdump decoded, record by record. */
export async function nfdumpDecode(datagrams: readonly Buffer[], dir: string, port: number): Promise<ReferenceRecord[]> {
  await nfcapdReceive(datagrams, dir, port);
  const records: ReferenceRecord[] = [];
  for await (const r of readNfdump(dir, true)) {
    records.push({
      start: r.start,
      end: r.end,
      src: r.src,
      dst: r.dst,
      sport: r.sport,
      dport: r.dport,
      proto: r.proto,
      packets: r.packets,
      bytes: r.bytes,
      tcpFlags: r.tcpFlags,
    });
  }
  return records;
}

/** nfcapd's own counters for what it received (`nfdump -I`): flows and sequence failures. */
export async function nfcapdCounters(
  datagrams: readonly Buffer[],
  dir: string,
  port: number,
): Promise<{ flows: number; sequenceFailures: number }> {
  await nfcapdReceive(datagrams, dir, port);
  const r = spawnSync('nfdump', ['-R', dir, '-I'], { encoding: 'utf8' });
  const read = (label: string) => {
    const m = new RegExp(`^${label}: (\\d+)`, 'm').exec(r.stdout);
    if (!m) throw new Error(`nfdump -I printed no "${label}": ${r.stdout}${r.stderr}`);
    return Number(m[1]);
  };
  return { flows: read('Flows'), sequenceFailures: read('Sequence failures') };
}

/** One sampled packet as test/support/sflow_wire.py reads it from the wire (scapy for the packet layers). */
export interface WireSample {
  family: 4 | 6;
  src: string;
  dst: string;
  proto: number;
  sport: number;
  dport: number;
  tcpFlags: number;
  packets: number;
  bytes: number;
  frameBytes: number;
  samplingRate: number;
}

/** The independent reading of sFlow captures (Python and scapy, nothing shared with the decoders under test). */
export function sflowWire(pcaps: readonly string[]): WireSample[] {
  const script = new URL('../../../test/support/sflow_wire.py', import.meta.url).pathname;
  const r = spawnSync('/usr/bin/python3', [script, ...pcaps], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`sflow_wire.py failed (${r.status}): ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as WireSample);
}

export interface SfacctdRecord {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  tcpFlags: number;
  packets: number;
  bytes: number;
}

/**
 * Sends sFlow datagrams to a fresh sfacctd (pmacct) and reads back what it
 * counted per (addresses, ports, protocol, TCP flags), renormalised by the
 * sampling rate. Its core process hands records to the print plugin on a
 * timer (about a second, measured here: nothing to wait for), and the plugin
 * writes them when it exits (SIGINT: it purges its cache on the way out). A
 * record it has not counted makes the caller's comparison fail, not pass.
 */
export async function sfacctdDecode(datagrams: readonly Buffer[], dir: string, port: number): Promise<SfacctdRecord[]> {
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'sfacctd.csv');
  const config = join(dir, 'sfacctd.conf');
  writeFileSync(
    config,
    [
      'daemonize: false',
      'sfacctd_ip: 127.0.0.1',
      `sfacctd_port: ${port}`,
      'plugins: print',
      'aggregate: src_host, dst_host, src_port, dst_port, proto, tcpflags',
      'print_output: csv',
      `print_output_file: ${out}`,
      'print_output_file_append: true',
      'print_refresh_time: 1',
      'print_num_protos: true',
      'sfacctd_renormalize: true',
      '',
    ].join('\n'),
  );
  const logFile = join(dir, 'sfacctd.log');
  const log = openSync(logFile, 'w');
  const child: ChildProcess = spawn('sfacctd', ['-f', config], { stdio: ['ignore', log, log] });
  closeSync(log);
  const listening = () => readFileSync(logFile, 'utf8').includes('waiting for sFlow data');
  const read = (): SfacctdRecord[] => {
    if (!existsSync(out)) return [];
    return readFileSync(out, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('SRC_IP'))
      .map((l) => {
        const [src, dst, sport, dport, flags, proto, pkts, bytes] = l.split(',') as [
          string,
          string,
          string,
          string,
          string,
          string,
          string,
          string,
        ];
        return {
          src,
          dst,
          sport: Number(sport),
          dport: Number(dport),
          tcpFlags: Number(flags),
          proto: Number(proto),
          packets: Number(pkts),
          bytes: Number(bytes),
        };
      });
  };
  try {
    for (let waited = 0; !listening(); waited += 50) {
      if (waited > 10_000 || child.exitCode !== null) {
        throw new Error(`sfacctd did not start: ${readFileSync(logFile, 'utf8').slice(-500)}`);
      }
      await sleep(50);
    }
    const socket = dgram.createSocket('udp4');
    for (const d of datagrams) {
      await new Promise<void>((r, j) => socket.send(d, port, '127.0.0.1', (e) => (e ? j(e) : r())));
      await sleep(2);
    }
    socket.close();
    await sleep(2_500);
  } finally {
    // sfacctd blocks SIGTERM in its core process; SIGINT is its clean exit (bounded here, then SIGKILL).
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
  }
  return read();
}
