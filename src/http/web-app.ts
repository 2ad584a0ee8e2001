/**
 * Serves the dashboard (the single-page app Vite builds into dist/web) at `/`: files by path, hashed
 * assets cached for a year, and index.html for every other path that is not an API route, so client
 * routes (/cluster, /metrics) survive a reload. API routes are untouched: they are matched first, and an
 * unknown /api/... path still answers a 404 problem+json. When the app is not built every page answers a
 * 503 naming the command that builds it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { Code, FlotillaError } from '../core/errors.js';

/** dist/web of this installation (the same from src/http and dist/http). */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../dist/web', import.meta.url));

export interface WebAppOptions {
  /** Directory holding index.html and assets/. Default: dist/web of this installation. */
  root?: string;
}

/** Paths owned by the API and probes: never answered with the app. */
const API_PATH = /^\/(api|healthz|readyz|metrics|upload|download|s3)(\/|$|\?)/;

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flotilla dashboard not built</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem}
code{background:#8882;padding:0 .3em;border-radius:3px}@media (prefers-color-scheme:dark){body{background:#111;color:#ddd}}</style>
</head><body><h1>The dashboard is not built</h1>
<p>This server found no <code>dist/web/index.html</code>. Build it with <code>npm run build</code> (it runs
<code>vite build</code>) and restart the server. The HTTP API under <code>/api/v1/</code> works meanwhile.</p>
</body></html>
`;

/** Registers the app's routes on `app` (before it starts). */
export function registerWebApp(app: FastifyInstance, options: WebAppOptions = {}): void {
  const root = options.root ?? DEFAULT_WEB_ROOT;
  const built = existsSync(join(root, 'index.html'));
  if (built) void app.register(fastifyStatic, { root, serve: false, decorateReply: true });

  app.get('/*', async (request, reply) => {
    const path = request.url.split('?')[0]!;
    if (API_PATH.test(path)) throw new FlotillaError(Code.NOT_FOUND, `no route for ${request.method} ${path.slice(0, 200)}`);
    if (!built) return reply.status(503).type('text/html; charset=utf-8').header('retry-after', '60').send(NOT_BUILT);
    const last = path.slice(path.lastIndexOf('/') + 1);
    if (last.includes('.')) {
      // A file (send refuses paths leaving root, and answers 404 through the not-found handler).
      const hashed = path.startsWith('/assets/');
      let rel: string;
      try {
        rel = decodeURIComponent(path);
      } catch {
        throw new FlotillaError(Code.INVALID_ARGUMENT, 'bad percent-encoding in the path');
      }
      return reply.sendFile(rel.slice(1), hashed ? { maxAge: '365d', immutable: true } : { maxAge: 0 });
    }
    return reply.header('cache-control', 'no-cache').sendFile('index.html', { maxAge: 0, cacheControl: false });
  });
}
