/**
 * A real object-store cluster for the CLI, transfer and listing tests: `flotilla server --expect-nodes 3`
 * and three nodes with the objects role (directory backends, zones z1-z3), ready once every node holds
 * the three object rings. Optionally each node serves /upload and /download on its own free port.
 */
import { eventually, startNode, type NodeHandle, type ServerHandle } from '../../testkit/cluster.js';
import { freePort, startFlotilla, type Cleanup } from '../../testkit/index.js';

export interface ObjectCluster {
  server: ServerHandle;
  nodes: NodeHandle[];
  /** 127.0.0.1:PORT of each node's HTTP API (what `flotilla obj --node` takes). */
  http: string[];
  /** 127.0.0.1:PORT of each node's /upload and /download server (empty when not asked for). */
  xfer: string[];
}

/** `nodeArgs`: extra flags for every node (a list), or per node (a function of its index and name). */
export async function startObjectCluster(owner: Cleanup, opts: { xfer?: boolean; nodeArgs?: string[] | ((i: number, name: string) => string[]) } = {}): Promise<ObjectCluster> {
  const server = await startFlotilla(
    ({ port, dataDir }) => ['server', '--expect-nodes', '3', '--listen', `127.0.0.1:${port('grpc')}`, '--http', `127.0.0.1:${port('http')}`, '--coord-listen', `127.0.0.1:${port('coord')}`, '--data-dir', dataDir],
    {
      name: 'flotilla server',
      t: owner,
      ports: ['grpc', 'http', 'coord'],
      ready: async (p) => {
        const r = await fetch(`http://127.0.0.1:${p.port('http')}/readyz`).catch(() => undefined);
        await r?.body?.cancel();
        return r?.status === 200;
      },
    },
  ).then((h) => Object.assign(h, { grpc: `127.0.0.1:${h.port('grpc')}`, coordEndpoint: `127.0.0.1:${h.port('coord')}` }) as ServerHandle);
  const common = ['--join', server.grpc, '--roles', 'objects', '--failure-timeout', '1500ms', '--health-interval', '500ms', '--lease-ttl', '3'];
  const names = ['node-a', 'node-b', 'node-c'];
  const xfer: string[] = [];
  if (opts.xfer === true) for (let i = 0; i < names.length; i++) xfer.push(`127.0.0.1:${await freePort()}`);
  // The three start at once (none waits for another to be ready); each is stopped by the owner.
  const nodes: NodeHandle[] = await Promise.all(
    names.map((name, i) => {
      const extra = typeof opts.nodeArgs === 'function' ? opts.nodeArgs(i, name) : (opts.nodeArgs ?? []);
      return startNode(owner, name, [...common, '--zone', `z${i + 1}`, '--xfer', xfer[i] ?? 'off', ...extra]);
    }),
  );
  await eventually(
    'every node holds the object rings',
    async () => {
      for (const n of nodes) {
        const res = await fetch(`http://127.0.0.1:${n.port('http')}/api/v1/rings`);
        const r = (await res.json()) as { rings: { name: string }[] };
        if (!['objects-replicated-3', 'objects-replicated-2', 'objects-single'].every((x) => r.rings.some((y) => y.name === x))) return false;
      }
      return true;
    },
    30_000,
  );
  return { server, nodes, http: nodes.map((n) => `127.0.0.1:${n.port('http')}`), xfer };
}
