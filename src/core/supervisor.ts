/**
 * Runs Flotilla processes as children of one parent (what `flotilla up` does): starts each, waits for
 * it to be ready, forwards stop signals, and makes sure none outlives the parent. Every child gets an IPC
 * channel; a child started this way stops itself when the channel closes, so even a SIGKILLed parent
 * leaves no process behind (see `stopWhenParentGoes`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { Code, FlotillaError } from './errors.js';
import type { Logger } from './log.js';

export interface ChildSpec {
  /** Shown in messages (e.g. 'server', 'node-a'). */
  name: string;
  /** Arguments after the flotilla executable. */
  args: string[];
  /** Extra environment. */
  env?: NodeJS.ProcessEnv;
  /** Resolves when the child is ready to serve; rejects (or times out) when it is not. */
  ready: (signal: AbortSignal) => Promise<void>;
  /** How long to wait for ready. Default 30 000 ms. */
  readyTimeoutMs?: number;
}

export interface SupervisorOptions {
  /** The script that is the flotilla command (bin/flotilla.js). */
  command: string;
  logger: Logger;
  /** Grace period between SIGTERM and SIGKILL on stop. Default 10 000 ms. */
  stopGraceMs?: number;
}

interface Running {
  spec: ChildSpec;
  child: ChildProcess;
  exited: Promise<number | null>;
}

export interface SupervisorEvents {
  /** A child exited while the supervisor was not stopping it. */
  'child:exit:unexpected': [name: string, code: number | null, signal: NodeJS.Signals | null];
}

export class Supervisor extends EventEmitter<SupervisorEvents> {
  private readonly running: Running[] = [];
  private stopping = false;

  constructor(private readonly options: SupervisorOptions) {
    super();
  }

  /** Starts a child and waits until it is ready. */
  async start(spec: ChildSpec): Promise<void> {
    // Each child gets its own process group, so a Ctrl-C in the terminal reaches only the supervisor,
    // which then stops the children in order. Their stdout (banners) is dropped: the supervisor prints
    // its own summary; their logs go to stderr, which they share with it.
    const child = spawn(process.execPath, [this.options.command, ...spec.args], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      detached: true,
      env: { ...process.env, ...spec.env },
    });
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code, signal) => {
        if (!this.stopping) this.emit('child:exit:unexpected', spec.name, code, signal);
        resolve(code);
      });
    });
    child.on('error', (err) => this.options.logger.error({ child: spec.name, err: err.message }, 'child process error'));
    this.running.push({ spec, child, exited });

    const controller = new AbortController();
    const timeoutMs = spec.readyTimeoutMs ?? 30_000;
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      await Promise.race([
        spec.ready(controller.signal),
        exited.then((code) => {
          throw new FlotillaError(Code.UNAVAILABLE, `${spec.name} exited with code ${code} before it was ready`);
        }),
      ]);
    } catch (err) {
      if (controller.signal.aborted) throw new FlotillaError(Code.DEADLINE_EXCEEDED, `${spec.name} was not ready within ${timeoutMs} ms`);
      throw FlotillaError.from(err);
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
  }

  /** Stops every child, the last started first: SIGTERM, then SIGKILL after the grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
    const grace = this.options.stopGraceMs ?? 10_000;
    for (const r of [...this.running].reverse()) {
      if (r.child.exitCode !== null || r.child.signalCode !== null) continue;
      r.child.kill('SIGTERM');
      const timer = setTimeout(() => {
        this.options.logger.warn({ child: r.spec.name }, 'did not stop in time: killing');
        r.child.kill('SIGKILL');
      }, grace);
      await r.exited;
      clearTimeout(timer);
    }
    this.running.length = 0;
  }
}

/**
 * In a child started by a Supervisor: calls `stop` when the parent goes away (IPC channel closed),
 * whatever the reason, so no child outlives its parent.
 */
export function stopWhenParentGoes(stop: () => void): void {
  if (typeof process.send !== 'function') return;
  process.once('disconnect', stop);
}
