/**
 * Bad input to `flotilla node`: each is one clear line on stderr, a non-zero exit, no stack trace, and
 * nothing half-registered in the coordination store.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createCoord, type Coord } from '../../src/coord/index.js';
import { freePort, tempDir } from '../testkit/index.js';
import { runFlotilla, startNode, startServer, suiteOwner, type NodeHandle, type ServerHandle } from '../testkit/cluster.js';

// The cases are independent (each its own name and data dir, none registers): they run three at a time.
describe('flotilla node: bad input', { concurrency: 3 }, () => {
  const owner = suiteOwner();
  let server: ServerHandle;
  let a: NodeHandle;
  let coord: Coord;
  let dir: string;

  before(async () => {
    server = await startServer(owner);
    a = await startNode(owner, 'node-a', ['--join', server.grpc]);
    coord = await createCoord({ endpoints: [server.coordEndpoint] });
    owner.after(() => coord.close());
    dir = await tempDir(owner);
  });

  async function node(name: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
    const [peer, http] = [await freePort(), await freePort()];
    return runFlotilla(['node', '--name', name, '--listen', `127.0.0.1:${peer}`, '--http', `127.0.0.1:${http}`, '--data-dir', `${dir}/${name}`, ...args]);
  }

  async function registeredNames(): Promise<string[]> {
    const [nodes, known] = await Promise.all([coord.range('/flotilla/nodes/'), coord.range('/flotilla/members/')]);
    return [...nodes.kvs, ...known.kvs].map((kv) => kv.key).sort();
  }

  const cases: { name: string; args: () => Promise<string[]>; code: number; message: RegExp }[] = [
    { name: 'an unknown join address', args: async () => ['--join', `127.0.0.1:${await freePort()}`], code: 1, message: /\[unavailable\] cannot join through 127\.0\.0\.1:\d+: cannot reach/ },
    { name: 'a join to an HTTP port', args: async () => ['--join', `127.0.0.1:${server.port('http')}`], code: 1, message: /is not a Flotilla gRPC port/ },
    { name: 'a join to the etcd port', args: async () => ['--join', server.coordEndpoint], code: 1, message: /does not serve the Flotilla peer API/ },
    { name: 'a malformed join address', args: async () => ['--join', 'nowhere'], code: 2, message: /\[config_invalid\] invalid --join: expected HOST:PORT/ },
    { name: 'a peer list nobody answers', args: async () => ['--peers', `127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}`], code: 1, message: /none of the peers answered/ },
    { name: 'both --join and --peers', args: async () => ['--join', server.grpc, '--peers', a.peer], code: 2, message: /give only one of --join, --peers/ },
    {
      name: 'a malformed S3 backend',
      args: async () => ['--join', server.grpc, '--backend', 's3://bucket'],
      code: 2,
      message: /invalid --backend: expected s3:\/\/\[ACCESS:SECRET@\]HOST\[:PORT\]\/BUCKET/,
    },
    { name: 'an unknown backend kind', args: async () => ['--join', server.grpc, '--backend', 'ftp://x/y'], code: 2, message: /invalid --backend/ },
    { name: 'an unknown role', args: async () => ['--join', server.grpc, '--roles', 'kv,dancer'], code: 2, message: /invalid --roles/ },
    { name: 'a bad failure timeout', args: async () => ['--join', server.grpc, '--failure-timeout', 'soon'], code: 2, message: /invalid --failure-timeout/ },
  ];
  for (const [i, c] of cases.entries()) {
    it(`refuses ${c.name}`, async () => {
      const r = await node(`node-x${i}`, await c.args());
      assert.equal(r.code, c.code, r.stderr);
      assert.match(r.stderr, c.message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.deepEqual(await registeredNames(), ['/flotilla/members/node-a', '/flotilla/nodes/node-a'], 'nothing half-registered');
    });
  }

  it('refuses a bad node name and a missing one', async () => {
    const r = await node('-bad name', ['--join', server.grpc]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid --name: a node name is/);
    const r2 = await runFlotilla(['node', '--join', server.grpc]);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /a node needs a name: --name NAME/);
  });

  it('refuses a duplicate name: one line, exit 1, the live node untouched', async () => {
    const before = (await coord.get('/flotilla/nodes/node-a'))!;
    const r = await node('node-a', ['--join', server.grpc]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^flotilla: \[already_exists\] node name "node-a" is already registered by a running node at 127\.0\.0\.1:\d+/m);
    assert.equal((await coord.get('/flotilla/nodes/node-a'))!.modRevision, before.modRevision);
    assert.equal(a.running, true);
  });
});
