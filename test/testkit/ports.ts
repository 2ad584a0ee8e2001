/** Free TCP ports and temporary directories for tests: loopback only, removed after the test. */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cleanup } from './cleanup.js';

/** A TCP port that is free on 127.0.0.1 right now (the OS picks it; another process could still take it). */
export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('freePort: no port assigned'))));
    });
  });
}

/** A fresh directory under the OS temp dir; removed by `owner`'s after hook when one is given. */
export async function tempDir(owner?: Cleanup, prefix = 'flotilla-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  owner?.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** `count` consecutive ports free on 127.0.0.1 right now, for commands that number ports from a base. */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await canBind(base + i);
    if (ok) return base;
  }
  throw new Error(`freePortRange: no ${count} consecutive free ports found`);
}
