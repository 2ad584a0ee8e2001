/** Real `flotilla server --expect-nodes 3` and kv nodes for the KV acceptance and fault tests. */
import { grpcReady } from '../testkit/etcd.js';
import { startFlotilla } from '../testkit/flotilla.js';
import type { Cleanup, ProcessHandle } from '../testkit/index.js';
import { tcpReady } from '../testkit/index.js';
import { openKvSession, type KvSession } from '../../src/cli/kv.js';

export interface KvCluster {
  server: ProcessHandle;
  nodes: Map<string, ProcessHandle & { peer: string }>;
  session(name: string): KvSession;
  close(): void;
}

export async function startKvCluster(t: Cleanup, names = ['node-a', 'node-b', 'node-c'], nodeArgs: string[] = []): Promise<KvCluster> {
  const server = await startFlotilla(
    ({ port, dataDir }) => [
      'server',
      '--listen', `127.0.0.1:${port('grpc')}`,
      '--http', `127.0.0.1:${port('http')}`,
      '--coord-listen', `127.0.0.1:${port('coord')}`,
      '--data-dir', dataDir,
      '--expect-nodes', String(names.length),
    ],
    { name: 'flotilla server', t, ports: ['grpc', 'http', 'coord'], ready: async (p) => (await tcpReady(p.port('grpc'))) && (await grpcReady(`127.0.0.1:${p.port('coord')}`)) },
  );
  const nodes = new Map<string, ProcessHandle & { peer: string }>();
  await Promise.all(
    names.map(async (name, i) => {
      const h = await startFlotilla(
        ({ port, dataDir }) => [
          'node', '--name', name,
          '--join', `127.0.0.1:${server.port('grpc')}`,
          '--listen', `127.0.0.1:${port('peer')}`,
          '--http', `127.0.0.1:${port('http')}`,
          '--roles', 'kv', '--zone', `zone-${i + 1}`, '--need-rings', 'kv',
          '--failure-timeout', '1500ms', '--health-interval', '300ms',
          '--data-dir', dataDir,
          ...nodeArgs,
        ],
        {
          name: `flotilla node ${name}`,
          t,
          ports: ['peer', 'http'],
          env: { FLOTILLA_LOG_PRETTY: '0' },
          ready: async (p) => {
            const res = await fetch(`http://127.0.0.1:${p.port('http')}/readyz`).catch(() => undefined);
            await res?.body?.cancel();
            return res?.status === 200;
          },
        },
      );
      nodes.set(name, Object.assign(h, { peer: `127.0.0.1:${h.port('peer')}` }));
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
