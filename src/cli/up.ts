import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import { dialableAddress, formatHostPort, requireHostPort } from '../core/address.js';
import { hostPort, loadConfig } from '../core/config.js';
import { Code, FlotillaError } from '../core/errors.js';
import { ExitCode } from '../core/lifecycle.js';
import { createLogger } from '../core/log.js';
import { Supervisor, type ChildSpec } from '../core/supervisor.js';
import { version } from '../core/version.js';
import { createPeerClients, fetchMembers } from '../cluster/index.js';
import { action, givenOptions, table } from './run.js';
import { formatStatusTable } from './status.js';
import { waitForHttpReady } from './wait.js';
import { ADMIN_TOKEN_FILE, JOIN_TOKEN_FILE, readTokenFile } from '../auth/index.js';
import { setDefaultCallToken } from '../core/grpc-client.js';

const upConfigSchema = z.object({
  /** Number of nodes (node-a, node-b, ...). */
  nodes: z.coerce.number().int().min(1).max(26).default(3),
  dataDir: z.string().min(1).default('./.flotilla'),
  /** Server HTTP API. */
  http: hostPort.default('127.0.0.1:8080'),
  /** Server gRPC (nodes join here; `flotilla status` asks here). */
  listen: hostPort.default('127.0.0.1:50051'),
  coordListen: hostPort.default('127.0.0.1:2379'),
  /** First node's peer gRPC port; node-b gets the next one, and so on. */
  peerPort: z.coerce.number().int().min(1).max(65535).default(7101),
  /** First node's HTTP port. */
  nodeHttpPort: z.coerce.number().int().min(1).max(65535).default(9001),
  /** First node's file transfer port (/upload, /download). */
  xferPort: z.coerce.number().int().min(1).max(65535).default(5001),
});
type UpConfig = z.infer<typeof upConfigSchema>;

interface NodePlan {
  name: string;
  zone: string;
  peer: string;
  http: string;
  xfer: string;
}

export function planNodes(config: UpConfig): NodePlan[] {
  const { host } = requireHostPort(config.listen, '--listen');
  return Array.from({ length: config.nodes }, (_, i) => ({
    name: `node-${String.fromCharCode(97 + i)}`,
    zone: `zone-${i + 1}`,
    peer: formatHostPort(host, config.peerPort + i),
    http: formatHostPort(host, config.nodeHttpPort + i),
    xfer: formatHostPort(host, config.xferPort + i),
  }));
}

/** Waits until the server sees every planned node ACTIVE, and every node holds the kv ring. */
async function waitForCluster(server: string, names: string[], signal: AbortSignal): Promise<void> {
  const peers = createPeerClients();
  try {
    while (!signal.aborted) {
      try {
        const res = await fetchMembers(server, peers, { timeoutMs: 2000 });
        const ready = new Set(res.members.filter((m) => m.status === 'ACTIVE' && m.rings.kv !== undefined).map((m) => m.name));
        if (names.every((n) => ready.has(n))) return;
      } catch {
        // Not answering yet.
      }
      await sleep(200, undefined, { signal }).catch(() => undefined);
    }
  } finally {
    peers.close();
  }
}

/** The admin and join tokens the server of `up` wrote into its data dir. */
async function readUpTokens(serverDir: string): Promise<{ admin: string; join: string }> {
  const admin = await readTokenFile(join(serverDir, ADMIN_TOKEN_FILE));
  const joinToken = await readTokenFile(join(serverDir, JOIN_TOKEN_FILE));
  if (admin === undefined || joinToken === undefined) {
    throw new FlotillaError(Code.FAILED_PRECONDITION, `the server did not write ${ADMIN_TOKEN_FILE} and ${JOIN_TOKEN_FILE} into ${serverDir} (an admin token made earlier was revoked or the file deleted? pass a fresh --data-dir)`);
  }
  return { admin, join: joinToken };
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start a whole local cluster on this machine (a server and three nodes, the kv ring built) with embedded defaults; Ctrl-C stops it')
    .option('--nodes <n>', 'number of nodes, named node-a, node-b, ... (default 3)')
    .option('--data-dir <dir>', 'where every process of the cluster keeps its data (default ./.flotilla)')
    .option('--http <host:port>', 'the server HTTP API address (default 127.0.0.1:8080)')
    .option('--listen <host:port>', 'the server gRPC address (default 127.0.0.1:50051); nodes listen on the same host')
    .option('--coord-listen <host:port>', 'the embedded coordination store address (default 127.0.0.1:2379)')
    .option('--peer-port <port>', "node-a's peer gRPC port; node-b gets the next (default 7101)")
    .option('--node-http-port <port>', "node-a's HTTP port; node-b gets the next (default 9001)")
    .option('--xfer-port <port>', "node-a's file transfer port (/upload, /download); node-b gets the next (default 5001)")
    .option('--config <file>', 'YAML file with the same keys (nodes, dataDir, http, listen, coordListen, peerPort, nodeHttpPort, xferPort)')
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const config = loadConfig({ schema: upConfigSchema, flags: givenOptions(cmd), file: cmd.opts<{ config?: string }>().config });
        const nodes = planNodes(config);
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
        const server = dialableAddress(config.listen);
        const coord = dialableAddress(config.coordListen);
        const specs: ChildSpec[] = [
          {
            name: 'server',
            args: [
              'server',
              '--listen', config.listen,
              '--http', config.http,
              '--coord-listen', config.coordListen,
              '--expect-nodes', String(nodes.length),
              '--data-dir', join(config.dataDir, 'server'),
              '--auth', 'on',
            ],
            ready: (signal) => waitForHttpReady(`${httpUrl}/readyz`, signal),
          },
          ...nodes.map(
            (n): ChildSpec => ({
              name: n.name,
              args: ['node', '--name', n.name, '--join', server, '--listen', n.peer, '--http', n.http, '--xfer', n.xfer, '--zone', n.zone, '--data-dir', join(config.dataDir, n.name)],
              ready: (signal) => waitForHttpReady(`http://${dialableAddress(n.http)}/healthz`, signal),
            }),
          ),
        ];
        let adminToken: string | undefined;
        try {
          for (const spec of specs) {
            if (stopping) return;
            await supervisor.start(spec);
            if (spec.name === 'server') {
              // Authentication is on: nodes present the join token the server wrote; `up` itself uses the admin token.
              const tokens = await readUpTokens(join(config.dataDir, 'server'));
              adminToken = tokens.admin;
              setDefaultCallToken(adminToken);
              for (const s of specs) if (s !== spec) s.env = { ...s.env, FLOTILLA_JOIN_TOKEN: tokens.join };
            }
          }
          const controller = new AbortController();
          const timer = setTimeout(() => controller.abort(), 30_000);
          await waitForCluster(
            server,
            nodes.map((n) => n.name),
            controller.signal,
          );
          clearTimeout(timer);
          if (controller.signal.aborted) {
            throw new FlotillaError(Code.DEADLINE_EXCEEDED, 'the nodes did not all become ACTIVE with the kv ring within 30 s (see the log above)');
          }
        } catch (err) {
          if (!stopping) {
            stopping = true;
            await supervisor.stop();
          }
          throw err;
        }

        const peers = createPeerClients();
        const status = await fetchMembers(server, peers).finally(() => peers.close());
        process.stdout.write(
          `\nFlotilla ${version} is up: a server and ${nodes.length} node${nodes.length === 1 ? '' : 's'}. Data in ${config.dataDir}; press Ctrl-C to stop.\n\n` +
            table([
              ['dashboard', `${httpUrl}  (the web dashboard; HTTP API under /api/v1, health /healthz)`],
              ['server gRPC', `${server}  (nodes join here; flotilla status asks here)`],
              ['coordination', `${coord}  (etcd v3 API)`],
              ...nodes.map((n): [string, string] => [n.name, `peer ${dialableAddress(n.peer)}, HTTP http://${dialableAddress(n.http)}, files ${dialableAddress(n.xfer)}, zone ${n.zone}`]),
            ]) +
            `\n` +
            formatStatusTable(status.members) +
            `\nTry:\n` +
            table([
              ['', `npx flotilla status --server ${server}`],
              ['', `npx flotilla health ${nodes.map((n) => dialableAddress(n.peer)).join(' ')}`],
              ['', `ETCDCTL_API=3 etcdctl --endpoints ${coord} --user flotilla:$(cat ${join(config.dataDir, 'server', ADMIN_TOKEN_FILE)}) get --prefix /flotilla/nodes/`],
              ['', `curl ${httpUrl}/readyz`],
              ['', `curl -H "Authorization: Bearer $(cat ${join(config.dataDir, 'server', ADMIN_TOKEN_FILE)})" ${httpUrl}/api/v1/members`],
            ]).replace(/^ {4}/gm, '  ') +
            `\nAuthentication is on. Admin API token (also in ${join(config.dataDir, 'server', ADMIN_TOKEN_FILE)}, mode 0600; the CLI reads it from there):\n  ${adminToken ?? '(none)'}\n`,
        );
        await new Promise(() => {
          // Runs until a signal or a child's exit ends the process.
        });
      }),
    );
}
