/** Free TCP ports and temporary directories for tests: loopback only, removed after the test. */
import { mkdirSync, openSync, closeSync, readFileSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cleanup } from './cleanup.js';
import { onCleanup } from './cleanup.js';

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

/**
 * Test files run in several processes at once, and each draws ports at random: a claim file per port
 * (created exclusively, holding the owner's pid) keeps two of them from handing out the same one. Claims
 * are dropped when this process exits; a claim whose owner is dead is taken over.
 */
const CLAIMS = join(tmpdir(), 'flotilla-test-ports');
const claimed: string[] = [];
let claimsHooked = false;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function claim(port: number): boolean {
  mkdirSync(CLAIMS, { recursive: true });
  const file = join(CLAIMS, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      claimed.push(file);
      if (!claimsHooked) {
        claimsHooked = true;
        process.once('exit', () => {
          for (const f of claimed) {
            try {
              unlinkSync(f);
            } catch {
              // already gone
            }
          }
        });
      }
      return true;
    } catch {
      const owner = Number(readFileSafe(file));
      if (Number.isFinite(owner) && owner > 0 && alive(owner)) return false;
      try {
        unlinkSync(file); // a dead owner's claim
      } catch {
        // another process took it over first
      }
    }
  }
  return false;
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Claims left by processes that are gone (a run killed outright); called once per process. */
function sweepDeadClaims(): void {
  try {
    for (const name of readdirSync(CLAIMS)) {
      const file = join(CLAIMS, name);
      const owner = Number(readFileSafe(file));
      if (!(owner > 0 && alive(owner))) {
        try {
          unlinkSync(file);
        } catch {
          // taken over meanwhile
        }
      }
    }
  } catch {
    // no claims yet
  }
}
let swept = false;

/** A TCP port that is free on 127.0.0.1 right now, outside the ephemeral range (another process could still take it). */
export async function freePort(): Promise<number> {
  return freePortRange(1);
}

/** A fresh directory under the OS temp dir; removed when `owner` ends (after what was started later) when one is given. */
export async function tempDir(owner?: Cleanup, prefix = 'flotilla-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  if (owner !== undefined) onCleanup(owner, () => rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }));
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
    if (!swept) {
      swept = true;
      sweepDeadClaims();
    }
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = !handedOut.has(base + i) && (await canBind(base + i));
    if (ok) {
      // Claim every port of the range, or none: a range half claimed by another process is given up.
      const got: number[] = [];
      for (let i = 0; i < count && ok; i++) {
        ok = claim(base + i);
        if (ok) got.push(base + i);
      }
      for (const p of got) handedOut.add(p);
      if (ok) return base;
    }
  }
  throw new Error(`freePortRange: no ${count} consecutive free ports found between ${PORT_LOW} and ${PORT_HIGH}`);
}
