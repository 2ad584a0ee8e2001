/**
 * History of one series over a chosen range (last 5 m, 1 h, 6 h, 24 h) read through the Prometheus
 * API's /api/v1/query_range with about 300 steps, drawn with the same chart as the live view and read
 * again every 10 s (or every step, when longer) so the window slides.
 */
import { useEffect, useState } from 'preact/hooks';
import { errorText, getJson } from '../api.js';
import { LiveChart } from './live-chart.js';
import type { SeriesHistory } from '../live.js';

export const RANGES = [
  { id: 'live', label: 'Live', seconds: 0 },
  { id: '5m', label: '5 m', seconds: 300 },
  { id: '1h', label: '1 h', seconds: 3600 },
  { id: '6h', label: '6 h', seconds: 21_600 },
  { id: '24h', label: '24 h', seconds: 86_400 },
] as const;
export type RangeId = (typeof RANGES)[number]['id'];

interface RangeAnswer {
  status: string;
  data?: { resultType: string; result: { metric: Record<string, string>; values: [number, string][] }[] };
  error?: string;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** The PromQL selector of one agent series: its name and labels plus `host`. */
export function seriesSelector(metric: string, labels: Record<string, string>, host: string): string {
  const all = Object.entries({ ...labels, host }).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const parts = all.map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return `${metric}{${parts.join(',')}}`;
}

export function RangeButtons(props: { value: RangeId; onChange: (r: RangeId) => void }) {
  return (
    <div class="row metric-ranges" role="group" aria-label="time range" data-testid="ranges">
      {RANGES.map((r) => (
        <button key={r.id} type="button" class={r.id === props.value ? '' : 'ghost'} aria-pressed={r.id === props.value} data-range={r.id} onClick={() => props.onChange(r.id)}>
          {r.label}
        </button>
      ))}
    </div>
  );
}

export function MetricRangeChart(props: { selector: string; label: string; range: Exclude<RangeId, 'live'> }) {
  const seconds = RANGES.find((r) => r.id === props.range)!.seconds;
  const step = Math.max(1, Math.round(seconds / 300));
  const [data, setData] = useState<SeriesHistory | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [tick, setTick] = useState(0);

  useEffect(() => {
    setData(undefined);
    let stopped = false;
    const load = (): void => {
      const end = Date.now() / 1000;
      const q = new URLSearchParams({ query: props.selector, start: (end - seconds).toFixed(3), end: end.toFixed(3), step: String(step) });
      getJson<RangeAnswer>(`/api/v1/query_range?${q.toString()}`).then(
        (r) => {
          if (stopped) return;
          const values = r.data?.result[0]?.values ?? [];
          setData({ times: values.map((v) => v[0]), values: values.map((v) => Number(v[1])) });
          setError(undefined);
          setTick((n) => n + 1);
        },
        (err: unknown) => {
          if (!stopped) setError(errorText(err));
        },
      );
    };
    load();
    const timer = setInterval(load, Math.max(10_000, step * 1000));
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [props.selector, props.range]);

  if (error !== undefined) return <p class="note bad">Cannot read the history: {error}</p>;
  if (data === undefined) return <p class="muted">Reading the history…</p>;
  return (
    <>
      <LiveChart key={`${props.selector}|${props.range}`} label={props.label} data={data} tick={tick} />
      <p class="muted small" data-testid="range-note">
        {data.times.length === 0 ? 'No samples stored in this range.' : `${data.times.length} points, one every ${step} s, from the time-series store.`}
      </p>
    </>
  );
}
