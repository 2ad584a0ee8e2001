/**
 * Bounded fuzz run of every gRPC service the processes serve: the server's ClusterService and
 * MonitorService (CommandStream included), the node's ClusterService, KvService and KvReplicaService, and
 * the embedded coordination store's etcd services (KV, Watch, Lease, Cluster, Maintenance; run as its own
 * `flotilla coord serve`, so that a fuzzed DeleteRange cannot wipe the cluster's state mid-run). Requests
 * are random encodings of each method's input message, byte-level mutations of them (flips, truncation,
 * wrong wire types, huge lengths, deep nesting, invalid UTF-8), bad gRPC framing (compressed flag without
 * an encoding, a length prefix larger or smaller than the body, oversized messages beyond the read limit),
 * unknown methods and wrong content types; with the cluster token so they reach the handlers, and a few
 * hundred without a token.
 *
 * Every call must end with a grpc-status (no hang, no reset without one) whose message shows no stack or
 * internal error text; afterwards every process is alive, its RSS under a bound, its output free of
 * uncaught exceptions, and valid calls still work (a KV put and get, ListMembers, an etcd Range).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { create, fromBinary, toBinary, type DescMethod, type DescService } from '@bufbuild/protobuf';
import { ClusterService } from '../../src/gen/flotilla/v1/cluster_pb.js';
import { GetRequestSchema, GetResponseSchema, KvReplicaService, KvService, PutRequestSchema } from '../../src/gen/flotilla/v1/kv_pb.js';
import { MonitorService } from '../../src/gen/flotilla/v1/monitor_pb.js';
import { Cluster, KV, Lease, Maintenance, RangeRequestSchema, Watch } from '../../src/gen/etcdserverpb/rpc_pb.js';
import { startEmbeddedCoord, type CoordProcess } from '../testkit/index.js';
import { suiteOwner, type NodeHandle, type ServerHandle } from '../testkit/cluster.js';
import { fuzzRuns } from './mutate.js';
import { startFuzzCluster } from './fuzz-cluster.js';
import { fuzzSeed, outputProblems, rssBytes, runPool } from './fuzz-run.js';
import { grpcCall, grpcFrame, H2Target, mutateMessage, randomMessage, Rng, type GrpcOutcome } from './grpc-raw.js';

const seed = fuzzSeed();
const calls = Math.max(100, Math.round(fuzzRuns * 0.6));
const tokenless = Math.max(50, Math.round(fuzzRuns / 10));
const DEADLINE_MS = 10_000;
/** RSS a process may have after the run (they start at ~100-200 MiB). */
const RSS_BOUND_BYTES = 768 * 1024 * 1024;

type Where = 'server' | 'node' | 'coord';

const SERVICES: { where: Where; service: DescService; checksToken: boolean }[] = [
  { where: 'server', service: ClusterService, checksToken: true },
  { where: 'server', service: MonitorService, checksToken: true },
  { where: 'node', service: ClusterService, checksToken: true },
  { where: 'node', service: KvService, checksToken: true },
  { where: 'node', service: KvReplicaService, checksToken: true },
  { where: 'coord', service: KV, checksToken: false },
  { where: 'coord', service: Watch, checksToken: false },
  { where: 'coord', service: Lease, checksToken: false },
  { where: 'coord', service: Cluster, checksToken: false },
  { where: 'coord', service: Maintenance, checksToken: false },
];
const METHODS: { where: Where; method: DescMethod; path: string; checksToken: boolean }[] = SERVICES.flatMap(({ where, service, checksToken }) =>
  service.methods.map((m) => ({ where, method: m, path: `/${service.typeName}/${m.name}`, checksToken })),
);
/** The read limit of each listener (peer servers 4 MiB, the coordination store etcd's 1.5 MiB + 512 KiB). */
const READ_LIMIT: Record<Where, number> = { server: 4 * 1024 * 1024, node: 4 * 1024 * 1024, coord: 2 * 1024 * 1024 };

interface GrpcCase {
  where: Where;
  label: string;
  path: string;
  body: Buffer;
  /** What a correct answer is: any status, or not OK (the request is wrong), or exactly UNAUTHENTICATED. */
  expect: 'any' | 'error' | 'unauthenticated';
  withToken: boolean;
  contentType?: string;
  headers?: Record<string, string>;
}

function makeCase(r: Rng, withToken: boolean): GrpcCase {
  const m = r.pick(withToken ? METHODS : METHODS.filter((x) => x.checksToken));
  const valid = (): Uint8Array => randomMessage(m.method.input, r);
  const base = { where: m.where, path: m.path, withToken, expect: withToken || !m.checksToken ? ('any' as const) : ('unauthenticated' as const) };
  const kind = r.int(100);
  let c: GrpcCase;
  if (kind < 35) c = { ...base, label: 'random message', body: grpcFrame(valid()) };
  else if (kind < 70) c = { ...base, label: 'mutated message', body: grpcFrame(mutateMessage(valid(), r)) };
  else if (kind < 74) c = { ...base, label: 'two messages', body: Buffer.concat([grpcFrame(valid()), grpcFrame(valid())]) };
  else if (kind < 78) c = { ...base, label: 'compressed flag without grpc-encoding', body: grpcFrame(Buffer.concat([valid(), r.bytes(8), Buffer.from([1])]), { compressed: true }), expect: withToken ? 'error' : base.expect };
  else if (kind < 82) {
    const msg = valid();
    c = { ...base, label: 'length prefix larger than the body', body: grpcFrame(msg, { declaredLength: msg.length + 1 + r.int(1000) }), expect: withToken ? 'error' : base.expect };
  } else if (kind < 84) c = { ...base, label: 'length prefix 0xffffffff', body: grpcFrame(new Uint8Array(3), { declaredLength: 0xffffffff }), expect: withToken ? 'error' : base.expect };
  else if (kind < 86) c = { ...base, label: 'a partial prefix', body: Buffer.from([0, 0, 0]), expect: withToken ? 'error' : base.expect };
  else if (kind < 87) c = { ...base, label: 'oversized message', body: grpcFrame(Buffer.alloc(READ_LIMIT[m.where] + 1024, 0x0a)), expect: withToken ? 'error' : base.expect };
  else if (kind < 89) c = { ...base, label: 'grpc-encoding gzip on garbage', body: grpcFrame(Buffer.concat([valid(), Buffer.from([1])]), { compressed: true }), headers: { 'grpc-encoding': 'gzip' }, expect: withToken ? 'error' : base.expect };
  else if (kind < 91) c = { ...base, label: 'bad grpc-timeout and metadata', body: grpcFrame(valid()), headers: { 'grpc-timeout': r.pick(['0m', '-1S', 'abc', '99999999999H', '1n']), 'x-meta-bin': '!!!notbase64' } };
  else if (kind < 93) c = { ...base, label: 'wrong content type', body: Buffer.from(valid()), contentType: r.pick(['application/json', 'application/grpc-web', 'text/plain', 'application/grpc+json', 'application/connect+proto']) };
  else {
    const path = r.pick([
      `${m.path}X`, `/${m.path.split('/')[1]}/Nope`, '/nope.Service/Call', '/', '//', '/a', `/${'a'.repeat(2000)}/b`, '/flotilla.v1.KvService', '/etcdserverpb.Auth/Authenticate',
      '/grpc.health.v1.Health/Check', '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo', `${m.path}/extra`, m.path.toLowerCase(),
    ]);
    c = { ...base, label: `unknown method ${path.slice(0, 80)}`, path, body: grpcFrame(valid()), expect: withToken ? 'error' : base.expect };
  }
  return c;
}

/** Text in a grpc-message that shows an escaped programming error or internals. */
const LEAK = /TypeError|RangeError|ReferenceError|SyntaxError|Cannot read propert|is not a function|undefined is not|Maximum call stack|\n\s+at |\.(?:ts|js):\d+|node_modules|node:internal|\/tmp\/|\/work\//;

function judge(c: GrpcCase, o: GrpcOutcome): string | undefined {
  if (o.kind === 'timeout') return `no grpc-status within ${DEADLINE_MS} ms`;
  // gRPC over HTTP/2: a content type that is not application/grpc* SHOULD get HTTP 415 (clients map it to a status).
  if (o.kind === 'no-status' && c.label === 'wrong content type' && o.httpStatus === 415) return undefined;
  if (o.kind === 'no-status') return `no grpc-status: ${o.why} (HTTP ${o.httpStatus ?? 'none'})`;
  if (!Number.isInteger(o.status) || o.status < 0 || o.status > 16) return `grpc-status ${o.status} is not a gRPC code`;
  const leak = LEAK.exec(o.message);
  if (leak !== null) return `status ${o.status}: the message shows ${JSON.stringify(leak[0])}: ${o.message.slice(0, 300)}`;
  if (c.expect === 'unauthenticated' && o.status !== 16) return `status ${o.status} without a token (want 16 UNAUTHENTICATED): ${o.message.slice(0, 200)}`;
  if (c.expect === 'error' && o.status === 0) return 'status 0 OK for a request that is wrong';
  if (o.status === 2 && c.where !== 'coord') return `status 2 UNKNOWN (an unclassified error): ${o.message.slice(0, 200)}`;
  return undefined;
}

describe('gRPC fuzz (cluster, monitor, KV, KV replica and etcd services)', () => {
  const owner = suiteOwner();
  let server: ServerHandle;
  let node: NodeHandle;
  let coord: CoordProcess;
  const targets = {} as Record<Where, H2Target>;
  const findings: string[] = [];
  const stats = new Map<string, number>();

  before(async () => {
    [{ server, node }, coord] = await Promise.all([startFuzzCluster(owner), startEmbeddedCoord({ t: owner })]);
    targets.server = new H2Target(server.grpc);
    targets.node = new H2Target(`127.0.0.1:${node.port('peer')}`);
    targets.coord = new H2Target(coord.endpoint);
    owner.after(() => Object.values(targets).forEach((t) => t.close()));
  });

  async function fuzz(cases: GrpcCase[], token: string | undefined): Promise<void> {
    await runPool(cases, 6, async (c) => {
      const o = await grpcCall(targets[c.where], {
        path: c.path,
        body: c.body,
        deadlineMs: DEADLINE_MS,
        ...(c.withToken && token !== undefined ? { token } : {}),
        ...(c.contentType !== undefined ? { contentType: c.contentType } : {}),
        ...(c.headers !== undefined ? { headers: c.headers } : {}),
      });
      if (o.kind === 'status') stats.set(`${c.where} ${o.status}`, (stats.get(`${c.where} ${o.status}`) ?? 0) + 1);
      const finding = judge(c, o);
      if (finding !== undefined) findings.push(`${c.where} ${c.path} (${c.label}${c.withToken ? '' : ', no token'}) -> ${finding}\n    body: ${c.body.subarray(0, 120).toString('hex')}${c.body.length > 120 ? `... (${c.body.length} bytes)` : ''}`);
    });
  }

  it('random, mutated and badly framed requests to every method get a grpc-status, with the cluster token and without', async () => {
    const seeds = fc.sample(fc.integer({ min: 1, max: 2 ** 31 - 1 }), { seed, numRuns: calls + tokenless });
    const cases = seeds.map((s, i) => makeCase(new Rng(s), i < calls));
    // Every method at least once with a valid message, whatever the seed.
    cases.push(...METHODS.map((m, i) => ({ where: m.where, path: m.path, label: 'random message', body: grpcFrame(randomMessage(m.method.input, new Rng(seed + i))), expect: 'any' as const, withToken: true })));
    await fuzz(cases, server.joinToken);
    console.log(`grpc-status counts (where status: calls): ${[...stats].sort().map(([k, n]) => `${k}: ${n}`).join(', ')}`);
    assert.deepEqual(findings.slice(0, 15), [], `${findings.length} findings in ${cases.length} calls (seed ${seed}; rerun with FLOTILLA_FUZZ_SEED=${seed})`);
  });

  it('afterwards every process is alive, under its memory bound, and valid calls work', async () => {
    for (const [name, h] of [['server', server], ['node', node], ['coord', coord]] as const) {
      assert.ok(h.running, `${name} exited:\n${h.output().slice(-3000)}`);
      const rss = await rssBytes(h.pid!);
      assert.ok(rss !== undefined && rss < RSS_BOUND_BYTES, `${name} RSS ${rss} bytes is over ${RSS_BOUND_BYTES}`);
      assert.deepEqual(outputProblems(h.output()), [], `${name} output`);
      assert.deepEqual(
        h.output().split('\n').filter((l) => /unexpected error in a gRPC handler/.test(l)).map((l) => l.slice(0, 300)),
        [],
        `${name}: a gRPC handler threw something other than a FlotillaError/ConnectError`,
      );
    }
    // Fresh connections: what a new client gets.
    for (const t of Object.values(targets)) t.close();
    const call = async (where: Where, path: string, message: Uint8Array): Promise<GrpcOutcome> =>
      grpcCall(targets[where], { path, body: grpcFrame(message), deadlineMs: DEADLINE_MS, token: server.joinToken! });
    const key = new TextEncoder().encode('fuzz/after');
    const value = new TextEncoder().encode('still works');
    const put = await call('node', '/flotilla.v1.KvService/Put', toBinary(PutRequestSchema, create(PutRequestSchema, { key, value })));
    assert.equal(put.kind === 'status' && put.status, 0, `KV put after the fuzz run: ${JSON.stringify(put)}`);
    const got = await unaryBytes(targets.node, '/flotilla.v1.KvService/Get', toBinary(GetRequestSchema, create(GetRequestSchema, { key })), server.joinToken!);
    const res = fromBinary(GetResponseSchema, got);
    assert.ok(res.found && new TextDecoder().decode(res.value) === 'still works', 'KV get returns the value put after the fuzz run');
    const members = await call('server', '/flotilla.v1.ClusterService/ListMembers', new Uint8Array(0));
    assert.equal(members.kind === 'status' && members.status, 0, `ListMembers after the fuzz run: ${JSON.stringify(members)}`);
    const range = await call('coord', '/etcdserverpb.KV/Range', toBinary(RangeRequestSchema, create(RangeRequestSchema, { key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]), limit: 1n })));
    assert.equal(range.kind === 'status' && range.status, 0, `etcd Range after the fuzz run: ${JSON.stringify(range)}`);
  });
});

/** The response message of a unary call that must succeed. */
async function unaryBytes(target: H2Target, path: string, message: Uint8Array, token: string): Promise<Buffer> {
  const s = target.open().request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', authorization: `Bearer ${token}` });
  const chunks: Buffer[] = [];
  let status: string | undefined;
  s.on('response', (h) => (status ??= h['grpc-status'] as string | undefined));
  s.on('trailers', (h) => (status = h['grpc-status'] as string | undefined));
  s.on('data', (d: Buffer) => chunks.push(d));
  s.end(grpcFrame(message));
  await new Promise<void>((resolve, reject) => {
    s.on('close', () => resolve());
    s.on('error', reject);
  });
  assert.equal(status, '0', `${path}: grpc-status ${status}`);
  const body = Buffer.concat(chunks);
  return body.subarray(5, 5 + body.readUInt32BE(1));
}
