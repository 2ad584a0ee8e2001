/**
 * Metrics: the agents and their latest samples, a chart of one series of one host (live: points arrive
 * over the agents' event feed; or a range of its history read through /api/v1/query_range), the agent's
 * config editor (/monitor/config/<host>), and the command form (set_interval, enable/disable a metric)
 * with the ack.
 */
import { useState } from 'preact/hooks';
import { postJson } from '../api.js';
import { formatAgo, formatValue } from '../format.js';
import { seriesHistory, seriesKey, seriesKeys, useLive } from '../live.js';
import { LiveChart } from '../components/live-chart.js';
import { StreamNote } from '../components/stream-note.js';
import { MetricRangeChart, RangeButtons, seriesSelector, type RangeId } from '../components/metric-range.js';
import { MetricConfigEditor } from '../components/metric-config-editor.js';
import type { Agent, CommandAck } from '../types.js';

const PREFERRED = ['node_cpu_usage_percent{mode="total"}', 'node_load1', 'node_memory_used_bytes'];
const ACTIONS = ['set_interval', 'enable_metric', 'disable_metric', 'get_config', 'ping'] as const;
type Action = (typeof ACTIONS)[number];

function AgentsTable(props: { agents: Agent[]; selected: string; onSelect: (host: string) => void }) {
  return (
    <div class="scroll">
      <table data-testid="agents">
        <thead>
          <tr>
            <th>Host</th>
            <th>Heartbeat</th>
            <th>Stream</th>
            <th>Interval</th>
            <th>Metrics</th>
            <th>Samples</th>
            <th>Series</th>
            <th>Last seen</th>
          </tr>
        </thead>
        <tbody>
          {props.agents.map((a) => (
            <tr key={a.hostname} data-host={a.hostname} class={a.hostname === props.selected ? 'selected' : ''}>
              <th scope="row">
                <button type="button" class="link" onClick={() => props.onSelect(a.hostname)}>
                  {a.hostname}
                </button>
              </th>
              <td>
                <span class={`badge ${a.alive ? 'good' : 'bad'}`}>{a.alive ? 'alive' : 'dead'}</span>
              </td>
              <td>{a.connected ? 'connected' : 'disconnected'}</td>
              <td data-testid="interval">{a.config !== null ? `${a.config.interval}s` : '-'}</td>
              <td class="small">{a.config?.metrics.join(', ') ?? '-'}</td>
              <td>{a.samplesReceived}</td>
              <td>{a.series}</td>
              <td>{formatAgo(a.lastSeenMs)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function CommandForm(props: { hosts: string[]; host: string }) {
  const [host, setHost] = useState(props.host);
  const [action, setAction] = useState<Action>('set_interval');
  const [interval, setIntervalText] = useState('5');
  const [metric, setMetric] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ack?: CommandAck; error?: string } | undefined>();
  const target = props.hosts.includes(host) ? host : props.host;

  const payload = (): Record<string, unknown> | string => {
    if (action === 'set_interval') {
      const n = Number(interval);
      return Number.isFinite(n) && n > 0 ? { interval: n } : 'the interval must be a positive number of seconds';
    }
    if (action === 'enable_metric' || action === 'disable_metric') return metric.trim() !== '' ? { metric: metric.trim() } : 'name a metric or a group (cpu, memory, disk, network, filesystem)';
    return {};
  };

  return (
    <form
      class="command"
      data-testid="command-form"
      onSubmit={(e) => {
        e.preventDefault();
        const p = payload();
        if (typeof p === 'string') {
          setResult({ error: p });
          return;
        }
        setBusy(true);
        setResult(undefined);
        postJson<CommandAck>(`/api/v1/agents/${encodeURIComponent(target)}/commands`, { action, payload: p }).then(
          (ack) => setResult({ ack }),
          (err: unknown) => setResult({ error: err instanceof Error ? err.message : String(err) }),
        ).finally(() => setBusy(false));
      }}
    >
      <div class="fields">
        <label>
          Host
          <select value={target} onChange={(e) => setHost(e.currentTarget.value)} name="host">
            {props.hosts.map((h) => (
              <option key={h} value={h}>
                {h}
              </option>
            ))}
          </select>
        </label>
        <label>
          Action
          <select value={action} onChange={(e) => setAction(e.currentTarget.value as Action)} name="action">
            {ACTIONS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        {action === 'set_interval' && (
          <label>
            Interval (s)
            <input type="number" min="0.1" step="any" value={interval} onInput={(e) => setIntervalText(e.currentTarget.value)} name="interval" required />
          </label>
        )}
        {(action === 'enable_metric' || action === 'disable_metric') && (
          <label>
            Metric or group
            <input type="text" value={metric} onInput={(e) => setMetric(e.currentTarget.value)} name="metric" placeholder="cpu" required />
          </label>
        )}
        <button type="submit" disabled={busy || target === ''}>
          {busy ? 'Sending…' : 'Send'}
        </button>
      </div>
      {result !== undefined && (
        <div class={`ack ${result.ack?.ok === true ? 'good' : 'bad'}`} data-testid="ack" role="status">
          {result.error !== undefined ? (
            <span>Failed: {result.error}</span>
          ) : (
            <>
              <strong>{result.ack!.ok ? 'ack ok' : 'refused'}</strong> (command {result.ack!.id}){result.ack!.message !== '' ? `: ${result.ack!.message}` : ''}
              {result.ack!.result !== undefined && <pre>{JSON.stringify(result.ack!.result, null, 2)}</pre>}
            </>
          )}
        </div>
      )}
    </form>
  );
}

export function MetricsPage() {
  const live = useLive({ agents: true });
  const agents = [...live.agents.values()].sort((a, b) => a.hostname.localeCompare(b.hostname));
  const hosts = agents.map((a) => a.hostname);
  const [chosenHost, setHost] = useState('');
  const [chosenSeries, setSeries] = useState('');
  const [filter, setFilter] = useState('');
  const [range, setRange] = useState<RangeId>('live');
  const host = hosts.includes(chosenHost) ? chosenHost : (hosts[0] ?? '');
  const keys = host === '' ? [] : seriesKeys(host);
  const series = keys.includes(chosenSeries) ? chosenSeries : (PREFERRED.find((k) => keys.includes(k)) ?? keys[0] ?? '');
  const latest = (live.agents.get(host)?.lastMetrics ?? [])
    .map((m) => ({ key: seriesKey(m.metric, m.labels), m }))
    .filter((x) => filter === '' || x.key.includes(filter))
    .sort((a, b) => a.key.localeCompare(b.key));
  const seriesSample = (live.agents.get(host)?.lastMetrics ?? []).find((m) => seriesKey(m.metric, m.labels) === series);

  return (
    <div class="page">
      <h1>Metrics</h1>
      <StreamNote state={live.agentsStream} error={live.agentsError} what="agents" />
      <section class="card">
        <h2>Agents</h2>
        {agents.length === 0 ? <p class="muted">No agent has connected yet. Start one with <code>flotilla agent --hostname NAME --server SERVER:50051</code>.</p> : <AgentsTable agents={agents} selected={host} onSelect={setHost} />}
      </section>
      {host !== '' && (
        <section class="card">
          <div class="row metric-chart-head">
            <h2>{range === 'live' ? 'Live chart' : 'History'}</h2>
            <RangeButtons value={range} onChange={setRange} />
          </div>
          <div class="fields">
            <label>
              Host
              <select value={host} onChange={(e) => setHost(e.currentTarget.value)} name="chart-host">
                {hosts.map((h) => (
                  <option key={h} value={h}>
                    {h}
                  </option>
                ))}
              </select>
            </label>
            <label class="grow">
              Series
              <select value={series} onChange={(e) => setSeries(e.currentTarget.value)} name="chart-series">
                {keys.map((k) => (
                  <option key={k} value={k}>
                    {k}
                  </option>
                ))}
              </select>
            </label>
          </div>
          {series === '' ? (
            <p class="muted">Waiting for the first samples…</p>
          ) : range !== 'live' && seriesSample !== undefined ? (
            <MetricRangeChart selector={seriesSelector(seriesSample.metric, seriesSample.labels, host)} label={series} range={range} />
          ) : (
            <>
              <LiveChart key={`${host}|${series}`} label={series} data={seriesHistory(host, series)} tick={live.tick} />
              <p class="muted small">Points gathered since this page opened; the chart grows with every batch the agent sends.</p>
            </>
          )}
        </section>
      )}
      {host !== '' && (
        <section class="card">
          <h2>Agent config</h2>
          <MetricConfigEditor hosts={hosts} host={host} />
        </section>
      )}
      {host !== '' && (
        <section class="card">
          <h2>Command</h2>
          <CommandForm hosts={hosts} host={host} />
        </section>
      )}
      {host !== '' && (
        <section class="card">
          <h2>Latest values of {host}</h2>
          <input type="search" placeholder="filter series" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} aria-label="filter series" />
          <div class="scroll tall">
            <table class="latest">
              <thead>
                <tr>
                  <th>Series</th>
                  <th class="num">Value</th>
                  <th>At</th>
                </tr>
              </thead>
              <tbody>
                {latest.slice(0, 300).map(({ key, m }) => (
                  <tr key={key}>
                    <td class="mono small">
                      <button type="button" class="link" onClick={() => setSeries(key)}>
                        {key}
                      </button>
                    </td>
                    <td class="num">{formatValue(m.value)}</td>
                    <td class="small nowrap">{new Date(m.timeMs).toLocaleTimeString()}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </div>
  );
}
