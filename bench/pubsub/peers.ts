/**
 * The two peers of bench/pubsub, started as real processes through the testkit on free 127.0.0.1 ports:
 * Debian's nats-server (core pub/sub, no persistence: what NATS offers for fan-out) and `flotilla server`
 * from dist/ (its /ws endpoint; every message is stored in the SQL store before it is fanned out).
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { FLOTILLA_BIN, REPO_ROOT, startProcess, tcpReady } from '../../test/testkit/index.js';
import type { BenchCleanup } from '../coord/bench-cleanup.js';

export interface Peers {
  /** nats://127.0.0.1:PORT */
  natsUrl: string;
  natsLabel: string;
  /** http://127.0.0.1:PORT of the Flotilla server's HTTP API. */
  flotillaHttp: string;
  /** ws://127.0.0.1:PORT/ws */
  flotillaWs: string;
  flotillaLabel: string;
}

/** The soft limit of open files this process (and so its children) may hold. */
export function openFileLimit(): number {
  try {
    const out = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
    return out === 'unlimited' ? Number.POSITIVE_INFINITY : Number(out);
  } catch {
    return Number.NaN;
  }
}

/** Each peer holds one socket per subscriber (and the load generator spreads its sockets over processes). */
export function checkFileLimit(subscribers: number, procs: number): void {
  const limit = openFileLimit();
  const needServer = subscribers + 256;
  const needChild = 2 * Math.ceil(subscribers / procs) + 256;
  const need = Math.max(needServer, needChild);
  if (Number.isFinite(limit) && limit < need) {
    throw new FlotillaError(
      Code.FAILED_PRECONDITION,
      `bench pubsub: the open-file limit is ${limit}, ${subscribers} subscribers need about ${need}; raise it (ulimit -n ${need}) or pass fewer --subscribers`,
    );
  }
}

/** `profileDir`: write a V8 CPU profile of the flotilla server there (when it stops). */
export async function startPeers(owner: BenchCleanup, profileDir?: string): Promise<Peers> {
  const natsVersion = (() => {
    try {
      return execFileSync('nats-server', ['--version'], { encoding: 'utf8' }).trim();
    } catch {
      throw new FlotillaError(Code.FAILED_PRECONDITION, 'bench pubsub: nats-server is not installed (scripts/test-deps.sh installs the Debian package)');
    }
  })();
  const natsDir = await mkdtemp(join(tmpdir(), 'flotilla-bench-nats-'));
  owner.trackDir(natsDir);
  const nats = await startProcess({
    name: 'nats-server',
    command: 'nats-server',
    // Core NATS only (no JetStream), default limits (64K connections; 64 MiB pending per client).
    args: ({ port }) => ['-a', '127.0.0.1', '-p', String(port('client'))],
    ports: ['client'],
    t: owner,
    dataDir: natsDir,
    ready: async (h) => tcpReady(h.port('client')),
  });
  owner.trackProcess(nats);

  const flotillaDir = await mkdtemp(join(tmpdir(), 'flotilla-bench-pubsub-'));
  owner.trackDir(flotillaDir);
  const server = await startProcess({
    command: process.execPath,
    args: ({ port, dataDir }) => [
      ...(profileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      FLOTILLA_BIN,
      'server',
      '--http', `127.0.0.1:${port('http')}`,
      '--listen', `127.0.0.1:${port('grpc')}`,
      '--coord-listen', `127.0.0.1:${port('coord')}`,
      '--data-dir', dataDir,
    ],
    name: 'flotilla server',
    cwd: REPO_ROOT,
    t: owner,
    dataDir: flotillaDir,
    ports: ['http', 'grpc', 'coord'],
    env: { FLOTILLA_LOG_PRETTY: '0', FLOTILLA_LOG_LEVEL: 'warn' },
    ready: async (h) => {
      const res = await fetch(`http://127.0.0.1:${h.port('http')}/readyz`).catch(() => undefined);
      await res?.body?.cancel();
      return res?.status === 200;
    },
    readyTimeoutMs: 60_000,
  });
  owner.trackProcess(server);
  const http = `127.0.0.1:${server.port('http')}`;
  return {
    natsUrl: `nats://127.0.0.1:${nats.port('client')}`,
    natsLabel: `${natsVersion} (Debian package, core pub/sub)`,
    flotillaHttp: `http://${http}`,
    flotillaWs: `ws://${http}/ws`,
    flotillaLabel: 'flotilla server (dist/, embedded SQLite store, /ws)',
  };
}
