/**
 * `mamori` commands: flow records (the inlet of M1). `flows import` goes
 * through the running server when there is one (its API), so live collection
 * keeps running; without a server it opens the analytics store itself.
 */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Command, Option } from 'commander';
import type { Config } from '../../core/config.js';
import { progress } from '../progress.js';
import {
  FlowImportError,
  FlowImportRefusedError,
  importFlowPcap,
  importNfdump,
  type ImportEntry,
  type PcapImportResult,
  type RunningImport,
} from '../../ingest/flow/import.js';
import { ImportRegistry } from '../../ingest/flow/import-registry.js';
import { UsageError, actor, apiToken, configOf, configuredServerUrl, withMamori } from '../context.js';

interface ImportFlags {
  nfdump?: boolean;
  force?: boolean;
  continue?: boolean;
  server?: string;
  tokenFile?: string;
  offline?: boolean;
}

/** Exit status when the file was cut short: its whole records were stored, the rest was not. */
export const EXIT_PARTIAL = 3;

export function flowCommands(program: Command): void {
  const flows = program.command('flows').description('flow records from routers (the inlet of M1)');
  flows
    .command('import')
    .argument('<file>', 'a pcap of NetFlow v5/v9, IPFIX or sFlow export datagrams; with --nfdump, an nfdump file or (offline) a directory')
    .option('--nfdump', 'the file is what nfcapd wrote (read through nfdump; a directory reads every file below it)')
    .option('--force', 'import even if this content was imported before (its flows are then stored twice)')
    .option('--continue', 'the pcap begins with a capture imported before (e.g. a copy that was cut short): store only what follows it')
    .option('--server <url>', 'import through this running server (default: the server of the configuration, if it answers)')
    .option('--token-file <file>', 'a file holding an API token (admin or operator) for the server; default: $MAMORI_TOKEN')
    .addOption(new Option('--offline', 'open the analytics store directly (only while no server runs)').conflicts('server'))
    .description('back-fill flows from a capture or from nfdump files; through the running server if there is one, else offline')
    .action(async (file: string, o: ImportFlags, cmd: Command) => {
      let size: number;
      let directory: boolean;
      try {
        const st = statSync(file);
        size = st.size;
        directory = st.isDirectory();
      } catch (err) {
        throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`);
      }
      if (directory && !o.nfdump) {
        throw new UsageError(`${file} is a directory: give a pcap file, or --nfdump for a directory of nfcapd files`);
      }
      if (o.continue && o.nfdump) throw new UsageError('--continue applies to pcap files only');
      const target = await importTarget(configOf(cmd), o);
      try {
        if (target) {
          if (directory) {
            throw new UsageError(
              'through the server, give one nfdump file at a time ' + '(or stop the server and import the directory with --offline)',
            );
          }
          await importThroughServer(target, file, size, o);
        } else if (o.nfdump) {
          const r = await withMamori(
            cmd,
            (m) =>
              importNfdump(m, file, directory, {
                actor: actor(),
                force: o.force ?? false,
                onProgress: (p) => {
                  if (process.stderr.isTTY) process.stderr.write(`\rimport: ${p.records} records`);
                },
              }),
            true,
            true,
          );
          if (process.stderr.isTTY) process.stderr.write('\n');
          for (const s of r.skipped) {
            const p = s.previous;
            process.stderr.write(`skipped ${s.file}: imported before (import #${p.id} on ${p.finishedAt} by ${p.actor})\n`);
          }
          const files = `${r.files} nfdump file${r.files === 1 ? '' : 's'} ${directory ? 'under ' : ''}${file}`;
          process.stdout.write(
            `imported ${r.stored} flow records from ${files} ` +
              `(import ${r.importIds.map((i) => `#${i}`).join(', ') || 'none'}; exporters: ${r.exporters.join(', ') || 'none'})\n`,
          );
          warnOld(file, r.olderThanRetention);
        } else {
          const r = await withMamori(
            cmd,
            async (m) => {
              const bar = progress('import (bytes)', size);
              try {
                return await importFlowPcap(m, file, {
                  actor: actor(),
                  force: o.force ?? false,
                  continueAfterImported: o.continue ?? false,
                  onProgress: (p) => bar.update(p.bytesRead),
                });
              } finally {
                bar.stop();
              }
            },
            true,
            true,
          );
          printPcapResult(file, r);
        }
      } catch (err) {
        if (err instanceof FlowImportRefusedError) throw new UsageError(`${file}: refused: ${err.message}`);
        if (err instanceof FlowImportError) {
          process.stderr.write(`mamori: ${file}: ${err.message}\n`);
          process.exitCode = 1;
          return;
        }
        throw err;
      }
    });

  flows
    .command('imports')
    .option('--limit <n>', 'how many, newest first', (v) => Number(v), 50)
    .description('files imported before: when, by whom, content hash, records stored (from the state store; works while the server runs)')
    .action(async (o: { limit: number }, cmd: Command) => {
      const list = await withMamori(cmd, (m) => new ImportRegistry(m.state).recent(o.limit));
      for (const e of list) process.stdout.write(`${importLine(e)}\n`);
    });
}

function importLine(e: ImportEntry): string {
  const cut = e.counts.truncatedAtByte !== undefined ? ` cut short at byte ${e.counts.truncatedAtByte}` : '';
  const columns = [`#${e.id}`, e.finishedAt, e.actor, e.format, `${e.outcome}${cut}`, `${e.records} records`];
  return [...columns, `sha256 ${e.sha256} (${e.bytes} bytes)`].join('\t');
}

/** Records past the flows' retention are stored, but the next retention pass deletes them: say so before anyone looks for them. */
function warnOld(file: string, n: number): void {
  if (n === 0) return;
  process.stderr.write(
    `mamori: ${file}: ${n} of the records are already older than the retention period of flow records: ` +
      'the next retention pass deletes them\n',
  );
}

function printPcapResult(file: string, r: PcapImportResult): void {
  process.stdout.write(
    `imported ${r.stored} flow records from ${r.datagrams} datagrams of ${file} (import #${r.importId}; ` +
      `${r.pcap.skipped} packets were not UDP, ${r.pcap.fragments} IP fragments)\n`,
  );
  if (r.continuedAfter) {
    const c = r.continuedAfter;
    process.stdout.write(
      `  continued after import #${c.importId}: its first ${c.bytes} bytes (${c.skippedRecords} records) ` +
        'were read, not stored again\n',
    );
  }
  for (const e of r.exporters) {
    const errors =
      Object.entries(e.errors)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') || 'no errors';
    process.stdout.write(
      `  exporter ${e.address}: ${e.versions.join(',')} ${e.datagrams} datagrams, ${e.records} records, ` +
        (`${e.templates} templates, estimated loss ${e.estimatedLoss} ` +
          `(${e.sequence.gaps} gaps, ${e.sequence.resets} ` +
          (`resets, ${e.sequence.outliers} stray sequence numbers); ` + `${errors}\n`)),
    );
  }
  for (const [reason, n] of Object.entries(r.refused)) process.stdout.write(`  refused before an exporter was known: ${reason}=${n}\n`);
  warnOld(file, r.olderThanRetention);
  if (r.noTemplateAtEnd > 0) {
    process.stderr.write(
      `mamori: ${file}: ${r.noTemplateAtEnd} data sets were still waiting for their template at the end of the file ` +
        'and were not stored (no-template)\n',
    );
  }
  if (r.truncation) {
    const t = r.truncation;
    process.stderr.write(
      `mamori: ${file}: the file is cut short at byte ${t.offset} (${t.reason}); ` +
        `${t.unreadBytes} bytes from there were not read. ` +
        `The ${r.pcap.packets} whole packets before it were imported (import #${r.importId}, audited as cut short).\n`,
    );
    process.exitCode = EXIT_PARTIAL;
  }
}

// ---- through the server ----

interface ServerTarget {
  url: URL;
  token: string;
}

/**
 * The server to import through: the one named, or the configured one when it
 * answers (it then holds the analytics store, and an import must go through it).
 * Undefined: no server runs, import offline.
 */
async function importTarget(config: Config, o: ImportFlags): Promise<ServerTarget | undefined> {
  if (o.offline) return undefined;
  let url: URL;
  if (o.server) {
    try {
      url = new URL(o.server);
    } catch {
      throw new UsageError(`--server ${o.server} is not a URL; write e.g. http://127.0.0.1:8470`);
    }
  } else {
    if (config.server.port === 0) return undefined;
    url = new URL(configuredServerUrl(config));
    if (!(await answers(url))) return undefined;
  }
  const token = apiToken(o.tokenFile);
  if (!token) {
    throw new UsageError(
      `a Mamori server ${o.server ? 'was named' : 'is running'} at ${url.origin}: ` +
        'the import goes through it, so that live collection keeps running. Give an API token of an admin or operator ' +
        'in $MAMORI_TOKEN or with --token-file FILE (create one with `mamori tokens create NAME --role operator`).',
    );
  }
  return { url, token };
}

/** Whether a Mamori API answers at `url` (any answer to an unauthenticated request; 1.5 s at most). */
function answers(url: URL): Promise<boolean> {
  return new Promise((resolve) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(new URL('/api/v1/me', url), { method: 'GET', timeout: 1500 }, (res) => {
      res.resume();
      resolve(res.statusCode === 401 && /Bearer realm="mamori"/.test(String(res.headers['www-authenticate'] ?? '')));
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function sha256Of(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

interface ApiAnswer {
  status: number;
  body: Record<string, unknown>;
}

function readJson(res: IncomingMessage): Promise<ApiAnswer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
      } catch {
        resolve({ status: res.statusCode ?? 0, body: { error: 'not-json', message: text.slice(0, 200) } });
      }
    });
    res.on('error', reject);
  });
}

function call(
  target: ServerTarget,
  method: string,
  path: string,
  upload?: { file: string; onSent: (n: number) => void },
): Promise<ApiAnswer> {
  const url = new URL(path, target.url);
  return new Promise((resolve, reject) => {
    // No timeout: a large import answers only when it is done.
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
      url,
      {
        method,
        headers: {
          authorization: `Bearer ${target.token}`,
          ...(upload ? { 'content-type': 'application/octet-stream', 'content-length': statSync(upload.file).size } : {}),
        },
      },
      (res) => {
        readJson(res).then(resolve, reject);
      },
    );
    req.on('error', reject);
    if (!upload) {
      req.end();
      return;
    }
    const body = createReadStream(upload.file);
    let sent = 0;
    body.on('data', (c) => {
      sent += c.length;
      upload.onSent(sent);
    });
    // The server may answer before the upload ends (refused, too large): stop sending then.
    req.on('response', () => body.destroy());
    body.pipe(req);
  });
}

async function importThroughServer(target: ServerTarget, file: string, size: number, o: ImportFlags): Promise<void> {
  const sha256 = await sha256Of(file);
  const q = new URLSearchParams({
    format: o.nfdump ? 'nfdump' : 'pcap',
    sha256,
    ...(o.force ? { force: 'true' } : {}),
    ...(o.continue ? { continue: 'true' } : {}),
  });
  const sending = progress('upload (bytes)', size);
  let waiting: NodeJS.Timeout | undefined;
  let server: ReturnType<typeof progress> | undefined;
  let answer: ApiAnswer;
  try {
    answer = await call(target, 'POST', `/api/v1/flows/imports?${q}`, {
      file,
      onSent: (n) => {
        sending.update(n);
        if (n === size && !waiting) {
          sending.stop();
          // The server reads the file after the upload: show how far it is.
          server = progress('import on the server (bytes)', size);
          waiting = setInterval(() => {
            call(target, 'GET', '/api/v1/flows/imports?limit=1').then(
              (a) => {
                const running = a.body.running as RunningImport | null;
                if (running) server!.update(running.bytesRead);
              },
              () => undefined,
            );
          }, 1000);
        }
      },
    });
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new UsageError(`cannot reach the server at ${target.url.origin}: ${why}`);
  } finally {
    if (waiting) clearInterval(waiting);
    server?.stop();
    if (!waiting) sending.stop();
  }
  const b = answer.body;
  if (answer.status === 200 && b.format === 'pcap') {
    printPcapResult(file, b as unknown as PcapImportResult);
    return;
  }
  if (answer.status === 200) {
    const ids = (b.importIds as number[]).map((i) => `#${i}`).join(', ');
    process.stdout.write(
      `imported ${String(b.stored)} flow records from nfdump file ${file} (import ${ids}; ` +
        `exporters: ${(b.exporters as string[]).join(', ') || 'none'})\n`,
    );
    warnOld(file, Number(b.olderThanRetention));
    return;
  }
  const message = typeof b.message === 'string' ? b.message : JSON.stringify(b);
  if (answer.status === 409 || answer.status === 400 || answer.status === 413 || answer.status === 401 || answer.status === 403) {
    throw new UsageError(`${file}: ${answer.status === 409 ? 'refused: ' : ''}${message}`);
  }
  process.stderr.write(`mamori: ${file}: the server answered ${answer.status}: ${message}\n`);
  process.exitCode = 1;
}
