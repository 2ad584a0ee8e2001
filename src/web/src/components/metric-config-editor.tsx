/**
 * An agent's config editor: reads `/monitor/config/<host>` through GET /api/v1/agents/:host/config and
 * writes it with PUT (the server checks it with the agent's own schema). The agent follows the key and
 * applies the change by itself; the agents table shows the interval it then reports. Fields the form does
 * not know are kept as they were.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, errorText, getJson, sendJson } from '../api.js';

interface StoredConfig {
  host: string;
  key: string;
  json: string;
  config: ({ interval: number; metrics: string[] } & Record<string, unknown>) | null;
  error: string | null;
  modRevision: number;
}

const GROUPS = 'cpu, memory, disk, network, filesystem, containers, or single metrics such as node_load1';

export function MetricConfigEditor(props: { host: string; hosts: string[] }) {
  const [host, setHost] = useState(props.host);
  const target = props.hosts.includes(host) ? host : props.host;
  const [stored, setStored] = useState<StoredConfig | undefined>();
  const [loadError, setLoadError] = useState<string | undefined>();
  const [interval, setIntervalText] = useState('');
  const [metrics, setMetrics] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; text: string } | undefined>();

  const show = (c: StoredConfig): void => {
    setStored(c);
    setIntervalText(c.config !== null ? String(c.config.interval) : '');
    setMetrics(c.config !== null ? c.config.metrics.join(', ') : '');
  };

  useEffect(() => {
    setStored(undefined);
    setLoadError(undefined);
    setResult(undefined);
    if (target === '') return undefined;
    let stopped = false;
    getJson<StoredConfig>(`/api/v1/agents/${encodeURIComponent(target)}/config`).then(
      (c) => {
        if (!stopped) show(c);
      },
      (err: unknown) => {
        if (stopped) return;
        if (err instanceof ApiError && err.status === 404) {
          // None stored yet: start from the defaults the server would write.
          setIntervalText('5');
          setMetrics('cpu, memory, disk, network, filesystem');
          setLoadError('no config is stored for this host yet; saving writes one');
        } else setLoadError(errorText(err));
      },
    );
    return () => {
      stopped = true;
    };
  }, [target]);

  return (
    <form
      class="metric-config"
      data-testid="config-form"
      onSubmit={(e) => {
        e.preventDefault();
        const n = Number(interval);
        if (interval.trim() === '' || !Number.isFinite(n) || n <= 0) {
          setResult({ ok: false, text: 'the interval must be a positive number of seconds' });
          return;
        }
        const list = metrics
          .split(/[\s,]+/)
          .map((m) => m.trim())
          .filter((m) => m !== '');
        const body = { ...(stored?.config ?? {}), interval: n, metrics: list };
        setBusy(true);
        setResult(undefined);
        sendJson<StoredConfig>('PUT', `/api/v1/agents/${encodeURIComponent(target)}/config`, body)
          .then(
            (c) => {
              show(c);
              setLoadError(undefined);
              setResult({ ok: true, text: `saved to ${c.key} (revision ${c.modRevision}); the agent applies it when it sees the change` });
            },
            (err: unknown) => setResult({ ok: false, text: errorText(err) }),
          )
          .finally(() => setBusy(false));
      }}
    >
      <div class="fields">
        <label>
          Host
          <select value={target} onChange={(e) => setHost(e.currentTarget.value)} name="config-host">
            {props.hosts.map((h) => (
              <option key={h} value={h}>
                {h}
              </option>
            ))}
          </select>
        </label>
        <label>
          Interval (s)
          <input type="number" min="0.1" max="86400" step="any" name="config-interval" value={interval} onInput={(e) => setIntervalText(e.currentTarget.value)} required />
        </label>
        <label class="grow">
          Metrics
          <input type="text" name="config-metrics" value={metrics} onInput={(e) => setMetrics(e.currentTarget.value)} title={GROUPS} placeholder={GROUPS} />
        </label>
        <button type="submit" disabled={busy || target === ''}>
          {busy ? 'Saving…' : 'Save'}
        </button>
      </div>
      {loadError !== undefined && <p class="muted small">{loadError}</p>}
      {stored?.error != null && <p class="note bad">The stored config is not valid ({stored.error}); the agent keeps its previous settings. Saving replaces it.</p>}
      {stored !== undefined && (
        <p class="muted small">
          <code>{stored.key}</code> = <code data-testid="config-json">{stored.json}</code>
        </p>
      )}
      {result !== undefined && (
        <div class={`ack ${result.ok ? 'good' : 'bad'}`} role="status" data-testid="config-result">
          {result.text}
        </div>
      )}
    </form>
  );
}
