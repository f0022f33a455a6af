/** `mamori` commands: the hash-chained audit log. */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { Command } from 'commander';
import { exportFileItems } from '../../core/audit/log.js';
import { AuditKeyError, generateSigningKeys, loadPublicKey } from '../../core/audit/signing.js';
import { verifyChain, type VerifyResult } from '../../core/audit/chain.js';
import { progress } from '../progress.js';
import { UsageError, actor, withMamori, isoTime } from '../context.js';

function printVerify(r: VerifyResult & { warnings?: string[] }, source: string): void {
  for (const w of r.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
  if (r.ok) {
    process.stdout.write(
      `OK: ${source}: ${r.checked} ${r.checked === 1 ? 'entry' : 'entries'} (seq ${r.firstSeq ?? '-'}..${r.lastSeq ?? '-'}) ` +
        `chain intact; ${r.anchorsChecked} anchors matched; head ${r.headHash ?? '-'}\n`,
    );
    return;
  }
  process.stdout.write(`FAILED: ${source}: ${r.problems.length} problem(s) in ${r.checked} ${r.checked === 1 ? 'entry' : 'entries'}\n`);
  for (const p of r.problems) {
    const where = [p.seq !== null ? `entry ${p.seq}` : null, p.line !== undefined ? `line ${p.line}` : null].filter(Boolean).join(', ');
    process.stdout.write(`  ${where ? `[${where}] ` : ''}${p.problem}\n`);
  }
}

export function auditCommands(program: Command): void {
  const audit = program.command('audit').description('the hash-chained audit log');
  audit
    .command('verify')
    .description(
      'check the chain (and the anchors); exits 1 and names the entry if anything was edited, deleted, inserted, reordered or cut off',
    )
    .option('--file <export.jsonl>', 'verify an exported file instead of the live log')
    .option('--public-key <file>', 'also check that the anchors are signed by this key (PEM, from `audit keygen`) and keep up with the log')
    .action(async (o: { file?: string; publicKey?: string }, cmd: Command) => {
      let result: VerifyResult & { warnings?: string[] };
      let publicKey;
      try {
        publicKey = o.publicKey ? loadPublicKey(o.publicKey) : undefined;
      } catch (err) {
        throw new UsageError((err as AuditKeyError).message);
      }
      if (o.file) {
        let items;
        try {
          items = exportFileItems(o.file);
        } catch (err) {
          throw new UsageError(`cannot read ${o.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        const bar = progress('verify', items.length);
        result = await verifyChain(items, { onProgress: (n) => bar.update(n) });
        bar.stop();
        printVerify(result, o.file);
      } else {
        result = await withMamori(cmd, async (m) => {
          const bar = progress('verify', (await m.audit.head()).seq);
          const r = await m.audit.verify((n) => bar.update(n), publicKey ? { publicKey, anchorEvery: m.config.audit.anchorEvery } : {});
          bar.stop();
          await m.audit.append({
            actor: actor(),
            action: 'audit.verify',
            counts: { checked: r.checked, problems: r.problems.length },
            outcome: r.ok ? 'ok' : 'error',
          });
          return r;
        });
        printVerify(result, 'audit log');
      }
      if (!result.ok) process.exitCode = 1;
    });

  audit
    .command('export')
    .description('write entries as JSON lines for auditors (verify the file with `audit verify --file`)')
    .option('--from <time>', 'first entry time (inclusive)', isoTime)
    .option('--to <time>', 'last entry time (exclusive)', isoTime)
    .option('-o, --out <file>', 'write to a file instead of stdout')
    .action(async (o: { from?: string; to?: string; out?: string }, cmd: Command) => {
      await withMamori(cmd, async (m) => {
        const out = o.out ? createWriteStream(o.out) : process.stdout;
        const bar = progress('export', (await m.audit.head()).seq);
        let n = 0;
        for await (const e of m.audit.entries({ ...(o.from ? { from: o.from } : {}), ...(o.to ? { to: o.to } : {}) })) {
          if (!out.write(`${JSON.stringify(e)}\n`)) await once(out, 'drain');
          bar.update(++n);
        }
        bar.stop();
        if (o.out) await new Promise((r) => (out as ReturnType<typeof createWriteStream>).end(r));
        await m.audit.append({ actor: actor(), action: 'audit.export', counts: { entries: n } });
      });
    });

  audit
    .command('keygen')
    .description(
      'make an Ed25519 key pair to sign anchors: put the private key outside the data directory ' +
        '(audit.signingKeyFile), give the public key to verifiers',
    )
    .requiredOption('--private-key <file>', 'where the private key goes (written 0600; never overwritten)')
    .requiredOption('--public-key <file>', 'where the public key goes')
    .action((o: { privateKey: string; publicKey: string }) => {
      try {
        const { keyId } = generateSigningKeys(o.privateKey, o.publicKey);
        process.stdout.write(`key ${keyId}: private ${o.privateKey}, public ${o.publicKey}\n`);
      } catch (err) {
        throw new UsageError(`cannot write the keys: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    });

  audit
    .command('anchor')
    .description('write the chain head to the anchor file now (the server does so every audit.anchorInterval)')
    .action(async (_o, cmd: Command) => {
      const a = await withMamori(cmd, (m) => m.audit.anchor(actor()));
      process.stdout.write(`anchored entry ${a.seq} ${a.hash}\n`);
    });
}
