/**
 * The Overview's data counts (keys, objects and bytes, runs by state, task failures in 24 h) from
 * GET /api/v1/overview/counts, and the task failures for its recent events: the last ones of the past
 * 24 h from the same answer, then live from /api/v1/flows/events. The counts are read every 10 s, and
 * again (coalesced, at most once a second) after a run or task ends.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson, openStream, type StreamState } from '../api.js';
import { formatBytes } from '../format.js';
import type { TaskEvent } from '../flows-api.js';
import { Link } from '../router.js';
import { useLoad } from '../use-load.js';

export interface OverviewCounts {
  runs: {
    byState: Record<string, number>;
    failedTasks24h: number;
    recentFailures: { runId: string; flow: string; task: string; reason: string; at: string }[];
  } | null;
  keys: { count: number; truncated: boolean } | null;
  objects: { count: number; bytes: number; buckets: { bucket: string; objects: number; bytes: number }[]; truncated: boolean } | null;
  errors: { source: 'runs' | 'keys' | 'objects'; message: string }[];
  at: string;
}

/** A task failure for the recent events list (the same shape as the live feed's entries). */
export interface TaskFailureEvent {
  at: string;
  kind: 'task';
  name: string;
  text: string;
  tone: 'bad';
}

const REFRESH_MS = 10_000;
const COALESCE_MS = 1000;
const MAX_FAILURES = 50;
const TASK_ENDED = new Set(['success', 'failed', 'upstream_failed', 'skipped']);

function failureText(flow: string, task: string, runId: string, reason: string): string {
  return `task ${flow}/${task} failed (run ${runId})${reason !== '' ? `: ${reason}` : ''}`;
}

export function useOverviewCounts(): { counts?: OverviewCounts; error?: string; failures: TaskFailureEvent[]; stream: StreamState; streamError?: string } {
  const loaded = useLoad((signal) => getJson<OverviewCounts>('/api/v1/overview/counts', signal), [], { refreshMs: REFRESH_MS, coalesceMs: COALESCE_MS });
  const counts = loaded.data;
  const error = loaded.error;
  const [live, setLive] = useState<TaskFailureEvent[]>([]);
  const [stream, setStream] = useState<{ state: StreamState; error?: string }>({ state: 'connecting' });
  const soon = useRef(loaded.reloadSoon);
  soon.current = loaded.reloadSoon;

  useEffect(() => {
    const ctl = new AbortController();
    openStream(
      '/api/v1/flows/events',
      {
        onEvent(event, data) {
          if (event === 'task') {
            const e = data as TaskEvent;
            if (e.state === 'failed') {
              const item: TaskFailureEvent = { at: new Date(e.timeMs).toISOString(), kind: 'task', name: `${e.flow}/${e.task}`, text: failureText(e.flow, e.task, e.runId, e.reason), tone: 'bad' };
              setLive((l) => [item, ...l].slice(0, MAX_FAILURES));
            }
            if (TASK_ENDED.has(e.state)) soon.current();
          } else if (event === 'run') soon.current(); // a run created, started or ended: its state counts changed
        },
        onState(state, err) {
          setStream({ state, ...(err !== undefined ? { error: err } : {}) });
        },
      },
      ctl.signal,
    );
    return () => ctl.abort();
  }, []);

  // The stored failures and the live ones, without duplicates (same text and time).
  const stored: TaskFailureEvent[] = (counts?.runs?.recentFailures ?? []).map((f) => ({ at: f.at, kind: 'task', name: `${f.flow}/${f.task}`, text: failureText(f.flow, f.task, f.runId, f.reason), tone: 'bad' }));
  const seen = new Set<string>();
  const failures = [...live, ...stored].filter((f) => {
    const k = `${f.at}|${f.text}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return { ...(counts !== undefined ? { counts } : {}), ...(error !== undefined ? { error } : {}), failures, stream: stream.state, ...(stream.error !== undefined ? { streamError: stream.error } : {}) };
}

/** One number of a card, with its label. */
export function Count(props: { label: string; value: number | string; tone?: string; testid?: string; title?: string }) {
  return (
    <div class={`count ${props.tone ?? ''}`} data-testid={props.testid} title={props.title}>
      <span class="count-value">{props.value}</span>
      <span class="count-label">{props.label}</span>
    </div>
  );
}

function sourceError(c: OverviewCounts | undefined, source: 'runs' | 'keys' | 'objects', fetchError: string | undefined) {
  const e = c?.errors.find((x) => x.source === source)?.message ?? (c === undefined ? fetchError : undefined);
  return e === undefined ? null : (
    <p class="muted small" data-testid={`${source}-error`}>
      {e}
    </p>
  );
}

const RUN_STATES = [
  { state: 'queued', tone: '' },
  { state: 'running', tone: '' },
  { state: 'success', tone: 'good' },
  { state: 'failed', tone: 'bad' },
  { state: 'cancelled', tone: '' },
] as const;

/** The three cards: key-value, objects, workflow runs. */
export function OverviewCountCards(props: { counts?: OverviewCounts; error?: string }) {
  const c = props.counts;
  const loading = c === undefined ? (props.error === undefined ? 'loading…' : '–') : '–';
  const more = (truncated: boolean | undefined): string => (truncated === true ? '+' : '');
  return (
    <>
      <section class="card">
        <h2>
          <Link href="/kv">Key-value</Link>
        </h2>
        <div class="counts">
          <Count label="keys" value={c?.keys != null ? `${c.keys.count}${more(c.keys.truncated)}` : loading} testid="count-keys" title="live keys (tombstones and expired values not counted)" />
        </div>
        {sourceError(c, 'keys', props.error)}
      </section>
      <section class="card">
        <h2>
          <Link href="/objects">Objects</Link>
        </h2>
        <div class="counts">
          <Count label="objects" value={c?.objects != null ? `${c.objects.count}${more(c.objects.truncated)}` : loading} testid="count-objects" />
          <Count label="stored" value={c?.objects != null ? formatBytes(c.objects.bytes) : loading} testid="count-bytes" title={c?.objects != null ? `${c.objects.bytes} bytes (one copy of each object)` : undefined} />
          <Count label="buckets" value={c?.objects != null ? c.objects.buckets.length : loading} />
        </div>
        {sourceError(c, 'objects', props.error)}
      </section>
      <section class="card">
        <h2>
          <Link href="/flows">Workflow runs</Link>
        </h2>
        <div class="counts" data-testid="runs-by-state">
          {RUN_STATES.map((s) => {
            const n = c?.runs?.byState[s.state] ?? 0;
            return <Count key={s.state} label={s.state} value={c?.runs != null ? n : loading} tone={n > 0 ? s.tone : ''} testid={`count-runs-${s.state}`} />;
          })}
          <Count label="tasks failed (24 h)" value={c?.runs != null ? c.runs.failedTasks24h : loading} tone={(c?.runs?.failedTasks24h ?? 0) > 0 ? 'bad' : ''} testid="count-failed-tasks" />
        </div>
        {sourceError(c, 'runs', props.error)}
      </section>
    </>
  );
}
