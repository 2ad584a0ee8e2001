/**
 * The CLI's client of the server's HTTP API (`--http HOST:PORT` or a URL, env FLOTILLA_HTTP, default
 * 127.0.0.1:8080), shared by `flotilla flow`, `pub` and `auth`: JSON in and out, and a problem+json
 * answer turned into a FlotillaError with the server's code and detail. The API token is added to every
 * request by the CLI's credentials (credentials.ts). With `--tls-ca` (env FLOTILLA_TLS_CA) a HOST:PORT
 * means https:// and the server's certificate must be signed by that CA.
 */
import { Code, FlotillaError, type ProblemDetails } from '../core/errors.js';
import { processTls, tlsFailure } from '../core/tls.js';

/** The base URL of the server's HTTP API; 0.0.0.0 (a listen address) becomes 127.0.0.1. */
export function serverApiBase(given: string | undefined): string {
  const text = (given ?? process.env.FLOTILLA_HTTP ?? '127.0.0.1:8080').trim();
  if (/^https?:\/\//.test(text)) return text.replace(/\/$/, '');
  if (!/^[A-Za-z0-9.[\]:-]+:\d{1,5}$/.test(text)) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid --http ${JSON.stringify(text)}: expected HOST:PORT`);
  return `${processTls() !== undefined ? 'https' : 'http'}://${text.replace(/^0\.0\.0\.0:/, '127.0.0.1:')}`;
}

/** A failed call to the server's HTTP API, with the TLS fix when TLS is what failed. */
export function serverUnreachable(err: unknown, base: string): FlotillaError {
  const host = base.replace(/^https?:\/\//, '');
  const cause = (err as { cause?: unknown }).cause;
  const detail = `${(err as Error).message}${cause instanceof Error ? ` (${cause.message})` : ''}`;
  const tls = tlsFailure(err, host);
  if (tls !== undefined) return tls;
  if (base.startsWith('https://') && processTls() === undefined && /certificate|self.signed|verify/i.test(detail)) {
    return new FlotillaError(Code.UNAVAILABLE, `cannot verify the certificate of ${host}: pass --tls-ca FILE (env FLOTILLA_TLS_CA) with the cluster CA (${detail})`, { cause: err });
  }
  if (base.startsWith('http://') && processTls() === undefined) {
    return new FlotillaError(Code.UNAVAILABLE, `cannot reach the server at ${base}: ${detail}; if it serves HTTPS (started with --tls-dir), pass --tls-ca FILE (env FLOTILLA_TLS_CA)`, { cause: err });
  }
  return new FlotillaError(Code.UNAVAILABLE, `cannot reach the server at ${base}: ${detail}`, { cause: err });
}

function codeFor(status: number, problem: Partial<ProblemDetails>): Code {
  if (problem.code !== undefined && problem.code in Code) return problem.code;
  if (status === 401) return Code.UNAUTHENTICATED;
  if (status === 403) return Code.PERMISSION_DENIED;
  if (status === 404) return Code.NOT_FOUND;
  return Code.INTERNAL;
}

/**
 * One JSON call. POST and PUT send `body` (an empty object when none is given); GET and DELETE send none.
 * Each call gives up after 30 s.
 */
export async function callServerApi<T>(http: string | undefined, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const base = serverApiBase(http);
  const url = base + path;
  const sendsBody = method === 'POST' || method === 'PUT';
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      ...(sendsBody ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw serverUnreachable(err, base);
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? {} : JSON.parse(text);
  } catch {
    if (res.ok) throw new FlotillaError(Code.INTERNAL, `unexpected answer from ${url} (HTTP ${res.status})`);
    parsed = {};
  }
  if (!res.ok) {
    const problem = parsed as Partial<ProblemDetails>;
    throw new FlotillaError(codeFor(res.status, problem), problem.detail ?? `HTTP ${res.status} from ${url}`);
  }
  return parsed as T;
}
