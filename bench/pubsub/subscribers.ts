/**
 * The load generator's subscriber side, as seen from the bench process: N subscribers spread over P child
 * processes (subscriber-proc.ts, forked with the tsx loader) so that receiving is not limited by the one
 * event loop of the bench; commands and reports travel over the IPC channel.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Code, FlotillaError } from '../../src/core/errors.js';
import type { BenchCleanup } from '../coord/bench-cleanup.js';

export type PeerName = 'nats' | 'flotilla';

export type ChildCommand =
  | { cmd: 'connect'; peer: PeerName; url: string; target: string; count: number; base: number; acks: boolean }
  | { cmd: 'reset'; measureLatency: boolean; totalSubscribers: number }
  | { cmd: 'report'; withLatencies: boolean; base: number; count: number }
  | { cmd: 'close' };

export type ChildReport =
  | { type: 'connected' }
  | { type: 'ready' }
  | { type: 'closed' }
  | { type: 'error'; message: string }
  | { type: 'report'; received: number; firstAtMs: number; lastAtMs: number; minPerSub: number; maxPerSub: number; lost: number; latencies: number[] };

export interface PhaseReport {
  received: number;
  firstAtMs: number;
  lastAtMs: number;
  /** Fewest and most publications one subscriber received. */
  minPerSub: number;
  maxPerSub: number;
  /** Connections that closed (a healthy run has none). */
  lost: number;
  latencies: number[];
}

interface Child {
  proc: ChildProcess;
  base: number;
  count: number;
  waiting: ((r: ChildReport) => void) | undefined;
}

const SCRIPT = fileURLToPath(new URL('./subscriber-proc.ts', import.meta.url));

/** Subscribers of one peer, spread over child processes. */
export class SubscriberPool {
  private constructor(
    private readonly children: Child[],
    readonly total: number,
  ) {}

  /** Forks `procs` children and connects `total` subscribers to the peer (50 connects in flight per child). */
  static async start(owner: BenchCleanup, o: { peer: PeerName; url: string; target: string; total: number; procs: number; acks: boolean }): Promise<SubscriberPool> {
    const children: Child[] = [];
    const per = Math.ceil(o.total / o.procs);
    for (let i = 0, base = 0; i < o.procs && base < o.total; i++, base += per) {
      const proc = fork(SCRIPT, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const child: Child = { proc, base, count: Math.min(per, o.total - base), waiting: undefined };
      proc.on('message', (m: ChildReport) => {
        const w = child.waiting;
        child.waiting = undefined;
        w?.(m);
      });
      proc.on('exit', (code, signal) => {
        const w = child.waiting;
        child.waiting = undefined;
        w?.({ type: 'error', message: `load-generator process exited (${signal ?? code})` });
      });
      owner.after(() => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      });
      children.push(child);
    }
    const pool = new SubscriberPool(children, o.total);
    owner.after(() => pool.close());
    await pool.all((c) => ({ cmd: 'connect', peer: o.peer, url: o.url, target: o.target, count: c.count, base: c.base, acks: o.acks }), 300_000);
    return pool;
  }

  /** Starts a phase: counters to zero; with `measureLatency` every message is parsed for its send time. */
  async reset(measureLatency: boolean): Promise<void> {
    await this.all(() => ({ cmd: 'reset', measureLatency, totalSubscribers: this.total }), 30_000);
  }

  /** Sums what every child counted in the current phase. */
  async report(withLatencies: boolean): Promise<PhaseReport> {
    const parts = await this.all((c) => ({ cmd: 'report', withLatencies, base: c.base, count: c.count }), 60_000);
    const out: PhaseReport = { received: 0, firstAtMs: Number.POSITIVE_INFINITY, lastAtMs: 0, minPerSub: Number.POSITIVE_INFINITY, maxPerSub: 0, lost: 0, latencies: [] };
    for (const p of parts) {
      if (p.type !== 'report') continue;
      out.received += p.received;
      if (p.received > 0) out.firstAtMs = Math.min(out.firstAtMs, p.firstAtMs);
      out.lastAtMs = Math.max(out.lastAtMs, p.lastAtMs);
      out.minPerSub = Math.min(out.minPerSub, p.minPerSub);
      out.maxPerSub = Math.max(out.maxPerSub, p.maxPerSub);
      out.lost += p.lost;
      for (const l of p.latencies) out.latencies.push(l);
    }
    return out;
  }

  /** Closes every subscriber and ends the children. */
  async close(): Promise<void> {
    const live = this.children.filter((c) => c.proc.connected);
    await Promise.allSettled(live.map((c) => this.ask(c, { cmd: 'close' }, 30_000)));
    for (const c of this.children.splice(0)) {
      if (c.proc.connected) c.proc.disconnect();
    }
  }

  private async all(cmd: (c: Child) => ChildCommand, timeoutMs: number): Promise<ChildReport[]> {
    return Promise.all(this.children.map((c) => this.ask(c, cmd(c), timeoutMs)));
  }

  private ask(c: Child, cmd: ChildCommand, timeoutMs: number): Promise<ChildReport> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        c.waiting = undefined;
        reject(new FlotillaError(Code.DEADLINE_EXCEEDED, `bench pubsub: a load-generator process did not answer ${cmd.cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      c.waiting = (r) => {
        clearTimeout(timer);
        if (r.type === 'error') reject(new FlotillaError(Code.UNAVAILABLE, `bench pubsub: load generator: ${r.message}`));
        else resolve(r);
      };
      if (!c.proc.connected) {
        clearTimeout(timer);
        reject(new FlotillaError(Code.UNAVAILABLE, 'bench pubsub: a load-generator process is gone'));
        return;
      }
      c.proc.send(cmd);
    });
  }
}
