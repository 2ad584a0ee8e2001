/**
 * Objects: buckets with their storage policy (create, delete), browsing a bucket by prefix and delimiter
 * (folders), upload with progress, download, delete, and which nodes hold each replica and whether it is valid.
 */
import { useEffect, useState } from 'preact/hooks';
import { formatBytes } from '../format.js';
import { errorText, requestJson } from '../api.js';
import { downloadAs } from '../components/obj-http.js';
import { useLoad } from '../use-load.js';
import { useConfirm } from '../components/obj-confirm.js';
import { ObjReplicas, objectPath, type ObjectMeta } from '../components/obj-replicas.js';
import { ObjUpload } from '../components/obj-upload.js';

interface Bucket {
  name: string;
  policy: string;
  createdAtMs: number;
}

interface Policy {
  name: string;
  replicas: number;
  description: string;
}

interface Listing {
  objects: ObjectMeta[];
  commonPrefixes: string[];
  nextAfter?: string;
}

const PAGE = 200;

function Buckets(props: { selected: string; onPick: (b: string) => void }) {
  const [policies, setPolicies] = useState<Policy[]>([]);
  const [name, setName] = useState('');
  const [policy, setPolicy] = useState('replicated-3');
  const [note, setNote] = useState<{ ok: boolean; text: string } | undefined>();
  const { confirm, dialog } = useConfirm();
  const listed = useLoad((signal) => requestJson<{ buckets: Bucket[] }>('GET', '/api/v1/objects/buckets', { signal }), []);
  const buckets = listed.data?.buckets;
  const shown = note ?? (listed.error !== undefined ? { ok: false, text: listed.error } : undefined);

  useEffect(() => {
    requestJson<{ policies: Policy[] }>('GET', '/api/v1/objects/policies')
      .then((r) => setPolicies(r.policies))
      .catch(() => undefined);
  }, []);
  const policyOf = (p: string): Policy | undefined => policies.find((x) => x.name === p);

  return (
    <section class="card">
      <h2>Buckets</h2>
      {buckets === undefined ? (
        note === undefined && <p class="muted">Loading…</p>
      ) : buckets.length === 0 ? (
        <p class="muted">No bucket yet: create one below.</p>
      ) : (
        <div class="scroll">
          <table data-testid="buckets">
            <thead>
              <tr>
                <th>Bucket</th>
                <th>Policy</th>
                <th class="obj-wide">Created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {buckets.map((b) => (
                <tr key={b.name} data-bucket={b.name} class={b.name === props.selected ? 'selected' : undefined}>
                  <th scope="row">
                    <button type="button" class="link" onClick={() => props.onPick(b.name)}>
                      {b.name}
                    </button>
                  </th>
                  <td title={policyOf(b.policy)?.description}>{b.policy}</td>
                  <td class="small obj-wide">{new Date(b.createdAtMs).toLocaleString()}</td>
                  <td>
                    <button
                      type="button"
                      class="ghost small"
                      onClick={() =>
                        void confirm(`Delete bucket "${b.name}"? It must be empty.`, 'Delete bucket').then(async (ok) => {
                          if (!ok) return;
                          try {
                            await requestJson('DELETE', `/api/v1/objects/buckets/${encodeURIComponent(b.name)}`);
                            setNote({ ok: true, text: `bucket ${b.name} deleted` });
                            if (props.selected === b.name) props.onPick('');
                          } catch (err) {
                            setNote({ ok: false, text: errorText(err) });
                          }
                          listed.reload();
                        })
                      }
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form
        class="fields obj-gap"
        data-testid="bucket-form"
        onSubmit={(e) => {
          e.preventDefault();
          const b = name.trim();
          requestJson<Bucket>('PUT', `/api/v1/objects/buckets/${encodeURIComponent(b)}?policy=${encodeURIComponent(policy)}`)
            .then(() => {
              setNote({ ok: true, text: `bucket ${b} created (${policy})` });
              setName('');
              listed.reload();
              props.onPick(b);
            })
            .catch((err: unknown) => setNote({ ok: false, text: errorText(err) }));
        }}
      >
        <label class="grow">
          New bucket
          <input name="bucket" value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="e.g. photos" autocomplete="off" />
        </label>
        <label>
          Policy
          <select name="policy" value={policy} onChange={(e) => setPolicy(e.currentTarget.value)}>
            {(policies.length > 0 ? policies : [{ name: 'replicated-3', replicas: 3, description: '' }]).map((p) => (
              <option key={p.name} value={p.name} title={p.description}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" disabled={name.trim() === ''}>
          Create
        </button>
      </form>
      {shown !== undefined && (
        <p class={`ack ${shown.ok ? 'good' : 'bad'}`} role="status" data-testid="bucket-note">
          {shown.text}
        </p>
      )}
      {dialog}
    </section>
  );
}

function Browser(props: { bucket: string; selected: string; onPick: (key: string) => void }) {
  const { bucket } = props;
  const [prefix, setPrefix] = useState('');
  const [delimiter, setDelimiter] = useState('/');
  const [more, setMore] = useState<Listing[]>([]);
  const [moreError, setMoreError] = useState<string | undefined>();
  const [note, setNote] = useState<{ ok: boolean; text: string } | undefined>();
  const { confirm, dialog } = useConfirm();

  useEffect(() => {
    setPrefix('');
    setNote(undefined);
  }, [bucket]);
  const first = useLoad(
    async (signal) => {
      const q = new URLSearchParams({ prefix, delimiter, limit: String(PAGE) });
      const l = await requestJson<Listing>('GET', `/api/v1/objects/buckets/${encodeURIComponent(bucket)}/objects?${q.toString()}`, { signal });
      setMore([]);
      setMoreError(undefined);
      return l;
    },
    [bucket, prefix, delimiter],
  );
  const listing = first.data;
  const error = moreError ?? first.error;

  const pages = listing === undefined ? [] : [listing, ...more];
  const last = pages[pages.length - 1];
  const objects = pages.flatMap((p) => p.objects);
  const folders = pages.flatMap((p) => p.commonPrefixes);
  const parts = prefix.split(delimiter === '' ? '\u0000' : delimiter).slice(0, -1);

  const loadMore = (): void => {
    if (last?.nextAfter === undefined) return;
    const q = new URLSearchParams({ prefix, delimiter, limit: String(PAGE), after: last.nextAfter });
    requestJson<Listing>('GET', `/api/v1/objects/buckets/${encodeURIComponent(bucket)}/objects?${q.toString()}`)
      .then((l) => setMore([...more, l]))
      .catch((err: unknown) => setMoreError(errorText(err)));
  };

  return (
    <section class="card">
      <h2>
        Objects in <code>{bucket}</code>
      </h2>
      <div class="fields">
        <label class="grow">
          Prefix
          <input type="search" name="obj-prefix" value={prefix} onChange={(e) => setPrefix(e.currentTarget.value)} placeholder="all objects" />
        </label>
        <label>
          Delimiter
          <input name="delimiter" value={delimiter} size={3} onChange={(e) => setDelimiter(e.currentTarget.value)} />
        </label>
      </div>
      {delimiter !== '' && (
        <nav class="obj-crumbs small" aria-label="folder">
          <button type="button" class="link" onClick={() => setPrefix('')}>
            {bucket}
          </button>
          {parts.map((p, i) => (
            <span key={i}>
              {' '}
              {delimiter}{' '}
              <button type="button" class="link" onClick={() => setPrefix(parts.slice(0, i + 1).join(delimiter) + delimiter)}>
                {p}
              </button>
            </span>
          ))}
        </nav>
      )}
      <ObjUpload bucket={bucket} prefix={delimiter !== '' && prefix.endsWith(delimiter) ? prefix : ''} onUploaded={() => first.reload()} />
      {error !== undefined && (
        <p class="note bad" role="alert">
          {error}
        </p>
      )}
      {note !== undefined && (
        <p class={`ack ${note.ok ? 'good' : 'bad'}`} role="status" data-testid="obj-note">
          {note.text}
        </p>
      )}
      {listing === undefined ? (
        error === undefined && <p class="muted">Loading…</p>
      ) : objects.length === 0 && folders.length === 0 ? (
        <p class="muted" data-testid="obj-empty">
          Nothing here{prefix !== '' ? <> under <code>{prefix}</code></> : ''}.
        </p>
      ) : (
        <div class="scroll">
          <table data-testid="objects">
            <thead>
              <tr>
                <th>Key</th>
                <th class="num">Size</th>
                <th class="obj-wide">Modified</th>
                <th class="obj-wide">Type</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {folders.map((f) => (
                <tr key={`p:${f}`} data-prefix={f}>
                  <th scope="row" colSpan={5}>
                    <button type="button" class="link" onClick={() => setPrefix(f)}>
                      📁 {f.slice(prefix.length)}
                    </button>
                  </th>
                </tr>
              ))}
              {objects.map((o) => (
                <tr key={o.key} data-key={o.key} class={o.key === props.selected ? 'selected' : undefined}>
                  <th scope="row">
                    <button type="button" class="link mono" title="where are its replicas?" onClick={() => props.onPick(o.key)}>
                      {o.key.slice(prefix.length)}
                    </button>
                  </th>
                  <td class="num">{formatBytes(o.size)}</td>
                  <td class="small obj-wide">{new Date(o.lastModifiedMs).toLocaleString()}</td>
                  <td class="small obj-wide">{o.contentType}</td>
                  <td class="nowrap">
                    <button
                      type="button"
                      class="ghost small"
                      data-testid="obj-download"
                      onClick={() => void downloadAs(objectPath(bucket, o.key), o.key.split('/').pop() ?? o.key).catch((err: unknown) => setNote({ ok: false, text: errorText(err) }))}
                    >
                      Download
                    </button>{' '}
                    <button
                      type="button"
                      class="ghost small"
                      data-testid="obj-delete"
                      onClick={() =>
                        void confirm(`Delete "${o.key}" from ${bucket}?`, 'Delete').then(async (ok) => {
                          if (!ok) return;
                          try {
                            await requestJson('DELETE', objectPath(bucket, o.key));
                            setNote({ ok: true, text: `deleted ${o.key}` });
                            if (props.selected === o.key) props.onPick('');
                          } catch (err) {
                            setNote({ ok: false, text: errorText(err) });
                          }
                          first.reload();
                        })
                      }
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {last?.nextAfter !== undefined && (
        <button type="button" class="ghost obj-gap" onClick={loadMore}>
          More
        </button>
      )}
      {dialog}
    </section>
  );
}

export function ObjectsPage() {
  const [bucket, setBucket] = useState('');
  const [key, setKey] = useState('');
  return (
    <div class="page">
      <h1>Objects</h1>
      <Buckets
        selected={bucket}
        onPick={(b) => {
          setBucket(b);
          setKey('');
        }}
      />
      {bucket !== '' ? <Browser bucket={bucket} selected={key} onPick={setKey} /> : <p class="muted">Pick a bucket to browse it.</p>}
      {bucket !== '' && key !== '' && <ObjReplicas bucket={bucket} objectKey={key} />}
    </div>
  );
}
