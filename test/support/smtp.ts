/**
 * A real SMTP server for tests: Debian's python3-aiosmtpd writing a Maildir on loopback, and the
 * delivered messages decoded just enough to read subject and text.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

const PYTHON = '/usr/bin/python3';

export async function startSink(port: number, maildir: string): Promise<ChildProcess> {
  const p = spawn(PYTHON, ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Mailbox', maildir], {
    stdio: 'ignore',
  });
  // Ready when it accepts connections (bounded wait).
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        r(true);
      });
      c.once('error', () => r(false));
    });
    if (ok) return p;
    await new Promise((r) => setTimeout(r, 100));
  }
  p.kill();
  throw new Error('the SMTP sink did not start');
}

/** The delivered messages of a Maildir, decoded just enough to read subject and text. */
export function delivered(maildir: string): Array<{ raw: string; subject: string; text: string }> {
  const dir = join(maildir, 'new');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).map((f) => {
    const raw = readFileSync(join(dir, f), 'utf8');
    const [head, ...rest] = raw.split(/\r?\n\r?\n/);
    const subjectLine = /^Subject: (.*(?:\r?\n[ \t].*)*)/m.exec(head!)?.[1] ?? '';
    const subject = subjectLine
      .replace(/\r?\n[ \t]/g, ' ')
      .replace(/=\?UTF-8\?([BQ])\?([^?]*)\?=\s?/gi, (_, enc: string, data: string) =>
        enc.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : decodeQp(data.replace(/_/g, ' ')),
      );
    const body = rest.join('\n\n');
    const text = /Content-Transfer-Encoding: base64/i.test(head!)
      ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
      : /quoted-printable/i.test(head!)
        ? decodeQp(body)
        : body;
    return { raw, subject, text };
  });
}

function decodeQp(s: string): string {
  const bytes: number[] = [];
  const src = s.replace(/=\r?\n/g, '');
  for (let i = 0; i < src.length; i++) {
    if (src[i] === '=' && /^[0-9A-F]{2}$/i.test(src.slice(i + 1, i + 3))) {
      bytes.push(parseInt(src.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(src[i]!));
  }
  return Buffer.from(bytes).toString('utf8');
}
