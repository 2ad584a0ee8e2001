/**
 * The counts of the dashboard's Overview page, gathered by the server:
 *
 *   GET /api/v1/overview/counts  ->
 *     { runs: { byState: { queued, running, success, failed, cancelled }, failedTasks24h,
 *               recentFailures: [{ runId, flow, task, reason, at }] (the newest 20 of the last 24 h) } | null,
 *       keys: { count, truncated } | null,
 *       objects: { count, bytes, buckets: [{ bucket, objects, bytes }], truncated } | null,
 *       errors: [{ source: 'runs' | 'keys' | 'objects', message }], at }
 *
 * Runs come from the server's flow store (one grouped query). Keys and objects are read from a live node
 * with the role (`kv`, `objects`), whose coordinator merges the replicas: the keys by paging
 * `/api/v1/kv/scan` (live keys only: tombstones and expired values are not listed), the objects by paging
 * each bucket's listing. Both stop at MAX_ITEMS (then `truncated: true` and the count is a lower bound).
 * A source that fails (no live node, every node refusing, the flow store not started) is `null` with an
 * `errors` entry: the route itself answers 200 with what it could gather. Requests within 3 s of the last
 * gathering share its answer (`at` says when it was gathered).
 */
import type { FastifyInstance } from 'fastify';
import { dialableAddress, parseHostPort } from '../core/address.js';
import { FlotillaError } from '../core/errors.js';
import type { MembershipView } from '../cluster/index.js';
import type { FlowService } from '../flows/index.js';
import { clusterFetch, clusterScheme } from '../core/tls.js';

export interface OverviewRoutesOptions {
  view: () => MembershipView | undefined;
  flows: FlowService;
  /** Deadline of one request to a node. Default 5000 ms. */
  nodeTimeoutMs?: number;
}

/** Keys or objects counted at most (a bounded amount of work per request). */
export const MAX_ITEMS = 20_000;
const PAGE = 1000;
const DAY_MS = 24 * 3_600_000;
/** An answer is reused for this long (see the route). */
const CACHE_MS = 3000;

type Source = 'runs' | 'keys' | 'objects';

interface KeysCount {
  count: number;
  truncated: boolean;
}
interface ObjectsCount {
  count: number;
  bytes: number;
  buckets: { bucket: string; objects: number; bytes: number }[];
  truncated: boolean;
}

function message(err: unknown): string {
  return FlotillaError.from(err).message;
}

export function registerOverviewRoutes(app: FastifyInstance, options: OverviewRoutesOptions): void {
  const timeoutMs = options.nodeTimeoutMs ?? 5000;

  /** The HTTP base URLs of the ACTIVE registered nodes with `role`. */
  function nodes(role: string): { name: string; base: string }[] {
    const out: { name: string; base: string }[] = [];
    for (const m of options.view()?.members() ?? []) {
      if (m.status !== 'ACTIVE' || !m.registered || !m.record.roles.includes(role) || m.record.httpAddress === '') continue;
      const p = parseHostPort(dialableAddress(m.record.httpAddress));
      if (p.error !== undefined) continue;
      out.push({ name: m.record.name, base: `${clusterScheme()}://${p.host.includes(':') ? `[${p.host}]` : p.host}:${p.port}` });
    }
    return out;
  }

  async function getJson<T>(url: string, auth: string | undefined): Promise<T> {
    const res = await clusterFetch(url, { signal: AbortSignal.timeout(timeoutMs), ...(auth !== undefined ? { headers: { authorization: auth } } : {}) });
    const text = await res.text();
    if (!res.ok) {
      let detail = text.slice(0, 200);
      try {
        detail = (JSON.parse(text) as { detail?: string }).detail ?? detail;
      } catch {
        // not JSON: keep the text
      }
      throw new Error(`${res.status} ${detail}`);
    }
    return JSON.parse(text) as T;
  }

  /** Runs `count` against each live node with `role` in turn until one answers. */
  async function fromNodes<T>(role: string, count: (base: string) => Promise<T>): Promise<T> {
    const live = nodes(role);
    if (live.length === 0) throw new Error(`no live node with the ${role} role`);
    const failures: string[] = [];
    for (const n of live) {
      try {
        return await count(n.base);
      } catch (err) {
        failures.push(`${n.name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    throw new Error(failures.join('; '));
  }

  async function countKeys(auth: string | undefined): Promise<KeysCount> {
    return fromNodes('kv', async (base) => {
      let count = 0;
      let token: string | null = null;
      do {
        const q = new URLSearchParams({ prefix: '', limit: String(PAGE), encoding: 'base64' });
        if (token !== null) q.set('pageToken', token);
        const page = await getJson<{ entries: unknown[]; nextPageToken: string | null }>(`${base}/api/v1/kv/scan?${q.toString()}`, auth);
        count += page.entries.length;
        token = page.nextPageToken;
      } while (token !== null && count < MAX_ITEMS);
      return { count, truncated: token !== null };
    });
  }

  async function countObjects(auth: string | undefined): Promise<ObjectsCount> {
    return fromNodes('objects', async (base) => {
      const { buckets } = await getJson<{ buckets: { name: string }[] }>(`${base}/api/v1/objects/buckets`, auth);
      const out: ObjectsCount = { count: 0, bytes: 0, buckets: [], truncated: false };
      for (const b of buckets) {
        const row = { bucket: b.name, objects: 0, bytes: 0 };
        let after: string | undefined;
        do {
          if (out.count >= MAX_ITEMS) {
            out.truncated = true;
            break;
          }
          const q = new URLSearchParams({ limit: String(PAGE) });
          if (after !== undefined) q.set('after', after);
          const page = await getJson<{ objects: { size: number }[]; nextAfter?: string }>(`${base}/api/v1/objects/buckets/${encodeURIComponent(b.name)}/objects?${q.toString()}`, auth);
          for (const o of page.objects) {
            row.objects++;
            row.bytes += o.size;
          }
          out.count += page.objects.length;
          out.bytes += page.objects.reduce((s, o) => s + o.size, 0);
          after = page.nextAfter;
        } while (after !== undefined);
        out.buckets.push(row);
      }
      return out;
    });
  }

  async function gather(auth: string | undefined): Promise<Record<string, unknown>> {
    const errors: { source: Source; message: string }[] = [];
    const settle = async <T>(source: Source, p: () => Promise<T>): Promise<T | null> => {
      try {
        return await p();
      } catch (err) {
        errors.push({ source, message: message(err) });
        return null;
      }
    };
    const [runs, keys, objects] = await Promise.all([
      settle('runs', async () => {
        const c = await options.flows.store.overviewCounts(Date.now() - DAY_MS);
        return {
          byState: c.runsByState,
          failedTasks24h: c.failedTasks,
          recentFailures: c.recentFailures.map((e) => ({ runId: e.run_id, flow: e.flow_key, task: e.task_key, reason: e.reason, at: new Date(Number(e.time_ms)).toISOString() })),
        };
      }),
      settle('keys', () => countKeys(auth)),
      settle('objects', () => countObjects(auth)),
    ]);
    return { runs, keys, objects, errors, at: new Date().toISOString() };
  }

  // Requests within CACHE_MS of the last gathering (or while one is running) share its answer: every open
  // dashboard reads the counts every 10 s, and each gathering pages through the keys and objects.
  let last: { startedMs: number; answer: Promise<Record<string, unknown>> } | undefined;
  app.get('/api/v1/overview/counts', async (req) => {
    const now = Date.now();
    if (last === undefined || now - last.startedMs >= CACHE_MS) last = { startedMs: now, answer: gather(req.headers.authorization) };
    return last.answer;
  });
}
