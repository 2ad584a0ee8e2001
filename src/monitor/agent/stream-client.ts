/**
 * The agent's end of MonitorService.CommandStream (ConnectRPC, gRPC over HTTP/2 without TLS). One session:
 * send AgentHello, wait for ServerWelcome, then send every batch the buffer holds that the server has not
 * acked (oldest first; late ones flagged `backlog`), then each new batch as it is collected; meanwhile
 * apply each Command at once and send its CommandAck. When the stream breaks or the server goes away the
 * session ends and a new one starts after an exponential backoff with jitter; batches stay in the buffer
 * until acked, so nothing acked is lost and nothing unacked is forgotten (within the buffer's bound).
 * Batches go as series references (protocol 2, a new SeriesEncoder per session) when the welcome says the
 * server speaks it, else one Metric per sample.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from '@connectrpc/connect';
import { createGrpcConnection } from '../../core/grpc-client.js';
import type { AgentMessage } from '../../gen/flotilla/v1/monitor_pb.js';
import { MonitorService } from '../../gen/flotilla/v1/monitor_pb.js';
import { backoffDelayMs } from '../../core/backoff.js';
import { FlotillaError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { CommandResult, IncomingCommand } from './commands.js';
import type { SampleBuffer } from './sample-buffer.js';
import type { AgentTasks } from './remote-tasks.js';
import { applyTaskMessage, taskEventMessage } from './task-wire.js';
import { SeriesEncoder } from './series-encoder.js';
import { ackMessage, batchMessage, fromWireCommand, helloMessage, type HelloFields } from './wire.js';
import { tlsFailure } from '../../core/tls.js';

export interface StreamClientOptions {
  /** host:port of the monitor server. */
  server: string;
  hostname: string;
  buffer: SampleBuffer;
  /** The hello's fields other than acked_seq (read at each connect). */
  hello: () => Omit<HelloFields, 'ackedSeq'>;
  /** Applies a command; its result is acked. */
  onCommand: (cmd: IncomingCommand) => CommandResult;
  /** Workflow task attempts (run_task, cancel_task); their unacked events are sent again after a reconnect. */
  tasks?: AgentTasks;
  logger: Logger;
  /** First reconnect delay ceiling in ms. Default: 250. */
  reconnectBaseMs?: number;
  /** Largest reconnect delay ceiling in ms. Default: 10 000. */
  reconnectMaxMs?: number;
  /** A session that gets no ServerWelcome within this is dropped. Default: 10 000. */
  welcomeTimeoutMs?: number;
  /** HTTP/2 PING period and timeout that detect a silent server. Default: 5000. */
  pingMs?: number;
}

export interface StreamClientEventMap {
  'stream:connected': [];
  'stream:disconnected': [FlotillaError];
}

/** A tiny notifier: wait() resolves at the next wake() or after the timeout. */
class Wakeup {
  private waiters: Array<() => void> = [];
  wait(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.push(done);
    });
  }
  wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

export class StreamClient extends EventEmitter<StreamClientEventMap> {
  private stopped = false;
  private readonly stopController = new AbortController();
  private loop: Promise<void> | undefined;
  private isConnected = false;
  private sessionController: AbortController | undefined;

  constructor(private readonly options: StreamClientOptions) {
    super();
  }

  /** True while a session is open and welcomed. */
  get connected(): boolean {
    return this.isConnected;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopController.abort();
    this.sessionController?.abort();
    this.options.buffer.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    const o = this.options;
    let attempt = 0;
    let failures = 0;
    while (!this.stopped) {
      let welcomed = false;
      try {
        await this.session(() => {
          welcomed = true;
        });
        if (!this.stopped) throw new FlotillaError('UNAVAILABLE', 'the server closed the stream');
      } catch (err) {
        if (this.stopped) break;
        // A TLS failure (another CA, no certificate) says which certificate and what to do.
        const fe = tlsFailure(err, o.server) ?? FlotillaError.from(err, 'UNAVAILABLE');
        if (welcomed) {
          attempt = 0;
          failures = 0;
        }
        const delay = backoffDelayMs(attempt, { baseMs: o.reconnectBaseMs ?? 250, maxMs: o.reconnectMaxMs ?? 10_000, jitter: 'equal' });
        attempt += 1;
        failures += 1;
        if (welcomed) {
          this.emit('stream:disconnected', fe);
          o.logger.warn({ server: o.server, err: fe.rawMessage, retryInMs: delay, pendingSamples: o.buffer.pendingSamples }, 'disconnected from the monitor server; reconnecting');
        } else if (failures === 1 && /\[(unauthenticated|permission_denied)\]/.test(fe.message)) {
          o.logger.error({ server: o.server, err: fe.rawMessage, retryInMs: delay }, 'the monitor server refused this agent: give it the cluster join token (--join-token or FLOTILLA_JOIN_TOKEN); retrying');
        } else if (failures === 1) {
          o.logger.warn({ server: o.server, err: fe.rawMessage, retryInMs: delay }, 'cannot reach the monitor server; retrying with backoff (samples are buffered)');
        } else {
          o.logger.debug({ server: o.server, err: fe.rawMessage, retryInMs: delay, attempt }, 'monitor server still unreachable');
        }
        await sleep(delay, undefined, { signal: this.stopController.signal }).catch(() => undefined);
      }
    }
  }

  private async session(onWelcome: () => void): Promise<void> {
    const o = this.options;
    const buffer = o.buffer;
    const pingMs = o.pingMs ?? 5000;
    const connection = createGrpcConnection(o.server, { pingIntervalMs: pingMs, pingTimeoutMs: pingMs, idleConnectionTimeoutMs: 0 });
    const client = createClient(MonitorService, connection.transport);
    const ac = new AbortController();
    this.sessionController = ac;
    const outbox: AgentMessage[] = [];
    const wakeup = new Wakeup();
    let welcomed = false;
    let seqAtWelcome = 0;
    // Set at the welcome when the server speaks protocol 2; batches are only sent after the welcome.
    let encoder: SeriesEncoder | undefined;
    const welcomeTimer = setTimeout(() => {
      if (!welcomed) ac.abort(new FlotillaError('DEADLINE_EXCEEDED', `no ServerWelcome within ${o.welcomeTimeoutMs ?? 10_000} ms`));
    }, o.welcomeTimeoutMs ?? 10_000);
    const onAbort = (): void => wakeup.wake();
    ac.signal.addEventListener('abort', onAbort);

    const hello = helloMessage({ ...o.hello(), ackedSeq: buffer.ackedSeq });
    async function* requests(): AsyncGenerator<AgentMessage> {
      yield hello;
      while (!welcomed && !ac.signal.aborted) await wakeup.wait(1000);
      let lastSent = buffer.ackedSeq;
      while (!ac.signal.aborted) {
        const msg = outbox.shift();
        if (msg !== undefined) {
          yield msg;
          continue;
        }
        const taskEvent = o.tasks?.next();
        if (taskEvent !== undefined) {
          yield taskEventMessage(taskEvent);
          continue;
        }
        const b = await buffer.next(lastSent);
        if (b !== undefined) {
          lastSent = b.seq;
          yield batchMessage(b, o.hostname, buffer.droppedTotal, b.createdOffline || b.seq <= seqAtWelcome, encoder);
          continue;
        }
        await Promise.race([buffer.waitForAppend(1000), wakeup.wait(1000)]);
      }
    }

    try {
      for await (const msg of client.commandStream(requests(), { signal: ac.signal })) {
        switch (msg.kind.case) {
          case 'welcome':
            if (!welcomed) {
              const w = msg.kind.value;
              if (w.protocol >= 2 && w.maxSeriesRefs > 0) encoder = new SeriesEncoder(w.maxSeriesRefs);
              welcomed = true;
              seqAtWelcome = buffer.lastSeq;
              o.tasks?.sessionStarted();
              o.tasks?.setWake(() => wakeup.wake());
              this.isConnected = true;
              onWelcome();
              o.logger.info(
                { server: o.server, serverVersion: w.serverVersion, protocol: encoder !== undefined ? 2 : 1, backlogBatches: buffer.lastSeq - buffer.ackedSeq },
                'connected to the monitor server',
              );
              this.emit('stream:connected');
              wakeup.wake();
            }
            break;
          case 'batchAck':
            await buffer.ack(Number(msg.kind.value.seq));
            break;
          case 'command': {
            const cmd = fromWireCommand(msg.kind.value);
            let result: CommandResult;
            try {
              result = o.onCommand(cmd);
            } catch (err) {
              result = { id: cmd.id, ok: false, message: `${cmd.action} failed: ${FlotillaError.from(err).rawMessage}`, resultJson: '' };
            }
            o.logger.info({ id: cmd.id, action: cmd.action, ok: result.ok, message: result.message }, 'command applied');
            outbox.push(ackMessage(result));
            wakeup.wake();
            break;
          }
          case 'runTask':
          case 'cancelTask':
          case 'taskAck':
            if (o.tasks !== undefined) applyTaskMessage(o.tasks, msg);
            break;
          default:
            break; // a message kind from a newer server: ignored
        }
      }
      if (ac.signal.aborted && ac.signal.reason instanceof FlotillaError) throw ac.signal.reason;
    } catch (err) {
      if (ac.signal.reason instanceof FlotillaError) throw ac.signal.reason;
      throw err;
    } finally {
      clearTimeout(welcomeTimer);
      this.isConnected = false;
      ac.signal.removeEventListener('abort', onAbort);
      if (!ac.signal.aborted) ac.abort();
      wakeup.wake();
      connection.close();
      if (this.sessionController === ac) this.sessionController = undefined;
    }
  }
}
