/**
 * Reading nfdump files (what nfcapd wrote) through the `nfdump` program, for
 * back-fill and as the reference decoder in the interop tests. One output
 * format, one parser.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { MamoriError } from '../../core/errors.js';

export interface NfdumpRecord {
  start: number;
  end: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  packets: number;
  bytes: number;
  tcpFlags: number;
  exporter: string;
}

/**
 * %ts/%te, not %tsr/%ter: nfdump 1.7.1 prints %ter's milliseconds wrong (e.g.
 * .066 for .566) while %te is right, checked against %td. ICMP shows in %dp as
 * "type.code". TCP flags print as "CEUAPRSF" with dots.
 */
export const NFDUMP_FORMAT = 'fmt:%ts|%te|%sa|%da|%sp|%dp|%pr|%pkt|%byt|%flg|%ra';

export class NfdumpError extends MamoriError {
  static override readonly code = 'nfdump';
  static override readonly status = 400;
  constructor(message: string) {
    super(message);
  }
}

function icmpOrPort(text: string): number {
  const [type, code] = text.split('.');
  return code === undefined ? Number(type) : Number(type) * 256 + Number(code);
}

function flags(text: string): number {
  // C E U A P R S F, most significant first.
  let v = 0;
  for (let i = 0; i < 8 && i < text.length; i++) if (text[i] !== '.') v |= 0x80 >> i;
  return v;
}

export function parseNfdumpLine(line: string): NfdumpRecord | undefined {
  if (!line.includes('|')) return undefined;
  const f = line.split('|').map((x) => x.trim());
  if (f.length < 11) return undefined;
  const [ts, te, sa, da, sp, dp, pr, pkt, byt, flg, ra] = f as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const start = Date.parse(`${ts.replace(' ', 'T')}Z`);
  const end = Date.parse(`${te.replace(' ', 'T')}Z`);
  if (Number.isNaN(start) || Number.isNaN(end)) return undefined;
  return {
    start,
    end,
    src: sa,
    dst: da,
    sport: Number(sp),
    dport: icmpOrPort(dp),
    proto: Number(pr),
    packets: Number(pkt),
    bytes: Number(byt),
    tcpFlags: flags(flg),
    exporter: ra,
  };
}

function args(path: string, directory: boolean): string[] {
  return [directory ? '-R' : '-r', path, '-q', '-N', '-6', '-o', NFDUMP_FORMAT];
}

export function haveNfdump(): boolean {
  return spawnSync('nfdump', ['-V'], { encoding: 'utf8' }).status === 0;
}

/** Streams the records of an nfdump file (or, with `directory`, every file below a directory). */
export async function* readNfdump(path: string, directory = false): AsyncGenerator<NfdumpRecord> {
  if (!haveNfdump()) throw new NfdumpError('nfdump is not installed (Debian: apt-get install nfdump)');
  const child = spawn('nfdump', args(path, directory), { env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    if (stderr.length < 4096) stderr += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  for await (const line of createInterface({ input: child.stdout })) {
    const r = parseNfdumpLine(line);
    if (r) yield r;
  }
  const code = await exited;
  if (code !== 0) throw new NfdumpError(`nfdump could not read ${path}: ${stderr.trim().split('\n')[0] ?? `exit ${code}`}`);
}
