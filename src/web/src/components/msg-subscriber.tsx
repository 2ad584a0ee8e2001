/**
 * A live subscriber: the browser client of src/pubsub/client on one WebSocket to the server's /ws,
 * subscribed to one channel at a time (a channel token is asked from /api/v1/channel-tokens unless the
 * channel is `public:`), showing each publication as it arrives (newest first, the last 200).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { createPubsubClient, type ClientPublication, type PubsubClient } from '../../../pubsub/client/index.js';
import { sendJson } from '../api.js';

const KEEP = 200;
type ConnState = 'connecting' | 'connected' | 'disconnected' | 'closed';

function preview(p: ClientPublication): string {
  if (p.data !== undefined) return JSON.stringify(p.data);
  return `(${Math.floor(((p.dataBase64 ?? '').length * 3) / 4)} bytes, base64) ${p.dataBase64 ?? ''}`;
}

export function MsgSubscriber(props: { channel: string; onChannel: (channel: string) => void }) {
  const [text, setText] = useState(props.channel);
  const [channel, setChannel] = useState('');
  const [conn, setConn] = useState<ConnState>('closed');
  const [info, setInfo] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [pubs, setPubs] = useState<ClientPublication[]>([]);
  const client = useRef<PubsubClient | undefined>(undefined);

  // One client for the page's life, opened at the first subscription.
  useEffect(() => () => client.current?.close(), []);

  useEffect(() => {
    if (channel === '') return undefined;
    client.current ??= createPubsubClient({
      url: `${location.origin.replace(/^http/, 'ws')}/ws`,
      getToken: async (ch) => (await sendJson<{ token: string }>('POST', '/api/v1/channel-tokens', { channel: ch, ttl: '1h' })).token,
      onState: setConn,
      onError: (err) => setError(`${err.code}: ${err.message}`),
    });
    setPubs([]);
    setInfo(undefined);
    setError(undefined);
    const sub = client.current.subscribe(channel, {
      onPublication: (p) => setPubs((old) => [p, ...old].slice(0, KEEP)),
      onSubscribed: (s) => setInfo(`subscribed at offset ${s.offset}${s.recovered === false ? ' (some publications were missed while disconnected)' : ''}`),
      onError: (err) => setError(`${err.code}: ${err.message}`),
    });
    return () => sub.unsubscribe();
  }, [channel]);

  return (
    <div class="msg-subscriber" data-testid="msg-subscriber" data-channel={channel} data-conn={conn}>
      <form
        class="fields"
        onSubmit={(e) => {
          e.preventDefault();
          const ch = text.trim();
          if (ch === '') return;
          setChannel(ch);
          props.onChannel(ch);
        }}
      >
        <label class="grow">
          Channel
          <input type="text" name="sub-channel" value={text} onInput={(e) => setText(e.currentTarget.value)} placeholder="orders.42 or public:news" required />
        </label>
        <button type="submit">{channel === '' ? 'Subscribe' : 'Switch'}</button>
        {channel !== '' && (
          <button type="button" class="ghost" onClick={() => setChannel('')}>
            Stop
          </button>
        )}
      </form>
      {channel !== '' && (
        <p class="small" role="status">
          <span class={`badge ${conn === 'connected' ? 'good' : conn === 'connecting' ? '' : 'bad'}`} data-testid="sub-state">
            {conn}
          </span>{' '}
          <code>{channel}</code> {info !== undefined && <span class="muted">{info}</span>}
        </p>
      )}
      {error !== undefined && <p class="note bad">{error}</p>}
      {channel !== '' && (
        <ul class="feed msg-feed" data-testid="sub-messages">
          {pubs.length === 0 && <li class="muted">Waiting for publications…</li>}
          {pubs.map((p) => (
            <li key={`${p.epoch}:${p.offset}`} data-offset={p.offset} data-id={p.id}>
              <time>{new Date(p.publishedAt).toLocaleTimeString()}</time>
              <span class="muted small">#{p.offset}</span> <code class="msg-data">{preview(p)}</code>
              {p.publishedAt - p.deliverAt > 1000 && <span class="muted small"> (late by {Math.round((p.publishedAt - p.deliverAt) / 1000)} s)</span>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
