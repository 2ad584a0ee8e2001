/**
 * Fault test: three kv nodes, concurrent clients doing put/get/delete (each key has one writer) while a
 * nemesis kill -9s and restarts random nodes and cuts one off. The nemesis runs its whole cycle of six
 * faults (a network cut, four kill -9 and restart, a pause) at least once, and keeps going until
 * FLOTILLA_KV_FAULT_SECONDS have passed when that is set (a longer soak). The cluster runs on a test LAN
 * (testkit/netns.ts): node-c runs in its own network namespace joined by a veth pair, and a network cut
 * sets its link down (nobody reaches it, it reaches nobody) and later up again; the other cut pauses a
 * random node instead (SIGSTOP, then SIGCONT). The load goes on for a few seconds after the last fault
 * is healed. Then the test waits for convergence and checks the history (fault-checker.ts).
 * On failure the history, the final states and the nemesis schedule are saved to a temp directory
 * named in the output. The namespace, veth pair and bridge are removed at the end, pass or fail.
 *
 * Needs root and iproute2 (ip netns, veth, bridge).
 */
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { FlotillaError } from '../../src/core/errors.js';
import { openKvSession, type KvSession } from '../../src/cli/kv.js';
import { eventually } from '../testkit/cluster.js';
import { createTestNetwork } from '../testkit/netns.js';
import { checkHistory, type Op } from './fault-checker.js';
import { startKvCluster } from './kv-processes.js';

/** Minimum length of the faulty period, for a longer soak (0: one nemesis cycle, about 50 s). */
const SECONDS = Number(process.env.FLOTILLA_KV_FAULT_SECONDS ?? 0);
/** One cycle of the nemesis: round % 6 is 0 for the network cut, 3 for the pause, kill -9 and restart otherwise. */
const CYCLE = 6;
/** Load after the last fault is healed (every node up and reachable) before convergence is checked. */
const CALM_MS = 3000;
const CLIENTS = 6;
const KEYS_PER_CLIENT = 8;
const NAMES = ['node-a', 'node-b', 'node-c'];
/** The node in its own network namespace. */
const ISOLATED = 'node-c';

/** Whether a TCP connection to host:port opens within a second. */
function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.setTimeout(1000, () => done(false));
  });
}

/** A small deterministic PRNG so a failing schedule can be read back (seed printed). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('KV under faults', { timeout: (Math.max(SECONDS, 60) + 150) * 1000 }, () => {
  it('kill -9, restarts and a cut-off node lose no acknowledged write, and replicas converge', async (t) => {
    const seed = Number(process.env.FLOTILLA_KV_FAULT_SEED ?? Date.now() % 1_000_000);
    t.diagnostic(`seed ${seed}, ${SECONDS > 0 ? `at least ${SECONDS} s` : 'one nemesis cycle'}`);
    const random = rng(seed);
    const setupStarted = Date.now();
    const network = await createTestNetwork(t, [ISOLATED]);
    const isolated = network.hosts[ISOLATED]!;
    t.diagnostic(`${ISOLATED} runs in network namespace ${isolated.ns} (${isolated.address}); the rest on ${network.gateway}`);
    const c = await startKvCluster(t, NAMES, [], { network });
    await eventually('ring and peers known everywhere', async () => {
      const hs = await Promise.all(NAMES.map((n) => c.session(n).health()));
      return hs.every((h) => (h.ringVersion as number) > 0 && (h.up as string[]).length === 3);
    }, 30_000);

    t.diagnostic(`network and cluster up in ${Date.now() - setupStarted} ms`);
    const history: Op[] = [];
    const schedule: { atMs: number; action: string }[] = [];
    const t0 = Date.now();
    const faultsUntil = t0 + SECONDS * 1000;
    /** When the clients stop: set once the nemesis has healed its last fault. */
    let deadline = Infinity;
    const down = new Set<string>();
    const sessions = new Map<string, KvSession>();
    const session = (name: string): KvSession => {
      let s = sessions.get(name);
      if (s === undefined) sessions.set(name, (s = openKvSession(c.nodes.get(name)!.peer, 3000)));
      return s;
    };
    t.after(() => {
      for (const s of sessions.values()) s.close();
    });

    const client = async (id: number): Promise<void> => {
      const r = rng(seed * 31 + id);
      let n = 0;
      while (Date.now() < deadline) {
        const key = `c${id}/k${Math.floor(r() * KEYS_PER_CLIENT)}`;
        const live = NAMES.filter((x) => !down.has(x));
        const node = live[Math.floor(r() * live.length)] ?? 'node-a';
        const dice = r();
        const startMs = Date.now();
        try {
          if (dice < 0.45) {
            const value = `c${id}-${n++}`;
            const op: Op = { kind: 'put', key, value, startMs, endMs: 0, outcome: 'unknown', node };
            history.push(op);
            try {
              await session(node).put(key, Buffer.from(value), {});
              op.outcome = 'ok';
            } catch (err) {
              op.error = FlotillaError.from(err).message;
              // A refused request (quorum not met up front, bad node) vs a timeout: both may have landed somewhere.
              op.outcome = 'failed';
            } finally {
              op.endMs = Date.now();
            }
            await sleep(2);
          } else if (dice < 0.55) {
            const op: Op = { kind: 'del', key, startMs, endMs: 0, outcome: 'unknown', node };
            history.push(op);
            try {
              await session(node).del(key, {});
              op.outcome = 'ok';
            } catch (err) {
              op.error = FlotillaError.from(err).message;
              op.outcome = 'failed';
            } finally {
              op.endMs = Date.now();
            }
            await sleep(2);
          } else {
            const op: Op = { kind: 'get', key, startMs, endMs: 0, outcome: 'failed', node };
            history.push(op);
            try {
              const res = await session(node).get(key, {});
              op.outcome = 'ok';
              op.found = true;
              op.value = String(res.value);
            } catch (err) {
              const fe = FlotillaError.from(err);
              if (fe.code === 'NOT_FOUND') {
                op.outcome = 'ok';
                op.found = false;
              } else op.error = fe.message;
            } finally {
              op.endMs = Date.now();
            }
          }
        } catch {
          // Recorded above.
        }
      }
    };

    let cutsSeen = 0;
    const nemesis = async (): Promise<void> => {
      let round = 0;
      try {
        while (round < CYCLE || Date.now() < faultsUntil) {
          await sleep(1000 + random() * 2000);
          const name = NAMES[Math.floor(random() * NAMES.length)]!;
          const node = c.nodes.get(name)!;
          const kind = round++ % CYCLE;
          if (kind === 0) {
            schedule.push({ atMs: Date.now() - t0, action: `cut off ${ISOLATED} (link of ${isolated.ns} down)` });
            await isolated.cut();
            try {
              const peer = c.nodes.get(ISOLATED)!;
              if (!(await reachable(peer.host, peer.port('peer')))) cutsSeen++;
              await sleep(3000 + random() * 4000);
            } finally {
              await isolated.heal();
            }
            schedule.push({ atMs: Date.now() - t0, action: `heal ${ISOLATED} (link up)` });
          } else if (kind === 3) {
            schedule.push({ atMs: Date.now() - t0, action: `cut off ${name} (SIGSTOP)` });
            node.signal('SIGSTOP');
            await sleep(3000 + random() * 3000);
            node.signal('SIGCONT');
            schedule.push({ atMs: Date.now() - t0, action: `heal ${name} (SIGCONT)` });
          } else {
            schedule.push({ atMs: Date.now() - t0, action: `kill -9 ${name}` });
            down.add(name);
            sessions.get(name)?.close();
            sessions.delete(name);
            await node.kill();
            await sleep(1000 + random() * 3000);
            await node.restart();
            down.delete(name);
            schedule.push({ atMs: Date.now() - t0, action: `restarted ${name}` });
          }
        }
      } finally {
        deadline = Date.now() + CALM_MS;
      }
    };

    await Promise.all([nemesis(), ...Array.from({ length: CLIENTS }, (_, i) => client(i))]);
    schedule.push({ atMs: Date.now() - t0, action: 'load stopped; all healed' });

    // Convergence: every node's own copy (consistency one reads the local replica first) agrees.
    const keys = [...new Set(history.map((o) => o.key))].sort();
    const finals: Record<string, Record<string, string | null>> = {};
    const readAll = async (): Promise<boolean> => {
      for (const name of NAMES) {
        const m: Record<string, string | null> = {};
        for (const key of keys) {
          m[key] = await session(name)
            .get(key, { consistency: 'one' })
            .then(
              (r) => String(r.value),
              (err: unknown) => {
                if (FlotillaError.from(err).code === 'NOT_FOUND') return null;
                throw err;
              },
            );
        }
        finals[name] = m;
      }
      return keys.every((k) => new Set(NAMES.map((n) => finals[n]![k])).size === 1);
    };
    const convergedAt = Date.now();
    await eventually('all replicas converge', readAll, 60_000).catch(() => undefined);
    schedule.push({ atMs: Date.now() - t0, action: `convergence check done after ${Date.now() - convergedAt} ms` });
    t.diagnostic(schedule[schedule.length - 1]!.action);

    const result = checkHistory(history, finals);
    t.diagnostic(`${history.length} ops, ${result.acknowledgedWrites} acknowledged writes, ${result.reads} reads checked, ${schedule.length} nemesis events`);
    if (!result.ok) {
      const dir = await mkdtemp(join(tmpdir(), 'flotilla-kv-fault-'));
      await writeFile(join(dir, 'history.json'), JSON.stringify(history, null, 1));
      await writeFile(join(dir, 'finals.json'), JSON.stringify(finals, null, 1));
      await writeFile(join(dir, 'nemesis.json'), JSON.stringify({ seed, seconds: SECONDS, schedule }, null, 1));
      await writeFile(join(dir, 'problems.txt'), result.problems.join('\n') + '\n');
      t.diagnostic(`history, final states and nemesis schedule saved in ${dir}`);
    }
    assert.ok(cutsSeen > 0, `no network cut of ${ISOLATED} was seen to take effect`);
    assert.ok(result.acknowledgedWrites > 50, `too few acknowledged writes (${result.acknowledgedWrites}) for the test to mean anything`);
    assert.deepEqual(result.problems.slice(0, 20), []);
  });
});
