import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { z } from 'zod';
import { dialableAddress } from '../core/address.js';
import { hostPort, loadConfig } from '../core/config.js';
import { ExitCode } from '../core/lifecycle.js';
import { createLogger } from '../core/log.js';
import { Supervisor } from '../core/supervisor.js';
import { version } from '../core/version.js';
import { action, givenOptions, table } from './run.js';
import { waitForHttpReady } from './wait.js';

const upConfigSchema = z.object({
  dataDir: z.string().min(1).default('./.flotilla'),
  http: hostPort.default('127.0.0.1:8080'),
  coordListen: hostPort.default('127.0.0.1:2379'),
});

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start a whole local cluster on this machine with embedded defaults; Ctrl-C stops it')
    .option('--data-dir <dir>', 'where every process of the cluster keeps its data (default ./.flotilla)')
    .option('--http <host:port>', 'the server HTTP API address (default 127.0.0.1:8080)')
    .option('--coord-listen <host:port>', 'the embedded coordination store address (default 127.0.0.1:2379)')
    .option('--config <file>', 'YAML file with the same keys (dataDir, http, coordListen)')
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const config = loadConfig({ schema: upConfigSchema, flags: givenOptions(cmd), file: cmd.opts<{ config?: string }>().config });
        const logger = createLogger({ name: 'up' });
        const command = fileURLToPath(new URL('../../bin/flotilla.js', import.meta.url));
        const supervisor = new Supervisor({ command, logger });
        let stopping = false;
        const stopAll = async (code: number): Promise<never> => {
          stopping = true;
          await supervisor.stop();
          process.exit(code);
        };
        supervisor.on('child:exit:unexpected', (name, code, signal) => {
          if (stopping) return;
          process.stderr.write(`flotilla up: ${name} exited (${signal ?? `code ${code}`}); stopping the cluster\n`);
          void stopAll(ExitCode.FAILURE);
        });
        let signals = 0;
        const onSignal = (): void => {
          signals += 1;
          if (signals > 1) process.exit(ExitCode.INTERRUPTED);
          process.stderr.write('flotilla up: stopping...\n');
          void stopAll(ExitCode.OK);
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);

        const httpUrl = `http://${dialableAddress(config.http)}`;
        try {
          await supervisor.start({
            name: 'server',
            args: ['server', '--http', config.http, '--coord-listen', config.coordListen, '--data-dir', join(config.dataDir, 'server')],
            ready: (signal) => waitForHttpReady(`${httpUrl}/readyz`, signal),
          });
        } catch (err) {
          if (!stopping) {
            stopping = true;
            await supervisor.stop();
          }
          throw err;
        }
        const coord = dialableAddress(config.coordListen);
        process.stdout.write(
          `\nFlotilla ${version} is up. Data in ${config.dataDir}; press Ctrl-C to stop.\n\n` +
            table([
              ['server HTTP', `${httpUrl}  (health: ${httpUrl}/healthz)`],
              ['coordination', `${coord}  (etcd v3 API)`],
            ]) +
            `\nTry:\n` +
            table([
              ['', `curl ${httpUrl}/readyz`],
              ['', `ETCDCTL_API=3 etcdctl --endpoints ${coord} get --prefix /flotilla`],
            ]).replace(/^ {4}/gm, '  '),
        );
        await new Promise(() => {
          // Runs until a signal or a child's exit ends the process.
        });
      }),
    );
}
