/**
 * The two peers of the coordination benchmark, started side by side as real processes through the
 * testkit: Debian's etcd 3.4 (default durability: its WAL is fsynced on every commit, commits batched by
 * raft) and `flotilla coord serve` (each group commit is a LevelDB batch written with sync: true).
 */
import { mkdtemp, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { ETCD_BIN, REPO_ROOT, startEmbeddedCoord, startEtcd } from '../../test/testkit/index.js';
import type { BenchCleanup } from './bench-cleanup.js';
import { createBenchClient } from './client.js';

export interface Peer {
  /** Short name used in tables. */
  readonly name: 'etcd' | 'embedded';
  /** What it is, with the version it reports. */
  readonly label: string;
  /** `127.0.0.1:PORT` of its etcd v3 API. */
  readonly endpoint: string;
  readonly dataDir: string;
}

async function newestMtimeMs(dir: string): Promise<{ file: string; mtimeMs: number }> {
  let newest = { file: '', mtimeMs: 0 };
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = join(entry.parentPath ?? entry.path, entry.name);
    const { mtimeMs } = await stat(file);
    if (mtimeMs > newest.mtimeMs) newest = { file, mtimeMs };
  }
  return newest;
}

/**
 * The embedded store runs from dist/ (bin/flotilla.js). Fails when dist/ is missing; returns a warning
 * when a file of src/ is newer than the build (the numbers would then be for older code).
 */
export async function checkBuild(): Promise<string | undefined> {
  const entry = join(REPO_ROOT, 'dist', 'cli', 'main.js');
  let built: number;
  try {
    built = (await stat(entry)).mtimeMs;
  } catch {
    throw new FlotillaError(Code.FAILED_PRECONDITION, 'bench coord: dist/ is missing; run `npx tsc -p tsconfig.build.json` (or pass --build)');
  }
  const newest = await newestMtimeMs(join(REPO_ROOT, 'src'));
  if (newest.mtimeMs > built) {
    return `warning: ${newest.file.slice(REPO_ROOT.length + 1)} is newer than dist/; the embedded store runs the older build (pass --build)`;
  }
  return undefined;
}

async function reportedVersion(endpoint: string): Promise<string> {
  const client = createBenchClient(endpoint, { requestTimeoutMs: 5000 });
  try {
    return (await client.maintenance.status()).version;
  } catch {
    return 'unknown';
  } finally {
    client.close();
  }
}

/** Starts etcd and the embedded store on free loopback ports in temp data dirs, both owned by `owner`. */
export async function startPeers(owner: BenchCleanup): Promise<Peer[]> {
  const etcdDir = await mkdtemp(join(tmpdir(), 'flotilla-bench-etcd-'));
  owner.trackDir(etcdDir);
  const embeddedDir = await mkdtemp(join(tmpdir(), 'flotilla-bench-coord-'));
  owner.trackDir(embeddedDir);

  const etcd = await startEtcd({ t: owner, dataDir: etcdDir });
  owner.trackProcess(etcd);
  const embedded = await startEmbeddedCoord({ t: owner, dataDir: embeddedDir });
  owner.trackProcess(embedded);

  const [etcdVersion, embeddedVersion] = await Promise.all([reportedVersion(etcd.endpoint), reportedVersion(embedded.endpoint)]);
  return [
    { name: 'etcd', label: `etcd ${etcdVersion} (${ETCD_BIN})`, endpoint: etcd.endpoint, dataDir: etcdDir },
    { name: 'embedded', label: `flotilla coord serve (reports ${embeddedVersion})`, endpoint: embedded.endpoint, dataDir: embeddedDir },
  ];
}
