/** Key-value: browse keys by prefix (paged), get / put / delete one key, and the replicas of a key with their versions. */
import { useEffect, useState } from 'preact/hooks';
import { formatBytes } from '../format.js';
import { errorText, requestJson } from '../api.js';
import { useConfirm } from '../components/obj-confirm.js';
import { KvReplicas } from '../components/kv-replicas.js';
import { useLoad } from '../use-load.js';

interface KvEntry {
  key: string;
  value: string;
  version: string;
  expiresAtMs: number;
}

interface ScanPage {
  entries: KvEntry[];
  nextPageToken: string | null;
}

const PAGE_SIZE = 50;
const keyPath = (key: string): string => `/api/v1/kv/keys/${encodeURIComponent(key)}`;

function expiry(ms: number): string {
  return ms > 0 ? new Date(ms).toLocaleString() : 'never';
}

function Browser(props: { reload: number; onPick: (key: string) => void; selected: string }) {
  const [prefix, setPrefix] = useState('');
  const [applied, setApplied] = useState('');
  // Tokens of the pages before the current one ('' = the first page).
  const [tokens, setTokens] = useState<string[]>(['']);
  const token = tokens[tokens.length - 1] ?? '';
  const {
    data: page,
    error,
    loading,
  } = useLoad(
    (signal) => {
      const q = new URLSearchParams({ prefix: applied, limit: String(PAGE_SIZE), ...(token !== '' ? { pageToken: token } : {}) });
      return requestJson<ScanPage>('GET', `/api/v1/kv/scan?${q.toString()}`, { signal });
    },
    [applied, token, props.reload],
  );

  return (
    <section class="card">
      <h2>Keys</h2>
      <form
        class="fields"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(prefix);
          setTokens(['']);
        }}
      >
        <label class="grow">
          Prefix
          <input type="search" name="prefix" value={prefix} onInput={(e) => setPrefix(e.currentTarget.value)} placeholder="all keys" />
        </label>
        <button type="submit">Browse</button>
      </form>
      {error !== undefined && (
        <p class="note bad" role="alert">
          {error}
        </p>
      )}
      {page === undefined ? (
        <p class="muted">{loading ? 'Loading…' : ''}</p>
      ) : page.entries.length === 0 ? (
        <p class="muted" data-testid="kv-empty">
          No key{applied !== '' ? <> under <code>{applied}</code></> : ''}.
        </p>
      ) : (
        <div class="scroll">
          <table data-testid="kv-keys">
            <thead>
              <tr>
                <th>Key</th>
                <th>Value</th>
                <th class="num">Size</th>
                <th class="kv-wide">Version</th>
                <th class="kv-wide">Expires</th>
              </tr>
            </thead>
            <tbody>
              {page.entries.map((e) => (
                <tr key={e.key} data-key={e.key} class={e.key === props.selected ? 'selected' : undefined}>
                  <th scope="row">
                    <button type="button" class="link mono" onClick={() => props.onPick(e.key)}>
                      {e.key}
                    </button>
                  </th>
                  <td class="mono kv-clip" title={e.value}>
                    {e.value.length > 60 ? `${e.value.slice(0, 60)}…` : e.value}
                  </td>
                  <td class="num">{formatBytes(new TextEncoder().encode(e.value).length)}</td>
                  <td class="small mono kv-wide">{e.version}</td>
                  <td class="small kv-wide">{expiry(e.expiresAtMs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div class="row kv-pager">
        <button type="button" class="ghost" disabled={tokens.length <= 1 || loading} onClick={() => setTokens(tokens.slice(0, -1))}>
          Previous
        </button>
        <span class="small muted">page {tokens.length}</span>
        <button type="button" class="ghost" data-testid="kv-next" disabled={page?.nextPageToken == null || loading} onClick={() => page?.nextPageToken != null && setTokens([...tokens, page.nextPageToken])}>
          Next
        </button>
      </div>
    </section>
  );
}

interface Result {
  ok: boolean;
  text: string;
}

function Editor(props: { picked: { key: string; n: number }; onShown: (key: string) => void; onChanged: (key: string) => void }) {
  const [key, setKey] = useState('');
  const [value, setValue] = useState('');
  const [ttl, setTtl] = useState('');
  const [result, setResult] = useState<Result | undefined>();
  const [busy, setBusy] = useState(false);
  const { confirm, dialog } = useConfirm();

  const run = async (k: string, what: () => Promise<Result>): Promise<void> => {
    if (k === '') {
      setResult({ ok: false, text: 'Type a key first.' });
      return;
    }
    setBusy(true);
    try {
      setResult(await what());
    } catch (err) {
      setResult({ ok: false, text: errorText(err) });
    } finally {
      setBusy(false);
    }
  };
  const get = (k: string): Promise<void> =>
    run(k, async () => {
      const e = await requestJson<KvEntry>('GET', keyPath(k));
      setValue(e.value);
      props.onShown(k);
      return { ok: true, text: `got version ${e.version}${e.expiresAtMs > 0 ? `, expires ${expiry(e.expiresAtMs)}` : ''}` };
    });
  // A key picked from the list: show it and read it.
  useEffect(() => {
    if (props.picked.n === 0) return;
    setKey(props.picked.key);
    void get(props.picked.key);
  }, [props.picked]);

  return (
    <section class="card">
      <h2>Key</h2>
      <form
        data-testid="kv-form"
        onSubmit={(e) => {
          e.preventDefault();
          void run(key, async () => {
            const q = ttl.trim() !== '' ? `?ttl=${encodeURIComponent(ttl.trim())}` : '';
            const r = await requestJson<{ version: string; acks: number }>('PUT', keyPath(key) + q, { body: value, contentType: 'text/plain; charset=utf-8' });
            props.onChanged(key);
            return { ok: true, text: `stored: version ${r.version}, ${r.acks} replicas acknowledged` };
          });
        }}
      >
        <div class="fields">
          <label class="grow">
            Key
            <input name="key" class="mono" value={key} onInput={(e) => setKey(e.currentTarget.value)} placeholder="e.g. config/feature-x" autocomplete="off" />
          </label>
          <label>
            TTL (optional)
            <input name="ttl" value={ttl} size={8} onInput={(e) => setTtl(e.currentTarget.value)} placeholder="e.g. 10m" />
          </label>
        </div>
        <label>
          Value
          <textarea name="value" class="mono" rows={4} value={value} onInput={(e) => setValue(e.currentTarget.value)} />
        </label>
        <div class="row kv-actions">
          <button type="button" class="ghost" disabled={busy} onClick={() => void get(key)} data-testid="kv-get">
            Get
          </button>
          <button type="submit" disabled={busy} data-testid="kv-put">
            Put
          </button>
          <button
            type="button"
            class="obj-danger"
            disabled={busy}
            data-testid="kv-delete"
            onClick={() =>
              void confirm(`Delete key "${key}" on every replica?`, 'Delete').then((ok) => {
                if (!ok) return;
                void run(key, async () => {
                  const r = await requestJson<{ version: string; acks: number }>('DELETE', keyPath(key));
                  setValue('');
                  props.onChanged(key);
                  return { ok: true, text: `deleted: tombstone version ${r.version}, ${r.acks} replicas acknowledged` };
                });
              })
            }
          >
            Delete
          </button>
        </div>
      </form>
      {result !== undefined && (
        <p class={`ack ${result.ok ? 'good' : 'bad'}`} data-testid="kv-result" role="status">
          {result.text}
        </p>
      )}
      {dialog}
    </section>
  );
}

export function KvPage() {
  const [picked, setPicked] = useState({ key: '', n: 0 });
  // The key the replicas panel shows: the last one picked or acted on.
  const [shown, setShown] = useState('');
  const [reload, setReload] = useState(0);
  return (
    <div class="page">
      <h1>Key-value</h1>
      <div class="grid kv-grid">
        <Editor
          picked={picked}
          onShown={setShown}
          onChanged={(k) => {
            setShown(k);
            setReload((r) => r + 1);
          }}
        />
        <KvReplicas keyName={shown} reload={reload} />
      </div>
      <Browser
        reload={reload}
        selected={shown}
        onPick={(k) => {
          setPicked((p) => ({ key: k, n: p.n + 1 }));
        }}
      />
    </div>
  );
}
