/**
 * One open CommandStream, server side: what is waiting to go down to the agent (the welcome, batch acks,
 * commands) and the commands waiting for their ack. The outgoing side is bounded: batch acks are
 * cumulative, so only the highest one waits; at most `maxPendingCommands` commands wait for an ack.
 */
import { randomUUID } from 'node:crypto';
import { Code, FlotillaError } from '../../core/errors.js';
import type { TaskOutgoing } from './task-channel.js';

/** A command as the session sends it. */
export interface OutgoingCommand {
  id: string;
  action: string;
  payloadJson: string;
  deadlineMs: number;
}

/** An agent's answer to a command. */
export interface CommandResult {
  id: string;
  ok: boolean;
  message: string;
  resultJson: string;
}

/** One message for the agent, in domain terms (converted to ServerMessage at the edge). */
export type Outgoing =
  | { kind: 'welcome'; configJson: string; protocol: number; maxSeriesRefs: number }
  | { kind: 'ack'; seq: bigint }
  | { kind: 'command'; command: OutgoingCommand }
  | { kind: 'task'; task: TaskOutgoing };

interface Pending {
  action: string;
  resolve: (r: CommandResult) => void;
  reject: (e: FlotillaError) => void;
  timer: NodeJS.Timeout;
}

export interface AgentSessionOptions {
  hostname: string;
  incarnation: string;
  /** The agent's labels from its hello. Default: none. */
  labels?: Record<string, string>;
  /** Most commands waiting for an ack at once. Default 64. */
  maxPendingCommands?: number;
}

let nextId = 1;

export class AgentSession {
  /** Unique per stream within the process. */
  readonly id = nextId++;
  readonly hostname: string;
  readonly incarnation: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly openedAtMs = Date.now();
  private readonly maxPending: number;
  private welcome: { configJson: string; protocol: number; maxSeriesRefs: number } | undefined;
  private ackSeq: bigint | undefined;
  private readonly commands: OutgoingCommand[] = [];
  private readonly tasks: TaskOutgoing[] = [];
  private readonly pending = new Map<string, Pending>();
  private wake: (() => void) | undefined;
  private closedWith: FlotillaError | undefined;
  private closed = false;

  constructor(options: AgentSessionOptions) {
    this.hostname = options.hostname;
    this.incarnation = options.incarnation;
    this.labels = options.labels ?? {};
    this.maxPending = options.maxPendingCommands ?? 64;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Queues the ServerWelcome: the stored config, the stream protocol the server speaks and its ref bound. */
  sendWelcome(configJson: string, protocol: number, maxSeriesRefs: number): void {
    this.welcome = { configJson, protocol, maxSeriesRefs };
    this.notify();
  }

  /** Acknowledges every batch up to `seq` (only the highest waiting ack is kept). */
  ackBatch(seq: bigint): void {
    if (this.ackSeq === undefined || seq > this.ackSeq) this.ackSeq = seq;
    this.notify();
  }

  /** Sends a command and resolves with the agent's ack; rejects on timeout or when the stream ends. */
  command(action: string, payloadJson: string, timeoutMs: number): Promise<CommandResult> {
    if (this.closed) return Promise.reject(new FlotillaError(Code.FAILED_PRECONDITION, `${this.hostname} is not connected`));
    if (this.pending.size >= this.maxPending) {
      return Promise.reject(new FlotillaError(Code.RESOURCE_EXHAUSTED, `${this.hostname} already has ${this.pending.size} commands waiting for an ack; try again later`));
    }
    const id = randomUUID();
    return new Promise<CommandResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new FlotillaError(Code.DEADLINE_EXCEEDED, `${this.hostname} did not ack ${action} (command ${id}) within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { action, resolve, reject, timer });
      this.commands.push({ id, action, payloadJson, deadlineMs: Date.now() + timeoutMs });
      this.notify();
    });
  }

  /** Queues a workflow task message (run, cancel, ack of task events); dropped when the stream has ended. */
  sendTask(task: TaskOutgoing): void {
    if (this.closed) return;
    this.tasks.push(task);
    this.notify();
  }

  /** An ack from the agent; false when no command with that id is waiting (late or unknown). */
  commandAcked(result: CommandResult): boolean {
    const p = this.pending.get(result.id);
    if (p === undefined) return false;
    this.pending.delete(result.id);
    clearTimeout(p.timer);
    p.resolve(result);
    return true;
  }

  /** Ends the session: waiting commands fail, the outgoing stream ends (with `err`, when given). */
  close(err?: FlotillaError): void {
    if (this.closed) return;
    this.closed = true;
    this.closedWith = err;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new FlotillaError(Code.UNAVAILABLE, `${this.hostname} disconnected before acking ${p.action} (command ${id})`));
    }
    this.pending.clear();
    this.commands.length = 0;
    this.tasks.length = 0;
    this.notify();
  }

  /** The messages for the agent, in order: welcome first, then acks and commands as they come. */
  async *outgoing(): AsyncGenerator<Outgoing> {
    for (;;) {
      if (this.welcome !== undefined) {
        const w = this.welcome;
        this.welcome = undefined;
        yield { kind: 'welcome', ...w };
        continue;
      }
      if (this.closed) {
        if (this.closedWith !== undefined) throw this.closedWith;
        return;
      }
      if (this.ackSeq !== undefined) {
        const seq = this.ackSeq;
        this.ackSeq = undefined;
        yield { kind: 'ack', seq };
        continue;
      }
      const command = this.commands.shift();
      if (command !== undefined) {
        yield { kind: 'command', command };
        continue;
      }
      const task = this.tasks.shift();
      if (task !== undefined) {
        yield { kind: 'task', task };
        continue;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}
