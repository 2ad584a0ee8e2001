import type { Command } from 'commander';
import { loadConfig } from '../core/config.js';
import { Lifecycle } from '../core/lifecycle.js';
import { createLogger } from '../core/log.js';
import { version } from '../core/version.js';
import { agentConfigSchema, createAgent } from '../monitor/index.js';
import { action, addProcessTlsOptions, givenOptions, runUntilStopped, table } from './run.js';
import { setupProcessTls } from '../core/tls.js';
import { setDefaultCallToken } from '../core/grpc-client.js';
import { resolveCliToken } from './credentials.js';

/** The agent's join token: --join-token, FLOTILLA_JOIN_TOKEN, or --join-token-file. */
function agentJoinToken(opts: { joinToken?: string; joinTokenFile?: string }): string | undefined {
  const token = opts.joinToken ?? process.env.FLOTILLA_JOIN_TOKEN;
  if (token !== undefined && token !== '') return token.trim();
  return opts.joinTokenFile !== undefined ? resolveCliToken({ tokenFile: opts.joinTokenFile }, {}) : undefined;
}

export function registerAgent(program: Command): void {
  const cmd = program.command('agent');
  addProcessTlsOptions(cmd, 'the hostname');
  cmd
    .description(
      'run a monitoring agent: streams cpu, memory, disk, network and filesystem metrics to the monitor\n' +
        'server, applies its commands, follows /monitor/config/<hostname>, keeps /monitor/heartbeat/<hostname>',
    )
    .option('--hostname <name>', 'name to report as (default: this machine\'s hostname)')
    .option('--server <host:port>', 'monitor server (default 127.0.0.1:50051, env FLOTILLA_SERVER)')
    .option('--etcd <endpoints>', 'coordination endpoints host:port[,host:port...] (default 127.0.0.1:2379)')
    .option('--heartbeat-ttl <duration>', 'heartbeat lease TTL, e.g. 5s (default 5s)')
    .option('--data-dir <dir>', 'spill buffered samples past --buffer-samples to files here (default: no spill)')
    .option('--buffer-samples <n>', 'most samples buffered in memory while the server is away (default 100000)')
    .option('--spill-bytes <n>', 'bound of the spill files under --data-dir, in bytes (default 64 MiB)')
    .option('--labels <k=v,...>', 'labels workflow tasks select this agent by (runs_on: {labels: {k: v}}); default none')
    .option('--join-token <token>', "the cluster's join token, sent on the stream to the server (env FLOTILLA_JOIN_TOKEN)")
    .option('--join-token-file <file>', 'read the join token from this file')
    .option('--config <file>', 'YAML file with the same keys in camelCase')
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const config = loadConfig({ schema: agentConfigSchema, flags: givenOptions(cmd), file: cmd.opts<{ config?: string }>().config });
        const logger = createLogger({ name: `agent ${config.hostname}` });
        const tls = await setupProcessTls(config, config.hostname);
        setDefaultCallToken(agentJoinToken(cmd.opts<{ joinToken?: string; joinTokenFile?: string }>()));
        const lifecycle = new Lifecycle({ logger });
        lifecycle.add(
          createAgent({
            hostname: config.hostname,
            server: config.server,
            etcd: config.etcd,
            heartbeatTtlSeconds: Math.ceil(config.heartbeatTtl / 1000),
            bufferSamples: config.bufferSamples,
            spillBytes: config.spillBytes,
            labels: config.labels,
            logger,
            ...(config.dataDir !== undefined ? { dataDir: config.dataDir } : {}),
          }),
        );
        await runUntilStopped(
          lifecycle,
          () =>
            `flotilla agent ${config.hostname} ${version} ready\n` +
            table([
              ['server', config.server],
              ['TLS', tls !== undefined ? `on (certificate ${tls.name ?? ''})` : 'off'],
              ['coordination', config.etcd.join(',')],
              ['heartbeat TTL', `${Math.ceil(config.heartbeatTtl / 1000)}s`],
              ['labels', Object.entries(config.labels).map(([k, v]) => `${k}=${v}`).join(',') || '(none)'],
              ['buffer', `${config.bufferSamples} samples${config.dataDir !== undefined ? `, spill to ${config.dataDir} (${config.spillBytes} B)` : ''}`],
            ]),
        );
      }),
    );
}
