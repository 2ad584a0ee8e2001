// A server and three kv+objects nodes with their rings built (through the server's ring API) and taken by
// every node: what the tests of the data pages and of the overview counts need. Everything started is
// stopped when `owner` cleans up.
import assert from 'node:assert/strict';
import type { Cleanup } from '../testkit/index.js';
import { eventually, startNode, startServer, type NodeHandle, type ServerHandle } from '../testkit/cluster.js';

export const DATA_NODES = ['node-a', 'node-b', 'node-c'];
const RINGS = ['kv', 'objects-replicated-3', 'objects-replicated-2', 'objects-single'];

export interface DataCluster {
  server: ServerHandle;
  nodes: NodeHandle[];
  /** http://127.0.0.1:PORT of the server. */
  base: string;
  nodeUrl(i: number): string;
}

/** A request that must succeed; its JSON answer. */
export async function api<T>(base: string, method: string, path: string, body?: unknown, type = 'application/json'): Promise<T> {
  const init: RequestInit = { method };
  if (body !== undefined) init.body = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
  if (body !== undefined) init.headers = { 'content-type': type };
  const res = await fetch(base + path, init);
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** Starts the nodes of `server` (a server of its own when none is given), builds the rings, waits until every node holds them. */
export async function startDataCluster(owner: Cleanup, given?: ServerHandle): Promise<DataCluster> {
  const server = given ?? (await startServer(owner));
  const base = `http://127.0.0.1:${server.port('http')}`;
  const nodes = await Promise.all(DATA_NODES.map((n, i) => startNode(owner, n, ['--join', server.grpc, '--zone', `zone-${i + 1}`, '--roles', 'kv,objects', '--xfer', 'off'])));
  const nodeUrl = (i: number): string => `http://127.0.0.1:${nodes[i]!.port('http')}`;
  // The server builds from the ACTIVE nodes it sees: wait until it sees all three.
  await eventually(
    'the server sees the three nodes ACTIVE',
    async () => {
      const r = await api<{ members: { name: string; status: string }[] }>(base, 'GET', '/api/v1/members');
      return DATA_NODES.every((n) => r.members.some((m) => m.name === n && m.status === 'ACTIVE'));
    },
    20_000,
  );
  await api(base, 'POST', '/api/v1/rings/build', {});
  for (let i = 0; i < nodes.length; i++) {
    await eventually(
      `${DATA_NODES[i]} holds the rings`,
      async () => {
        const r = await api<{ rings: { name: string }[] }>(nodeUrl(i), 'GET', '/api/v1/rings');
        return RINGS.every((n) => r.rings.some((x) => x.name === n));
      },
      20_000,
    );
  }
  return { server, nodes, base, nodeUrl };
}
