/**
 * MonitorService as the server implements it (monitor.proto). CommandStream: the agent's first message
 * must be AgentHello (else the stream ends with INVALID_ARGUMENT); the server answers ServerWelcome, then
 * acks batches by seq (a resend with a seq already taken is dropped and acked again) and routes commands
 * down the stream, matching acks by command id. A second stream from the same host replaces the first
 * (the agent reconnected before the server noticed the old one was gone). SendCommand validates the
 * action and payload, routes to the host's stream and waits for the ack; ListAgents reads the view.
 *
 * Batches come in either form of monitor.proto: series references (protocol 2, announced in the welcome
 * with the ref bound; each stream has its own SeriesRefTable) or one Metric per sample (protocol 1, still
 * accepted). Taken samples go to the store, the sample log and `onSamples` as scrapes, batch by batch.
 */
import { create } from '@bufbuild/protobuf';
import type { ConnectRouter, HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { Code, FlotillaError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import {
  ListAgentsResponseSchema,
  MonitorService,
  SendCommandResponseSchema,
  type AgentHello,
  type AgentMessage,
  type ServerMessage,
} from '../../gen/flotilla/v1/monitor_pb.js';
import { labelProblem, MAX_LABELS } from '../agent/agent-labels.js';
import { AgentSession, type CommandResult } from './agent-session.js';
import type { DecodedBatchMessage } from './batch-decode.js';
import { validateCommand } from './command-validate.js';
import type { GlobalView, TakenScrape } from './global-view.js';
import type { SampleLog } from './sample-log.js';
import { checkHostname } from './sample-validate.js';
import { SeriesRefTable } from './series-refs.js';
import { createScrapeAppender, type SampleStore } from './store-append.js';
import type { TaskChannel } from './task-channel.js';
import { fromTaskLog, fromTaskResult } from './task-wire.js';
import { fromBatch, toAgentInfo, toConnectError, toServerMessage } from './wire-convert.js';

export type { SampleStore } from './store-append.js';

/** What a stream reads: AgentMessages, and batches the lean stream path decoded itself (batch-decode.ts). */
export type AgentInput = AgentMessage | DecodedBatchMessage;

/** The highest stream protocol this server speaks (monitor.proto: 1 a Metric per sample, 2 series references). */
export const SERVER_PROTOCOL = 2;

export interface MonitorServiceDeps {
  view: GlobalView;
  logger: Logger;
  sampleLog: SampleLog;
  /** Where accepted samples are stored; a batch is acked only once its samples are durable there. */
  store?: SampleStore;
  serverVersion: string;
  /** Called when an agent says hello (e.g. to write its default config). */
  onHello?: (hostname: string) => void;
  /** Called with the samples of every batch taken, by scrape (e.g. for remote write); must return at once. */
  onSamples?: (hostname: string, scrapes: readonly TakenScrape[]) => void;
  /** Size of each stream's ref table (refs must be below it; told to the agent in its welcome). Default 20 000. */
  maxSeriesRefs?: number;
  /** Workflow task attempts on agents (run_task, task logs and results). */
  tasks?: TaskChannel;
  /** Longest wait for the first message of a stream. Default 10 000 ms. */
  helloTimeoutMs?: number;
  /** Ack wait when SendCommand gives no timeout. Default 10 000 ms. */
  defaultCommandTimeoutMs?: number;
  /** Longest ack wait a caller may ask for. Default 300 000 ms. */
  maxCommandTimeoutMs?: number;
  /**
   * Batches of one stream taken and waiting for the store to make them durable (their acks go in order
   * once they are); the stream reads on meanwhile, so the store's fsync of one batch overlaps the work on
   * the next. At this many, reading waits. Default 8.
   */
  maxBatchesInFlight?: number;
}

/** The open streams, one per host. */
export class SessionRegistry {
  private readonly sessions = new Map<string, AgentSession>();

  get(hostname: string): AgentSession | undefined {
    return this.sessions.get(hostname);
  }

  /** The current session of every connected host. */
  all(): IterableIterator<AgentSession> {
    return this.sessions.values();
  }

  /** Registers `session`, closing the one it replaces. */
  open(session: AgentSession): AgentSession | undefined {
    const old = this.sessions.get(session.hostname);
    this.sessions.set(session.hostname, session);
    old?.close(new FlotillaError(Code.CANCELLED, `replaced by a newer stream from ${session.hostname}`));
    return old;
  }

  /** Removes `session` if it is still the current one for its host; true when it was. */
  remove(session: AgentSession): boolean {
    if (this.sessions.get(session.hostname) !== session) return false;
    this.sessions.delete(session.hostname);
    return true;
  }

  closeAll(): void {
    for (const s of this.sessions.values()) s.close(new FlotillaError(Code.UNAVAILABLE, 'the server is stopping'));
    this.sessions.clear();
  }

  get size(): number {
    return this.sessions.size;
  }
}

async function firstMessage(it: AsyncIterator<AgentInput>, timeoutMs: number): Promise<IteratorResult<AgentInput>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FlotillaError(Code.DEADLINE_EXCEEDED, `no AgentHello within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([it.next(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Ends the agent's request stream, whatever state it is in (never rejects). */
function release(it: AsyncIterator<AgentInput>): void {
  Promise.resolve()
    .then(() => it.return?.())
    .catch(() => undefined);
}

function checkHello(first: IteratorResult<AgentInput>): AgentHello {
  if (first.done === true) throw new FlotillaError(Code.INVALID_ARGUMENT, 'the stream ended before AgentHello');
  const kind = first.value.kind;
  if (kind.case !== 'hello') throw new FlotillaError(Code.INVALID_ARGUMENT, `expected AgentHello as the first message, got ${kind.case === 'decodedBatch' ? 'batch' : (kind.case ?? 'an empty message')}`);
  const bad = checkHostname(kind.value.hostname);
  if (bad !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, `AgentHello: ${bad}`);
  const labels = Object.entries(kind.value.labels);
  if (labels.length > MAX_LABELS) throw new FlotillaError(Code.INVALID_ARGUMENT, `AgentHello: more than ${MAX_LABELS} labels`);
  for (const [k, v] of labels) {
    const badLabel = labelProblem(k, v);
    if (badLabel !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, `AgentHello: ${badLabel}`);
  }
  return kind.value;
}

/** MonitorService's implementation, and its CommandStream without ConnectRPC's context (for the lean stream path, agent-stream.ts). */
export type MonitorServiceImpl = ServiceImpl<typeof MonitorService> & {
  serveCommandStream: (requests: AsyncIterable<AgentInput>, signal: AbortSignal) => AsyncGenerator<ServerMessage>;
};

export function createMonitorServiceImpl(deps: MonitorServiceDeps, sessions: SessionRegistry): MonitorServiceImpl {
  const { view, logger } = deps;
  const helloTimeoutMs = deps.helloTimeoutMs ?? 10_000;
  const defaultTimeoutMs = deps.defaultCommandTimeoutMs ?? 10_000;
  const maxTimeoutMs = deps.maxCommandTimeoutMs ?? 300_000;
  const maxSeriesRefs = deps.maxSeriesRefs ?? 20_000;
  const appendScrapes = deps.store !== undefined ? createScrapeAppender(deps.store) : undefined;
  const maxBatchesInFlight = deps.maxBatchesInFlight ?? 8;

  /**
   * Reads the agent's messages until the stream ends; the session is closed when it does. When it ends
   * with an error (a protocol error, undecodable bytes), the batches taken before are acked first.
   */
  async function readLoop(it: AsyncIterator<AgentInput>, session: AgentSession, hostname: string): Promise<void> {
    // This stream's refs (protocol 2); a new stream starts with an empty table.
    const refs = new SeriesRefTable(maxSeriesRefs, (metric, labels) => view.resolveSeries(hostname, metric, labels));
    // Acks in batch order, each once its batch is durable (an ack is cumulative: it also answers for
    // every batch before it, even a resend's ack, which names the last seq taken).
    let acks: Promise<void> = Promise.resolve();
    let inFlight = 0;
    /** The highest seq this stream took (to give back on a store failure). */
    let lastTaken: bigint | undefined;
    let failed = false;
    const storeFailed = (err: unknown, previousSeq: bigint): void => {
      failed = true;
      // Given back: the agent resends this batch and the ones after it (none of them is acked).
      if (lastTaken !== undefined) view.untake(hostname, lastTaken, previousSeq);
      const fe = new FlotillaError(Code.UNAVAILABLE, `samples of ${hostname} could not be stored: ${FlotillaError.from(err).rawMessage}`, { cause: err });
      if (!session.isClosed) logger.warn({ host: hostname, err: fe.message }, `stream from ${hostname} failed`);
      session.close();
    };
    try {
      await readMessages();
    } catch (err) {
      await acks;
      throw err;
    }

    async function readMessages(): Promise<void> {
      for (;;) {
        const next = await it.next();
        if (next.done === true || session.isClosed) {
          await acks;
          return;
        }
        const kind = next.value.kind;
        switch (kind.case) {
          case 'batch':
          case 'decodedBatch': {
            const input = kind.case === 'batch' ? fromBatch(kind.value) : kind.value;
            // Definitions first, also in a resend that is dropped: later batches of the stream use them. A
            // protocol error (unknown ref, ref out of range) ends the stream before anything is taken.
            if (input.series.length > 0) refs.define(input.series);
            const resolved = input.scrapes.length > 0 ? refs.resolveScrapes(input.scrapes) : undefined;
            const previousSeq = view.lastSeq(hostname);
            const result = view.ingest(hostname, { seq: input.seq, droppedTotal: input.droppedTotal, metrics: input.metrics, ...(resolved !== undefined ? { scrapes: resolved } : {}) });
            if (result.taken) lastTaken = input.seq;
            deps.sampleLog.batch(hostname, input.seq, input.backlog, result, view.seriesCounts(hostname));
            // The ack means durable: the store takes the samples now (in batch order) and makes them durable
            // later; the ack waits for that. On failure the batch is given back (the agent resends it).
            const stored =
              appendScrapes !== undefined && result.taken && result.accepted > 0
                ? appendScrapes(hostname, result.scrapes).then(
                    (r) => ({ r, err: undefined }),
                    (err: unknown) => ({ r: undefined, err: err ?? new Error('store failed') }),
                  )
                : undefined;
            const seq = input.seq;
            inFlight += 1;
            acks = acks
              .then(async () => {
                const s = stored === undefined ? undefined : await stored;
                inFlight -= 1;
                if (failed) return;
                if (s?.err !== undefined) return storeFailed(s.err, previousSeq);
                if (s?.r !== undefined && s.r.accepted < result.accepted) logger.debug({ host: hostname, seq: seq.toString(), refused: s.r.rejected }, 'samples refused by the time-series store');
                session.ackBatch(result.ackSeq);
                if (result.accepted > 0) deps.onSamples?.(hostname, result.scrapes);
              })
              .catch((err: unknown) => {
                // Not the store (it answered): a listener of the samples failed. The stream ends, as on any failure.
                failed = true;
                if (!session.isClosed) logger.warn({ host: hostname, err: FlotillaError.from(err).message }, `stream from ${hostname} failed`);
                session.close();
              });
            if (inFlight >= maxBatchesInFlight) await acks;
            break;
          }
          case 'ack': {
            view.touch(hostname);
            const r: CommandResult = { id: kind.value.id, ok: kind.value.ok, message: kind.value.message, resultJson: kind.value.resultJson };
            if (!session.commandAcked(r)) logger.debug({ host: hostname, id: r.id }, 'ack for no waiting command (late or unknown): ignored');
            // Commands that change or read the config answer with it.
            else if (r.ok) view.setReportedConfig(hostname, r.resultJson);
            break;
          }
          case 'taskLog':
            view.touch(hostname);
            deps.tasks?.taskLog(session, fromTaskLog(kind.value));
            break;
          case 'taskResult':
            view.touch(hostname);
            deps.tasks?.taskResult(session, fromTaskResult(kind.value));
            break;
          case 'hello':
            throw new FlotillaError(Code.INVALID_ARGUMENT, 'AgentHello sent twice on one stream');
          default:
            // An empty oneof or a kind from a newer agent (task events): ignored, as proto3 readers do.
            view.touch(hostname);
            logger.debug({ host: hostname }, 'agent message of an unknown kind: ignored');
        }
      }
    }
  }

  /** One agent stream: the same whichever transport serves it (ConnectRPC, or agent-stream.ts). */
  async function* serveCommandStream(requests: AsyncIterable<AgentInput>, signal: AbortSignal): AsyncGenerator<ServerMessage> {
    const it = requests[Symbol.asyncIterator]();
    let hello: AgentHello;
    try {
      hello = checkHello(await firstMessage(it, helloTimeoutMs));
    } catch (err) {
      const fe = FlotillaError.from(err, Code.INVALID_ARGUMENT);
      logger.warn({ err: fe.message }, 'agent stream refused');
      release(it);
      throw toConnectError(fe);
    }
    const hostname = hello.hostname;
    if (!view.agentConnected({ hostname, version: hello.version, incarnation: hello.incarnation, ackedSeq: hello.ackedSeq })) {
      release(it);
      throw toConnectError(new FlotillaError(Code.RESOURCE_EXHAUSTED, `the server already follows ${view.size} hosts; ${hostname} refused`));
    }
    const session = new AgentSession({ hostname, incarnation: hello.incarnation, labels: { ...hello.labels } });
    const replaced = sessions.open(session);
    logger.info(
      { host: hostname, version: hello.version, incarnation: hello.incarnation, ackedSeq: hello.ackedSeq.toString(), protocol: Math.min(Math.max(hello.protocol, 1), SERVER_PROTOCOL) },
      `agent ${hostname} connected${replaced !== undefined ? ' (replacing its previous stream)' : ''}`,
    );
    deps.onHello?.(hostname);
    deps.tasks?.sessionOpened(session);
    session.sendWelcome(view.storedConfigJson(hostname), SERVER_PROTOCOL, maxSeriesRefs);
    view.setReportedConfig(hostname, hello.configJson);
    const onAbort = (): void => session.close();
    if (signal.aborted) session.close();
    signal.addEventListener('abort', onAbort, { once: true });
    const reading = readLoop(it, session, hostname).then(
      () => session.close(),
      (err: unknown) => {
        const fe = FlotillaError.from(err, Code.INVALID_ARGUMENT);
        if (!session.isClosed) logger.warn({ host: hostname, err: fe.message }, `stream from ${hostname} failed`);
        session.close(fe.code === Code.INVALID_ARGUMENT ? fe : undefined);
      },
    );
    try {
      for await (const out of session.outgoing()) yield toServerMessage(out, deps.serverVersion);
    } catch (err) {
      throw toConnectError(err);
    } finally {
      signal.removeEventListener('abort', onAbort);
      session.close();
      if (sessions.remove(session)) {
        deps.tasks?.sessionClosed(session);
        view.agentDisconnected(hostname);
        logger.info({ host: hostname }, `agent ${hostname} disconnected`);
      }
      release(it);
      void reading;
    }
  }

  return {
    serveCommandStream,
    commandStream(requests: AsyncIterable<AgentMessage>, ctx: HandlerContext): AsyncIterable<ServerMessage> {
      return serveCommandStream(requests, ctx.signal);
    },

    async sendCommand(req) {
      try {
        const payloadJson = validateCommand(req.action, req.payloadJson);
        const hostname = req.hostname;
        if (hostname === '') throw new FlotillaError(Code.INVALID_ARGUMENT, 'no host given');
        const known = view.hostnames();
        if (!view.has(hostname)) {
          const list = known.length === 0 ? 'no agent has connected yet' : `known: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', ...' : ''}`;
          throw new FlotillaError(Code.NOT_FOUND, `unknown host ${JSON.stringify(hostname.slice(0, 100))} (${list})`);
        }
        const session = sessions.get(hostname);
        if (session === undefined || session.isClosed) {
          const snap = view.snapshot(hostname)!;
          const seen = snap.lastSeenMs > 0 ? `last seen ${new Date(snap.lastSeenMs).toISOString()}` : 'never connected';
          throw new FlotillaError(Code.FAILED_PRECONDITION, `${hostname} is not connected (${seen}, heartbeat ${snap.alive ? 'alive' : 'dead'})`);
        }
        const asked = Number(req.timeoutMs);
        if (asked < 0) throw new FlotillaError(Code.INVALID_ARGUMENT, `timeout_ms must not be negative (got ${asked})`);
        const timeoutMs = Math.min(asked === 0 ? defaultTimeoutMs : asked, maxTimeoutMs);
        const result = await session.command(req.action, payloadJson, timeoutMs);
        logger.info({ host: hostname, action: req.action, id: result.id, ok: result.ok }, `command ${req.action} to ${hostname}: ${result.ok ? 'ok' : 'refused'}${result.message !== '' ? `: ${result.message}` : ''}`);
        return create(SendCommandResponseSchema, { ack: result });
      } catch (err) {
        throw toConnectError(err);
      }
    },

    async listAgents(req) {
      if (req.hostname !== '') {
        const snap = view.snapshot(req.hostname, { metrics: true });
        if (snap === undefined) throw toConnectError(new FlotillaError(Code.NOT_FOUND, `unknown host ${JSON.stringify(req.hostname.slice(0, 100))}`));
        return create(ListAgentsResponseSchema, { agents: [toAgentInfo(snap)] });
      }
      // Every host without its series (which may be many): ask for one host to get them.
      return create(ListAgentsResponseSchema, { agents: view.snapshots().map(toAgentInfo) });
    },
  };
}

export function registerMonitorService(router: ConnectRouter, impl: MonitorServiceImpl): void {
  const { serveCommandStream: _lean, ...connectImpl } = impl;
  router.service(MonitorService, connectImpl);
}
