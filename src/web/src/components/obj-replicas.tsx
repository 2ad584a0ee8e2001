/** Where an object's replicas are (its partition's primaries and any handoff holding it) and whether each is valid. */
import { requestJson } from '../api.js';
import { formatBytes } from '../format.js';
import { useLoad } from '../use-load.js';

export interface ObjectMeta {
  bucket: string;
  key: string;
  size: number;
  sha256: string;
  etag: string;
  contentType: string;
  lastModifiedMs: number;
}

interface StatJson {
  meta: ObjectMeta;
  placement: { partition: number; ring: string; replicas: { node: string; primary: boolean; state: string; version?: string }[] };
}

export const objectPath = (bucket: string, key: string): string => `/api/v1/objects/buckets/${encodeURIComponent(bucket)}/objects/${encodeURIComponent(key)}`;

/** valid: holds the newest version (checksummed at write, audited since; a damaged copy reads as missing). */
function verdict(state: string, version: string | undefined, newest: string | undefined): { text: string; tone: string } {
  if (state === 'ok') return version !== undefined && version === newest ? { text: 'valid', tone: 'good' } : { text: 'stale', tone: 'bad' };
  if (state === 'missing') return { text: 'missing', tone: 'bad' };
  if (state === 'tombstone') return { text: 'deleted', tone: 'neutral' };
  return { text: state, tone: 'bad' };
}

export function ObjReplicas(props: { bucket: string; objectKey: string }) {
  const { data, error, reload } = useLoad((signal) => requestJson<StatJson>('GET', `${objectPath(props.bucket, props.objectKey)}?stat=1`, { signal }), [props.bucket, props.objectKey], {
    clearOnChange: true,
  });
  const newest = data?.placement.replicas.filter((r) => (r.state === 'ok' || r.state === 'tombstone') && r.version !== undefined).map((r) => r.version!).sort().pop();
  return (
    <section class="card" data-testid="obj-replicas">
      <div class="row obj-spread">
        <h2>
          Replicas of <code>{props.objectKey}</code>
        </h2>
        <button type="button" class="ghost" data-testid="replicas-refresh" onClick={reload}>
          Refresh
        </button>
      </div>
      {error !== undefined && (
        <p class="note bad" role="alert">
          {error}
        </p>
      )}
      {data === undefined ? (
        error === undefined && <p class="muted">Loading…</p>
      ) : (
        <>
          <p class="small muted">
            {formatBytes(data.meta.size)} · {data.meta.contentType || 'application/octet-stream'} · ring {data.placement.ring}, partition {data.placement.partition}
            <br />
            sha256 <code class="obj-break">{data.meta.sha256}</code>
          </p>
          <div class="scroll">
            <table>
              <thead>
                <tr>
                  <th>Node</th>
                  <th>Role</th>
                  <th>Replica</th>
                  <th>Version</th>
                </tr>
              </thead>
              <tbody>
                {data.placement.replicas.map((r) => {
                  const v = verdict(r.state, r.version, newest);
                  return (
                    <tr key={r.node} data-node={r.node}>
                      <th scope="row">{r.node}</th>
                      <td>{r.primary ? 'primary' : 'handoff'}</td>
                      <td>
                        <span class={`badge ${v.tone}`} data-testid="replica-valid">
                          {v.text}
                        </span>
                      </td>
                      <td class="small mono">{r.version ?? '-'}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
