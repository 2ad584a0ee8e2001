/**
 * The dashboard's door to the server's HTTP API: JSON requests and server-sent event streams, both
 * carrying the API token (sessionStorage) as a Bearer header. Event streams are read with fetch (an
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

function headers(extra: Record<string, string> = {}): Record<string, string> {
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

async function errorOf(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { detail?: string; title?: string };
    message = body.detail ?? body.title ?? message;
  } catch {
    // Not JSON.
  }
  return new ApiError(message, res.status);
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { headers: headers({ accept: 'application/json' }), ...(signal ? { signal } : {}) });
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as T;
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(path, { method: 'POST', headers: headers({ 'content-type': 'application/json', accept: 'application/json' }), body: JSON.stringify(body) });
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as T;
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
        const res = await fetch(path, { headers: headers({ accept: 'text/event-stream' }), signal });
        if (!res.ok || res.body === null) throw await errorOf(res);
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
