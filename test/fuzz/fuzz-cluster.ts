/**
 * The processes the fuzz runs attack: `flotilla server --auth on --expect-nodes 1` (so the KV and object
 * rings are built as soon as its one node is ACTIVE, and uploads reach the object store) and one
 * `flotilla node` with every role and its file transfer port.
 */
import { freePort, type Cleanup } from '../testkit/index.js';
import { eventually, startNode, startServer, type NodeHandle, type ServerHandle } from '../testkit/cluster.js';

/**
 * Time between SIGTERM and SIGKILL at teardown. Shorter than the testkit's 10 s on purpose: a process
 * left holding a connection by some hostile request must not cost the suite more than this to stop.
 */
const STOP_GRACE_MS = 3000;

export async function startFuzzServer(t: Cleanup): Promise<ServerHandle> {
  return startServer(t, { auth: true, args: ['--expect-nodes', '1'], stopGraceMs: STOP_GRACE_MS });
}

export interface FuzzCluster {
  server: ServerHandle;
  node: NodeHandle;
  xferPort: number;
}

/** A server and its node, ready: the node registered and the object ring built (an upload works). */
export async function startFuzzCluster(t: Cleanup): Promise<FuzzCluster> {
  const server = await startFuzzServer(t);
  const xferPort = await freePort();
  const node = await startNode(t, 'fuzz-node', ['--join', server.grpc, '--join-token', server.joinToken!, '--xfer', `127.0.0.1:${xferPort}`, '--lease-ttl', '3']);
  await eventually(
    'the KV and object rings are built',
    async () => {
      const res = await fetch(`http://127.0.0.1:${server.port('http')}/api/v1/rings`, { headers: { authorization: `Bearer ${server.adminToken!}` } });
      const body = (await res.json()) as { rings: { name: string }[] };
      return body.rings.some((r) => r.name === 'kv') && body.rings.some((r) => r.name.startsWith('objects-'));
    },
    20_000,
  );
  return { server, node, xferPort };
}
