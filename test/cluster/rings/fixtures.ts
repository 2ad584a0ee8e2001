/** An in-process embedded coordination store and Coord clients for ring store tests; all closed by `t`. */
import { setTimeout as sleep } from 'node:timers/promises';
import { createCoord, createEmbeddedCoordServer, type Coord } from '../../../src/coord/index.js';
import { buildRing, type Ring, type RingDevice } from '../../../src/cluster/ring/index.js';
import type { Cleanup } from '../../testkit/index.js';
import { tempDir } from '../../testkit/index.js';

export async function startStore(t: Cleanup): Promise<{ endpoint: string }> {
  const dataDir = await tempDir(t, 'flotilla-rings-');
  const server = createEmbeddedCoordServer({ listen: '127.0.0.1:0', dataDir });
  await server.start();
  t.after(() => server.stop());
  return { endpoint: server.address };
}

export async function client(t: Cleanup, endpoint: string): Promise<Coord> {
  const coord = await createCoord({ endpoints: [endpoint], dialTimeoutMs: 5000, requestTimeoutMs: 5000, watchMaxBackoffMs: 500 });
  t.after(() => coord.close());
  return coord;
}

export function devices(n: number, zones = 3): RingDevice[] {
  return Array.from({ length: n }, (_, i) => ({ id: `node-${String.fromCharCode(97 + (i % 26))}${i >= 26 ? i : ''}`, zone: `z${(i % zones) + 1}`, weight: 1 }));
}

export function ring(name = 'kv', opts: { partPower?: number; replicas?: number; n?: number } = {}): Ring {
  return buildRing({ name, partPower: opts.partPower ?? 6, replicas: opts.replicas ?? 3, devices: devices(opts.n ?? 3), now: () => 1_000 });
}

/** Polls until `check` is true; throws after `timeoutMs` (a bound, never an asserted timing). */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not true within ${timeoutMs} ms`);
    await sleep(20);
  }
}
