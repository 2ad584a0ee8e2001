/** The primary replicas of one key on the kv ring, each read directly: its state and version, the newest marked current. */
import { requestJson } from '../api.js';
import { useLoad } from '../use-load.js';

interface ReplicasJson {
  key: string;
  ringVersion: number;
  partition: number;
  newestVersion: string | null;
  replicas: { node: string; state: string; version: string | null; current: boolean; valueBytes: number | null; expiresAtMs: number }[];
}

function tone(r: ReplicasJson['replicas'][number]): string {
  if (r.state === 'ok' || r.state === 'deleted') return r.current ? 'good' : 'bad';
  return r.state === 'missing' ? 'neutral' : 'bad';
}

export function KvReplicas(props: { keyName: string; reload: number }) {
  const { data, error, reload } = useLoad(
    props.keyName === '' ? undefined : (signal) => requestJson<ReplicasJson>('GET', `/api/v1/kv/replicas/${encodeURIComponent(props.keyName)}`, { signal }),
    [props.keyName, props.reload],
  );

  return (
    <section class="card" data-testid="kv-replicas-card">
      <h2>Replicas</h2>
      {props.keyName === '' ? (
        <p class="muted">Pick a key from the list, or get or put one, to see where its replicas are.</p>
      ) : (
        <>
          <div class="row obj-spread">
            <span class="small muted">
              <code>{props.keyName}</code>
              {data !== undefined && data.key === props.keyName && ` · partition ${data.partition} of ring kv v${data.ringVersion}`}
            </span>
            <button type="button" class="ghost" data-testid="replicas-refresh" onClick={reload}>
              Refresh
            </button>
          </div>
          {error !== undefined && (
            <p class="note bad" role="alert">
              {error}
            </p>
          )}
          {data !== undefined && data.key === props.keyName && (
            <div class="scroll">
              <table data-testid="kv-replicas">
                <thead>
                  <tr>
                    <th>Node</th>
                    <th>State</th>
                    <th>Version</th>
                    <th class="num">Size</th>
                  </tr>
                </thead>
                <tbody>
                  {data.replicas.map((r) => (
                    <tr key={r.node} data-node={r.node}>
                      <th scope="row">{r.node}</th>
                      <td>
                        <span class={`badge ${tone(r)}`} data-testid="replica-state">
                          {r.state}
                        </span>
                        {r.version !== null && !r.current && <span class="small muted"> stale</span>}
                      </td>
                      <td class="small mono">{r.version ?? '-'}</td>
                      <td class="num">{r.valueBytes ?? '-'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}
