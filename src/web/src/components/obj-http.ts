/**
 * Transfers the object pages need beyond api.ts's JSON requests: uploads with progress (XMLHttpRequest:
 * fetch reports no upload progress) and downloads saved as a file, with the token and errors as api.ts has them.
 */
import { ApiError, authHeaders, problemMessage } from '../api.js';

export interface Upload {
  promise: Promise<unknown>;
  abort: () => void;
}

/** PUTs `file` to `path`, reporting bytes sent; resolves with the JSON answer. */
export function uploadWithProgress(path: string, file: Blob, onProgress: (sent: number, total: number) => void): Upload {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<unknown>((resolve, reject) => {
    xhr.open('PUT', path);
    for (const [k, v] of Object.entries(authHeaders({ accept: 'application/json' }))) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader('content-type', file.type !== '' ? file.type : 'application/octet-stream');
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(file.size, file.size);
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          resolve(undefined);
        }
      } else reject(new ApiError(problemMessage(xhr.status, xhr.statusText, xhr.responseText), xhr.status));
    };
    xhr.onerror = () => reject(new ApiError('the upload failed: the connection to the server broke', 0));
    xhr.onabort = () => reject(new ApiError('upload cancelled', 0));
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}

/** Fetches `path` and saves it as `filename` through a temporary object URL. */
export async function downloadAs(path: string, filename: string): Promise<void> {
  const res = await fetch(path, { headers: authHeaders() });
  if (!res.ok) throw new ApiError(problemMessage(res.status, res.statusText, await res.text()), res.status);
  const url = URL.createObjectURL(await res.blob());
  try {
    const a = document.createElement('a');
    a.href = url;
    a.download = filename;
    document.body.append(a);
    a.click();
    a.remove();
  } finally {
    // Give the browser the time to start the download before the URL goes.
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}

export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
