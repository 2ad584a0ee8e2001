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
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { dialableAddress } from '../core/address.js';
import { Code, FlotillaError } from '../core/errors.js';
import type { Component } from '../core/lifecycle.js';
import { fromMemberMessage, toMemberMessage, type MemberStatus, type MemberSummary, type MembershipView } from '../cluster/index.js';
import { createMonitorClient, type CommandAckResult, type MonitorClient } from '../monitor/index.js';

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
  const flush = (): void => {
    flushTimer = undefined;
    const text = `event: members\ndata: ${JSON.stringify(membersJson())}\n\n`;
    for (const c of clients) {
      if (c.blocked) continue;
      c.stale = false;
      write(c, text);
    }
  };
  const onChanged = (): void => {
    for (const c of clients) c.stale = true;
    if (clients.size > 0) flushTimer ??= setTimeout(flush, flushMs);
  };
  const onStatus = (name: string, status: MemberStatus, previous: MemberStatus | undefined): void => {
    const ev: MemberEvent = { name, status, previous: previous ?? null, at: new Date().toISOString() };
    recent.push(ev);
    if (recent.length > maxEvents) recent.splice(0, recent.length - maxEvents);
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

  app.get('/api/v1/members', async () => {
    follow();
    return membersJson();
  });

  app.get('/api/v1/members/events', (_request, reply) => {
    follow();
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
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
    },
    async stop() {
      close();
    },
  };
}
