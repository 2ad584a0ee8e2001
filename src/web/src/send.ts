/**
 * JSON requests with any method (PUT, DELETE, POST without a body) for the pages that need more than
 * api.ts's getJson/postJson; same token header and the same error shape (ApiError with the problem detail).
 */
import { ApiError, getToken } from './api.js';

export async function sendJson<T>(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = getToken();
  if (token !== '') headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const problem = (await res.json()) as { detail?: string; title?: string; error?: string };
      message = problem.detail ?? problem.error ?? problem.title ?? message;
    } catch {
      // Not JSON.
    }
    throw new ApiError(message, res.status);
  }
  return (await res.json()) as T;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
