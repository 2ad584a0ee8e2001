/**
 * A real child process under test: started on named free loopback ports with a temp data dir, awaited
 * until it serves, its stdout+stderr captured (and printed if the owning test fails), and always stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cleanup } from './cleanup.js';
import { onCleanup, trackChild } from './cleanup.js';
import { freePort, tempDir } from './ports.js';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What the command line of a process may use: its ports (allocated by name, stable across restarts) and data dir. */
export interface ProcessEnv {
  port: (name: string) => number;
  dataDir: string;
}

export interface StartProcessOptions {
  /** Name shown in logs. */
  name: string;
  command: string;
  args: string[] | ((env: ProcessEnv) => string[]);
  /** Names of the ports to allocate before the command line is built. Default: none. */
  ports?: string[];
  /** The owning test: the process is stopped (and its temp dir removed) when it ends, the last started first. */
  t?: Cleanup;
  /** Use this data dir instead of a new temp dir. */
  dataDir?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  cwd?: string;
  /**
   * Resolves once the process serves. Called repeatedly until it resolves true. Default: a TCP connect to
   * the first named port succeeds.
   */
  ready?: (h: ProcessHandle) => Promise<boolean>;
  /** How long start() and restart() wait for readiness. Default: 30000. */
  readyTimeoutMs?: number;
  /** stop(): time between SIGTERM and SIGKILL. Default: 10000. */
  stopGraceMs?: number;
  /** Keep at most this many bytes of output. Default: 4 MiB. */
  maxOutputBytes?: number;
  /** Run as this user and group id (servers that refuse to run as root, e.g. PostgreSQL). */
  uid?: number;
  gid?: number;
}

export interface ProcessHandle {
  readonly name: string;
  readonly dataDir: string;
  readonly pid: number | undefined;
  port(name: string): number;
  /** Settles when the current incarnation exits. */
  readonly exited: Promise<ExitInfo>;
  readonly running: boolean;
  /** All captured stdout+stderr of every incarnation so far. */
  output(): string;
  /** SIGTERM, then SIGKILL after the grace period. */
  stop(): Promise<ExitInfo>;
  /** SIGKILL. */
  kill(): Promise<ExitInfo>;
  signal(sig: NodeJS.Signals): void;
  /** Stops the process if running, then starts it again on the same ports and data dir. */
  restart(): Promise<void>;
  /** Waits until `predicate(output())` holds (bounded by timeoutMs, default 10000). */
  waitForOutput(predicate: (out: string) => boolean, timeoutMs?: number): Promise<void>;
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export async function tcpReady(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.setTimeout(1000, () => done(false));
  });
}

class Proc implements ProcessHandle {
  private child: ChildProcess | undefined;
  private exitPromise: Promise<ExitInfo> = Promise.resolve({ code: null, signal: null });
  private chunks: string[] = [];
  private bytes = 0;
  private readonly maxBytes: number;

  constructor(
    private readonly opts: StartProcessOptions,
    readonly dataDir: string,
    private readonly ports: Map<string, number>,
  ) {
    this.maxBytes = opts.maxOutputBytes ?? 4 * 1024 * 1024;
  }

  get name(): string {
    return this.opts.name;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get exited(): Promise<ExitInfo> {
    return this.exitPromise;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  port(name: string): number {
    const p = this.ports.get(name);
    if (p === undefined) throw new Error(`${this.name}: no port named ${name} (allocate it in options.ports)`);
    return p;
  }

  output(): string {
    return this.chunks.join('');
  }

  private append(text: string): void {
    this.chunks.push(text);
    this.bytes += text.length;
    while (this.bytes > this.maxBytes && this.chunks.length > 1) {
      this.bytes -= this.chunks.shift()!.length;
    }
  }

  spawnOnce(): void {
    const env: ProcessEnv = { port: (n) => this.port(n), dataDir: this.dataDir };
    const args = typeof this.opts.args === 'function' ? this.opts.args(env) : this.opts.args;
    this.append(`--- ${this.name}: ${this.opts.command} ${args.join(' ')}\n`);
    const child = spawn(this.opts.command, args, {
      cwd: this.opts.cwd,
      env: { ...process.env, ...this.opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(this.opts.uid !== undefined ? { uid: this.opts.uid } : {}),
      ...(this.opts.gid !== undefined ? { gid: this.opts.gid } : {}),
    });
    this.child = child;
    trackChild(child);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => this.append(d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => this.append(d));
    this.exitPromise = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => {
        this.append(`--- ${this.name}: exited code=${code} signal=${signal}\n`);
        resolve({ code, signal });
      });
      child.once('error', (err) => {
        this.append(`--- ${this.name}: spawn error ${err.message}\n`);
        resolve({ code: null, signal: null });
      });
    });
  }

  async waitReady(): Promise<void> {
    const timeoutMs = this.opts.readyTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    const first = this.opts.ports?.[0];
    const ready = this.opts.ready ?? (async (h: ProcessHandle) => (first === undefined ? true : tcpReady(h.port(first))));
    for (;;) {
      if (!this.running) throw new Error(`${this.name} exited before it was ready:\n${this.output()}`);
      if (await ready(this).catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`${this.name} not ready after ${timeoutMs} ms:\n${this.output()}`);
      await sleep(100);
    }
  }

  async waitForOutput(predicate: (out: string) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.output())) {
      if (Date.now() > deadline) throw new Error(`${this.name}: expected output did not appear in ${timeoutMs} ms:\n${this.output()}`);
      await sleep(50);
    }
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child!.kill(sig);
  }

  async stop(): Promise<ExitInfo> {
    if (!this.running) return this.exitPromise;
    this.child!.kill('SIGTERM');
    const graceMs = this.opts.stopGraceMs ?? 10_000;
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    try {
      return await this.exitPromise;
    } finally {
      clearTimeout(timer);
    }
  }

  async kill(): Promise<ExitInfo> {
    this.signal('SIGKILL');
    return this.exitPromise;
  }

  async restart(): Promise<void> {
    await this.stop();
    this.spawnOnce();
    await this.waitReady();
  }
}

/** Starts a process and waits until it is ready; it is stopped in `opts.t`'s after hook. */
export async function startProcess(opts: StartProcessOptions): Promise<ProcessHandle> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await tempDir(undefined, `flotilla-${opts.name.replace(/[^a-z0-9-]/gi, '_')}-`));
  const ports = new Map<string, number>();
  for (const name of opts.ports ?? []) ports.set(name, await freePort());
  const proc = new Proc(opts, dataDir, ports);
  // One cleanup: stop, print the log if the test failed, then remove the data dir we made (after the exit).
  const t = opts.t;
  if (t !== undefined) {
    onCleanup(t, async () => {
      await proc.stop();
      if (t.passed === false) {
        process.stderr.write(`\n===== output of ${proc.name} (test failed) =====\n${proc.output()}\n===== end of ${proc.name} =====\n`);
      }
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    });
  }
  proc.spawnOnce();
  try {
    await proc.waitReady();
  } catch (err) {
    await proc.kill();
    throw err;
  }
  return proc;
}
