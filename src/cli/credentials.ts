/**
 * The API token of client commands, installed once for the whole CLI process: from `--token`, else
 * FLOTILLA_TOKEN, else the file named by `--token-file` / FLOTILLA_TOKEN_FILE, else the admin token a
 * local server wrote (./.flotilla/server/admin-token, the layout of `flotilla up` and `flotilla server`).
 * Every gRPC call (grpc-client.ts) and every fetch the command makes then carries
 * `authorization: Bearer <token>`, unless the call sets its own Authorization header.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { Code, FlotillaError } from '../core/errors.js';
import { setDefaultCallToken } from '../core/grpc-client.js';

/** Commands that run processes, not clients: they take their credentials from their own flags. */
const NOT_CLIENTS = new Set(['server', 'node', 'agent', 'up', 'coord', 'certs']);

/** Where a local server's admin token is looked for when no token is given. */
export const DEFAULT_TOKEN_FILES = [join('.flotilla', 'server', 'admin-token')];

function readToken(path: string, required: boolean): string | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim();
    return text === '' ? undefined : text;
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FlotillaError(Code.INVALID_ARGUMENT, `cannot read the token file ${path}: ${(err as Error).message}`);
  }
}

/** The token a client command uses, or undefined (then calls go without one). */
export function resolveCliToken(opts: { token?: string; tokenFile?: string }, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (opts.token !== undefined && opts.token !== '') return opts.token.trim();
  if (env.FLOTILLA_TOKEN !== undefined && env.FLOTILLA_TOKEN !== '') return env.FLOTILLA_TOKEN.trim();
  const file = opts.tokenFile ?? (env.FLOTILLA_TOKEN_FILE !== '' ? env.FLOTILLA_TOKEN_FILE : undefined);
  if (file !== undefined) return readToken(file, true);
  for (const f of DEFAULT_TOKEN_FILES) {
    const t = readToken(f, false);
    if (t !== undefined) return t;
  }
  return undefined;
}

let processToken: string | undefined;

/** `{ authorization: 'Bearer <token>' }` for requests made without fetch (node:http), or {} without a token. */
export function authHeader(): Record<string, string> {
  return processToken === undefined ? {} : { authorization: `Bearer ${processToken}` };
}

/** Sends `token` on every gRPC call and every fetch of this process that sets no Authorization header. */
export function useTokenForThisProcess(token: string | undefined): void {
  setDefaultCallToken(token);
  processToken = token;
  if (token === undefined) return;
  const original = globalThis.fetch;
  if ((original as { flotillaToken?: boolean }).flotillaToken === true) return;
  const withToken = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
    return original(input, { ...init, headers });
  };
  globalThis.fetch = Object.assign(withToken, { flotillaToken: true });
}

/** Adds --token and --token-file to every client command, and installs the token before its action runs. */
export function addTokenOptions(program: Command): void {
  // A command with a --token of its own (`pub sub`: a channel token) takes the API token from the environment or a file.
  const own = new WeakSet<Command>();
  const visit = (cmd: Command, top: string): void => {
    if (cmd.commands.length === 0) {
      if (!NOT_CLIENTS.has(top)) {
        if (cmd.options.some((o) => o.long === '--token')) own.add(cmd);
        else cmd.option('--token <token>', 'API token (env FLOTILLA_TOKEN; default: ./.flotilla/server/admin-token when present)');
        cmd.option('--token-file <file>', 'read the API token from this file (env FLOTILLA_TOKEN_FILE)');
      }
      return;
    }
    for (const sub of cmd.commands) visit(sub, top);
  };
  for (const c of program.commands) visit(c, c.name());
  program.hook('preAction', (_program, actionCommand) => {
    let top: Command = actionCommand;
    while (top.parent !== null && top.parent !== program) top = top.parent;
    if (NOT_CLIENTS.has(top.name())) return;
    const opts = actionCommand.opts<{ token?: string; tokenFile?: string }>();
    useTokenForThisProcess(resolveCliToken(own.has(actionCommand) ? { ...(opts.tokenFile !== undefined ? { tokenFile: opts.tokenFile } : {}) } : opts));
  });
}
