/**
 * The server's HTTP routes the dashboard needs beyond those of the capabilities:
 *   GET  /api/v1/members                   the membership view as `flotilla status --json` prints it:
 *                                          { observer, coordinationReachable, members: MemberSummary[] }
 *   GET  /api/v1/members/events            server-sent events: `snapshot` (the same object plus `events`,
 *                                          the recent status changes) at once, then `members` (the same
 *                                          object) whenever the view changes, coalesced per `flushMs`, and
 *                                          `status` ({ name, status, previous, at }) on each status change
 *   POST /api/v1/agents/:host/commands     { action, payload?, timeoutMs? } -> the agent's ack
 *                                          { id, ok, message, result }, through MonitorService.SendCommand
 * An event stream sends only whole snapshots, so a slow reader that misses a write while its socket is
 * full gets the latest state once it drains; nothing queues per reader.
 *
 * The same changes also travel as messages on the server's internal channels (when `publishInternal` is
 * given), which the dashboard reads over /ws with the browser client (a channel token from
 * POST /api/v1/channel-tokens; users cannot publish on `$flotilla.*`):
 *   $flotilla.members  {type:"members", observer, coordinationReachable, members}  (coalesced per flushMs)
 *                      {type:"status", event: {name, status, previous, at}}       (each status change)
 *   $flotilla.agents   {type:"agent", agent: AgentJson with lastMetrics}           (per host, coalesced per agentFlushMs)
 *   $flotilla.flows    {type:"run", runId, flow, state, reason, time}
 *                      {type:"task", runId, flow, task, state, reason, tryNumber, time}
 * `GET /api/v1/members?events=true` adds `events` (the recent status changes) for a reader's first view.
 * Internal channels are live state (never stored, see src/pubsub/live-channels.ts), and nothing is built
 * for a channel nobody reads (`hasSubscribers`): with no dashboard open, the agents' ingest pays nothing
 * for the dashboard.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { openEventStream } from '../core/event-stream.js';
import { dialableAddress } from '../core/address.js';
import { Code, FlotillaError } from '../core/errors.js';
import type { Component } from '../core/lifecycle.js';
import { fromMemberMessage, toMemberMessage, type MemberStatus, type MemberSummary, type MembershipView } from '../cluster/index.js';
import { createMonitorClient, toAgentJson, type CommandAckResult, type GlobalView, type MonitorClient } from '../monitor/index.js';
import type { FlowService, RunStateEvent, TaskStateEvent } from '../flows/index.js';
import { INTERNAL_CHANNELS } from '../pubsub/index.js';

/** One status change as the event stream and the overview show it. */
export interface MemberEvent {
  name: string;
  status: MemberStatus;
  previous: MemberStatus | null;
  /** ISO time the server saw the change. */
  at: string;
}

export interface MembersJson {
  observer: string;
  coordinationReachable: boolean;
  members: MemberSummary[];
}

export interface DashboardRoutesOptions {
  /** The server's membership view (undefined before it starts). */
  view: () => MembershipView | undefined;
  /** The server's own gRPC address (host:port; a wildcard host is dialled on loopback) for SendCommand. */
  grpcAddress: () => string;
  /** Coalescing period of the member event stream. Default 250 ms. */
  flushMs?: number;
  /** Status changes remembered for new readers. Default 50. */
  recentEvents?: number;
  /** A comment line every this often keeps proxies from closing an idle stream. Default 15 000 ms. */
  keepAliveMs?: number;
  /** Publishes a server message on an internal channel (the message broker); without it, none are published. */
  publishInternal?: (channel: string, data: unknown) => void;
  /** Whether anybody reads an internal channel now; a channel nobody reads is not fed. Default: always true. */
  hasSubscribers?: (channel: string) => boolean;
  /** The agents' global view: its changes go to `$flotilla.agents`. */
  agents?: GlobalView;
  /** The workflow service: its run and task state changes go to `$flotilla.flows`. */
  flows?: FlowService;
  /** Coalescing period of one host's messages on `$flotilla.agents`. Default 500 ms. */
  agentFlushMs?: number;
}

/** A lifecycle component: start() follows the membership view (add it after the view's component). */
export type DashboardRoutes = Component;

const commandBody = z
  .object({
    action: z.string().min(1).max(100),
    payload: z.record(z.string(), z.unknown()).optional(),
    /** How long to wait for the ack. Default: the server's (10 s). */
    timeoutMs: z.number().int().min(1).max(60_000).optional(),
  })
  .strict();

interface Client {
  reply: FastifyReply;
  blocked: boolean;
  stale: boolean;
}

export function registerDashboardRoutes(app: FastifyInstance, options: DashboardRoutesOptions): DashboardRoutes {
  const flushMs = options.flushMs ?? 250;
  const maxEvents = options.recentEvents ?? 50;
  const recent: MemberEvent[] = [];
  const clients = new Set<Client>();
  let subscribed: MembershipView | undefined;
  let flushTimer: NodeJS.Timeout | undefined;
  let keepAlive: NodeJS.Timeout | undefined;
  let monitor: MonitorClient | undefined;

  const membersJson = (): MembersJson => {
    const view = options.view();
    return {
      observer: 'server',
      coordinationReachable: view?.coordinationReachable ?? false,
      members: (view?.members() ?? []).map((m) => fromMemberMessage(toMemberMessage(m))).sort((a, b) => a.name.localeCompare(b.name)),
    };
  };

  const write = (c: Client, text: string): void => {
    if (!c.reply.raw.write(text)) c.blocked = true;
  };
  const publish = options.publishInternal;
  const flush = (): void => {
    flushTimer = undefined;
    const json = membersJson();
    publish?.(INTERNAL_CHANNELS.members, { type: 'members', ...json });
    const text = `event: members\ndata: ${JSON.stringify(json)}\n\n`;
    for (const c of clients) {
      if (c.blocked) continue;
      c.stale = false;
      write(c, text);
    }
  };
  const onChanged = (): void => {
    for (const c of clients) c.stale = true;
    if (clients.size > 0 || publish !== undefined) flushTimer ??= setTimeout(flush, flushMs);
  };
  const onStatus = (name: string, status: MemberStatus, previous: MemberStatus | undefined): void => {
    const ev: MemberEvent = { name, status, previous: previous ?? null, at: new Date().toISOString() };
    recent.push(ev);
    if (recent.length > maxEvents) recent.splice(0, recent.length - maxEvents);
    publish?.(INTERNAL_CHANNELS.members, { type: 'status', event: ev });
    for (const c of clients) if (!c.blocked) write(c, `event: status\ndata: ${JSON.stringify(ev)}\n\n`);
  };
  /** Follows the view once it exists (the routes are registered before the server starts). */
  const follow = (): void => {
    const view = options.view();
    if (view === undefined || view === subscribed) return;
    subscribed?.off('view:changed', onChanged).off('node:status:changed', onStatus);
    subscribed = view;
    view.on('view:changed', onChanged);
    view.on('node:status:changed', onStatus);
  };
  const drop = (c: Client): void => {
    clients.delete(c);
    if (clients.size === 0 && keepAlive !== undefined) {
      clearInterval(keepAlive);
      keepAlive = undefined;
    }
  };

  // Agents and workflows on internal channels: one message per host per period, one per state change.
  const dirtyHosts = new Set<string>();
  let agentTimer: NodeJS.Timeout | undefined;
  const readers = options.hasSubscribers ?? ((): boolean => true);
  const flushAgents = (): void => {
    agentTimer = undefined;
    if (!readers(INTERNAL_CHANNELS.agents)) {
      dirtyHosts.clear();
      return;
    }
    for (const host of dirtyHosts) {
      const snap = options.agents?.snapshot(host, { metrics: true });
      if (snap !== undefined) publish?.(INTERNAL_CHANNELS.agents, { type: 'agent', agent: toAgentJson(snap) });
    }
    dirtyHosts.clear();
  };
  const onAgent = (host: string): void => {
    // Called for every batch an agent sends: nothing to do while no dashboard reads the channel.
    if (!readers(INTERNAL_CHANNELS.agents)) return;
    dirtyHosts.add(host);
    agentTimer ??= setTimeout(flushAgents, options.agentFlushMs ?? 500);
  };
  const onRun = (e: RunStateEvent): void => {
    if (!readers(INTERNAL_CHANNELS.flows)) return;
    publish?.(INTERNAL_CHANNELS.flows, { type: 'run', runId: e.runId, flow: e.flow, state: e.state, reason: e.reason, time: new Date(e.timeMs).toISOString() });
  };
  const onTask = (e: TaskStateEvent): void => {
    if (!readers(INTERNAL_CHANNELS.flows)) return;
    publish?.(INTERNAL_CHANNELS.flows, { type: 'task', runId: e.runId, flow: e.flow, task: e.task, state: e.state, reason: e.reason, tryNumber: e.tryNumber, time: new Date(e.timeMs).toISOString() });
  };
  let feeding = false;
  const feed = (on: boolean): void => {
    if (publish === undefined || feeding === on) return;
    feeding = on;
    if (on) {
      options.agents?.on('agent:changed', onAgent);
      options.flows?.on('run:state:changed', onRun).on('task:state:changed', onTask);
    } else {
      options.agents?.off('agent:changed', onAgent);
      options.flows?.off('run:state:changed', onRun).off('task:state:changed', onTask);
      if (agentTimer !== undefined) clearTimeout(agentTimer);
      agentTimer = undefined;
      dirtyHosts.clear();
    }
  };

  app.get<{ Querystring: { events?: string } }>('/api/v1/members', async (request) => {
    follow();
    const events = request.query.events;
    return events === 'true' || events === '1' ? { ...membersJson(), events: recent } : membersJson();
  });

  app.get('/api/v1/members/events', (request, reply) => {
    const raw = openEventStream(request, reply);
    if (raw === undefined) return;
    follow();
    const c: Client = { reply, blocked: false, stale: false };
    clients.add(c);
    raw.on('drain', () => {
      c.blocked = false;
      if (c.stale) flushTimer ??= setTimeout(flush, 0);
    });
    raw.on('close', () => drop(c));
    raw.on('error', () => drop(c));
    write(c, `retry: 2000\nevent: snapshot\ndata: ${JSON.stringify({ ...membersJson(), events: recent })}\n\n`);
    keepAlive ??= setInterval(() => {
      follow();
      for (const cl of clients) if (!cl.blocked) write(cl, ': keep-alive\n\n');
    }, options.keepAliveMs ?? 15_000);
    keepAlive.unref();
  });

  app.post<{ Params: { host: string } }>('/api/v1/agents/:host/commands', async (request): Promise<CommandAckResult> => {
    const parsed = commandBody.safeParse(request.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = issue.path.length > 0 ? `"${issue.path.join('.')}"` : 'body';
      throw new FlotillaError(Code.INVALID_ARGUMENT, `bad command: ${where}: ${issue.message} (expected {"action": string, "payload"?: object, "timeoutMs"?: number})`);
    }
    const { action, payload, timeoutMs } = parsed.data;
    monitor ??= createMonitorClient({ address: dialableAddress(options.grpcAddress()) });
    return monitor.sendCommand({ hostname: request.params.host, action, payloadJson: JSON.stringify(payload ?? {}), timeoutMs: timeoutMs ?? 10_000 });
  });

  const close = (): void => {
    feed(false);
    subscribed?.off('view:changed', onChanged).off('node:status:changed', onStatus);
    subscribed = undefined;
    if (flushTimer !== undefined) clearTimeout(flushTimer);
    flushTimer = undefined;
    for (const c of [...clients]) {
      c.reply.raw.end();
      drop(c);
    }
    monitor?.close();
    monitor = undefined;
  };
  app.addHook('preClose', async () => close());
  return {
    name: 'dashboard-routes',
    async start() {
      follow();
      feed(true);
    },
    async stop() {
      close();
    },
  };
}
