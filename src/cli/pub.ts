/**
 * `flotilla pub`: scheduled messages. send (now, --at TIME or --in DURATION), sub (print publications as
 * they arrive), cancel, list, token. Talks to the server's HTTP API (--http, env FLOTILLA_HTTP).
 */
import { createRequire } from 'node:module';
import type { Command } from 'commander';
import { parseDuration } from '../core/duration.js';
import { Code, FlotillaError } from '../core/errors.js';
import { createPubsubClient, isPublicChannel, type ClientPublication, type WebSocketConstructor } from '../pubsub/index.js';
import { action } from './run.js';
import { callServerApi, serverApiBase } from './server-api.js';

interface HttpOpts {
  http?: string;
  json?: boolean;
}

/** A JSON call to the server's HTTP API (server-api.ts). */
function call<T>(opts: HttpOpts, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  return callServerApi<T>(opts.http, method, path, body);
}

function parseData(text: string, raw: boolean): unknown {
  if (raw) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

interface MessageView {
  id: string;
  channel: string;
  state: string;
  deliverAt: string;
  data?: unknown;
  dataBase64?: string;
  duplicate?: boolean;
}

function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function registerPub(program: Command): void {
  const pub = program.command('pub').description('scheduled messages: publish now or at a time, subscribe, cancel, list');
  const httpOpt = '--http <host:port>';
  const httpHelp = 'server HTTP address (env FLOTILLA_HTTP, default 127.0.0.1:8080)';

  pub
    .command('send <channel> <data>')
    .description('publish DATA (JSON, or else a string) on CHANNEL, now or at a given time')
    .option('--at <time>', 'deliver at this time (ISO 8601 with a zone, e.g. 2026-12-01T09:00:00Z)')
    .option('--in <duration>', 'deliver after this delay (e.g. 10m, 1h30m)')
    .option('--ttl <duration>', 'drop the message if it cannot be delivered within this long after its time')
    .option('--key <idempotency-key>', 'publishing again with the same key on the channel returns the first message')
    .option('--raw', 'send DATA as a string even if it is valid JSON')
    .option(httpOpt, httpHelp)
    .option('--json', 'print the answer as JSON')
    .action(
      action(async (channel: string, data: string, opts: HttpOpts & { at?: string; in?: string; ttl?: string; key?: string; raw?: boolean }) => {
        if (opts.at !== undefined && opts.in !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, 'give either --at or --in, not both');
        if (opts.in !== undefined && parseDuration(opts.in).error !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid --in: ${parseDuration(opts.in).error}`);
        const body: Record<string, unknown> = { channel, data: parseData(data, opts.raw === true) };
        if (opts.at !== undefined) body.deliverAt = opts.at;
        if (opts.in !== undefined) body.delay = opts.in;
        if (opts.ttl !== undefined) body.ttl = opts.ttl;
        if (opts.key !== undefined) body.idempotencyKey = opts.key;
        const m = await call<MessageView>(opts, 'POST', '/api/v1/publish', body);
        process.stdout.write(opts.json === true ? JSON.stringify(m) + '\n' : `${m.duplicate === true ? 'already accepted' : 'accepted'} ${m.id} on ${m.channel}, delivery at ${m.deliverAt}\n`);
      }),
    );

  pub
    .command('sub <channel>')
    .description('print publications of CHANNEL as they arrive (reconnects and recovers on its own)')
    .option('--count <n>', 'exit after N publications')
    .option('--since <offset>', 'start after this offset (needs --epoch)')
    .option('--epoch <epoch>', 'the epoch --since belongs to')
    .option('--token <token>', 'channel token (default: asked from the server for non-public channels)')
    .option(httpOpt, httpHelp)
    .option('--json', 'print each publication as a JSON line')
    .action(
      action(async (channel: string, opts: HttpOpts & { count?: string; since?: string; epoch?: string; token?: string }) => {
        const count = opts.count === undefined ? Infinity : Number(opts.count);
        if (!(count === Infinity || (Number.isInteger(count) && count > 0))) throw new FlotillaError(Code.INVALID_ARGUMENT, '--count must be a positive integer');
        if ((opts.since === undefined) !== (opts.epoch === undefined)) throw new FlotillaError(Code.INVALID_ARGUMENT, '--since and --epoch go together');
        if (opts.since !== undefined && !/^\d+$/.test(opts.since)) throw new FlotillaError(Code.INVALID_ARGUMENT, '--since must be an offset (a non-negative integer)');
        const require = createRequire(import.meta.url);
        const { WebSocket } = require('ws') as { WebSocket: WebSocketConstructor };
        const wsUrl = serverApiBase(opts.http).replace(/^http/, 'ws') + '/ws';
        let received = 0;
        await new Promise<void>((resolve, reject) => {
          const client = createPubsubClient({
            url: wsUrl,
            WebSocket,
            getToken: async (ch) => opts.token ?? (await call<{ token: string }>(opts, 'POST', '/api/v1/channel-tokens', { channel: ch })).token,
            onState: (state) => {
              if (state === 'disconnected') process.stderr.write('flotilla: connection lost; reconnecting\n');
            },
          });
          const stop = (): void => {
            client.close();
            resolve();
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
          client.subscribe(channel, {
            ...(opts.since !== undefined ? { since: { offset: Number(opts.since), epoch: opts.epoch! } } : {}),
            ...(opts.token !== undefined ? { token: opts.token } : {}),
            onSubscribed: (info) => {
              if (info.recovered === false) process.stderr.write(`flotilla: could not recover every missed message on ${channel} (history too short or a different server); continuing from offset ${info.offset}\n`);
              else process.stderr.write(`subscribed to ${channel} (epoch ${info.epoch}, offset ${info.offset})\n`);
            },
            onError: (err) => {
              client.close();
              reject(new FlotillaError(err.code in Code ? (err.code as Code) : Code.INTERNAL, err.message));
            },
            onPublication: (p: ClientPublication) => {
              const data = p.data !== undefined ? p.data : { base64: p.dataBase64 };
              process.stdout.write(opts.json === true ? JSON.stringify(p) + '\n' : `${p.offset}\t${new Date(p.deliverAt).toISOString()}\t${show(data)}\n`);
              received += 1;
              if (received >= count) stop();
            },
          });
          if (!isPublicChannel(channel) && opts.token === undefined) process.stderr.write(`asking the server for a token for ${channel}\n`);
        });
      }),
    );

  pub
    .command('cancel <id>')
    .description('cancel a scheduled message')
    .option(httpOpt, httpHelp)
    .option('--json', 'print the answer as JSON')
    .action(
      action(async (id: string, opts: HttpOpts) => {
        const m = await call<MessageView>(opts, 'DELETE', `/api/v1/messages/${encodeURIComponent(id)}`);
        process.stdout.write(opts.json === true ? JSON.stringify(m) + '\n' : `cancelled ${m.id} (was due ${m.deliverAt})\n`);
      }),
    );

  pub
    .command('list [channel]')
    .description('list messages (scheduled by default), soonest first')
    .option('--state <state>', 'scheduled, delivered, cancelled or expired', 'scheduled')
    .option('--limit <n>', 'at most N messages', '100')
    .option(httpOpt, httpHelp)
    .option('--json', 'print JSON')
    .action(
      action(async (channel: string | undefined, opts: HttpOpts & { state: string; limit: string }) => {
        const q = new URLSearchParams({ state: opts.state, limit: opts.limit });
        if (channel !== undefined) q.set('channel', channel);
        const res = await call<{ messages: MessageView[] }>(opts, 'GET', `/api/v1/messages?${q.toString()}`);
        if (opts.json === true) {
          process.stdout.write(JSON.stringify(res.messages) + '\n');
          return;
        }
        const rows = [['ID', 'CHANNEL', 'STATE', 'DELIVER AT', 'DATA'], ...res.messages.map((m) => [m.id, m.channel, m.state, m.deliverAt, show(m.data ?? { base64: m.dataBase64 }).slice(0, 60)])];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        process.stdout.write(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n');
      }),
    );

  pub
    .command('token <channel>')
    .description('get a channel token for subscribing to CHANNEL (for apps and tests)')
    .option('--ttl <duration>', 'validity (default 1h)')
    .option(httpOpt, httpHelp)
    .option('--json', 'print JSON')
    .action(
      action(async (channel: string, opts: HttpOpts & { ttl?: string }) => {
        const res = await call<{ token: string; expiresAt: string }>(opts, 'POST', '/api/v1/channel-tokens', { channel, ...(opts.ttl !== undefined ? { ttl: opts.ttl } : {}) });
        process.stdout.write(opts.json === true ? JSON.stringify(res) + '\n' : res.token + '\n');
      }),
    );
}
