import type { Command } from 'commander';
import { loadConfig } from '../core/config.js';
import { Lifecycle } from '../core/lifecycle.js';
import { createLogger } from '../core/log.js';
import { createEmbeddedCoordServer } from '../coord/index.js';
import { coordConfigSchema } from '../server/index.js';
import { action, givenOptions, runUntilStopped, table } from './run.js';

export function registerCoord(program: Command): void {
  const coord = program.command('coord').description('the coordination store (etcd v3 API)');
  coord
    .command('serve')
    .description('run the embedded coordination store alone (etcdctl and etcd clients work against it)')
    .option('--listen <host:port>', 'gRPC address of the etcd v3 API (default 127.0.0.1:2379)')
    .option('--data-dir <dir>', 'where the store keeps its files (default ./.flotilla/coord)')
    .option('--auto-compaction-retention <duration>', 'history to keep before compacting it automatically, e.g. 30m; 0 = never (default 1h)')
    .option('--config <file>', 'YAML file with the same keys (listen, dataDir, autoCompactionRetention)')
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const config = loadConfig({ schema: coordConfigSchema, flags: givenOptions(cmd), file: cmd.opts<{ config?: string }>().config });
        const logger = createLogger({ name: 'coord' });
        const lifecycle = new Lifecycle({ logger });
        const server = createEmbeddedCoordServer({
          listen: config.listen,
          dataDir: config.dataDir,
          logger,
          autoCompactionRetentionMs: config.autoCompactionRetention,
        });
        lifecycle.add({ name: 'coord-store', start: () => server.start(), stop: () => server.stop() });
        await runUntilStopped(
          lifecycle,
          () =>
            `flotilla coordination store ready\n` +
            table([
              ['etcd v3 API', server.address],
              ['data', config.dataDir],
              ['try', `ETCDCTL_API=3 etcdctl --endpoints ${server.address} put /hello world`],
            ]),
        );
      }),
    );
}
