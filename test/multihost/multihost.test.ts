/**
 * The multi-host test (issue 11, item 7): three hosts on a private test LAN made of network namespaces
 * (testkit/netns.ts): a "server host" running `flotilla server` (embedded coordination store, HTTP API,
 * gRPC) and a node, and two "agent hosts" each running a node (kv, objects) and a `flotilla agent`.
 * Every process is the built CLI (dist/) run inside its host's namespace, bound to its LAN address, so
 * authentication is on (the admin token and join token the server writes) and, when this build has the
 * TLS flags, every process runs with mutual TLS from `flotilla certs init`.
 *
 * It walks docs/monitoring.md's staged test plan (network, metrics up and commands down, config through
 * the coordination store, heartbeats, the global view), a KV and an object round trip across hosts, a
 * process without the join token refused at connect, then cuts one agent host off (link down): the
 * server sees it dead/DISCONNECTED while KV and objects keep working through the other two; the link
 * comes back and the host recovers, including a key written while it was cut.
 *
 * FLOTILLA_MULTIHOST_TLS=off runs without TLS even when the build has it.
 *
 * Needs root and iproute2 (as testkit/netns.test.ts). Every process is stopped and every namespace
 * removed by the test's cleanup, pass or fail.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ETCDCTL_BIN } from '../testkit/etcd.js';
import { createTestNetwork } from '../testkit/netns.js';
import { tempDir } from '../testkit/ports.js';
import type { ProcessHandle } from '../testkit/process.js';
import { Api, countLog, Host, processTlsArgs, readTokenFile, runLocal, stage, tlsAvailable, together, waitFor, waitForLog, type TlsSetup } from './hosts.js';

const GRPC = 50051;
const HTTP = 8080;
const COORD = 2379;
const PEER = 7101;
const NODE_HTTP = 9001;

/** Short timers (registration lease, failure detection, heartbeat TTL): the cut and heal stages wait seconds, not tens of seconds. */
const NODE_TIMERS = ['--lease-ttl', '3', '--failure-timeout', '1500ms', '--health-interval', '300ms'];
const AGENT_TIMERS = ['--heartbeat-ttl', '2s'];

interface AgentJson {
  hostname: string;
  alive: boolean;
  connected: boolean;
  samplesReceived: number;
  batchesReceived: number;
  config: { interval?: number; metrics?: string[] } | null;
  lastMetrics?: { timeMs: number; metric: string; labels: Record<string, string> }[];
}

interface MemberJson {
  name: string;
  status: string;
  registered?: boolean;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('multi-host: staged monitoring plan, KV and objects across hosts, join token, a host cut off and back', { timeout: 420_000 }, async (t) => {
  // TLS whenever this build has it; FLOTILLA_MULTIHOST_TLS=off runs the plain path on purpose (to compare).
  const tls = process.env.FLOTILLA_MULTIHOST_TLS !== 'off' && (await tlsAvailable());
  if (!tls) t.diagnostic(process.env.FLOTILLA_MULTIHOST_TLS === 'off' ? 'TLS off (FLOTILLA_MULTIHOST_TLS=off)' : 'TLS is not available in this build (`flotilla server --help` lists no --tls-dir): the cluster runs with tokens over plain TCP');

  const net = await createTestNetwork(t, ['server', 'agent-1', 'agent-2']);
  const work = await tempDir(t, 'flotilla-multihost-');
  let tlsSetup: TlsSetup | undefined;
  const S = net.hosts.server!.address;
  const A1 = net.hosts['agent-1']!.address;
  const A2 = net.hosts['agent-2']!.address;
  t.diagnostic(`test LAN: server ${S}, agent-1 ${A1}, agent-2 ${A2} (gateway ${net.gateway})`);

  if (tls) {
    const dir = join(work, 'tls');
    const r = await runLocal([
      'certs', 'init', '--dir', dir,
      '--for', `server=${S}`, '--for', `node-s=${S}`, '--for', `node-1=${A1}`, '--for', `node-2=${A2}`,
      '--for', `agent-1=${A1}`, '--for', `agent-2=${A2}`, '--for', `cli=${net.gateway}`,
    ]);
    assert.equal(r.code, 0, `flotilla certs init failed: ${r.stdout}${r.stderr}`);
    tlsSetup = { dir, ca: join(dir, 'ca.crt') };
    t.diagnostic(`TLS on: certificates in ${dir}`);
  }
  const caPem = tlsSetup !== undefined ? await readFile(tlsSetup.ca, 'utf8') : undefined;
  const scheme = tlsSetup !== undefined ? 'https' : 'http';

  const serverHost = new Host(net.hosts.server!, t, tlsSetup);
  const agent1Host = new Host(net.hosts['agent-1']!, t, tlsSetup);
  const agent2Host = new Host(net.hosts['agent-2']!, t, tlsSetup);

  let server!: ProcessHandle;
  let adminToken = '';
  let joinTokenFile = '';
  let api!: Api;
  const nodes = new Map<string, { proc: ProcessHandle; host: Host; api: Api }>();
  const agents = new Map<string, ProcessHandle>();
  const all = (): ProcessHandle[] => [server, ...[...nodes.values()].map((n) => n.proc), ...agents.values()].filter((p) => p !== undefined);

  /** etcdctl's flags for the server's embedded store: its LAN address, the admin token as etcd's user, and with TLS the CA and the CLI's certificate. */
  const etcdctlArgs = (): string[] => [
    '--user', `flotilla:${adminToken}`,
    ...(tlsSetup !== undefined
      ? ['--endpoints', `https://${S}:${COORD}`, '--cacert', tlsSetup.ca, '--cert', join(tlsSetup.dir, 'cli.crt'), '--key', join(tlsSetup.dir, 'cli.key')]
      : ['--endpoints', `${S}:${COORD}`]),
  ];

  // ---- Stage 0: the network. The server on the server host's LAN address, reachable from the others.
  await stage(t, 'stage 0: the network (server on the LAN, reachable from the agent hosts)', all, async () => {
    server = await serverHost.start(
      'flotilla server',
      (dataDir) => [
        'server',
        '--listen', `${S}:${GRPC}`, '--http', `${S}:${HTTP}`, '--coord-listen', `${S}:${COORD}`,
        '--data-dir', dataDir, '--expect-nodes', '3',
        ...processTlsArgs(tlsSetup, 'server'),
      ],
      async (h) => /flotilla server \S+ ready/.test(h.output()),
    );
    assert.match(server.output(), /authentication\s+on/, 'a server bound beyond loopback has authentication on');
    adminToken = readTokenFile(server.dataDir, 'admin-token');
    joinTokenFile = join(server.dataDir, 'join-token');
    assert.match(adminToken, /^flt_/, 'the server wrote its admin token');
    api = new Api(`${scheme}://${S}:${HTTP}`, adminToken, caPem);

    // Without a token the API refuses (authentication is on because the server is beyond loopback).
    const anonymous = await new Api(`${scheme}://${S}:${HTTP}`, undefined, caPem).request('GET', '/api/v1/agents');
    assert.equal(anonymous.status, 401, `GET /api/v1/agents without a token: ${anonymous.status} ${anonymous.text}`);

    const health = await agent1Host.cliOk(['health', `${S}:${GRPC}`], { token: adminToken });
    assert.match(health, /\bok\b/, `flotilla health from agent-1: ${health}`);
    const etcd = await agent2Host.exec(ETCDCTL_BIN, [...etcdctlArgs(), 'endpoint', 'health'], { ETCDCTL_API: '3' });
    const out = etcd.stdout + etcd.stderr;
    assert.match(out, /is healthy/, `etcdctl endpoint health from agent-2: ${out}`);
  });

  // ---- The cluster: a node on every host (kv, objects), an agent on each agent host.
  await stage(t, 'cluster start (nodes on every host, agents on the agent hosts)', all, async () => {
    const nodeSpecs: [string, Host, string, string][] = [
      ['node-s', serverHost, S, 'zone-s'],
      ['node-1', agent1Host, A1, 'zone-1'],
      ['node-2', agent2Host, A2, 'zone-2'],
    ];
    const started = nodeSpecs.map(async ([name, host, ip, zone]) => {
      const nodeApi = new Api(`${scheme}://${ip}:${NODE_HTTP}`, adminToken, caPem);
      const proc = await host.start(
        `flotilla node ${name}`,
        (dataDir) => [
          'node', '--name', name, '--join', `${S}:${GRPC}`,
          '--listen', `${ip}:${PEER}`, '--http', `${ip}:${NODE_HTTP}`, '--xfer', 'off',
          '--roles', 'kv,objects', '--zone', zone, '--need-rings', 'kv',
          '--data-dir', dataDir, '--join-token-file', joinTokenFile,
          ...NODE_TIMERS,
          ...processTlsArgs(tlsSetup, name),
        ],
        () => nodeApi.ok('/readyz'),
      );
      nodes.set(name, { proc, host, api: nodeApi });
    });
    const agentSpecs: [string, Host][] = [
      ['agent-1', agent1Host],
      ['agent-2', agent2Host],
    ];
    const agentsStarted = agentSpecs.map(async ([name, host]) => {
      const proc = await host.start(
        `flotilla agent ${name}`,
        () => [
          'agent', '--hostname', name, '--server', `${S}:${GRPC}`, '--etcd', `${S}:${COORD}`,
          '--join-token-file', joinTokenFile, ...AGENT_TIMERS,
          ...processTlsArgs(tlsSetup, name),
        ],
        async (h) => /flotilla agent \S+ \S+ ready/.test(h.output()),
      );
      agents.set(name, proc);
    });
    await Promise.all([...started, ...agentsStarted]);
    // The server built the kv ring and the object rings once the three nodes were ACTIVE.
    // The server built the kv ring (each node's /readyz waited for it) and the object rings once the
    // three nodes were ACTIVE.
    await waitFor(
      'the server sees the three nodes ACTIVE and every node holds the object rings',
      async () => {
        const m = (await api.json<{ members: MemberJson[] }>('/api/v1/members')).members;
        if (!['node-s', 'node-1', 'node-2'].every((n) => m.some((x) => x.name === n && x.status === 'ACTIVE'))) return false;
        for (const n of nodes.values()) {
          const r = await n.api.json<{ rings: { name: string }[] }>('/api/v1/rings');
          if (!['kv', 'objects-replicated-3'].every((name) => r.rings.some((x) => x.name === name))) return false;
        }
        return true;
      },
      45_000,
      () => api.json('/api/v1/members'),
    );
    const kvHealth = [`${S}:${PEER}`, `${A1}:${PEER}`, `${A2}:${PEER}`];
    await waitFor(
      'every node serves KV and sees its two peers up (flotilla kv health from the server host)',
      async () => {
        const hs = JSON.parse(await serverHost.cliOk(['kv', 'health', ...kvHealth, '--json'], { token: adminToken })) as { serving: boolean; ringVersion: number; up: string[] }[];
        return hs.length === 3 && hs.every((h) => h.serving && h.ringVersion > 0 && h.up.length === 3);
      },
      30_000,
      async () => (await serverHost.cli(['kv', 'health', ...kvHealth, '--json'], { token: adminToken })).stdout,
    );
  });

  const agentView = async (host: string, metrics = false): Promise<AgentJson> => api.json<AgentJson>(`/api/v1/agents/${host}${metrics ? '?metrics=true' : ''}`);
  const serverLogs = (): ProcessHandle[] => [server];

  // ---- A process without the join token is refused at connect. This stage mostly waits (an agent that
  // cannot read the coordination store waits for it before it dials the server), and what it starts has
  // names of its own (intruder, spy, rogue): it runs alongside the stages below until the cut.
  const refused = stage(t, 'refused at connect: a node and an agent without the join token (with TLS: an agent with another CA)', serverLogs, async () => {
    const noJoinTokenNode = async (): Promise<void> => {
      const intruder = await agent2Host.cli(
        ['node', '--name', 'intruder', '--join', `${S}:${GRPC}`, '--listen', `${A2}:${PEER + 1}`, '--http', `${A2}:${NODE_HTTP + 1}`, '--xfer', 'off', '--roles', 'kv', '--data-dir', join(work, 'intruder'), ...processTlsArgs(tlsSetup, 'node-2')],
        { timeoutMs: 60_000, tls: false },
      );
      assert.notEqual(intruder.code, 0, `a node without the join token must not start:\n${intruder.stdout}${intruder.stderr}`);
      assert.match(intruder.stdout + intruder.stderr, /unauthenticated|join token/i, `the refusal says why:\n${intruder.stdout}${intruder.stderr}`);
      t.diagnostic(`node without the join token: exit ${intruder.code}, ${(intruder.stderr.trim().split('\n').pop() ?? '').slice(0, 300)}`);
      const members = await api.json<{ members: MemberJson[] }>('/api/v1/members');
      assert.ok(!members.members.some((m) => m.name === 'intruder'), 'the intruder never registered');
    };
    /** An agent that must never get a stream: it logs `expected`, and the server has no connected agent of that name. */
    const refusedAgent = async (what: string, hostname: string, args: string[], expected: RegExp): Promise<void> => {
      const p = await agent2Host.start(what, () => ['agent', '--hostname', hostname, '--server', `${S}:${GRPC}`, '--etcd', `${S}:${COORD}`, ...AGENT_TIMERS, ...args], async () => true);
      try {
        await waitForLog(p, expected, 30_000);
        const view = await api.request('GET', `/api/v1/agents/${hostname}`);
        if (view.status === 200) {
          const s = JSON.parse(view.text) as AgentJson;
          assert.equal(s.connected, false, `${what}: it has a stream: ${view.text}`);
          assert.equal(s.samplesReceived, 0, `${what}: samples were taken from it: ${view.text}`);
        } else assert.equal(view.status, 404, view.text);
      } finally {
        await p.stop();
      }
    };
    const other = join(work, 'other-ca');
    if (tlsSetup !== undefined) {
      const r = await runLocal(['certs', 'init', '--dir', other, '--for', `rogue=${A2}`]);
      assert.equal(r.code, 0, `flotilla certs init (another CA) failed: ${r.stdout}${r.stderr}`);
    }
    const checks = [
      noJoinTokenNode(),
      refusedAgent('flotilla agent (no join token)', 'spy', processTlsArgs(tlsSetup, 'agent-2'), /refused this agent/),
      // With the join token but a certificate of another CA: the TLS handshake fails, nothing connects.
      ...(tlsSetup !== undefined
        ? [refusedAgent('flotilla agent (certificate of another CA)', 'rogue', ['--join-token-file', joinTokenFile, '--tls-dir', other, '--tls-name', 'rogue'], /cannot reach the monitor server|refused this agent/)]
        : []),
    ];
    // Every check runs to its end (each stops what it started) before the first failure is reported.
    await together(...checks);
  });
  // Its failure is reported where it is awaited (before the cut), not as an unhandled rejection meanwhile.
  refused.catch(() => undefined);

  // ---- Stage 1: metrics up. Heartbeat, stream, samples in the global view, the history and the logs.
  await stage(t, 'stage 1: metrics up (heartbeat, agent connected, samples arrive)', () => [server, ...agents.values()], async () => {
    for (const host of ['agent-1', 'agent-2']) {
      await waitFor(
        `${host} alive, connected and sending samples`,
        async () => {
          const a = await agentView(host);
          return a.alive && a.connected && a.samplesReceived > 0;
        },
        30_000,
        () => agentView(host),
      );
      // The lines docs/monitoring.md shows for stage 1 and stage 3.
      await waitForLog(server, new RegExp(`\\[\\+\\] node ${host} alive`), 10_000);
      await waitForLog(server, new RegExp(`agent ${host} connected`), 10_000);
      await waitForLog(server, new RegExp(`batch \\d+ from ${host}: \\d+ samples`), 10_000);
    }
    // The samples are in the history: an instant query per host.
    await waitFor(
      'node_load1 of both agent hosts in /api/v1/query',
      async () => {
        const q = await api.json<{ status: string; data: { result: { metric: Record<string, string> }[] } }>(`/api/v1/query?query=${encodeURIComponent('node_load1')}`);
        const hosts = new Set(q.data.result.map((r) => r.metric.host));
        return q.status === 'success' && hosts.has('agent-1') && hosts.has('agent-2');
      },
      20_000,
    );
    // The global view from the CLI, run on another host.
    const status = await agent2Host.cliOk(['status', '--agents', '--server', `${S}:${GRPC}`], { token: adminToken });
    for (const host of ['agent-1', 'agent-2']) assert.match(status, new RegExp(`${host}\\s+alive\\s+connected`), `flotilla status --agents:\n${status}`);
  });

  // ---- Stage 1: commands down. set_interval on agent-1 (from agent-2's host), then disable a metric group.
  await stage(t, 'stage 1: commands down (set_interval, get_config, disable_metric take effect)', () => [server, agents.get('agent-1')!], async () => {
    const applied = /command applied[\s\S]*action: "set_interval"/;
    const appliedBefore = countLog(agents.get('agent-1')!, applied);
    const set = await agent2Host.cliOk(['cmd', '--host', 'agent-1', '--action', 'set_interval', '--payload', '{"interval":1}', '--server', `${S}:${GRPC}`], { token: adminToken });
    assert.match(set, /agent-1: set_interval ok/, set);
    await waitForLog(agents.get('agent-1')!, applied, 10_000, appliedBefore);
    const getConfig = async (host: string): Promise<{ interval: number; metrics: string[] }> => {
      const out = await serverHost.cliOk(['cmd', '--host', host, '--action', 'get_config', '--json', '--server', `${S}:${GRPC}`], { token: adminToken });
      const ack = JSON.parse(out) as { ok: boolean; result: { interval: number; metrics: string[] } };
      assert.equal(ack.ok, true, out);
      return ack.result;
    };
    const [c1, c2] = await Promise.all([getConfig('agent-1'), getConfig('agent-2')]);
    assert.equal(c1.interval, 1, 'agent-1 runs at the new interval');
    assert.equal(c2.interval, 5, 'the command changed agent-1 only');

    // disable_metric memory: once two more collections have arrived, no memory sample is newer than the
    // first collection after the ack (one collection may have been under way when the command came).
    const dis = await agent2Host.cliOk(['cmd', '--host', 'agent-1', '--action', 'disable_metric', '--payload', '{"metric":"memory"}', '--server', `${S}:${GRPC}`], { token: adminToken });
    assert.match(dis, /agent-1: disable_metric ok/, dis);
    const newest = (a: AgentJson, prefix: string): number => Math.max(0, ...(a.lastMetrics ?? []).filter((m) => m.metric.startsWith(prefix)).map((m) => m.timeMs));
    const atAck = newest(await agentView('agent-1', true), 'node_cpu_');
    let firstAfter = 0;
    let latest = 0;
    await waitFor(
      'two collections of agent-1 after disable_metric',
      async () => {
        const a = await agentView('agent-1', true);
        const cpu = newest(a, 'node_cpu_');
        if (firstAfter === 0 && cpu > atAck) firstAfter = cpu;
        if (firstAfter !== 0 && cpu > firstAfter) latest = cpu;
        return latest > 0;
      },
      20_000,
    );
    const a = await agentView('agent-1', true);
    const memory = newest(a, 'node_memory_');
    assert.ok(memory > 0, 'agent-1 had sent memory samples before');
    assert.ok(memory <= firstAfter, `agent-1 still sends memory samples after disable_metric (memory at ${memory}, cpu collections at ${firstAfter} and ${latest})`);
    const cfg = await getConfig('agent-1');
    assert.ok(!cfg.metrics.includes('memory'), `get_config of agent-1 lists no memory: ${JSON.stringify(cfg)}`);
  });

  // ---- Stage 2: config through the coordination store (the API writes /monitor/config/<host>).
  await stage(t, 'stage 2: config through the coordination store (etcdctl put from another host)', () => [server, agents.get('agent-2')!], async () => {
    const updatesBefore = countLog(agents.get('agent-2')!, /config updated/);
    const etcdctl = async (args: string[]): Promise<string> => {
      const r = await agent1Host.exec(ETCDCTL_BIN, [...etcdctlArgs(), ...args], { ETCDCTL_API: '3' });
      if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')} from agent-1 exited ${r.code}: ${r.stdout}${r.stderr}`);
      return r.stdout;
    };
    const stored = JSON.parse(await etcdctl(['get', '/monitor/config/agent-2', '--print-value-only'])) as { interval: number; metrics: string[] };
    assert.equal(stored.interval, 5, 'the server wrote the default config for agent-2');
    assert.match(await etcdctl(['put', '/monitor/config/agent-2', '{"interval":1,"metrics":["cpu","memory"]}']), /OK/);
    await waitForLog(agents.get('agent-2')!, /config updated/, 15_000, updatesBefore);
    const out = await agent1Host.cliOk(['cmd', '--host', 'agent-2', '--action', 'get_config', '--json', '--server', `${S}:${GRPC}`], { token: adminToken });
    const ack = JSON.parse(out) as { result: { interval: number; metrics: string[] } };
    assert.equal(ack.result.interval, 1, out);
    assert.deepEqual([...ack.result.metrics].sort(), ['cpu', 'memory'], out);
    const viaApi = await api.json<{ config: { interval: number } | null }>('/api/v1/agents/agent-2/config');
    assert.equal(viaApi.config?.interval, 1, `GET /api/v1/agents/agent-2/config: ${JSON.stringify(viaApi)}`);
  });

  // ---- KV round trip across hosts.
  await stage(t, 'KV: put on agent-1, get on agent-2', () => all(), async () => {
    await agent1Host.cliOk(['kv', 'put', 'multihost/k1', 'value from agent-1', '--node', `${A1}:${PEER}`], { token: adminToken });
    const got = await agent2Host.cliOk(['kv', 'get', 'multihost/k1', '--node', `${A2}:${PEER}`], { token: adminToken });
    assert.equal(got.trim(), 'value from agent-1');
  });

  // ---- Object round trip across hosts.
  const blob = randomBytes(1024 * 1024 + 123);
  const blobFile = join(work, 'blob.bin');
  await writeFile(blobFile, blob);
  await stage(t, 'objects: upload on agent-1, download on agent-2, same bytes', () => all(), async () => {
    await agent1Host.cliOk(['obj', 'mb', 'multihost', '--node', `${A1}:${NODE_HTTP}`], { token: adminToken });
    await agent1Host.cliOk(['obj', 'put', blobFile, 'multihost/blob.bin', '--node', `${A1}:${NODE_HTTP}`], { token: adminToken });
    const out = join(work, 'blob.from-agent-2');
    await agent2Host.cliOk(['obj', 'get', 'multihost/blob.bin', out, '--node', `${A2}:${NODE_HTTP}`], { token: adminToken });
    assert.equal(sha256(await readFile(out)), sha256(blob), 'downloaded bytes differ from the upload');
  });

  await refused;

  // ---- Cut agent-1 off: seen dead / DISCONNECTED; KV and objects work through the other two.
  const cutKey = 'multihost/written-while-cut';
  const cutBlob = randomBytes(256 * 1024 + 7);
  const cutBlobFile = join(work, 'cut.bin');
  await writeFile(cutBlobFile, cutBlob);
  await stage(t, 'cut agent-1: seen dead and DISCONNECTED; KV and objects work through the others', () => all(), async () => {
    const deadBefore = countLog(server, /\[-\] node agent-1 dead/);
    await net.hosts['agent-1']!.cut();
    await together(
      (async () => {
        await waitFor('the server sees agent-1 dead', async () => !(await agentView('agent-1')).alive, 20_000, () => agentView('agent-1'));
        await waitForLog(server, /\[-\] node agent-1 dead/, 10_000, deadBefore);
      })(),
      waitFor(
        'the server sees node-1 not ACTIVE',
        async () => {
          const m = (await api.json<{ members: MemberJson[] }>('/api/v1/members')).members.find((x) => x.name === 'node-1');
          return m !== undefined && m.status !== 'ACTIVE';
        },
        20_000,
        () => api.json('/api/v1/members'),
      ),
      waitFor(
        'node-s counts node-1 down (flotilla kv health)',
        async () => {
          const h = JSON.parse(await serverHost.cliOk(['kv', 'health', `${S}:${PEER}`, '--json'], { token: adminToken })) as { down: string[] }[];
          return h[0]!.down.includes('node-1');
        },
        20_000,
      ),
    );
    // KV and objects through the two hosts still up: writes on agent-2, reads on the server host.
    await together(
      (async () => {
        await agent2Host.cliOk(['kv', 'put', cutKey, 'written while agent-1 was cut', '--node', `${A2}:${PEER}`], { token: adminToken });
        assert.equal((await serverHost.cliOk(['kv', 'get', cutKey, '--node', `${S}:${PEER}`], { token: adminToken })).trim(), 'written while agent-1 was cut');
        assert.equal((await serverHost.cliOk(['kv', 'get', 'multihost/k1', '--node', `${S}:${PEER}`], { token: adminToken })).trim(), 'value from agent-1');
      })(),
      (async () => {
        await agent2Host.cliOk(['obj', 'put', cutBlobFile, 'multihost/cut.bin', '--node', `${A2}:${NODE_HTTP}`], { token: adminToken });
        const out = join(work, 'cut.from-server');
        await serverHost.cliOk(['obj', 'get', 'multihost/cut.bin', out, '--node', `${S}:${NODE_HTTP}`], { token: adminToken });
        assert.equal(sha256(await readFile(out)), sha256(cutBlob), 'object written during the cut: bytes differ');
        const first = join(work, 'blob.from-server');
        await serverHost.cliOk(['obj', 'get', 'multihost/blob.bin', first, '--node', `${S}:${NODE_HTTP}`], { token: adminToken });
        assert.equal(sha256(await readFile(first)), sha256(blob), 'object written before the cut: bytes differ');
      })(),
    );
  });

  // ---- Heal: agent-1 comes back; its node catches up with what was written meanwhile.
  await stage(t, 'heal agent-1: connected again, node ACTIVE, the key written meanwhile on its replica', () => all(), async () => {
    const before = (await agentView('agent-1')).samplesReceived;
    const aliveBefore = countLog(server, /\[\+\] node agent-1 alive/);
    await net.hosts['agent-1']!.heal();
    await together(
      (async () => {
        await waitFor(
          'agent-1 alive, connected and sending again',
          async () => {
            const a = await agentView('agent-1');
            return a.alive && a.connected && a.samplesReceived > before;
          },
          40_000,
          () => agentView('agent-1'),
        );
        await waitForLog(server, /\[\+\] node agent-1 alive/, 10_000, aliveBefore);
      })(),
      (async () => {
        await waitFor(
          'the server sees node-1 ACTIVE',
          async () => (await api.json<{ members: MemberJson[] }>('/api/v1/members')).members.find((x) => x.name === 'node-1')?.status === 'ACTIVE',
          30_000,
          () => api.json('/api/v1/members'),
        );
        // node-1's own replica holds the key (hinted handoff or anti-entropy), read directly by the server.
        await waitFor(
          "node-1's replica holds the key written while it was cut",
          async () => {
            const r = await api.json<{ replicas: { node: string; state: string; current: boolean }[] }>(`/api/v1/kv/replicas/${encodeURIComponent(cutKey)}`);
            const mine = r.replicas.find((x) => x.node === 'node-1');
            return mine?.state === 'ok' && mine.current;
          },
          40_000,
          () => api.json(`/api/v1/kv/replicas/${encodeURIComponent(cutKey)}`),
        );
      })(),
    );
    // On agent-1's host, a read that asks one replica (its own node's first) sees it; the object written
    // meanwhile downloads through its node.
    await together(
      (async () => {
        const got = await agent1Host.cliOk(['kv', 'get', cutKey, '--consistency', 'one', '--node', `${A1}:${PEER}`], { token: adminToken });
        assert.equal(got.trim(), 'written while agent-1 was cut');
      })(),
      (async () => {
        const out = join(work, 'cut.from-agent-1');
        await agent1Host.cliOk(['obj', 'get', 'multihost/cut.bin', out, '--node', `${A1}:${NODE_HTTP}`], { token: adminToken });
        assert.equal(sha256(await readFile(out)), sha256(cutBlob), 'object written during the cut, read on agent-1 after heal: bytes differ');
      })(),
    );
  });

  t.diagnostic(`TLS path ${tls ? 'ran (mutual TLS between every process, HTTPS API)' : 'did not run: plain TCP with tokens'}`);
});
