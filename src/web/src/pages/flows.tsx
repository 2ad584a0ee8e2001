/**
 * Workflows: every flow (paused or not), the DAG of one run drawn with each task coloured by its state
 * and updated live from /api/v1/flows/events, the runs history, one task's attempts and log tail, and the
 * actions: trigger a run, pause / resume the flow, cancel or re-run a run, re-run one task.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText, openStream, type StreamState } from '../api.js';
import { flowsApi, stateTone, type FlowRow, type TaskEvent } from '../flows-api.js';
import { formatAgo } from '../format.js';
import { FlowDag, type DagNodeState } from '../components/flow-dag.js';
import { FlowTaskPanel } from '../components/flow-task-panel.js';
import { StreamNote } from '../components/stream-note.js';
import { useLoad } from '../use-load.js';

/** Task states per run, as the live feed told them (kept for the runs of the flow shown). */
type RunStates = Map<string, DagNodeState & { timeMs: number }>;
const MAX_RUNS_TRACKED = 50;

function applyState(states: RunStates, task: string, state: string, timeMs: number): boolean {
  const cur = states.get(task);
  if (cur !== undefined && cur.timeMs > timeMs) return false;
  if (cur !== undefined && cur.state === state) return false;
  const history = cur?.history ?? [];
  states.set(task, { state, timeMs, history: history[history.length - 1] === state ? history : [...history, state].slice(-20) });
  return true;
}

function duration(startMs: number | null, endMs: number | null): string {
  if (startMs === null) return '-';
  const s = Math.max(0, Math.round(((endMs ?? Date.now()) - startMs) / 1000));
  return s < 120 ? `${s}s` : `${Math.round(s / 60)}m`;
}

/** A run id without its flow's prefix (ids are FLOW-LOGICALTIME-RANDOM). */
function shortRun(id: string, flow: string): string {
  return id.startsWith(`${flow}-`) ? id.slice(flow.length + 1) : id;
}

function readQuery(): { flow: string; run: string } {
  const q = new URLSearchParams(location.search);
  return { flow: q.get('flow') ?? '', run: q.get('run') ?? '' };
}

function writeQuery(flow: string, run: string): void {
  const q = new URLSearchParams();
  if (flow !== '') q.set('flow', flow);
  if (run !== '') q.set('run', run);
  const search = q.toString();
  history.replaceState(null, '', `${location.pathname}${search === '' ? '' : `?${search}`}`);
}

function FlowList(props: { flows: FlowRow[]; selected: string; onSelect: (key: string) => void }) {
  return (
    <div class="scroll">
      <table data-testid="flows">
        <thead>
          <tr>
            <th>Flow</th>
            <th>Version</th>
            <th>State</th>
            <th>Updated</th>
          </tr>
        </thead>
        <tbody>
          {props.flows.map((f) => (
            <tr key={f.key} data-flow={f.key} class={f.key === props.selected ? 'selected' : ''}>
              <th scope="row">
                <button type="button" class="link" onClick={() => props.onSelect(f.key)}>
                  {f.key}
                </button>
              </th>
              <td class="mono small">{f.version}</td>
              <td>{f.paused !== 0 ? <span class="badge bad">paused</span> : <span class="badge good">active</span>}</td>
              <td class="small nowrap">{formatAgo(f.updated_ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function FlowsPage() {
  const initial = useRef(readQuery());
  const [flows, setFlows] = useState<FlowRow[] | undefined>();
  const [leader, setLeader] = useState<string | null>(null);
  const [listError, setListError] = useState<string | undefined>();
  const [flowKey, setFlowKey] = useState(initial.current.flow);
  const [runId, setRunId] = useState(initial.current.run);
  /** True once the user picked a run: the page then stops following the newest one. */
  const pinned = useRef(initial.current.run !== '');
  const [task, setTask] = useState('');
  const [stream, setStream] = useState<{ state: StreamState; error?: string | undefined }>({ state: 'connecting' });
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ text: string; bad: boolean } | undefined>();
  const states = useRef(new Map<string, RunStates>());
  const [, setTick] = useState(0);

  const key = flows?.some((f) => f.key === flowKey) === true ? flowKey : (flows?.[0]?.key ?? '');
  // The chosen flow's tasks, edges and runs.
  const detailLoad = useLoad(key === '' ? undefined : () => flowsApi.get(key), [key], { clearOnChange: true });
  const detail = detailLoad.data;
  const shownRun = detail !== undefined && detail.runs.some((r) => r.id === runId) ? runId : pinned.current ? runId : (detail?.runs[0]?.id ?? '');

  useEffect(() => writeQuery(key, pinned.current ? shownRun : ''), [key, shownRun]);

  // The flow list: on load and after each action (pause, resume, trigger).
  const loadFlows = (): void => {
    flowsApi.list().then(
      (r) => {
        setFlows(r.flows);
        setLeader(r.leader);
        setListError(undefined);
      },
      (err: unknown) => setListError(errorText(err)),
    );
  };
  useEffect(loadFlows, []);

  // The shown run's task instances and attempts; its states seed the DAG where the feed said nothing newer.
  const runLoad = useLoad(
    shownRun === ''
      ? undefined
      : async () => {
          const r = await flowsApi.run(shownRun);
          let runStates = states.current.get(r.run.id);
          if (runStates === undefined) states.current.set(r.run.id, (runStates = new Map<string, DagNodeState & { timeMs: number }>()));
          for (const t of r.tasks) applyState(runStates, t.task_key, t.state, t.updated_ms);
          return r;
        },
    [shownRun],
    { clearOnChange: true },
  );
  const run = runLoad.data;
  const loadError = detailLoad.error ?? runLoad.error;
  useEffect(() => {
    if (loadError !== undefined) setMessage({ text: loadError, bad: true });
  }, [loadError]);
  // Coalesced: a burst of run events costs one request of each.
  const refresh = useRef({ detail: detailLoad.reloadSoon, run: runLoad.reloadSoon });
  refresh.current = { detail: detailLoad.reloadSoon, run: runLoad.reloadSoon };

  // Live: every task and run state change of the chosen flow.
  useEffect(() => {
    if (key === '') return undefined;
    const ctl = new AbortController();
    openStream(
      `/api/v1/flows/events?flow=${encodeURIComponent(key)}`,
      {
        onEvent(event, data) {
          if (event === 'task') {
            const e = data as TaskEvent;
            let runStates = states.current.get(e.runId);
            if (runStates === undefined) {
              states.current.set(e.runId, (runStates = new Map<string, DagNodeState & { timeMs: number }>()));
              if (states.current.size > MAX_RUNS_TRACKED) states.current.delete(states.current.keys().next().value!);
            }
            if (applyState(runStates, e.task, e.state, e.timeMs)) setTick((n) => n + 1);
            refresh.current.run();
          } else if (event === 'run') {
            refresh.current.detail();
            refresh.current.run();
          }
        },
        onState(state, error) {
          setStream({ state, error });
          // Whatever happened while the feed was down is read again.
          if (state === 'open') {
            refresh.current.detail();
            refresh.current.run();
          }
        },
      },
      ctl.signal,
    );
    return () => ctl.abort();
  }, [key]);

  const act = (what: string, fn: () => Promise<unknown>, after?: (r: unknown) => void): void => {
    setBusy(true);
    setMessage(undefined);
    fn().then(
      (r) => {
        setMessage({ text: what, bad: false });
        after?.(r);
        refresh.current.detail();
        refresh.current.run();
        loadFlows();
      },
      (err: unknown) => setMessage({ text: `${what} failed: ${errorText(err)}`, bad: true }),
    ).finally(() => setBusy(false));
  };

  const flow = detail?.flow;
  const runRow = run?.run;
  const runActive = runRow !== undefined && (runRow.state === 'queued' || runRow.state === 'running');
  const dagStates = states.current.get(shownRun) ?? new Map<string, DagNodeState>();
  const taskKeys = detail?.tasks.map((t) => t.key) ?? [];
  const chosenTask = taskKeys.includes(task) ? task : '';

  return (
    <div class="page">
      <h1>Workflows</h1>
      <StreamNote state={stream.state} error={stream.error} what="workflow events" />
      {listError !== undefined && <p class="note bad">Cannot list the workflows: {listError}</p>}
      <section class="card">
        <h2>Flows</h2>
        {flows === undefined ? (
          <p class="muted">Loading…</p>
        ) : flows.length === 0 ? (
          <p class="muted" data-testid="flows">
            No workflow yet. Submit one with <code>flotilla flow submit FILE.yaml</code>.
          </p>
        ) : (
          <FlowList
            flows={flows}
            selected={key}
            onSelect={(k) => {
              setFlowKey(k);
              pinned.current = false;
              setRunId('');
              setTask('');
            }}
          />
        )}
        {leader !== null && <p class="muted small">Scheduler: {leader}</p>}
      </section>
      {flow !== undefined && (
        <section class="card" data-testid="flow-detail" data-flow={flow.key} data-stream={stream.state}>
          <div class="row flow-head">
            <h2>
              {flow.key} {flow.paused !== 0 && <span class="badge bad">paused</span>}
            </h2>
            <div class="row flow-actions">
              <button
                type="button"
                data-testid="flow-trigger"
                disabled={busy}
                onClick={() =>
                  act('run started', () => flowsApi.trigger(flow.key), (r) => {
                    const id = (r as { id?: string } | null)?.id;
                    if (id !== undefined) {
                      pinned.current = false;
                      setRunId(id);
                    }
                  })
                }
              >
                Trigger run
              </button>
              <button type="button" class="ghost" data-testid="flow-pause" disabled={busy} onClick={() => act(flow.paused !== 0 ? 'resumed' : 'paused', () => flowsApi.pause(flow.key, flow.paused === 0))}>
                {flow.paused !== 0 ? 'Resume' : 'Pause'}
              </button>
            </div>
          </div>
          {message !== undefined && (
            <p class={`note ${message.bad ? 'bad' : ''}`} role="status" data-testid="flow-message">
              {message.text}
            </p>
          )}
          {runRow !== undefined ? (
            <div class="row flow-run-head">
              <span>
                Run <code title={runRow.id}>{shortRun(runRow.id, runRow.flow_key)}</code> <span class={`badge tone-${stateTone(runRow.state)}`} data-testid="run-state">{runRow.state}</span>{' '}
                <span class="muted small">
                  {runRow.trigger}, {duration(runRow.started_ms, runRow.ended_ms)}
                  {runRow.reason !== '' ? ` (${runRow.reason})` : ''}
                </span>
              </span>
              <span class="row">
                <button type="button" class="ghost" data-testid="run-cancel" disabled={busy || !runActive} onClick={() => act('run cancelled', () => flowsApi.cancel(runRow.id))}>
                  Cancel
                </button>
                <button type="button" class="ghost" data-testid="run-rerun" disabled={busy || runActive} onClick={() => act('run restarted', () => flowsApi.rerun(runRow.id))}>
                  Re-run
                </button>
              </span>
            </div>
          ) : (
            <p class="muted small">No run yet: the graph shows the tasks.</p>
          )}
          <FlowDag tasks={taskKeys} edges={detail?.edges ?? []} states={dagStates} selected={chosenTask} onSelect={setTask} />
          <p class="muted small flow-legend">
            {['none', 'wait', 'run', 'good', 'bad', 'skip'].map((t) => (
              <span key={t} class={`badge tone-${t}`}>
                {{ none: 'not started', wait: 'scheduled / queued', run: 'running', good: 'success', bad: 'failed', skip: 'skipped' }[t]}
              </span>
            ))}
          </p>
          {chosenTask !== '' && runRow !== undefined && (
            <FlowTaskPanel
              runId={runRow.id}
              task={chosenTask}
              state={dagStates.get(chosenTask)?.state ?? 'none'}
              attempts={run?.attempts ?? []}
              busy={busy}
              onRerun={() => act(`task ${chosenTask} restarted`, () => flowsApi.rerun(runRow.id, chosenTask))}
            />
          )}
          {chosenTask === '' && runRow !== undefined && <p class="muted small">Click a task for its attempts and log.</p>}
        </section>
      )}
      {detail !== undefined && (
        <section class="card">
          <h2>Runs</h2>
          {detail.runs.length === 0 ? (
            <p class="muted">No run yet.</p>
          ) : (
            <div class="scroll">
              <table data-testid="flow-runs">
                <thead>
                  <tr>
                    <th>Run</th>
                    <th>State</th>
                    <th>Trigger</th>
                    <th>Logical time</th>
                    <th>Duration</th>
                  </tr>
                </thead>
                <tbody>
                  {detail.runs.map((r) => (
                    <tr key={r.id} data-run={r.id} class={r.id === shownRun ? 'selected' : ''}>
                      <td>
                        <button
                          type="button"
                          class="link mono"
                          onClick={() => {
                            pinned.current = true;
                            setRunId(r.id);
                          }}
                        >
                          {shortRun(r.id, r.flow_key)}
                        </button>
                      </td>
                      <td>
                        <span class={`badge tone-${stateTone(r.state)}`}>{r.state}</span>
                      </td>
                      <td>{r.trigger}</td>
                      <td class="small nowrap">{new Date(r.logical_ms).toLocaleString()}</td>
                      <td>{duration(r.started_ms, r.ended_ms)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
      )}
    </div>
  );
}
