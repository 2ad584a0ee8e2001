/** Uploads: drop files on the zone or pick them; each is PUT (streamed through the server to a node) with a progress bar. */
import { useState } from 'preact/hooks';
import { formatBytes } from '../format.js';
import { errorText } from '../api.js';
import { uploadWithProgress } from './obj-http.js';
import { objectPath } from './obj-replicas.js';

interface Item {
  id: number;
  key: string;
  size: number;
  sent: number;
  state: 'uploading' | 'done' | 'failed';
  error?: string;
  abort?: () => void;
}

let nextId = 1;

export function ObjUpload(props: { bucket: string; prefix: string; onUploaded: () => void }) {
  const [items, setItems] = useState<Item[]>([]);
  const [over, setOver] = useState(false);
  const update = (id: number, patch: Partial<Item>): void => setItems((list) => list.map((i) => (i.id === id ? { ...i, ...patch } : i)));

  const start = (files: FileList | null): void => {
    if (files === null) return;
    for (const file of Array.from(files)) {
      const id = nextId++;
      const key = props.prefix + file.name;
      const up = uploadWithProgress(objectPath(props.bucket, key), file, (sent) => update(id, { sent }));
      const item: Item = { id, key, size: file.size, sent: 0, state: 'uploading', abort: up.abort };
      setItems((list) => [item, ...list].slice(0, 20));
      up.promise.then(
        () => {
          update(id, { state: 'done', sent: file.size });
          props.onUploaded();
        },
        (err: unknown) => update(id, { state: 'failed', error: errorText(err) }),
      );
    }
  };

  return (
    <div class="obj-upload">
      <label
        class={`obj-drop ${over ? 'obj-over' : ''}`}
        data-testid="dropzone"
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          start(e.dataTransfer?.files ?? null);
        }}
      >
        <span>
          Drop files here or <u>choose files</u> to upload to <code>{props.bucket}/{props.prefix}</code>
        </span>
        <input
          type="file"
          multiple
          name="upload"
          class="obj-hidden"
          onChange={(e) => {
            start(e.currentTarget.files);
            e.currentTarget.value = '';
          }}
        />
      </label>
      {items.length > 0 && (
        <ul class="plain obj-uploads" data-testid="uploads">
          {items.map((i) => (
            <li key={i.id} data-key={i.key} data-state={i.state}>
              <div class="row obj-spread">
                <code class="obj-break">{i.key}</code>
                <span class="small nowrap">
                  {i.state === 'uploading' ? `${formatBytes(i.sent)} of ${formatBytes(i.size)}` : i.state === 'done' ? `uploaded ${formatBytes(i.size)}` : 'failed'}
                  {i.state === 'uploading' && i.abort !== undefined && (
                    <button type="button" class="link" onClick={i.abort}>
                      {' '}
                      cancel
                    </button>
                  )}
                </span>
              </div>
              <div class="bar" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={i.size > 0 ? Math.round((100 * i.sent) / i.size) : 100}>
                <div class={`fill ${i.state === 'failed' ? 'bad' : ''}`} style={{ width: `${i.size > 0 ? ((100 * i.sent) / i.size).toFixed(1) : 100}%` }} />
              </div>
              {i.error !== undefined && <p class="small obj-bad-text">{i.error}</p>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
