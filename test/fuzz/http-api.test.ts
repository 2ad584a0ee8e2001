/**
 * Bounded fuzz run of the HTTP APIs of a real `flotilla server` and a real `flotilla node` (authentication
 * on; the node's S3 API, its API routes and its /upload /download port included) and of the WebSocket
 * endpoint /ws. The routes are enumerated from the processes' own route tables; requests are generated
 * from them with hostile parameters, queries, methods, headers and bodies (mutated valid bodies, random
 * bytes, deep nesting, huge numbers, wrong types), with a valid admin token and without, plus requests
 * with broken HTTP framing and WebSocket sessions of garbage frames.
 *
 * Every request must get an answer within its deadline (no hang, no reset), never a 5xx other than a
 * documented 503, and an error body that is the documented format (problem+json on the API) with no
 * stack trace or file path. At the end both processes are alive, healthy, and their output shows no
 * uncaught exception or unhandled rejection. FLOTILLA_FUZZ_RUNS scales the run; FLOTILLA_FUZZ_SEED picks
 * the seed (printed with every finding).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { silentLogger } from '../../src/core/log.js';
import { createServerProcess, serverConfigSchema } from '../../src/server/index.js';
import { createNodeProcess, nodeConfigSchema, resolveNodeConfig } from '../../src/node/index.js';
import { REPO_ROOT, tempDir } from '../testkit/index.js';
import { suiteOwner, type NodeHandle, type ServerHandle } from '../testkit/cluster.js';
import { startFuzzCluster } from './fuzz-cluster.js';
import { fuzzRuns } from './mutate.js';
import { brokenFramingCase, wellFormedCase, type HttpCase, type RouteRef, type Target } from './http-cases.js';
import { rawRequest, wsExchange, wsFrame, type RawOutcome } from './http-raw.js';
import { fuzzSeed, outputProblems, runPool } from './fuzz-run.js';

const seed = fuzzSeed();
/** Requests: 60% of FLOTILLA_FUZZ_RUNS well-formed, 10% with broken framing; WebSocket sessions: 7%. */
const wellFormedRuns = Math.round(fuzzRuns * 0.6);
const brokenRuns = Math.max(50, Math.round(fuzzRuns * 0.1));
const wsRuns = Math.max(50, Math.round(fuzzRuns * 0.07));
const DEADLINE_MS = 15_000;

/** Routes enumerated from the route tables of a server and a node built in this process (not started). */
async function enumerateRoutes(dir: string): Promise<RouteRef[]> {
  const logger = silentLogger();
  const server = createServerProcess(serverConfigSchema.parse({ listen: '127.0.0.1:0', http: '127.0.0.1:0', coordListen: '127.0.0.1:0', dataDir: `${dir}/enum-server`, auth: 'on' }), logger);
  const node = createNodeProcess(
    resolveNodeConfig(nodeConfigSchema.parse({ name: 'enum', join: '127.0.0.1:1', listen: '127.0.0.1:0', http: '127.0.0.1:0', xfer: '127.0.0.1:0', dataDir: `${dir}/enum-node`, joinToken: 'x' })),
    logger,
  );
  const routes: RouteRef[] = [];
  for (const [target, proc] of [['server', server], ['node', node]] as const) {
    await proc.http.app.ready();
    routes.push(...proc.http.routes().map((r) => ({ target, method: r.method, url: r.url })));
    await proc.http.app.close();
  }
  routes.push({ target: 'xfer', method: 'POST', url: '/upload' }, { target: 'xfer', method: 'POST', url: '/download' });
  return routes;
}

/** A stack frame, a source or data path, or an internal Node module in a body a client receives. */
function leak(body: string, dirs: string[]): string | undefined {
  const m =
    /\n\s+at [^\n]*[(:]/.exec(body) ??
    /[\w/.-]+\.(?:ts|js|mjs|cjs):\d+/.exec(body) ??
    /node:internal|node_modules|\/dist\/|\/src\/[a-z]/.exec(body) ??
    (dirs.length > 0 ? new RegExp(dirs.map((d) => d.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')).exec(body) : null);
  return m === null ? undefined : m[0];
}

/** The error format a path documents: the Prometheus API's JSON, S3's XML, the transfer port's text line, or problem+json. */
function errorFormat(c: HttpCase, path: string): 'problem' | 'prom' | 's3' | 'text' {
  if (c.target === 'xfer') return 'text';
  if (c.target === 'server' && /^\/api\/v1\/(query|query_range|series|labels|label\/|rules|alerts)/.test(path)) return 'prom';
  // Every node path no API route matches (/api/v1/kv/keys/a//b too) belongs to the S3 API's catch-all.
  if (c.target === 'node') return 's3';
  return 'problem';
}

function wellFormedError(format: ReturnType<typeof errorFormat>, status: number, contentType: string, body: string): string | undefined {
  if (format === 'text') return /^text\/plain/.test(contentType) && /^error: .+\n$/.test(body) ? undefined : 'not the one-line text error of the transfer port';
  if (format === 's3' && /^application\/xml/.test(contentType)) return /<Error>\s*<Code>[A-Za-z]+<\/Code>/.test(body) ? undefined : 'an S3 error without <Error><Code>';
  if (format === 'prom' && /^application\/json/.test(contentType)) return /"status":"error"/.test(body) && /"errorType":"/.test(body) ? undefined : 'a Prometheus API error without status/errorType';
  if (!/^application\/problem\+json/.test(contentType)) return `content-type ${JSON.stringify(contentType)} instead of application/problem+json`;
  let p: { status?: unknown; code?: unknown; detail?: unknown };
  try {
    p = JSON.parse(body) as typeof p;
  } catch {
    return 'problem+json that is not JSON';
  }
  if (p.status !== status || typeof p.code !== 'string' || typeof p.detail !== 'string') return `problem+json without matching status, code and detail: ${body.slice(0, 200)}`;
  return undefined;
}

/** What is wrong with the answer to a case, or undefined. */
function judge(c: HttpCase, o: RawOutcome, dirs: string[]): string | undefined {
  if (o.kind === 'timeout') return `no answer within the deadline (${o.received} bytes received)`;
  if (o.kind === 'reset') return `connection reset before an answer: ${o.error}`;
  if (o.kind === 'closed') return c.framing === 'ok' ? 'connection closed without an answer' : undefined;
  if (o.kind === 'lingering') return `status ${o.response.status}, then the server kept the connection open after its answer and the client's FIN`;
  const { status, headers, body } = o.response;
  const text = body.toString('utf8');
  // A success may name data paths on purpose (a member's backend directory); an error never shows one.
  const leaked = leak(text, status >= 400 ? dirs : []);
  if (leaked !== undefined) return `status ${status}: the body shows ${JSON.stringify(leaked)}: ${text.slice(0, 300)}`;
  if (status >= 500 && status !== 503 && !(status === 501 && c.target === 'node')) return `status ${status}: ${text.slice(0, 300)}`;
  if (c.framing === 'ok' && status >= 400 && !c.head && body.length > 0) {
    const path = c.label.slice(c.label.indexOf(' ') + 1);
    const bad = wellFormedError(errorFormat(c, path), status, headers['content-type'] ?? '', text);
    if (bad !== undefined) return `status ${status}: ${bad}`;
  }
  return undefined;
}

describe('HTTP API fuzz (server, node, S3, file transfer, WebSocket)', () => {
  const owner = suiteOwner();
  let server: ServerHandle;
  let node: NodeHandle;
  let xferPort = 0;
  let routes: RouteRef[] = [];
  let dirs: string[] = [];
  const ports = (t: Target): number => (t === 'server' ? server.port('http') : t === 'node' ? node.port('http') : xferPort);

  before(async () => {
    const dir = await tempDir(owner, 'flotilla-fuzz-http-');
    routes = await enumerateRoutes(dir);
    ({ server, node, xferPort } = await startFuzzCluster(owner));
    dirs = [server.dataDir, node.dataDir, REPO_ROOT, dir];
  });

  async function fuzz(what: string, cases: HttpCase[]): Promise<void> {
    const findings: string[] = [];
    await runPool(cases, 4, async (c) => {
      const outcome = await rawRequest(ports(c.target), c.bytes, { deadlineMs: DEADLINE_MS, head: c.head, halfClose: c.halfClose });
      const finding = judge(c, outcome, dirs);
      if (finding === undefined) return;
      findings.push(`${c.target} ${c.label}\n    -> ${finding}\n    request: ${JSON.stringify(c.bytes.subarray(0, 400).toString('latin1'))}`);
    });
    assert.deepEqual(findings.slice(0, 15), [], `${findings.length} findings in ${cases.length} ${what} (seed ${seed}; rerun with FLOTILLA_FUZZ_SEED=${seed})`);
  }

  it('well-formed requests to every route with hostile parameters, headers and bodies get a clean answer', async () => {
    assert.ok(routes.filter((r) => r.target === 'server').length >= 30 && routes.filter((r) => r.target === 'node').length >= 10, `enumerated ${routes.length} routes`);
    const cases = fc.sample(wellFormedCase(routes, { admin: server.adminToken! }), { seed, numRuns: wellFormedRuns });
    // Every route is hit at least once, whatever the seed.
    for (const r of routes) cases.push(...fc.sample(wellFormedCase([r], { admin: server.adminToken! }), { seed, numRuns: 1 }));
    await fuzz('well-formed requests', cases);
  });

  it('requests with broken HTTP framing are refused or closed cleanly', async () => {
    await fuzz('broken-framing requests', fc.sample(brokenFramingCase(routes, { admin: server.adminToken! }), { seed, numRuns: brokenRuns }));
  });

  it('WebSocket sessions on /ws with garbage frames end cleanly, and /ws still serves', async () => {
    const text = (s: string): Buffer => wsFrame({ opcode: 1, payload: Buffer.from(s) });
    const commands = ['{"id":1,"ping":{}}', '{"id":2,"subscribe":{"channel":"fuzz","token":"x.y.z"}}', '{"id":3,"subscribe":{"channel":"public:fuzz","since":{"offset":-1,"epoch":"zz"},"ack":true}}', '{"ack":{"channel":"public:fuzz","offset":1e309}}', '{"id":4,"unsubscribe":{"channel":"nosuch"}}'];
    const frame = fc.oneof(
      fc.constantFrom(...commands).map(text),
      mutatedJson(commands).map(text),
      fc.uint8Array({ maxLength: 200 }).map((b) => wsFrame({ opcode: 2, payload: Buffer.from(b) })),
      fc.constant(wsFrame({ opcode: 1, payload: Buffer.from([0xc3, 0x28, 0xff, 0x80]) })),
      fc.constant(wsFrame({ opcode: 1, payload: Buffer.from('{"id":1,"ping":{}}'), mask: false })),
      fc.integer({ min: 1, max: 7 }).map((rsv) => wsFrame({ opcode: 1, payload: Buffer.from('{}'), rsv })),
      fc.constantFrom(3, 4, 7, 11, 15).map((opcode) => wsFrame({ opcode, payload: Buffer.from('x') })),
      fc.constant(wsFrame({ opcode: 9, payload: Buffer.alloc(200, 1) })),
      fc.constant(wsFrame({ opcode: 9, payload: Buffer.from('p'), fin: false })),
      fc.constant(wsFrame({ opcode: 0, payload: Buffer.from('continuation without a start') })),
      fc.constant(wsFrame({ opcode: 1, payload: Buffer.from('{"id":'), fin: false })),
      fc.constant(wsFrame({ opcode: 1, payload: Buffer.from('x'), declaredLength: 2n ** 63n - 1n })),
      fc.constant(wsFrame({ opcode: 1, payload: Buffer.from('x'), declaredLength: 50_000_000 })),
      fc.constantFrom(Buffer.from([0x03, 0xe7]), Buffer.from([0x03, 0xed]), Buffer.from([0x01]), Buffer.from([0x03, 0xe8, 0xff, 0xfe])).map((p) => wsFrame({ opcode: 8, payload: p })),
      fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => Buffer.from(b)),
    );
    const sessions = fc.sample(fc.array(frame, { minLength: 1, maxLength: 30 }), { seed, numRuns: wsRuns });
    const findings: string[] = [];
    await runPool(sessions, 8, async (frames) => {
      const o = await wsExchange(server.port('http'), '/ws', frames, { deadlineMs: DEADLINE_MS, idleMs: 200 });
      if (o.kind === 'timeout') findings.push(`a session did not end within ${DEADLINE_MS} ms (upgraded: ${o.upgraded})`);
      else if (o.kind === 'refused') findings.push(`the upgrade was refused: ${o.status} ${o.body.slice(0, 200)}`);
      else if (leak(o.answered.toString('latin1'), dirs) !== undefined) findings.push(`a frame shows a stack or path: ${o.answered.toString('latin1').slice(0, 300)}`);
    });
    assert.deepEqual(findings.slice(0, 10), [], `${findings.length} findings in ${sessions.length} WebSocket sessions (seed ${seed})`);
    const ok = await wsExchange(server.port('http'), '/ws', [text('{"id":7,"ping":{}}')], { deadlineMs: DEADLINE_MS, idleMs: 1000 });
    assert.ok(ok.kind === 'ended' && ok.answered.toString('latin1').includes('"pong"'), `a ping after the fuzz run: ${JSON.stringify(ok)}`);
  });

  it('both processes are alive and healthy afterwards, with no uncaught exception or unhandled rejection', async () => {
    for (const [name, h, port] of [['server', server, server.port('http')], ['node', node, node.port('http')]] as const) {
      assert.ok(h.running, `${name} exited:\n${h.output().slice(-3000)}`);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(res.status, 200, `${name} /healthz`);
      assert.equal(((await res.json()) as { status: string }).status, 'ok');
      assert.deepEqual(outputProblems(h.output()), [], `${name} output`);
    }
    const form = new FormData();
    form.append('file', new Blob(['after the fuzz run']), 'after.txt');
    const up = await fetch(`http://127.0.0.1:${xferPort}/upload`, { method: 'POST', headers: { authorization: `Bearer ${server.adminToken!}` }, body: form });
    assert.equal(up.status, 200, `an upload after the fuzz run: ${await up.clone().text()}`);
    assert.match(await up.text(), /uploaded after\.txt 18 bytes/);
  });
});

/** Mutations of JSON commands (a thin wrapper so the WebSocket test reads as a list of frame kinds). */
function mutatedJson(corpus: string[]): fc.Arbitrary<string> {
  return fc.tuple(fc.constantFrom(...corpus), fc.nat(), fc.constantFrom('{', '}', '"', ':', ',', '\\u0000', '1e309', 'null', '[', ']')).map(([s, n, piece]) => {
    const i = n % (s.length + 1);
    return s.slice(0, i) + piece + s.slice(i + (n % 3));
  });
}
