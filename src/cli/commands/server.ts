/** `mamori` commands: the server. */
import { Command } from 'commander';
import { serve } from '../../app/serve.js';
import { configOf } from '../context.js';

export function serveCommands(program: Command): void {
  program
    .command('serve')
    .description('run the server: HTTP API and metrics on 127.0.0.1:8470 by default; creates the data directory and the first admin')
    .action(async (_o, cmd: Command) => {
      const server = await serve(configOf(cmd));
      process.stdout.write(`Mamori is serving at ${server.url} (Ctrl-C to stop)\n`);
      const stop = () => {
        server.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
