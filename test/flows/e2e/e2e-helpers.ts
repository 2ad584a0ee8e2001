/** Helpers of the flows end-to-end tests: the CLI as a user runs it, the HTTP API, bounded waits. */
import { spawnSync } from 'node:child_process';
import { FLOTILLA_BIN, REPO_ROOT } from '../../testkit/index.js';

export function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [FLOTILLA_BIN, ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export async function api<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

export interface RunView {
  run: { id: string; state: string };
  tasks: { task_key: string; state: string; try_number: number }[];
  attempts: { task_key: string; outcome: string; reason: string; host: string }[];
}

export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  for (let i = 0; i < timeoutMs / 100; i++) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}
