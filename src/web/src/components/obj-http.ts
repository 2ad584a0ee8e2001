/**
 * Requests the data pages need beyond api.ts's JSON helpers: any method with a raw body, uploads with
 * progress (XMLHttpRequest: fetch reports no upload progress), and downloads saved as a file. All carry
 * the API token as api.ts does.
 */
import { ApiError, getToken } from '../api.js';

function auth(extra: Record<string, string> = {}): Record<string, string> {
  const token = getToken();
  return token === '' ? extra : { ...extra, authorization: `Bearer ${token}` };
}

function problemMessage(status: number, statusText: string, text: string): string {
  try {
    const body = JSON.parse(text) as { detail?: string; title?: string };
    return body.detail ?? body.title ?? `${status} ${statusText}`;
  } catch {
    return text.trim() !== '' && text.length < 300 ? text.trim() : `${status} ${statusText}`;
  }
}

/** `method path` with an optional raw body; the JSON answer, or an ApiError with the problem's detail. */
export async function requestJson<T>(method: string, path: string, body?: BodyInit, contentType?: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: auth({ accept: 'application/json', ...(contentType !== undefined ? { 'content-type': contentType } : {}) }),
    ...(body !== undefined ? { body } : {}),
    ...(signal !== undefined ? { signal } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new ApiError(problemMessage(res.status, res.statusText, text), res.status);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

export interface Upload {
  promise: Promise<unknown>;
  abort: () => void;
}

/** PUTs `file` to `path`, reporting bytes sent; resolves with the JSON answer. */
export function uploadWithProgress(path: string, file: Blob, onProgress: (sent: number, total: number) => void): Upload {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<unknown>((resolve, reject) => {
    xhr.open('PUT', path);
    for (const [k, v] of Object.entries(auth({ accept: 'application/json' }))) xhr.setRequestHeader(k, v);
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
  const res = await fetch(path, { headers: auth() });
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
