/**
 * GET /api/v1/flows/events: server-sent events of every task and run state change, for the dashboard.
 * `event: task` carries a TaskStateEvent, `event: run` a RunStateEvent, both as JSON with `id:` counting
 * up per connection. `?flow=KEY` and `?run=ID` filter. A comment line every 15 s keeps proxies from closing
 * an idle feed. A client that does not read (more than 1 MiB waiting) is disconnected rather than buffered
 * for without bound; every feed ends when the service stops.
 */
import type { FastifyInstance } from 'fastify';
import type { FlowService } from './scheduler/flow-service.js';
import { openEventStream } from '../core/event-stream.js';
import type { RunStateEvent, TaskStateEvent } from './scheduler/run-engine.js';

const MAX_BUFFERED_BYTES = 1024 * 1024;
const KEEPALIVE_MS = 15_000;

export function registerEventFeed(app: FastifyInstance, service: FlowService): void {
  const closers = new Set<() => void>();
  service.on('service:stopping', () => {
    for (const c of [...closers]) c();
  });
  app.get<{ Querystring: { flow?: string; run?: string } }>('/api/v1/flows/events', (request, reply) => {
    const { flow, run } = request.query;
    const raw = openEventStream(request, reply);
    if (raw === undefined) return;
    let id = 0;
    const send = (kind: 'task' | 'run', e: TaskStateEvent | RunStateEvent): void => {
      if ((flow !== undefined && e.flow !== flow) || (run !== undefined && e.runId !== run)) return;
      if (raw.writableLength > MAX_BUFFERED_BYTES) return close();
      raw.write(`id: ${++id}\nevent: ${kind}\ndata: ${JSON.stringify(e)}\n\n`);
    };
    const onTask = (e: TaskStateEvent): void => send('task', e);
    const onRun = (e: RunStateEvent): void => send('run', e);
    const keepalive = setInterval(() => raw.write(': keepalive\n\n'), KEEPALIVE_MS);
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      clearInterval(keepalive);
      service.off('task:state:changed', onTask);
      service.off('run:state:changed', onRun);
      closers.delete(close);
      raw.end();
    };
    service.on('task:state:changed', onTask);
    service.on('run:state:changed', onRun);
    closers.add(close);
    raw.on('close', close);
    raw.on('error', close);
    raw.write(`: flows events${service.isLeader ? '' : ` (this server does not schedule; the leader is ${service.leaderAddress() ?? 'unknown'})`}\n\n`);
  });
}
