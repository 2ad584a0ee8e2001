/**
 * Runs one task attempt as a process in its own process group: the files that travel with the task are
 * written to a fresh working directory, `argv` is spawned detached (a new process group), stdout and
 * stderr are handed over line by line, and a timeout or a cancel kills the whole group (SIGTERM, then
 * SIGKILL after a grace period), so no child of the task survives it. Used by the agent for `run_task`
 * and by the workflow scheduler for tasks that run on the server.
 *
 * The task does not outlive its runner either, even one killed with -9: a small bash watcher in the task's
 * process group (SUPERVISOR_SCRIPT) holds the read end of a pipe whose write end only the runner holds.
 * When the runner dies, the kernel closes that end, the watcher reads EOF and SIGKILLs the whole group.
 * This needs no restart of the runner and no state on disk.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, isAbsolute } from 'node:path';


/**
 * The environment a task starts with: this process's, as a worker's tasks get it in Airflow, without
 * Flotilla's own settings (FLOTILLA_*: the join token, database URL, OpenID secret, TLS files) — a task
 * is user code and must not read the process's credentials. A task's own `env` is added on top.
 */
export function taskEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!k.startsWith('FLOTILLA_')) out[k] = v;
  return out;
}

export interface TaskProcessPlan {
  /** The program and its arguments; files named in it are relative to the working directory. */
  argv: string[];
  /** Files written into the working directory first (relative path -> content). */
  files: Record<string, string>;
  /** Added to the runner's environment. */
  env: Record<string, string>;
  /** Kill the process group after this long; 0 or undefined: no limit. */
  timeoutMs?: number;
}

export interface TaskProcessResult {
  /** Exit code, or null when a signal ended it. */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  cancelled: boolean;
  /** The last non-empty stdout line (a branch task names the tasks to follow on it). */
  lastStdoutLine: string;
  /** Set when the process could not be started at all. */
  spawnError?: string;
}

export interface RunTaskProcessOptions {
  onLine: (stream: 'stdout' | 'stderr', line: string) => void;
  signal?: AbortSignal;
  /** Time between SIGTERM and SIGKILL. Default 2000 ms. */
  killGraceMs?: number;
  /** Parent of the working directory. Default: the OS temp dir. */
  workRoot?: string;
}

/**
 * The supervisor, run as `bash -c SUPERVISOR_SCRIPT flotilla-task-supervisor ARGV...` with its stdin a
 * pipe from the runner. It starts a watcher in the background (background commands of a non-interactive
 * bash stay in its process group; they get /dev/null as stdin unless redirected, hence the copy of the
 * pipe on fd 3), then replaces itself with the task (exec): the task keeps the leader's pid, its own exit
 * status, and /dev/null as stdin. The watcher loops on `read` until EOF, which comes only when every write
 * end is closed, i.e. when the runner is gone, and then kills group 0, its own: the task and everything it
 * started. When the task ends first, the runner kills the group (the watcher with it).
 */
export const SUPERVISOR_SCRIPT = [
  'exec 3<&0',
  '{ while read -r -u 3 _; do :; done; kill -KILL 0; } </dev/null >/dev/null 2>&1 &',
  'exec 3<&- </dev/null',
  'exec "$@"',
].join('\n');

/** Longest line handed over; longer lines are cut into pieces of this size. */
export const MAX_TASK_LINE_CHARS = 16 * 1024;

function safeRelative(p: string): boolean {
  const n = normalize(p);
  return p !== '' && !isAbsolute(n) && !n.startsWith('..');
}

function lineSplitter(emit: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  let rest = '';
  return {
    push(chunk) {
      rest += chunk.toString('utf8');
      let nl: number;
      while ((nl = rest.indexOf('\n')) >= 0) {
        emit(rest.slice(0, nl).replace(/\r$/, ''));
        rest = rest.slice(nl + 1);
      }
      while (rest.length > MAX_TASK_LINE_CHARS) {
        emit(rest.slice(0, MAX_TASK_LINE_CHARS));
        rest = rest.slice(MAX_TASK_LINE_CHARS);
      }
    },
    end() {
      if (rest !== '') emit(rest);
      rest = '';
    },
  };
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}

export async function runTaskProcess(plan: TaskProcessPlan, options: RunTaskProcessOptions): Promise<TaskProcessResult> {
  const result: TaskProcessResult = { exitCode: null, signal: null, timedOut: false, cancelled: false, lastStdoutLine: '' };
  if (plan.argv.length === 0) return { ...result, spawnError: 'empty command' };
  for (const name of Object.keys(plan.files)) {
    if (!safeRelative(name)) return { ...result, spawnError: `bad file name ${JSON.stringify(name)}` };
  }
  const work = await mkdtemp(join(options.workRoot ?? tmpdir(), 'flotilla-task-'));
  try {
    for (const [name, content] of Object.entries(plan.files)) {
      const full = join(work, name);
      await mkdir(dirname(full), { recursive: true });
      await writeFile(full, content, { mode: 0o700 });
    }
    if (options.signal?.aborted === true) return { ...result, cancelled: true };
    return await new Promise<TaskProcessResult>((resolve) => {
      // stdin is the watcher's lifeline: never written, closed by the kernel if this process dies.
      const child = spawn('bash', ['-c', SUPERVISOR_SCRIPT, 'flotilla-task-supervisor', ...plan.argv], {
        cwd: work,
        env: { ...taskEnvironment(process.env), ...plan.env },
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      child.stdin.on('error', () => undefined);
      let settled = false;
      let killTimer: NodeJS.Timeout | undefined;
      const stop = (why: 'timeout' | 'cancel'): void => {
        if (child.pid === undefined || settled) return;
        if (why === 'timeout') result.timedOut = true;
        else result.cancelled = true;
        killGroup(child.pid, 'SIGTERM');
        killTimer ??= setTimeout(() => killGroup(child.pid!, 'SIGKILL'), options.killGraceMs ?? 2000);
      };
      const timeout = plan.timeoutMs !== undefined && plan.timeoutMs > 0 ? setTimeout(() => stop('timeout'), plan.timeoutMs) : undefined;
      const onAbort = (): void => stop('cancel');
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const out = lineSplitter((line) => {
        if (line.trim() !== '') result.lastStdoutLine = line;
        options.onLine('stdout', line);
      });
      const err = lineSplitter((line) => options.onLine('stderr', line));
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      const finish = (r: TaskProcessResult): void => {
        if (settled) return;
        settled = true;
        if (timeout !== undefined) clearTimeout(timeout);
        options.signal?.removeEventListener('abort', onAbort);
        // Whatever the leader left behind in its group goes too (a task's own children).
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
        if (killTimer !== undefined) clearTimeout(killTimer);
        child.stdin.destroy();
        resolve(r);
      };
      child.on('error', (e) => finish({ ...result, spawnError: e.message }));
      // The leader is gone: what it left in its group (background children holding the pipes) goes too.
      child.on('exit', () => {
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      });
      child.on('close', (code, signal) => {
        out.end();
        err.end();
        finish({ ...result, exitCode: code, signal });
      });
    });
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}
