/**
 * Helpers of the multi-host test: `flotilla` processes and CLI runs inside the network namespaces of
 * testkit/netns.ts, the server's HTTP API called from the test process (HTTP or HTTPS with the cluster
 * CA), TLS detection and certificates, and stages that say which one failed with the tail of the logs
 * that matter. FLOTILLA_MULTIHOST_TRACE=1 prints how long each CLI command took (to find where the time goes).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { trackChild, type Cleanup } from '../testkit/cleanup.js';
import { FLOTILLA_BIN, REPO_ROOT } from '../testkit/flotilla.js';
import type { NetHost } from '../testkit/netns.js';
import { startProcess, type ProcessHandle } from '../testkit/process.js';

/** TLS material of the test cluster (undefined: the build has no TLS flags, the cluster runs in clear text). */
export interface TlsSetup {
  /** Directory with ca.crt and NAME.crt/NAME.key of every process (written by `flotilla certs init`). */
  dir: string;
  ca: string;
}

/** Whether this build's `flotilla server` takes --tls-dir (the TLS work of issue 11 has landed). */
export async function tlsAvailable(): Promise<boolean> {
  const r = await runLocal(['server', '--help'], { timeoutMs: 30_000 });
  return r.code === 0 && r.stdout.includes('--tls-dir');
}

/** Flags that make a long-running process (server, node, agent) use its certificate. */
export function processTlsArgs(tls: TlsSetup | undefined, name: string): string[] {
  return tls === undefined ? [] : ['--tls-dir', tls.dir, '--tls-name', name];
}

/** `flotilla ARGS` in the test process's own namespace (for `certs init`, `--help`). */
export function runLocal(args: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
  return runCommand(process.execPath, [FLOTILLA_BIN, ...args], {}, opts.timeoutMs ?? 30_000);
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The command line, for messages. */
  line: string;
}

function runCommand(command: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    trackChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: stderr + err.message, line: `${command} ${args.join(' ')}` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, line: `${command} ${args.join(' ')}` });
    });
  });
}

/** A host of the test LAN with the cluster's credentials: runs `flotilla` processes and CLI commands in its namespace. */
export class Host {
  constructor(
    readonly net: NetHost,
    private readonly owner: Cleanup,
    private readonly tls: TlsSetup | undefined,
  ) {}

  get name(): string {
    return this.net.name;
  }

  get address(): string {
    return this.net.address;
  }

  /**
   * Starts `flotilla ARGS` in this host's namespace (`ip netns exec` execs node: the handle's pid is the
   * process's own). It is stopped by the owner's cleanup, pass or fail, and its log printed on failure.
   */
  start(name: string, args: (dataDir: string) => string[], ready: (h: ProcessHandle) => Promise<boolean>, opts: { readyTimeoutMs?: number } = {}): Promise<ProcessHandle> {
    return startProcess({
      name: `${name} @${this.name}`,
      command: 'ip',
      args: ({ dataDir }) => this.net.command(process.execPath, [FLOTILLA_BIN, ...args(dataDir)]).args,
      cwd: REPO_ROOT,
      t: this.owner,
      env: { FLOTILLA_LOG_PRETTY: '1' },
      ready,
      readyTimeoutMs: opts.readyTimeoutMs ?? 90_000,
      stopGraceMs: 5_000,
      maxOutputBytes: 1024 * 1024,
    });
  }

  /**
   * Runs a client command (`flotilla kv ...`, `obj`, `cmd`, `health`, `status`) in this host's namespace
   * with `token` and, with TLS, `--tls-ca` and the CLI's own certificate (`--tls-dir D --tls-name cli`,
   * presented to the gRPC listeners, which require mutual TLS).
   */
  cli(args: string[], opts: { token?: string; timeoutMs?: number; tls?: boolean } = {}): Promise<RunResult> {
    const env: Record<string, string> = { FLOTILLA_TOKEN: opts.token ?? '', FLOTILLA_TOKEN_FILE: '' };
    const tlsArgs = this.tls !== undefined && opts.tls !== false ? ['--tls-ca', this.tls.ca, '--tls-dir', this.tls.dir, '--tls-name', 'cli'] : [];
    const { command, args: argv } = this.net.command(process.execPath, [FLOTILLA_BIN, ...args, ...tlsArgs]);
    return runCommand(command, argv, env, opts.timeoutMs ?? 30_000);
  }

  /** Runs any program in this host's namespace (etcdctl, ...). */
  exec(command: string, args: string[], env: Record<string, string> = {}, timeoutMs = 15_000): Promise<RunResult> {
    const c = this.net.command(command, args);
    return runCommand(c.command, c.args, env, timeoutMs);
  }

  /** Like cli(), but throws (with the output) unless it exits 0; returns stdout. */
  async cliOk(args: string[], opts: { token?: string; timeoutMs?: number } = {}): Promise<string> {
    const t0 = Date.now();
    const r = await this.cli(args, opts);
    if (process.env.FLOTILLA_MULTIHOST_TRACE === '1') process.stderr.write(`[trace] ${this.name}: flotilla ${args.slice(0, 3).join(' ')} ${Date.now() - t0} ms\n`);
    if (r.code !== 0) throw new Error(`on ${this.name}: \`flotilla ${args.join(' ')}\` exited ${r.code}\nstdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}`);
    return r.stdout;
  }
}

/** An HTTP(S) client of one base URL, with the admin token and (with TLS) the cluster CA. */
export class Api {
  constructor(
    readonly base: string,
    private readonly token: string | undefined,
    private readonly ca: string | undefined,
  ) {}

  /** One request; resolves with the status and the body as text (never throws on an HTTP status). */
  request(method: string, path: string, body?: unknown, timeoutMs = 5_000): Promise<{ status: number; text: string }> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = {
      ...(this.token !== undefined ? { authorization: `Bearer ${this.token}` } : {}),
      ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
    };
    return new Promise((resolve, reject) => {
      const onResponse = (res: IncomingMessage): void => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      };
      const req =
        url.protocol === 'https:'
          ? httpsRequest(url, { method, headers, ...(this.ca !== undefined ? { ca: this.ca } : {}), timeout: timeoutMs }, onResponse)
          : httpRequest(url, { method, headers, timeout: timeoutMs }, onResponse);
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.href}: no answer in ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** GET (or another method) that must answer 2xx with JSON. */
  async json<T>(path: string, method = 'GET', body?: unknown): Promise<T> {
    const r = await this.request(method, path, body);
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${this.base}${path}: ${r.status} ${r.text.slice(0, 500)}`);
    return JSON.parse(r.text) as T;
  }

  /** True when GET path answers 200 (errors count as false). */
  async ok(path: string): Promise<boolean> {
    return (await this.request('GET', path).catch(() => ({ status: 0 }))).status === 200;
  }
}

export function readTokenFile(dir: string, name: string): string {
  return readFileSync(join(dir, name), 'utf8').trim();
}

/** Waits for every promise to settle (none is left running), then throws the first failure, if any. */
export async function together(...work: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(work);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

/** Polls `check` (errors count as false) until it holds; throws naming `what` and the last state after timeoutMs. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, describe?: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      let last = lastError !== undefined ? `error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)}` : '';
      if (describe !== undefined) last += ` state: ${JSON.stringify(await describe().catch((e: unknown) => String(e)))}`;
      throw new Error(`${what}: not true within ${timeoutMs} ms${last !== '' ? `; last ${last}` : ''}`);
    }
    await sleep(200);
  }
}

/**
 * The log entries of a process: a line and the indented lines under it (pretty pino output). The
 * testkit's own lines (`--- NAME: command line`, `--- NAME: exited ...`) are left out, so a pattern never
 * matches the command line.
 */
export function logEntries(p: ProcessHandle): string[] {
  const entries: string[] = [];
  for (const line of p.output().split('\n')) {
    if (line.startsWith(`--- ${p.name}: `)) continue;
    if (/^\s/.test(line) && entries.length > 0) entries[entries.length - 1] += `\n${line}`;
    else if (line !== '') entries.push(line);
  }
  return entries;
}

/** How many log entries of `p` match `pattern`. */
export function countLog(p: ProcessHandle, pattern: RegExp): number {
  return logEntries(p).filter((e) => pattern.test(e)).length;
}

/**
 * Waits until `p` has more than `after` log entries matching `pattern` (the stage adds the log's tail
 * when it does not happen).
 */
export async function waitForLog(p: ProcessHandle, pattern: RegExp, timeoutMs: number, after = 0): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (countLog(p, pattern) <= after) {
    if (Date.now() > deadline) throw new Error(`${p.name} logged no${after > 0 ? ' new' : ''} entry matching ${String(pattern)} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/**
 * The last `count` log entries of a process (an entry is a line and the indented lines under it), leaving
 * out the per-batch lines of the server (`batch N from HOST: ...`), which would hide everything else.
 */
export function tail(p: ProcessHandle, count = 30): string {
  const entries = logEntries(p);
  const kept = entries.filter((e) => !/\bbatch \d+ from \S+: \d+ samples/.test(e));
  const skipped = entries.length - kept.length;
  return (skipped > 0 ? `(${skipped} "batch N from HOST" entries left out)\n` : '') + kept.slice(-count).join('\n');
}

/**
 * Runs one stage of the plan; on failure rethrows as `stage "NAME" failed: ...` with the tail of the
 * logs of `logs()` (the processes that stage is about).
 */
export async function stage(t: { diagnostic: (m: string) => void }, name: string, logs: () => ProcessHandle[], fn: () => Promise<void>): Promise<void> {
  const started = Date.now();
  try {
    await fn();
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const tails = logs()
      .map((p) => `----- last lines of ${p.name} -----\n${tail(p)}`)
      .join('\n');
    throw new Error(`stage "${name}" failed: ${msg}\n${tails}`, { cause: err });
  }
  t.diagnostic(`stage "${name}" passed (${Date.now() - started} ms)`);
}
