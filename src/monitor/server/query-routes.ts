/**
 * Prometheus's HTTP query API over the time-series store, in Prometheus's JSON shape so that tools that
 * speak it (Grafana, promtool, the dashboard) can read Flotilla:
 *   GET|POST /api/v1/query          query, time                    instant query
 *   GET|POST /api/v1/query_range    query, start, end, step        range query (at most 11 000 steps)
 *   GET|POST /api/v1/series         match[]..., start, end         series matching any selector
 *   GET|POST /api/v1/labels         [match[]...]                   label names
 *   GET      /api/v1/label/:name/values [match[]...]               values of one label
 *   GET      /api/v1/rules          [type=alert|record]            rule groups with health and alerts
 *   GET      /api/v1/alerts                                        pending and firing alerts
 * Success: `{status:"success", data}`; failure: `{status:"error", errorType, error}` with Prometheus's
 * codes (bad_data 400, execution 422, unavailable 503, internal 500). Times are Unix seconds (fractions
 * allowed) or RFC 3339; steps are seconds or Prometheus durations.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parse as parseQueryString } from 'node:querystring';
import { FlotillaError } from '../../core/errors.js';
import type { LabelMatcher, SampleQuerier } from '../tsdb/types.js';
import { createPromqlEngine, type PromqlEngine } from '../promql/engine.js';
import { PromqlExecutionError, PromqlSyntaxError } from '../promql/errors.js';
import { parsePromql } from '../promql/parser.js';
import { parsePromDuration } from '../promql/duration.js';
import { formatFloat, type Series, type Value } from '../promql/value.js';
import type { RuleManager } from '../rules/rule-manager.js';

export interface QueryRoutesOptions {
  /** The store; a function when it only exists once the server has started. */
  querier: SampleQuerier | (() => SampleQuerier | undefined);
  /** The rule manager, when rules are configured. */
  rules?: () => RuleManager | undefined;
  /** Instant selectors' lookback. Default 300 000 ms. */
  lookbackDeltaMs?: number;
  /** Clock. Default Date.now. */
  now?: () => number;
}

type ErrorType = 'bad_data' | 'execution' | 'unavailable' | 'internal';
const statusOf: Record<ErrorType, number> = { bad_data: 400, execution: 422, unavailable: 503, internal: 500 };

class ApiError extends Error {
  constructor(
    readonly errorType: ErrorType,
    message: string,
  ) {
    super(message);
  }
}

const badParam = (name: string, why: string): ApiError => new ApiError('bad_data', `invalid parameter ${JSON.stringify(name)}: ${why}`);

/** Prometheus's parseTime: Unix seconds (with fraction) or RFC 3339. */
export function parseApiTime(text: string, name: string): number {
  const s = text.trim();
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) {
    const ms = Math.round(Number(s) * 1000);
    if (!Number.isSafeInteger(ms)) throw badParam(name, `cannot parse ${JSON.stringify(text)} to a valid timestamp`);
    return ms;
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s)) {
    const ms = Date.parse(s);
    if (Number.isFinite(ms)) return ms;
  }
  throw badParam(name, `cannot parse ${JSON.stringify(text)} to a valid timestamp`);
}

/** Prometheus's parseDuration: seconds (with fraction) or a duration such as 15s, 1m30s. */
export function parseApiDuration(text: string, name: string): number {
  const s = text.trim();
  if (/^(\d+\.?\d*|\.\d+)$/.test(s)) {
    const ms = Math.round(Number(s) * 1000);
    if (!Number.isSafeInteger(ms)) throw badParam(name, `cannot parse ${JSON.stringify(text)} to a valid duration. It overflows int64`);
    return ms;
  }
  const d = parsePromDuration(s);
  if (d.error !== undefined) throw badParam(name, `cannot parse ${JSON.stringify(text)} to a valid duration`);
  return d.value;
}

type Params = Record<string, string | string[] | undefined>;

function params(request: FastifyRequest): Params {
  const q = (request.query ?? {}) as Params;
  const body = request.body;
  if (body === null || typeof body !== 'object') return q;
  // A JSON body may carry the parameters too, each a string or a list of strings, as a form would.
  for (const [name, v] of Object.entries(body)) {
    if (typeof v !== 'string' && !(Array.isArray(v) && v.every((e) => typeof e === 'string'))) throw badParam(name, 'expected a string');
  }
  return { ...q, ...(body as Params) };
}
function one(p: Params, name: string): string | undefined {
  const v = p[name];
  return Array.isArray(v) ? v[v.length - 1] : v;
}
function many(p: Params, name: string): string[] {
  const v = p[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function matcherSets(p: Params, required: boolean): LabelMatcher[][] {
  const texts = many(p, 'match[]');
  if (required && texts.length === 0) throw new ApiError('bad_data', 'no match[] parameter provided');
  return texts.map((t) => {
    let e;
    try {
      e = parsePromql(t);
    } catch (err) {
      throw badParam('match[]', (err as Error & { rawMessage?: string }).rawMessage ?? (err as Error).message);
    }
    if (e.kind !== 'vector') throw badParam('match[]', `${JSON.stringify(t)} is not a series selector`);
    return [...e.matchers];
  });
}

const sec = (ms: number): number => ms / 1000;

export function valueToJson(v: Value, timeMs: number): { resultType: string; result: unknown } {
  switch (v.type) {
    case 'scalar':
      return { resultType: 'scalar', result: [sec(timeMs), formatFloat(v.value)] };
    case 'string':
      return { resultType: 'string', result: [sec(timeMs), v.value] };
    case 'vector':
      return { resultType: 'vector', result: v.samples.map((s) => ({ metric: s.labels, value: [sec(timeMs), formatFloat(s.value)] })) };
    case 'matrix':
      return { resultType: 'matrix', result: matrixJson(v.series) };
  }
}

function matrixJson(series: readonly Series[]): unknown[] {
  return series.map((s) => ({ metric: s.labels, values: s.timestamps.map((t, i) => [sec(t), formatFloat(s.values[i]!)]) }));
}

export function registerQueryRoutes(app: FastifyInstance, options: QueryRoutesOptions): void {
  const now = options.now ?? Date.now;
  let engine: PromqlEngine | undefined;
  let engineFor: SampleQuerier | undefined;
  const querier = (): SampleQuerier => {
    const q = typeof options.querier === 'function' ? options.querier() : options.querier;
    if (q === undefined) throw new ApiError('unavailable', 'the time-series store is not ready');
    return q;
  };
  const getEngine = (): PromqlEngine => {
    const q = querier();
    if (engine === undefined || engineFor !== q) {
      engine = createPromqlEngine({ querier: q, ...(options.lookbackDeltaMs !== undefined ? { lookbackDeltaMs: options.lookbackDeltaMs } : {}) });
      engineFor = q;
    }
    return engine;
  };

  const handle =
    (fn: (p: Params, request: FastifyRequest) => Promise<unknown>) =>
    async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      try {
        const data = await fn(params(request), request);
        await reply.send({ status: 'success', data });
      } catch (err) {
        let apiErr: ApiError;
        if (err instanceof ApiError) apiErr = err;
        else if (err instanceof PromqlSyntaxError) apiErr = new ApiError('bad_data', err.rawMessage);
        else if (err instanceof PromqlExecutionError) apiErr = new ApiError('execution', err.rawMessage);
        else if (err instanceof FlotillaError && err.httpStatus === 503) apiErr = new ApiError('unavailable', err.rawMessage);
        else {
          request.log.error({ err }, 'query API request failed');
          apiErr = new ApiError('internal', 'internal error (see the server log)');
        }
        await reply.status(statusOf[apiErr.errorType]).send({ status: 'error', errorType: apiErr.errorType, error: apiErr.message });
      }
    };

  const instant = handle(async (p) => {
    const query = one(p, 'query') ?? '';
    const t = one(p, 'time');
    const timeMs = t === undefined || t === '' ? now() : parseApiTime(t, 'time');
    const v = await getEngine().instantQuery(query, timeMs);
    return valueToJson(v, timeMs);
  });
  const range = handle(async (p) => {
    const query = one(p, 'query') ?? '';
    const [s, e, st] = [one(p, 'start'), one(p, 'end'), one(p, 'step')];
    if (s === undefined) throw badParam('start', 'cannot parse "" to a valid timestamp');
    if (e === undefined) throw badParam('end', 'cannot parse "" to a valid timestamp');
    if (st === undefined) throw badParam('step', 'cannot parse "" to a valid duration');
    const startMs = parseApiTime(s, 'start');
    const endMs = parseApiTime(e, 'end');
    const stepMs = parseApiDuration(st, 'step');
    if (endMs < startMs) throw badParam('end', 'end timestamp must not be before start time');
    if (stepMs <= 0) throw badParam('step', 'zero or negative query resolution step widths are not accepted. Try a positive integer');
    if ((endMs - startMs) / stepMs > 11_000) throw new ApiError('bad_data', 'exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)');
    return { resultType: 'matrix', result: matrixJson(await getEngine().rangeQuery(query, startMs, endMs, stepMs)) };
  });
  const window = (p: Params): [number, number] => {
    const e = one(p, 'end');
    const s = one(p, 'start');
    const endMs = e === undefined ? now() : parseApiTime(e, 'end');
    const startMs = s === undefined ? endMs - 3_600_000 : parseApiTime(s, 'start');
    if (endMs < startMs) throw badParam('end', 'end timestamp must not be before start time');
    return [startMs, endMs];
  };
  const series = handle(async (p) => {
    const sets = matcherSets(p, true);
    const [startMs, endMs] = window(p);
    const seen = new Map<string, unknown>();
    for (const m of sets) for (const s of await querier().select(m, startMs, endMs)) seen.set(JSON.stringify(Object.entries(s.labels).sort()), s.labels);
    return [...seen.values()];
  });
  const labels = handle(async (p) => {
    const sets = matcherSets(p, false);
    const names = new Set<string>();
    for (const m of sets.length > 0 ? sets : [undefined]) for (const n of await querier().labelNames(m)) names.add(n);
    return [...names].sort();
  });
  const labelValues = handle(async (p, request) => {
    const name = (request.params as { name: string }).name;
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) throw badParam('label', `invalid label name: ${JSON.stringify(name.slice(0, 100))}`);
    const sets = matcherSets(p, false);
    const values = new Set<string>();
    for (const m of sets.length > 0 ? sets : [undefined]) for (const v of await querier().labelValues(name, m)) values.add(v);
    return [...values].sort();
  });
  const rulesRoute = handle(async (p) => {
    const type = one(p, 'type');
    if (type !== undefined && type !== 'alert' && type !== 'record') throw badParam('type', 'not one of "alert" or "record"');
    const manager = options.rules?.();
    return { groups: (manager?.groups() ?? []).map((g) => ({
      name: g.spec.name,
      file: g.spec.file,
      interval: g.spec.intervalMs / 1000,
      limit: g.spec.limit,
      evaluationTime: g.evaluationSeconds,
      lastEvaluation: new Date(g.lastEvaluationMs).toISOString(),
      rules: g.rules
        .filter((r) => type === undefined || (type === 'alert') === (r.spec.kind === 'alerting'))
        .map((r) => {
          const common = { name: r.spec.name, query: r.spec.exprText, labels: r.spec.labels, health: r.health, lastError: r.lastError, evaluationTime: r.evaluationSeconds, lastEvaluation: new Date(r.lastEvaluationMs).toISOString() };
          if (r.spec.kind === 'recording') return { ...common, type: 'recording' };
          const state = r.alerting!;
          return {
            ...common,
            state: state.state,
            duration: r.spec.forMs / 1000,
            annotations: r.spec.annotations,
            alerts: [...state.active.values()].filter((a) => a.state !== 'inactive').map((a) => alertJson(a)),
            type: 'alerting',
          };
        }),
    })) };
  });
  const alerts = handle(async () => ({ alerts: (options.rules?.()?.alerts() ?? []).map(({ alert }) => alertJson(alert)) }));

  void app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1024 * 1024 }, (_req, body, done) => {
      done(null, parseQueryString(body as string));
    });
    for (const [path, h] of [['/api/v1/query', instant], ['/api/v1/query_range', range], ['/api/v1/series', series], ['/api/v1/labels', labels]] as const) {
      scope.get(path, h);
      scope.post(path, h);
    }
    scope.get('/api/v1/label/:name/values', labelValues);
    scope.get('/api/v1/rules', rulesRoute);
    scope.get('/api/v1/alerts', alerts);
  });
}

function alertJson(a: { labels: Record<string, string>; annotations: Record<string, string>; state: string; activeAtMs: number; value: number }): unknown {
  return { labels: a.labels, annotations: a.annotations, state: a.state, activeAt: new Date(a.activeAtMs).toISOString(), value: formatFloat(a.value) };
}
