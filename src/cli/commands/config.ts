/** `mamori` commands: configuration files. */
import { ConfigError, loadConfig } from '../../core/config.js';
import { MeasureRegistry } from '../../core/registry.js';
import { ALL_MEASURES } from '../../measures/index.js';
import type { Command } from 'commander';

export function configCommands(program: Command): void {
  const config = program.command('config').description('check configuration files');
  config
    .command('check')
    .argument('<file>', 'the YAML file to check')
    .description('validate a configuration file without starting anything')
    .action((file: string) => {
      const cfg = loadConfig(file);
      try {
        new MeasureRegistry(ALL_MEASURES, cfg.measures, cfg.configDir);
      } catch (err) {
        if (err instanceof ConfigError) throw new ConfigError(file, err.problems);
        throw err;
      }
      process.stdout.write(`OK: ${file} is valid\n`);
    });
}
