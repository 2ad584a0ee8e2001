/** Real `flotilla` processes for tests (`node bin/flotilla.js ...`, from the built dist/). */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cleanup } from './cleanup.js';
import type { CoordProcess } from './etcd.js';
import { grpcReady } from './etcd.js';
import type { ProcessEnv, ProcessHandle, StartProcessOptions } from './process.js';
import { startProcess } from './process.js';

export const REPO_ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
export const FLOTILLA_BIN = join(REPO_ROOT, 'bin', 'flotilla.js');

export interface StartFlotillaOptions extends Omit<StartProcessOptions, 'command' | 'args' | 'name'> {
  /** Name shown in logs. Default: 'flotilla <first arg>'. */
  name?: string;
}

/**
 * Spawns `node bin/flotilla.js ARGS` (ARGS may use the allocated ports and the temp data dir) and waits
 * until it is ready. Needs `npm run build` first (npm test does it).
 */
export async function startFlotilla(args: string[] | ((env: ProcessEnv) => string[]), opts: StartFlotillaOptions = {}): Promise<ProcessHandle> {
  if (!existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error('startFlotilla: dist/ is missing; run `npm run build` first');
  }
  const first = typeof args === 'function' ? 'process' : (args[0] ?? 'process');
  return startProcess({
    ...opts,
    name: opts.name ?? `flotilla ${first}`,
    command: process.execPath,
    args: (env) => [FLOTILLA_BIN, ...(typeof args === 'function' ? args(env) : args)],
    cwd: opts.cwd ?? REPO_ROOT,
  });
}

export interface StartEmbeddedCoordOptions {
  t?: Cleanup;
  dataDir?: string;
  extraArgs?: string[];
}

/** Spawns `flotilla coord serve` on a free port and waits until it answers a Range. */
export async function startEmbeddedCoord(opts: StartEmbeddedCoordOptions = {}): Promise<CoordProcess> {
  const h = await startFlotilla(
    ({ port, dataDir }) => ['coord', 'serve', '--listen', `127.0.0.1:${port('client')}`, '--data-dir', dataDir, ...(opts.extraArgs ?? [])],
    {
      name: 'flotilla coord serve',
      ports: ['client'],
      ...(opts.t ? { t: opts.t } : {}),
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
      ready: (p) => grpcReady(`127.0.0.1:${p.port('client')}`),
    },
  );
  return Object.assign(h, { endpoint: `127.0.0.1:${h.port('client')}` });
}
