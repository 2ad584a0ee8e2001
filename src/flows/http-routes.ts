/**
 * HTTP API of the workflow service, under /api/v1/flows. Reads are served by any server; commands that
 * act on runs are forwarded to the active scheduler when this server is not it.
 *
 *   POST /api/v1/flows/validate        {fileName, yaml, files} -> {valid, problems}
 *   POST /api/v1/flows                 submit a spec bundle    -> {key, version, created}
 *   GET  /api/v1/flows                 flows with their state
 *   GET  /api/v1/flows/:key            one flow, its tasks and edges, recent runs
 *   POST /api/v1/flows/:key/runs       start a manual run      -> the run
 *   POST /api/v1/flows/:key/pause|resume
 *   GET  /api/v1/flows/runs/:id        run, task instances, attempts
 *   GET  /api/v1/flows/runs/:id/logs?task=&after=&limit=
 *   GET  /api/v1/flows/runs/:id/events state-change history
 *   POST /api/v1/flows/runs/:id/cancel
 *   POST /api/v1/flows/runs/:id/rerun  {task?, latest?}
 *   GET  /api/v1/flows/events?flow=&run=  server-sent events of every state change (`task`, `run`)
 *   GET  /api/v1/flows/metrics         lateness and outcome metrics, Prometheus text format
 *
 * Events and metrics come from the active scheduler: on another server the feed stays silent and the
 * metrics empty (GET /api/v1/flows names the leader).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { Code, FlotillaError } from '../core/errors.js';
import { maxSpecFileBytes, parseBundle, type SpecBundle } from './spec/index.js';
import type { FlowService } from './scheduler/flow-service.js';
import { registerEventFeed } from './event-feed.js';
import { clusterFetch, clusterScheme } from '../core/tls.js';

const bundleSchema = z.object({
  fileName: z.string().min(1).max(255),
  yaml: z.string().max(maxSpecFileBytes),
  files: z.record(z.string().max(1024), z.string().max(maxSpecFileBytes)).default({}),
});
const rerunSchema = z.object({ task: z.string().min(1).max(128).optional(), latest: z.boolean().optional() });

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (!r.success) throw new FlotillaError(Code.INVALID_ARGUMENT, `bad request body: ${r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`);
  return r.data;
}

export function registerFlowRoutes(app: FastifyInstance, service: FlowService): void {
  registerEventFeed(app, service);
  app.get('/api/v1/flows/metrics', async (_request, reply) => reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8').send(service.metrics.render()));
  /** Runs `fn` here when this server schedules, else forwards the request to the leader. */
  const onLeader = async (request: FastifyRequest, reply: FastifyReply, fn: () => Promise<unknown>): Promise<unknown> => {
    const leader = service.leaderAddress();
    if (service.isLeader || leader === undefined || leader === '' || request.headers['x-flotilla-forwarded'] !== undefined) return fn();
    const res = await clusterFetch(`${clusterScheme()}://${leader}${request.url}`, {
      method: request.method,
      // The caller's API token goes along: the leader checks it again (docs/security.md).
      headers: { 'content-type': 'application/json', 'x-flotilla-forwarded': '1', ...(request.headers.authorization !== undefined ? { authorization: request.headers.authorization } : {}) },
      ...(request.method === 'POST' ? { body: JSON.stringify(request.body ?? {}) } : {}),
    }).catch((err: unknown) => {
      throw new FlotillaError(Code.UNAVAILABLE, `the active scheduler at ${leader} cannot be reached`, { cause: err });
    });
    reply.code(res.status).header('content-type', res.headers.get('content-type') ?? 'application/json');
    return reply.send(await res.text());
  };

  app.post('/api/v1/flows/validate', async (request) => {
    const bundle: SpecBundle = parseBody(bundleSchema, request.body);
    const r = parseBundle(bundle);
    return { valid: r.spec !== undefined, problems: r.problems };
  });
  // Submitted through the leader, so that it arms the flow's trigger at once.
  app.post('/api/v1/flows', async (request, reply) => onLeader(request, reply, () => service.submit(parseBody<SpecBundle>(bundleSchema, request.body))));
  app.get('/api/v1/flows', async () => ({ flows: await service.store.listFlows(), leader: service.leaderAddress() ?? null }));
  app.get<{ Params: { key: string } }>('/api/v1/flows/:key', async (request) => {
    const flow = await service.store.getFlow(request.params.key);
    if (flow === undefined) throw new FlotillaError(Code.NOT_FOUND, `no flow ${JSON.stringify(request.params.key)}`);
    const spec = await service.loadSpec(flow.key, flow.version);
    return {
      flow,
      tasks: spec.tasks.map((t) => ({ key: t.key, kind: t.action.kind, runsOn: t.runsOn ?? null, triggerRule: t.triggerRule, retries: t.retry.retries })),
      edges: spec.edges,
      runs: await service.store.listRuns(flow.key, 20),
    };
  });
  app.post<{ Params: { key: string } }>('/api/v1/flows/:key/runs', async (request, reply) =>
    onLeader(request, reply, async () => {
      reply.code(201);
      return service.createRun(request.params.key);
    }),
  );
  for (const action of ['pause', 'resume'] as const) {
    app.post<{ Params: { key: string } }>(`/api/v1/flows/:key/${action}`, async (request, reply) =>
      onLeader(request, reply, async () => {
        await service.setPaused(request.params.key, action === 'pause');
        return { key: request.params.key, paused: action === 'pause' };
      }),
    );
  }
  app.get<{ Params: { id: string } }>('/api/v1/flows/runs/:id', async (request) => {
    const run = await service.getRun(request.params.id);
    return { run, tasks: await service.store.tasks(run.id), attempts: await service.store.attempts(run.id) };
  });
  app.get<{ Params: { id: string }; Querystring: { task?: string; after?: string; limit?: string } }>('/api/v1/flows/runs/:id/logs', async (request) => {
    const run = await service.getRun(request.params.id);
    const after = Number(request.query.after ?? '0');
    const limit = Number(request.query.limit ?? '5000');
    if (!Number.isInteger(after) || after < 0 || !Number.isInteger(limit) || limit < 1 || limit > 50_000) throw new FlotillaError(Code.INVALID_ARGUMENT, 'after must be an integer >= 0 and limit from 1 to 50000');
    const lines = await service.store.logs(run.id, { ...(request.query.task !== undefined ? { task: request.query.task } : {}), afterId: after, limit });
    return { run: run.id, state: run.state, lines };
  });
  app.get<{ Params: { id: string } }>('/api/v1/flows/runs/:id/events', async (request) => {
    const run = await service.getRun(request.params.id);
    return { run: run.id, events: await service.store.events(run.id) };
  });
  app.post<{ Params: { id: string } }>('/api/v1/flows/runs/:id/cancel', async (request, reply) =>
    onLeader(request, reply, async () => {
      await service.cancelRun(request.params.id);
      return service.getRun(request.params.id);
    }),
  );
  app.post<{ Params: { id: string } }>('/api/v1/flows/runs/:id/rerun', async (request, reply) =>
    onLeader(request, reply, async () => {
      const body = parseBody(rerunSchema, request.body);
      const cleared = await service.rerun(request.params.id, body);
      return { run: await service.getRun(request.params.id), cleared };
    }),
  );
}
