/**
 * Where an attempt runs. `local` runs the process on this server; a remote dispatcher (the monitor
 * server's task channel) sends it to the agent named by `runs_on`. An attempt whose agent went away ends
 * `lost`, which the engine tells apart from a task failure.
 */
import { hostname } from 'node:os';
import { runTaskProcess, type RemoteTaskChannel, type TaskProcessPlan, type TaskProcessResult } from '../../monitor/index.js';

export type AttemptOutcome = ({ kind: 'exit' } & TaskProcessResult) | { kind: 'lost'; reason: string };

export interface AttemptRequest {
  /** Unique per attempt: `<run>/<task>/<try>`. */
  attemptId: string;
  plan: TaskProcessPlan;
  signal: AbortSignal;
  onLine: (stream: 'stdout' | 'stderr', line: string) => void;
}

export interface TaskDispatcher {
  /** Runs an attempt on `host` (undefined: on this server) and resolves with how it ended. */
  run(host: string | undefined, req: AttemptRequest): Promise<AttemptOutcome>;
  /**
   * For `runs_on: {labels}`: a connected agent with all of `labels` (the least loaded, ties in turn), or
   * undefined when none is connected. Absent: no agents (every selector waits).
   */
  pick?(labels: Readonly<Record<string, string>>): string | undefined;
  /** Calls `fn` when an agent connects (a waiting selector may match now); returns the unsubscribe. */
  onAgentConnected?(fn: () => void): () => void;
}

export const localHostname = hostname();

export function createLocalDispatcher(options: { workRoot?: string } = {}): TaskDispatcher {
  return {
    async run(_host, req) {
      const r = await runTaskProcess(req.plan, { onLine: req.onLine, signal: req.signal, ...(options.workRoot !== undefined ? { workRoot: options.workRoot } : {}) });
      return { kind: 'exit', ...r };
    },
  };
}

/**
 * Runs attempts on agents over their CommandStream (the monitor server's task channel). The agent adds
 * FLOTILLA_AGENT_HOSTNAME (its --hostname) to the task's environment.
 */
export function createAgentDispatcher(channel: RemoteTaskChannel): TaskDispatcher {
  return {
    run(host, req) {
      if (host === undefined) return Promise.resolve({ kind: 'lost', reason: 'no agent named' });
      return channel.run({ attemptId: req.attemptId, host, plan: req.plan, signal: req.signal, onLine: req.onLine });
    },
    pick: (labels) => channel.pick(labels),
    onAgentConnected: (fn) => channel.onAgentConnected(fn),
  };
}

/** Sends tasks with runs_on to `remote`, the rest to `local`. */
export function combineDispatchers(local: TaskDispatcher, remote: TaskDispatcher | undefined): TaskDispatcher {
  return {
    run(host, req) {
      if (host === undefined) return local.run(undefined, req);
      if (remote === undefined) return Promise.resolve({ kind: 'lost', reason: `no agent channel: cannot run on ${host}` });
      return remote.run(host, req);
    },
    pick: (labels) => remote?.pick?.(labels),
    onAgentConnected: (fn) => remote?.onAgentConnected?.(fn) ?? (() => undefined),
  };
}
