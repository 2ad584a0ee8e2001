import type { Command } from 'commander';
import { loadConfig } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { version } from '../core/version.js';
import { createNodeProcess, nodeConfigSchema, resolveNodeConfig } from '../node/index.js';
import { action, addProcessTlsOptions, givenOptions, runUntilStopped, table } from './run.js';
import { setupProcessTls } from '../core/tls.js';

export function registerNode(program: Command): void {
  const cmd = program.command('node');
  addProcessTlsOptions(cmd, 'the node name');
  cmd
    .description(
      'run a node: registers in the cluster under --name, checks its peers, serves them; SIGTERM leaves cleanly.\n' +
        'Join with --join HOST:PORT (the server or any member), --peers A,B,C or --etcd; with none of them the\n' +
        'node starts its own embedded coordination store (local_setup) and others join it.',
    )
    .option('--name <name>', 'node name, unique among live nodes (required)')
    .option('--join <host:port>', 'join through this member: the server (--listen) or any node (peer address)')
    .option('--server <host:port>', 'same as --join, naming the server')
    .option('--monitor-server <host:port>', 'agent role: where to stream metrics (default: the server this node joined through)')
    .option('--labels <k=v,...>', 'agent role: labels workflow tasks select this node by (runs_on: {labels: {k: v}}); default none')
    .option('--peers <list>', 'static peer list host:port,host:port...; each is checked, the first that answers is asked')
    .option('--etcd <endpoints>', 'use these coordination endpoints directly: host:port[,host:port...]')
    .option('--coord-listen <host:port>', 'local_setup only: address of the own embedded coordination store (default 127.0.0.1:2379)')
    .option('--listen <host:port>', 'peer gRPC address (default 0.0.0.0:7101)')
    .option('--http <host:port>', 'HTTP address: health and readiness (default 0.0.0.0:9001)')
    .option('--advertise-host <host>', 'host others dial to reach this node (default: the listen host or the first IPv4 address)')
    .option('--roles <list>', 'agent,kv,objects (default all)')
    .option('--zone <zone>', 'failure domain for replica placement (default "default")')
    .option('--need-rings <names>', 'rings this node needs, e.g. kv: /readyz is not ready until each exists (default none)')
    .option('--data-dir <dir>', 'where this node keeps its data (default ./.flotilla/<name>)')
    .option('--backend <spec>', 'storage backend: dir:PATH (default dir:<data-dir>/objects) or s3://ACCESS:SECRET@HOST:PORT/BUCKET[/PREFIX]')
    .option('--xfer <host:port>', 'objects role: POST /upload and /download address, or "off" (default 0.0.0.0:5001)')
    .option('--s3-credentials <list>', 'objects role: S3 API access keys ACCESS:SECRET[,...]')
    .option('--replicate-interval <duration>', 'objects role: time between replicator rounds (repair, garbage collection), e.g. 30s (default 30s)')
    .option('--audit-interval <duration>', 'objects role: time between auditor passes over every local replica, e.g. 1h (default 10m)')
    .option('--tombstone-grace <duration>', 'objects role: deleted objects\' tombstones are removed after this, e.g. 7d (default 7d)')
    .option('--multipart-expiry <duration>', 'objects role: multipart uploads not completed after this are aborted, e.g. 1d (default 7d)')
    .option('--join-token <token>', "the cluster's join token, from the server's <data-dir>/join-token (env FLOTILLA_JOIN_TOKEN)")
    .option('--join-token-file <file>', 'read the join token from this file')
    .option('--auth <mode>', 'check API tokens: auto (on beyond loopback or with a join token) or on (default auto)')
    .option('--insecure-no-auth', 'turn authentication off even beyond loopback (logged as a loud warning)')
    .option('--rate-limit <n>', 'requests/s per API token (or per client address without one) on the HTTP API and public gRPC methods; the join token is exempt; 0 = off (default 1000)')
    .option('--rate-limit-burst <n>', 'requests a caller may make at once (default 2 x --rate-limit)')
    .option('--lease-ttl <seconds>', 'registration lease TTL (default 5)')
    .option('--failure-timeout <duration>', 'a peer silent this long is DISCONNECTED, e.g. 3s or 1500ms (default 3s)')
    .option('--health-interval <duration>', 'time between health checks of one peer (default 1s)')
    .option('--config <file>', 'YAML file with the same keys in camelCase (name, join, listen, roles, ...)')
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const config = resolveNodeConfig(loadConfig({ schema: nodeConfigSchema, flags: givenOptions(cmd), file: cmd.opts<{ config?: string }>().config }));
        const logger = createLogger({ name: config.name });
        const tls = await setupProcessTls(config, config.name);
        const node = createNodeProcess(config, logger);
        await runUntilStopped(
          node.lifecycle,
          () =>
            `flotilla node ${config.name} ${version} ready\n` +
            table([
              ['peer gRPC', node.peerAddress()],
              ['HTTP', `${node.http.url}  (health: /healthz, readiness: /readyz)`],
              ['joined', node.joinedVia()],
              ['coordination', node.coordEndpoints().join(',')],
              ['roles', config.roles.join(',')],
              ['zone', config.zone],
              ['backend', config.backend],
              ['data', config.dataDir],
              ['TLS', tls !== undefined ? `on (certificate ${tls.name ?? ''})` : 'off'],
            ]),
        );
      }),
    );
}
