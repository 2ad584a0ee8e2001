/**
 * The token API (admin only, by the policy's rule for /api/v1/auth):
 *   GET    /api/v1/auth/tokens        list (never secrets or hashes)
 *   POST   /api/v1/auth/tokens        {name?, role, scopes?, ttl?} -> {token, ...info}: the secret, shown once
 *   DELETE /api/v1/auth/tokens/:id    revoke
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { Code, FlotillaError } from '../core/errors.js';
import type { Coord } from '../coord/index.js';
import { bearerOf } from './policy.js';
import { createToken, listTokens, revokeToken } from './token-store.js';
import { parseToken, ROLES, SCOPES, tokenInfo } from './tokens.js';

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** A TTL such as 90s, 30m, 12h, 30d, 2w. */
export function parseTtl(text: string): { value: number; error?: undefined } | { error: string } {
  const m = /^(\d+)(s|m|h|d|w)$/.exec(text.trim());
  const ms = m === null ? NaN : Number(m[1]) * DURATION_UNITS[m[2]!]!;
  if (!Number.isFinite(ms) || ms < 60_000 || ms > 3650 * 86_400_000) return { error: `invalid TTL ${JSON.stringify(text)}: expected 1m to 3650d, e.g. 12h, 30d, 2w` };
  return { value: ms };
}

const createSchema = z.strictObject({
  name: z.string().trim().min(1).max(100).regex(/^[^\p{Cc}]*$/u, 'no control characters').optional(),
  role: z.enum(ROLES, { message: `role is one of ${ROLES.join(', ')}` }),
  scopes: z.array(z.enum(SCOPES, { message: `scopes are ${SCOPES.join(', ')}` })).max(SCOPES.length).optional(),
  ttl: z.string().optional(),
});

export function registerAuthRoutes(app: FastifyInstance, deps: { coord: () => Coord }): void {
  app.get('/api/v1/auth/tokens', async () => {
    const tokens = await listTokens(deps.coord());
    return { tokens: tokens.map(tokenInfo).sort((a, b) => a.createdAt.localeCompare(b.createdAt)) };
  });

  app.post('/api/v1/auth/tokens', async (request, reply) => {
    const parsed = createSchema.safeParse(request.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new FlotillaError(Code.INVALID_ARGUMENT, `${issue.path.join('.') || 'body'}: ${issue.message}`);
    }
    const body = parsed.data;
    let ttlMs: number | undefined;
    if (body.ttl !== undefined) {
      const t = parseTtl(body.ttl);
      if (t.error !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, t.error);
      ttlMs = t.value;
    }
    const caller = bearerOf(request.headers.authorization);
    const createdBy = caller !== undefined ? parseToken(caller).id : 'unauthenticated';
    const t = await createToken(deps.coord(), {
      name: body.name ?? `${body.role} token`,
      role: body.role,
      ...(body.scopes !== undefined ? { scopes: body.scopes } : {}),
      ...(ttlMs !== undefined ? { ttlMs } : {}),
      createdBy,
    });
    return reply.status(201).send({ token: t.token, ...tokenInfo(t.record) });
  });

  app.delete<{ Params: { id: string } }>('/api/v1/auth/tokens/:id', async (request) => ({ revoked: await revokeToken(deps.coord(), request.params.id) }));
}
