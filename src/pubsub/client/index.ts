/**
 * The subscriber client for web apps (and the CLI): one WebSocket to `/ws`, any number of channel
 * subscriptions, automatic reconnect with exponential backoff and jitter, and recovery from the last
 * offset seen on each channel. Publications are acknowledged after the handler returned; a redelivered
 * publication (marked `duplicate`) the client already handled is acknowledged and dropped.
 *
 * Runtime-neutral: no Node APIs. In a browser it uses the global WebSocket; elsewhere pass one (the `ws`
 * package's WebSocket works).
 *
 *   const client = createPubsubClient({ url: 'wss://example.com/ws', getToken: (ch) => fetchMyToken(ch) });
 *   client.subscribe('news', { onPublication: (p) => console.log(p.offset, p.data) });
 */

/**
 * The server's internal channels (names starting with `$flotilla.`, on which only the server publishes;
 * subscribing needs a channel token): membership, agents, workflow runs and tasks.
 */
export const INTERNAL_CHANNELS = {
  members: '$flotilla.members',
  agents: '$flotilla.agents',
  flows: '$flotilla.flows',
} as const;

/** A publication as it arrives. */
export interface ClientPublication {
  channel: string;
  offset: number;
  epoch: string;
  /** The message id: the same on every server and every redelivery. */
  id: string;
  data?: unknown;
  dataBase64?: string;
  /** When it was due, ms since the epoch. */
  deliverAt: number;
  /** When this server appended it to the channel, ms since the epoch. */
  publishedAt: number;
  duplicate?: true;
}

export interface SubscribedInfo {
  channel: string;
  epoch: string;
  offset: number;
  /** After a reconnect: true if every missed publication follows; false if some were lost (resync from your source of truth). */
  recovered?: boolean;
}

export interface ClientError {
  code: string;
  message: string;
}

/** The part of the WebSocket API the client uses (the browser's and the `ws` package's both fit). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface PubsubClientOptions {
  /** ws://host:port/ws or wss://... */
  url: string;
  /** Default: globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** Gives a channel token for a non-public channel (asked again after an authentication error). */
  getToken?: (channel: string) => Promise<string>;
  /** First reconnect delay ceiling. Default 250 ms. */
  minReconnectMs?: number;
  /** Largest reconnect delay. Default 10 000 ms. */
  maxReconnectMs?: number;
  /** Called on connection state changes. */
  onState?: (state: 'connecting' | 'connected' | 'disconnected' | 'closed') => void;
  /** Errors that are not tied to one subscription. */
  onError?: (err: ClientError) => void;
}

export interface SubscribeOptions {
  onPublication: (pub: ClientPublication) => void;
  onSubscribed?: (info: SubscribedInfo) => void;
  onError?: (err: ClientError) => void;
  /** Start from this position (e.g. saved from an earlier session). */
  since?: { offset: number; epoch: string };
  /** A fixed channel token (instead of options.getToken). */
  token?: string;
}

export interface ClientSubscription {
  readonly channel: string;
  /** The last publication handled (offset and epoch), or undefined before the first. */
  position(): { offset: number; epoch: string } | undefined;
  unsubscribe(): void;
}

interface SubState {
  channel: string;
  opts: SubscribeOptions;
  position: { offset: number; epoch: string } | undefined;
  token: string | undefined;
  ackDue: boolean;
  active: boolean;
}

export interface PubsubClient {
  subscribe(channel: string, options: SubscribeOptions): ClientSubscription;
  /** Resolves once connected (or rejects after close()). */
  connected(): Promise<void>;
  close(): void;
}

const OPEN = 1;

export function createPubsubClient(options: PubsubClientOptions): PubsubClient {
  const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (Ctor === undefined) throw new Error('no WebSocket implementation: pass options.WebSocket');
  const WS: WebSocketConstructor = Ctor;
  const minMs = options.minReconnectMs ?? 250;
  const maxMs = options.maxReconnectMs ?? 10_000;
  const subs = new Map<string, SubState>();
  const pendingReplies = new Map<number, SubState>();
  let ws: WebSocketLike | undefined;
  let nextId = 1;
  let attempt = 0;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  const send = (frame: unknown): void => {
    if (ws !== undefined && ws.readyState === OPEN) ws.send(JSON.stringify(frame));
  };

  async function sendSubscribe(s: SubState): Promise<void> {
    let token = s.opts.token ?? s.token;
    if (token === undefined && options.getToken !== undefined && !s.channel.startsWith('public:')) {
      try {
        token = await options.getToken(s.channel);
        s.token = token;
      } catch (err) {
        s.opts.onError?.({ code: 'UNAUTHENTICATED', message: `cannot get a token for ${s.channel}: ${String(err)}` });
        return;
      }
    }
    if (!s.active) return;
    s.position ??= s.opts.since;
    const id = nextId++;
    pendingReplies.set(id, s);
    const body: Record<string, unknown> = { channel: s.channel };
    if (token !== undefined) body.token = token;
    if (s.position !== undefined) body.since = s.position;
    send({ id, subscribe: body });
  }

  function scheduleAck(s: SubState): void {
    if (s.ackDue) return;
    s.ackDue = true;
    queueMicrotask(() => {
      s.ackDue = false;
      if (s.position !== undefined && s.active) send({ ack: { channel: s.channel, offset: s.position.offset } });
    });
  }

  function onFrame(text: string): void {
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    if (frame.pub !== undefined) {
      const pub = frame.pub as ClientPublication;
      const s = subs.get(pub.channel);
      if (s === undefined || !s.active) return;
      const seen = s.position !== undefined && s.position.epoch === pub.epoch && pub.offset <= s.position.offset;
      if (!seen) {
        s.position = { offset: pub.offset, epoch: pub.epoch };
        try {
          s.opts.onPublication(pub);
        } catch (err) {
          s.opts.onError?.({ code: 'HANDLER_FAILED', message: String(err) });
        }
      }
      scheduleAck(s);
      return;
    }
    if (typeof frame.id === 'number') {
      const s = pendingReplies.get(frame.id);
      pendingReplies.delete(frame.id);
      if (s === undefined) return;
      if (frame.error !== undefined) {
        const err = frame.error as ClientError;
        if (err.code === 'UNAUTHENTICATED' || err.code === 'PERMISSION_DENIED') s.token = undefined;
        s.opts.onError?.(err);
        return;
      }
      const info = frame.result as SubscribedInfo;
      // A fresh start, or a gap the server could not fill: continue from the server's current position.
      if (s.position === undefined || info.recovered === false || s.position.epoch !== info.epoch) s.position = { offset: info.offset, epoch: info.epoch };
      s.opts.onSubscribed?.(info);
      return;
    }
    if (frame.unsubscribed !== undefined) {
      // The server ended a subscription (too slow): subscribe again, recovering from the last offset.
      const ch = (frame.unsubscribed as { channel: string }).channel;
      const s = subs.get(ch);
      if (s !== undefined && s.active) void sendSubscribe(s);
      return;
    }
    if (frame.error !== undefined) options.onError?.(frame.error as ClientError);
  }

  function connect(): void {
    if (closed) return;
    options.onState?.('connecting');
    const sock = new WS(options.url);
    ws = sock;
    sock.onopen = () => {
      attempt = 0;
      options.onState?.('connected');
      for (const w of waiters.splice(0)) w.resolve();
      for (const s of subs.values()) void sendSubscribe(s);
    };
    sock.onmessage = (ev) => {
      if (typeof ev.data === 'string') onFrame(ev.data);
      else if (ev.data instanceof Uint8Array) onFrame(new TextDecoder().decode(ev.data));
    };
    sock.onerror = () => undefined;
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = undefined;
      pendingReplies.clear();
      if (closed) return;
      options.onState?.('disconnected');
      const ceiling = Math.min(maxMs, minMs * 2 ** attempt);
      attempt += 1;
      timer = setTimeout(connect, Math.floor(ceiling / 2 + (Math.random() * ceiling) / 2));
    };
  }

  connect();

  return {
    subscribe(channel, opts) {
      if (subs.has(channel)) throw new Error(`already subscribed to ${channel}`);
      const s: SubState = { channel, opts, position: undefined, token: undefined, ackDue: false, active: true };
      subs.set(channel, s);
      if (ws !== undefined && ws.readyState === OPEN) void sendSubscribe(s);
      return {
        channel,
        position: () => (s.position === undefined ? undefined : { ...s.position }),
        unsubscribe: () => {
          s.active = false;
          subs.delete(channel);
          send({ id: nextId++, unsubscribe: { channel } });
        },
      };
    },
    connected() {
      if (ws !== undefined && ws.readyState === OPEN) return Promise.resolve();
      if (closed) return Promise.reject(new Error('client closed'));
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      for (const w of waiters.splice(0)) w.reject(new Error('client closed'));
      waiters = [];
      options.onState?.('closed');
      ws?.close(1000, 'client closed');
      ws = undefined;
    },
  };
}
