/**
 * One task of one run: its attempts (try, host, start, end, exit code, outcome) and its log, tailed while
 * the run is active. New lines are fetched after the last line id when the task changes state (the flows
 * event feed) and every 3 s while the task is still unfinished; nothing is fetched once it has ended.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { flowsApi, stateTone, type AttemptRow, type LogRow } from '../flows-api.js';
import { errorText } from '../api.js';

const TAIL_MS = 3000;
const MAX_LINES = 5000;
const FINISHED = new Set(['success', 'failed', 'skipped', 'upstream_failed', 'shutdown', 'removed']);

function when(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toLocaleTimeString();
}

export function FlowTaskPanel(props: { runId: string; task: string; state: string; attempts: AttemptRow[]; onRerun: () => void; busy: boolean }) {
  const [lines, setLines] = useState<LogRow[]>([]);
  const [error, setError] = useState<string | undefined>();
  const lastId = useRef(0);
  const box = useRef<HTMLPreElement>(null);
  const active = !FINISHED.has(props.state);

  // A new run or task: start over.
  useEffect(() => {
    lastId.current = 0;
    setLines([]);
    setError(undefined);
  }, [props.runId, props.task]);

  useEffect(() => {
    let stopped = false;
    const fetchMore = async (): Promise<void> => {
      try {
        const r = await flowsApi.logs(props.runId, props.task, lastId.current);
        if (stopped || r.lines.length === 0) return;
        lastId.current = r.lines[r.lines.length - 1]!.id;
        setLines((old) => {
          const next = old.concat(r.lines);
          return next.length > MAX_LINES ? next.slice(next.length - MAX_LINES) : next;
        });
        setError(undefined);
      } catch (err) {
        if (!stopped) setError(errorText(err));
      }
    };
    void fetchMore();
    const timer = active ? setInterval(() => void fetchMore(), TAIL_MS) : undefined;
    return () => {
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
    };
    // props.state: a state change (from the live feed) fetches the lines written meanwhile.
  }, [props.runId, props.task, props.state, active]);

  // Keep the tail in view unless the reader scrolled up.
  useEffect(() => {
    const el = box.current;
    if (el !== null && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [lines]);

  const attempts = props.attempts.filter((a) => a.task_key === props.task);
  return (
    <div class="flow-task" data-testid="flow-task" data-task={props.task}>
      <div class="row flow-task-head">
        <h3>
          {props.task} <span class={`badge tone-${stateTone(props.state)}`}>{props.state}</span>
        </h3>
        <button type="button" class="ghost" disabled={props.busy || active} onClick={props.onRerun} title="clear this task and what follows it, and run them again">
          Re-run task
        </button>
      </div>
      {attempts.length === 0 ? (
        <p class="muted small">No attempt yet.</p>
      ) : (
        <div class="scroll">
          <table data-testid="flow-attempts">
            <thead>
              <tr>
                <th>Try</th>
                <th>Host</th>
                <th>Started</th>
                <th>Ended</th>
                <th class="num">Exit</th>
                <th>Outcome</th>
              </tr>
            </thead>
            <tbody>
              {attempts.map((a) => (
                <tr key={a.try_number}>
                  <td>{a.try_number}</td>
                  <td>{a.host || 'server'}</td>
                  <td class="nowrap">{when(a.started_ms)}</td>
                  <td class="nowrap">{when(a.ended_ms)}</td>
                  <td class="num">{a.exit_code ?? '-'}</td>
                  <td>
                    {a.outcome || 'running'}
                    {a.reason !== '' && <span class="muted small"> ({a.reason})</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h3 class="small muted">Log{active ? ' (live)' : ''}</h3>
      {error !== undefined && <p class="note bad">Cannot read the log: {error}</p>}
      <pre class="flow-log" ref={box} data-testid="flow-log">
        {lines.length === 0
          ? 'No output yet.'
          : lines.map((l) => (
              <span key={l.id} class={l.stream === 'stderr' ? 'flow-log-err' : ''}>
                {`[${l.try_number}] ${l.line}\n`}
              </span>
            ))}
      </pre>
    </div>
  );
}
