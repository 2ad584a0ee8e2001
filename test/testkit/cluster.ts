/** Flotilla clusters for membership tests: a server, nodes joining it, and polling their views. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach } from 'node:test';
import { spawn } from 'node:child_process';
import { createPeerClients, fetchMembers, type MemberSummary, type PeerClients } from '../../src/cluster/index.js';
import type { Cleanup } from './cleanup.js';
import { onCleanup, trackChild } from './cleanup.js';
import { grpcReady } from './etcd.js';
import { FLOTILLA_BIN, REPO_ROOT, startFlotilla } from './flotilla.js';
import type { ProcessHandle } from './process.js';
import { tcpReady } from './process.js';

export interface ServerHandle extends ProcessHandle {
  /** 127.0.0.1:PORT of its gRPC (ClusterService) server. */
  readonly grpc: string;
  readonly coordEndpoint: string;
  /** With `auth: true`: the admin token and the join token the server wrote into its data dir. */
  readonly adminToken?: string;
  readonly joinToken?: string;
}

/**
 * `flotilla server` on free ports: embedded store, or a client of `etcd` endpoints. `auth: true` runs it
 * with `--auth on` (loopback servers run without authentication otherwise); pass `--join-token
 * server.joinToken` to its nodes and the admin token to clients (docs/security.md). `args` are more flags.
 */
export async function startServer(t: Cleanup, opts: { etcd?: string; auth?: boolean; args?: readonly string[]; stopGraceMs?: number } = {}): Promise<ServerHandle> {
  const h = await startFlotilla(
    ({ port, dataDir }) => [
      'server',
      '--listen', `127.0.0.1:${port('grpc')}`,
      '--http', `127.0.0.1:${port('http')}`,
      ...(opts.etcd !== undefined ? ['--etcd', opts.etcd] : ['--coord-listen', `127.0.0.1:${port('coord')}`]),
      '--data-dir', dataDir,
      ...(opts.auth === true ? ['--auth', 'on'] : []),
      ...(opts.args ?? []),
    ],
    {
      name: 'flotilla server',
      t,
      ports: ['grpc', 'http', 'coord'],
      ...(opts.stopGraceMs !== undefined ? { stopGraceMs: opts.stopGraceMs } : {}),
      ready: async (p) => (await tcpReady(p.port('grpc'))) && (opts.etcd !== undefined || (await grpcReady(`127.0.0.1:${p.port('coord')}`))),
    },
  );
  const tokens =
    opts.auth === true
      ? { adminToken: readFileSync(join(h.dataDir, 'admin-token'), 'utf8').trim(), joinToken: readFileSync(join(h.dataDir, 'join-token'), 'utf8').trim() }
      : {};
  return Object.assign(h, { grpc: `127.0.0.1:${h.port('grpc')}`, coordEndpoint: opts.etcd ?? `127.0.0.1:${h.port('coord')}`, ...tokens });
}

export interface NodeHandle extends ProcessHandle {
  readonly nodeName: string;
  /** 127.0.0.1:PORT of its peer gRPC server. */
  readonly peer: string;
}

/** `flotilla node --name NAME ARGS...` on free loopback ports; ready once its readiness probe says registered. */
export async function startNode(t: Cleanup, name: string, args: string[]): Promise<NodeHandle> {
  const h = await startFlotilla(
    ({ port, dataDir }) => [
      'node', '--name', name,
      '--listen', `127.0.0.1:${port('peer')}`,
      '--http', `127.0.0.1:${port('http')}`,
      '--data-dir', dataDir,
      ...args,
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
  return Object.assign(h, { nodeName: name, peer: `127.0.0.1:${h.port('peer')}` });
}

/** Peer clients closed by `t`. */
export function peerClients(t: Cleanup): PeerClients {
  const peers = createPeerClients();
  onCleanup(t, () => peers.close());
  return peers;
}

/** Name -> status as the process at `address` sees it (e.g. { 'node-a': 'ACTIVE' }). */
export async function statuses(peers: PeerClients, address: string): Promise<Record<string, string>> {
  const r = await fetchMembers(address, peers, { timeoutMs: 2000 });
  return Object.fromEntries(r.members.map((m) => [m.name, m.status + (m.registered ? '' : '/unregistered')]));
}

export async function members(peers: PeerClients, address: string): Promise<MemberSummary[]> {
  return (await fetchMembers(address, peers, { timeoutMs: 2000 })).members;
}

/** Polls `check` until it returns true (errors count as false); throws with the last value after timeoutMs. */
export async function eventually(what: string, check: () => Promise<boolean>, timeoutMs: number, describe?: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      const last = describe !== undefined ? await describe().catch((e: unknown) => String(e)) : undefined;
      throw new Error(`${what}: not true within ${timeoutMs} ms${last !== undefined ? `; last: ${JSON.stringify(last)}` : ''}`);
    }
    await sleep(100);
  }
}

/** Waits until every observer sees exactly `expected` (name -> status). */
export async function allSee(peers: PeerClients, observers: string[], expected: Record<string, string>, timeoutMs: number): Promise<void> {
  const want = JSON.stringify(Object.fromEntries(Object.entries(expected).sort()));
  await eventually(
    `every process sees ${want}`,
    async () => {
      const views = await Promise.all(observers.map((o) => statuses(peers, o)));
      return views.every((v) => JSON.stringify(Object.fromEntries(Object.entries(v).sort())) === want);
    },
    timeoutMs,
    async (): Promise<Record<string, unknown>> =>
      Object.fromEntries(await Promise.all(observers.map(async (o): Promise<[string, unknown]> => [o, await statuses(peers, o).catch((e: unknown) => String(e))]))),
  );
}

/**
 * An owner for processes a whole suite shares: call inside describe(); everything registered is
 * stopped (in reverse order) by the suite's after hook, and logs are printed if any test failed.
 */
export function suiteOwner(): Cleanup {
  let anyFailed = false;
  const cleanups: (() => unknown)[] = [];
  afterEach((t) => {
    if ('passed' in t && !t.passed) anyFailed = true;
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  return {
    after: (fn) => void cleanups.push(fn),
    get passed() {
      return !anyFailed;
    },
  };
}

/** Runs `flotilla ARGS` to completion (killed after timeoutMs) and returns its exit code and output. */
export async function runFlotilla(args: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [FLOTILLA_BIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}
