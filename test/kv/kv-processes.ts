/**
 * Real `flotilla server --expect-nodes 3` and kv nodes for the KV acceptance and fault tests and for
 * bench/kv. By default everything listens on 127.0.0.1; `network` puts the cluster on a test LAN
 * (testkit/netns.ts): the server and the nodes without a host of their own listen on the gateway
 * address in the root namespace, and a node with a host runs inside that host's network namespace.
 */
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setDefaultCallToken } from '../../src/core/grpc-client.js';
import { grpcReady } from '../testkit/etcd.js';
import { FLOTILLA_BIN, REPO_ROOT, startFlotilla } from '../testkit/flotilla.js';
import type { Cleanup, ProcessHandle } from '../testkit/index.js';
import { startProcess } from '../testkit/index.js';
import type { TestNetwork } from '../testkit/netns.js';
import { openKvSession, type KvSession } from '../../src/cli/kv.js';

export interface KvCluster {
  server: ProcessHandle;
  nodes: Map<string, ProcessHandle & { peer: string; host: string }>;
  session(name: string): KvSession;
  close(): void;
}

export interface KvClusterOptions {
  /** Run the cluster on this test network; nodes named in its hosts run in their own namespace. */
  network?: TestNetwork;
  /** Failure detection of the nodes. Default 1500ms / 300ms (fast, for tests). */
  failureTimeout?: string;
  healthInterval?: string;
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.setTimeout(1000, () => done(false));
  });
}

export async function startKvCluster(t: Cleanup, names = ['node-a', 'node-b', 'node-c'], nodeArgs: string[] = [], options: KvClusterOptions = {}): Promise<KvCluster> {
  const net = options.network;
  const rootHost = net?.gateway ?? '127.0.0.1';
  const server = await startFlotilla(
    ({ port, dataDir }) => [
      'server',
      '--listen', `${rootHost}:${port('grpc')}`,
      '--http', `${rootHost}:${port('http')}`,
      '--coord-listen', `${rootHost}:${port('coord')}`,
      '--data-dir', dataDir,
      '--expect-nodes', String(names.length),
    ],
    { name: 'flotilla server', t, ports: ['grpc', 'http', 'coord'], ready: async (p) => (await tcpOpen(rootHost, p.port('grpc'))) && (await grpcReady(`${rootHost}:${p.port('coord')}`)) },
  );
  if (net !== undefined) {
    // This process's KV clients (the tests' sessions) call with the server's first admin token.
    setDefaultCallToken((await readFile(join(server.dataDir, 'admin-token'), 'utf8')).trim());
    t.after(() => setDefaultCallToken(undefined));
  }
  const nodes = new Map<string, ProcessHandle & { peer: string; host: string }>();
  await Promise.all(
    names.map(async (name, i) => {
      const netHost = net?.hosts[name];
      const host = netHost?.address ?? rootHost;
      const args = ({ port, dataDir }: { port: (n: string) => number; dataDir: string }): string[] => [
        'node', '--name', name,
        '--join', `${rootHost}:${server.port('grpc')}`,
        '--listen', `${host}:${port('peer')}`,
        '--http', `${host}:${port('http')}`,
        '--roles', 'kv', '--zone', `zone-${i + 1}`, '--need-rings', 'kv',
        '--failure-timeout', options.failureTimeout ?? '1500ms', '--health-interval', options.healthInterval ?? '300ms',
        '--data-dir', dataDir,
        // Beyond loopback, processes check API tokens: nodes present the cluster's join token.
        ...(net !== undefined ? ['--join-token-file', join(server.dataDir, 'join-token')] : []),
        ...nodeArgs,
      ];
      const common = {
        name: `flotilla node ${name}`,
        t,
        ports: ['peer', 'http'],
        env: { FLOTILLA_LOG_PRETTY: '0' },
        readyTimeoutMs: 60_000,
        ready: async (p: ProcessHandle) => {
          const res = await fetch(`http://${host}:${p.port('http')}/readyz`).catch(() => undefined);
          await res?.body?.cancel();
          return res?.status === 200;
        },
      };
      const h =
        netHost === undefined
          ? await startFlotilla(args, common)
          : await startProcess({
              ...common,
              // `ip netns exec` execs the command: the handle's pid (signals, kill -9) is the node's.
              command: 'ip',
              args: (env) => netHost.command(process.execPath, [FLOTILLA_BIN, ...args(env)]).args,
              cwd: REPO_ROOT,
            });
      nodes.set(name, Object.assign(h, { peer: `${host}:${h.port('peer')}`, host }));
    }),
  );
  const sessions = new Map<string, KvSession>();
  const c: KvCluster = {
    server,
    nodes,
    session(name) {
      let s = sessions.get(name);
      if (s === undefined) sessions.set(name, (s = openKvSession(nodes.get(name)!.peer, 10_000)));
      return s;
    },
    close() {
      for (const s of sessions.values()) s.close();
      sessions.clear();
    },
  };
  t.after(() => c.close());
  return c;
}
