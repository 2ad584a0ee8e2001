/**
 * The dashboard's door to the server's HTTP API: JSON requests of any method and server-sent event streams,
 * all carrying the API token (sessionStorage) as a Bearer header, and errors as ApiError with the problem's
 * detail. Event streams are read with fetch (an
 * EventSource cannot send headers) and reconnect with backoff after the server goes away.
 */
const TOKEN_KEY = 'flotilla.token';

export function getToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function setToken(token: string): void {
  if (token === '') sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** `extra` plus the API token as a Bearer authorization header, when there is one. */
export function authHeaders(extra: Record<string, string> = {}): Record<string, string> {
  const token = getToken();
  return token === '' ? extra : { ...extra, authorization: `Bearer ${token}` };
}

/** Fired on window when the server answers 401: the shell opens its login form (main.tsx). */
export const UNAUTHENTICATED_EVENT = 'flotilla:unauthenticated';

/** An API error: the problem+json detail when the server sent one. A 401 also fires UNAUTHENTICATED_EVENT. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    if (status === 401 && typeof window !== 'undefined') window.dispatchEvent(new CustomEvent(UNAUTHENTICATED_EVENT, { detail: message }));
  }
}

/** What an error answer says: the problem's detail (or a short plain-text body), else the status line. */
export function problemMessage(status: number, statusText: string, text: string): string {
  try {
    const body = JSON.parse(text) as { detail?: string; error?: string; title?: string };
    return body.detail ?? body.error ?? body.title ?? `${status} ${statusText}`;
  } catch {
    return text.trim() !== '' && text.length < 300 ? text.trim() : `${status} ${statusText}`;
  }
}

/** The message of anything thrown, for a note on the page. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export interface RequestOptions {
  /** A value sent as a JSON body. */
  json?: unknown;
  /** A raw body (a file, bytes, text) with its content type. */
  body?: BodyInit;
  contentType?: string;
  signal?: AbortSignal;
}

/** `method path` with the token; the JSON answer (undefined for an empty one), or an ApiError. */
export async function requestJson<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const contentType = options.json !== undefined ? 'application/json' : options.contentType;
  const body = options.json !== undefined ? JSON.stringify(options.json) : options.body;
  const res = await fetch(path, {
    method,
    headers: authHeaders({ accept: 'application/json', ...(contentType !== undefined ? { 'content-type': contentType } : {}) }),
    ...(body !== undefined ? { body } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new ApiError(problemMessage(res.status, res.statusText, text), res.status);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

export function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  return requestJson<T>('GET', path, signal !== undefined ? { signal } : {});
}

export function postJson<T>(path: string, body: unknown): Promise<T> {
  return requestJson<T>('POST', path, { json: body });
}

/** A JSON request with any method and an optional JSON body. */
export function sendJson<T>(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  return requestJson<T>(method, path, body !== undefined ? { json: body } : {});
}

export type StreamState = 'connecting' | 'open' | 'retrying';

export interface StreamHandlers {
  onEvent(event: string, data: unknown): void;
  onState?(state: StreamState, error?: string): void;
}

/** Reads the event stream at `path` until `signal` aborts, reconnecting (1 s, doubling to 15 s). */
export function openStream(path: string, handlers: StreamHandlers, signal: AbortSignal): void {
  let delayMs = 1000;
  const run = async (): Promise<void> => {
    while (!signal.aborted) {
      handlers.onState?.('connecting');
      let error = 'the stream ended';
      try {
        const res = await fetch(path, { headers: authHeaders({ accept: 'text/event-stream' }), signal });
        if (!res.ok || res.body === null) throw new ApiError(problemMessage(res.status, res.statusText, await res.text()), res.status);
        handlers.onState?.('open');
        delayMs = 1000;
        await readEvents(res.body, handlers, signal);
      } catch (err) {
        if (signal.aborted) return;
        error = err instanceof Error ? err.message : String(err);
      }
      if (signal.aborted) return;
      handlers.onState?.('retrying', error);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      delayMs = Math.min(delayMs * 2, 15_000);
    }
  };
  void run();
}

async function readEvents(body: ReadableStream<Uint8Array>, handlers: StreamHandlers, signal: AbortSignal): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  signal.addEventListener('abort', () => void reader.cancel().catch(() => undefined));
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length === 0) continue;
      try {
        handlers.onEvent(event, JSON.parse(data.join('\n')));
      } catch {
        // A malformed event is skipped; the next snapshot repairs the state.
      }
    }
  }
}
