/**
 * `flotilla auth token create|list|revoke`: API tokens, through the server's HTTP API (`--http
 * HOST:PORT`, env FLOTILLA_HTTP, default 127.0.0.1:8080) with an admin token (--token, FLOTILLA_TOKEN,
 * or ./.flotilla/server/admin-token). See docs/security.md.
 */
import type { Command } from 'commander';
import { Code, FlotillaError } from '../core/errors.js';
import { parseTtl, ROLES, SCOPES, type TokenInfo } from '../auth/index.js';
import { action } from './run.js';
import { callServerApi } from './server-api.js';

interface ClientOpts {
  http?: string;
  json?: boolean;
}

/** A JSON call to the server's HTTP API (server-api.ts). */
function call<T>(opts: ClientOpts, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  return callServerApi<T>(opts.http, method, path, body);
}

function status(t: TokenInfo, nowMs: number): string {
  if (t.revokedAt !== undefined) return `revoked ${t.revokedAt}`;
  if (t.expiresAt !== undefined && Date.parse(t.expiresAt) <= nowMs) return `expired ${t.expiresAt}`;
  return 'active';
}

export function formatTokenTable(tokens: TokenInfo[], nowMs = Date.now()): string {
  const head = ['ID', 'NAME', 'ROLE', 'SCOPES', 'CREATED', 'EXPIRES', 'STATUS'];
  const rows = tokens.map((t) => [t.id, t.name, t.role, t.scopes.length > 0 ? t.scopes.join(',') : '*', t.createdAt, t.expiresAt ?? 'never', status(t, nowMs)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [head, ...rows].map(line).join('\n') + '\n';
}

export function registerAuth(program: Command): void {
  const auth = program.command('auth').description('authentication: API tokens with roles (admin, operator, reader) and scopes');
  const token = auth.command('token').description('create, list and revoke API tokens (needs an admin token)');
  const client = (c: Command): Command => c.option('--http <host:port>', 'the server HTTP address (env FLOTILLA_HTTP, default 127.0.0.1:8080)').option('--json', 'print JSON');

  client(
    token
      .command('create')
      .description('create a token and print it (shown once: it is stored hashed)')
      .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
      .option('--scope <scope...>', `limit the token to these capabilities: ${SCOPES.join(', ')} (default: all)`)
      .option('--ttl <duration>', 'the token expires after this long, e.g. 12h, 30d, 2w (default: never)')
      .option('--name <name>', 'a name to recognise it by in lists (default: "<role> token")'),
  ).action(
    action(async (opts: ClientOpts & { role: string; scope?: string[]; ttl?: string; name?: string }) => {
      if (!(ROLES as readonly string[]).includes(opts.role)) throw new FlotillaError(Code.INVALID_ARGUMENT, `--role must be one of ${ROLES.join(', ')}, got ${JSON.stringify(opts.role)}`);
      for (const s of opts.scope ?? []) {
        if (!(SCOPES as readonly string[]).includes(s)) throw new FlotillaError(Code.INVALID_ARGUMENT, `--scope must be among ${SCOPES.join(', ')}, got ${JSON.stringify(s)}`);
      }
      if (opts.ttl !== undefined) {
        const t = parseTtl(opts.ttl);
        if (t.error !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, `--ttl: ${t.error}`);
      }
      const created = await call<TokenInfo & { token: string }>(opts, 'POST', '/api/v1/auth/tokens', {
        role: opts.role,
        ...(opts.scope !== undefined ? { scopes: opts.scope } : {}),
        ...(opts.ttl !== undefined ? { ttl: opts.ttl } : {}),
        ...(opts.name !== undefined ? { name: opts.name } : {}),
      });
      if (opts.json === true) {
        process.stdout.write(JSON.stringify(created) + '\n');
        return;
      }
      process.stdout.write(
        `${created.token}\n` +
          `token ${created.id} (${created.name}): role ${created.role}, scopes ${created.scopes.length > 0 ? created.scopes.join(',') : 'all'}, expires ${created.expiresAt ?? 'never'}\n` +
          'Keep it now: it is stored hashed and cannot be shown again.\n',
      );
    }),
  );

  client(token.command('list').description('list tokens (ids, names, roles, scopes, expiry, status; never secrets)')).action(
    action(async (opts: ClientOpts) => {
      const { tokens } = await call<{ tokens: TokenInfo[] }>(opts, 'GET', '/api/v1/auth/tokens');
      process.stdout.write(opts.json === true ? JSON.stringify(tokens) + '\n' : formatTokenTable(tokens));
    }),
  );

  client(token.command('revoke').description('revoke a token: every process refuses it within a watch round-trip').argument('<id>', 'the token id (the part after flt_)')).action(
    action(async (id: string, opts: ClientOpts) => {
      const { revoked } = await call<{ revoked: TokenInfo }>(opts, 'DELETE', `/api/v1/auth/tokens/${encodeURIComponent(id)}`);
      process.stdout.write(opts.json === true ? JSON.stringify(revoked) + '\n' : `revoked token ${revoked.id} (${revoked.name})\n`);
    }),
  );
}
