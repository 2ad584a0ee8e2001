/**
 * Test hosts in network namespaces: a private LAN made by the test (a bridge in the root namespace with
 * a gateway address the test process uses, and one namespace per host joined to it by a veth pair), so
 * processes on different "hosts" talk over real interfaces and a host can be cut off by setting its link
 * down. Everything made is removed when the owner cleans up, pass or fail, and by a process-exit hook.
 *
 * Needs root and iproute2 (`ip netns`, veth, bridge), as ARCHITECTURE.md's multi-host tests say.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Cleanup } from './cleanup.js';
import { onCleanup } from './cleanup.js';

const run = promisify(execFile);

async function ip(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run('ip', args, { timeout: 10_000 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

export interface NetHost {
  /** The host's name in the test (server, agent-1, ...). */
  readonly name: string;
  /** The network namespace. */
  readonly ns: string;
  /** The host's LAN address. */
  readonly address: string;
  /** A command line that runs `command args` inside this host's namespace. */
  command(command: string, args: string[]): { command: string; args: string[] };
  /** Takes the host's link down: it can reach nothing and nothing reaches it. */
  cut(): Promise<void>;
  /** Brings the link back. */
  heal(): Promise<void>;
}

export interface TestNetwork {
  /** The root namespace's address on the LAN (where the test process itself talks from). */
  readonly gateway: string;
  readonly hosts: Record<string, NetHost>;
  /** Removes every namespace, link and claim (also done by the owner's cleanup). */
  remove(): Promise<void>;
}

const claimsDir = join(tmpdir(), 'flotilla-test-netns');
const made = new Set<() => void>();
let exitHooked = false;

/** Claims a /24 in 10.200.0.0-10.249.255.0 that no other test of this machine holds (a claim file per subnet). */
function claimSubnet(): { prefix: string; release: () => void } {
  mkdirSync(claimsDir, { recursive: true });
  for (let attempt = 0; attempt < 200; attempt++) {
    const b = randomBytes(2);
    const prefix = `10.${200 + (b[0]! % 50)}.${b[1]!}`;
    const file = join(claimsDir, prefix);
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return { prefix, release: () => rmSync(file, { force: true }) };
    } catch {
      // taken by another test; try another
    }
  }
  throw new Error(`no free test subnet (stale claims in ${claimsDir}?)`);
}

/**
 * Makes a LAN with one namespace per name in `names` (addresses .1, .2, ... in order; the gateway is .254).
 */
export async function createTestNetwork(owner: Cleanup, names: readonly string[]): Promise<TestNetwork> {
  if (names.length === 0 || names.length > 50) throw new Error('between 1 and 50 hosts');
  const id = randomBytes(3).toString('hex');
  const { prefix, release } = claimSubnet();
  const bridge = `fb${id}`;
  const namespaces: string[] = [];
  const links: string[] = [];
  let removed = false;

  const syncRemove = (): void => {
    // Last resort at process exit: synchronous and best effort.
    for (const l of [...links, bridge]) {
      try {
        execFileSyncQuiet('ip', ['link', 'del', l]);
      } catch {
        // gone
      }
    }
    for (const ns of namespaces) {
      try {
        execFileSyncQuiet('ip', ['netns', 'del', ns]);
      } catch {
        // gone
      }
    }
    release();
  };
  made.add(syncRemove);
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', () => {
      for (const f of made) f();
    });
  }

  const remove = async (): Promise<void> => {
    if (removed) return;
    removed = true;
    made.delete(syncRemove);
    for (const l of [...links, bridge]) await ip('link', 'del', l).catch(() => undefined);
    for (const ns of namespaces) await ip('netns', 'del', ns).catch(() => undefined);
    release();
  };
  onCleanup(owner, remove);

  await ip('link', 'add', bridge, 'type', 'bridge');
  await ip('addr', 'add', `${prefix}.254/24`, 'dev', bridge);
  await ip('link', 'set', bridge, 'up');

  const hosts: Record<string, NetHost> = {};
  for (const [i, name] of names.entries()) {
    const ns = `flt-${id}-${i + 1}`;
    const outer = `fv${id}${i + 1}`;
    const inner = `fp${id}${i + 1}`;
    const address = `${prefix}.${i + 1}`;
    await ip('netns', 'add', ns);
    namespaces.push(ns);
    await ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner);
    links.push(outer);
    await ip('link', 'set', inner, 'netns', ns);
    await ip('link', 'set', outer, 'master', bridge);
    await ip('link', 'set', outer, 'up');
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    await ip('-n', ns, 'link', 'set', inner, 'name', 'eth0');
    await ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    await ip('-n', ns, 'link', 'set', 'eth0', 'up');
    await ip('-n', ns, 'route', 'add', 'default', 'via', `${prefix}.254`);
    hosts[name] = {
      name,
      ns,
      address,
      command: (command, args) => ({ command: 'ip', args: ['netns', 'exec', ns, command, ...args] }),
      cut: async () => void (await ip('link', 'set', outer, 'down')),
      heal: async () => void (await ip('link', 'set', outer, 'up')),
    };
  }
  return { gateway: `${prefix}.254`, hosts, remove };
}


function execFileSyncQuiet(command: string, args: string[]): void {
  execFileSync(command, args, { stdio: 'ignore', timeout: 5_000 });
}
