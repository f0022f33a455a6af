/** `mamori` commands: flow records (the inlet of M1). */
import { statSync } from 'node:fs';
import { Command } from 'commander';
import { progress } from '../progress.js';
import { importFlowPcap, importNfdump } from '../../ingest/flow/import.js';
import { UsageError, actor, withMamori } from '../context.js';

export function flowCommands(program: Command): void {
  const flows = program.command('flows').description('flow records from routers (the inlet of M1)');
  flows.command('import')
    .argument('<file>', 'a pcap of NetFlow v5/v9, IPFIX or sFlow export datagrams; with --nfdump, an nfdump file or directory')
    .option('--nfdump', 'the file is what nfcapd wrote (read through nfdump; a directory reads every file below it)')
    .description('back-fill flows from a capture or from nfdump files (the server must be stopped: one process owns the analytics store)')
    .action(async (file: string, o: { nfdump?: boolean }, cmd: Command) => {
      if (o.nfdump) {
        let directory: boolean;
        try { directory = statSync(file).isDirectory(); } catch (err) { throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`); }
        const r = await withMamori(cmd, (m) => importNfdump(m, file, directory, actor(), (n) => { if (process.stderr.isTTY) process.stderr.write(`\rimport: ${n} records`); }), true, true);
        if (process.stderr.isTTY) process.stderr.write('\n');
        process.stdout.write(`imported ${r.records} flow records from nfdump ${directory ? 'files under ' : ''}${file} (exporters: ${r.exporters.join(', ') || 'none'})\n`);
        return;
      }
      const r = await withMamori(cmd, async (m) => {
        let size: number;
        try { size = statSync(file).size; } catch (err) { throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`); }
        const bar = progress('import (bytes)', size);
        const result = await importFlowPcap(m, file, actor(), (n) => bar.update(n));
        bar.stop();
        return result;
      }, true, true);
      process.stdout.write(`imported ${r.records} flow records from ${r.datagrams} datagrams (${r.pcap.skipped} packets were not UDP, ${r.pcap.fragments} IP fragments)\n`);
      for (const e of r.exporters) {
        const errors = Object.entries(e.errors).map(([k, v]) => `${k}=${v}`).join(' ') || 'no errors';
        process.stdout.write(`  exporter ${e.address}: ${e.versions.join(',')} ${e.datagrams} datagrams, ${e.records} records, ${e.templates} templates, estimated loss ${e.estimatedLoss}; ${errors}\n`);
      }
    });
}
