/** Real etcd (Debian's etcd-server 3.4) and etcdctl for tests: loopback, free ports, temp data dir. */
import { spawn } from 'node:child_process';
import { createCoord } from '../../src/coord/etcd-coord.js';
import type { Cleanup } from './cleanup.js';
import { trackChild } from './cleanup.js';
import type { ProcessHandle } from './process.js';
import { startProcess } from './process.js';

export const ETCD_BIN = process.env.FLOTILLA_TEST_ETCD ?? '/usr/bin/etcd';
export const ETCDCTL_BIN = process.env.FLOTILLA_TEST_ETCDCTL ?? '/usr/bin/etcdctl';

/** True once a real gRPC request (Range) to `endpoint` is answered. */
export async function grpcReady(endpoint: string): Promise<boolean> {
  const coord = await createCoord({ endpoints: [endpoint], dialTimeoutMs: 0, requestTimeoutMs: 1000 });
  try {
    await coord.revision();
    return true;
  } catch (err) {
    // A store with authentication on answers a call without a token with UNAUTHENTICATED: it is up.
    return (err as { code?: unknown }).code === 'UNAUTHENTICATED';
  } finally {
    await coord.close();
  }
}

export interface CoordProcess extends ProcessHandle {
  /** `127.0.0.1:PORT` of its etcd v3 API. */
  readonly endpoint: string;
}

export interface StartEtcdOptions {
  t?: Cleanup;
  /** Extra etcd flags (e.g. ['--auto-compaction-retention', '1']). */
  extraArgs?: string[];
  dataDir?: string;
}

/** Starts a single-member etcd on free loopback ports and waits until it answers a Range. */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<CoordProcess> {
  const h = await startProcess({
    name: 'etcd',
    command: ETCD_BIN,
    ports: ['client', 'peer'],
    ...(opts.t ? { t: opts.t } : {}),
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    ...(process.arch === 'x64' ? {} : { env: { ETCD_UNSUPPORTED_ARCH: process.arch } }),
    args: ({ port, dataDir }) => {
      const client = `http://127.0.0.1:${port('client')}`;
      const peer = `http://127.0.0.1:${port('peer')}`;
      return [
        '--name', 'test',
        '--data-dir', dataDir,
        '--listen-client-urls', client,
        '--advertise-client-urls', client,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `test=${peer}`,
        '--initial-cluster-state', 'new',
        '--logger', 'zap',
        '--log-outputs', 'stderr',
        '--log-level', 'warn',
        ...(opts.extraArgs ?? []),
      ];
    },
    ready: (p) => grpcReady(`127.0.0.1:${p.port('client')}`),
  });
  return Object.assign(h, { endpoint: `127.0.0.1:${h.port('client')}` });
}

export interface EtcdctlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface EtcdctlOptions {
  /** Written to stdin, then stdin is closed. */
  input?: string;
  /** Killed after this long. Default: 20000. */
  timeoutMs?: number;
}

/** Runs `etcdctl --endpoints ENDPOINT ARGS...` with ETCDCTL_API=3 and returns its exit code and output. */
export async function etcdctl(endpoint: string, args: string[], opts: EtcdctlOptions = {}): Promise<EtcdctlResult> {
  const child = spawn(ETCDCTL_BIN, ['--endpoints', endpoint, '--dial-timeout', '5s', '--command-timeout', '10s', ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  trackChild(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.on('error', () => undefined);
  child.stdin.end(opts.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
  const code = await new Promise<number | null>((resolve) => {
    child.once('close', (c) => resolve(c));
    child.once('error', (err) => {
      stderr += `spawn error: ${err.message}`;
      resolve(null);
    });
  });
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Starts a long-running etcdctl (e.g. `watch --prefix /a`) in the background; stopped by `t`. */
export async function etcdctlBackground(endpoint: string, args: string[], t?: Cleanup): Promise<ProcessHandle> {
  return startProcess({
    name: `etcdctl ${args[0] ?? ''}`,
    command: ETCDCTL_BIN,
    args: ['--endpoints', endpoint, ...args],
    env: { ETCDCTL_API: '3' },
    ...(t ? { t } : {}),
    stopGraceMs: 3000,
    ready: async () => true,
  });
}
