/** Free TCP ports and temporary directories for tests: loopback only, removed after the test. */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cleanup } from './cleanup.js';

/**
 * Ports are drawn below the kernel's ephemeral range (ip_local_port_range), never from it: a port the OS
 * hands out for `listen(0)` is also what it hands to outgoing connections, so a server started on it a
 * moment later can find it taken. Drawn at random and never twice by this process.
 */
function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && Number.isFinite(low) && low > 12_000) return low;
  } catch {
    // Not Linux, or not readable: assume the common default.
  }
  return 32_768;
}
const PORT_LOW = 10_000;
const PORT_HIGH = ephemeralStart() - 1;
const handedOut = new Set<number>();

/** A TCP port that is free on 127.0.0.1 right now, outside the ephemeral range (another process could still take it). */
export async function freePort(): Promise<number> {
  return freePortRange(1);
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
  for (let attempt = 0; attempt < 500; attempt++) {
    const base = PORT_LOW + Math.floor(Math.random() * (PORT_HIGH - PORT_LOW - count));
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = !handedOut.has(base + i) && (await canBind(base + i));
    if (ok) {
      for (let i = 0; i < count; i++) handedOut.add(base + i);
      return base;
    }
  }
  throw new Error(`freePortRange: no ${count} consecutive free ports found between ${PORT_LOW} and ${PORT_HIGH}`);
}
