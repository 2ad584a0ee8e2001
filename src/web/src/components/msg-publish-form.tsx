/**
 * The publish form: channel, data (JSON, or sent as a string when it is not JSON), when (now, at a local
 * date and time, or in a duration such as 30s / 10m), an optional ttl and idempotency key; POSTs
 * /api/v1/publish and shows the answer (id, state, deliver time) or the server's error.
 */
import { useState } from 'preact/hooks';
import { errorText, sendJson } from '../api.js';

export interface PublishedMessage {
  id: string;
  channel: string;
  state: string;
  deliverAt: string;
  duplicate?: boolean;
}

type When = 'now' | 'at' | 'in';

export function MsgPublishForm(props: { channel: string; onPublished: (m: PublishedMessage) => void }) {
  const [channel, setChannel] = useState(props.channel);
  const [data, setData] = useState('{"hello": "world"}');
  const [when, setWhen] = useState<When>('now');
  const [at, setAt] = useState('');
  const [delay, setDelay] = useState('30s');
  const [ttl, setTtl] = useState('');
  const [idem, setIdem] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; text: string } | undefined>();

  const body = (): Record<string, unknown> | string => {
    if (channel.trim() === '') return 'name a channel';
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      value = data;
    }
    const out: Record<string, unknown> = { channel: channel.trim(), data: value };
    if (when === 'at') {
      const ms = Date.parse(at);
      if (!Number.isFinite(ms)) return 'pick the date and time to deliver at';
      out.deliverAt = new Date(ms).toISOString();
    } else if (when === 'in') {
      if (delay.trim() === '') return 'give a delay such as 30s or 10m';
      out.delay = delay.trim();
    }
    if (ttl.trim() !== '') out.ttl = ttl.trim();
    if (idem.trim() !== '') out.idempotencyKey = idem.trim();
    return out;
  };

  return (
    <form
      class="msg-publish"
      data-testid="publish-form"
      onSubmit={(e) => {
        e.preventDefault();
        const b = body();
        if (typeof b === 'string') {
          setResult({ ok: false, text: b });
          return;
        }
        setBusy(true);
        setResult(undefined);
        sendJson<PublishedMessage>('POST', '/api/v1/publish', b)
          .then(
            (m) => {
              setResult({ ok: true, text: `${m.duplicate === true ? 'duplicate of' : 'accepted'} ${m.id}: ${m.state}, deliver at ${new Date(m.deliverAt).toLocaleString()}` });
              props.onPublished(m);
            },
            (err: unknown) => setResult({ ok: false, text: errorText(err) }),
          )
          .finally(() => setBusy(false));
      }}
    >
      <div class="fields">
        <label class="grow">
          Channel
          <input type="text" name="channel" value={channel} onInput={(e) => setChannel(e.currentTarget.value)} placeholder="orders.42" required />
        </label>
        <label>
          Deliver
          <select name="when" value={when} onChange={(e) => setWhen(e.currentTarget.value as When)}>
            <option value="now">now</option>
            <option value="at">at</option>
            <option value="in">in</option>
          </select>
        </label>
        {when === 'at' && (
          <label>
            Date and time
            <input type="datetime-local" step="1" name="deliver-at" value={at} onInput={(e) => setAt(e.currentTarget.value)} required />
          </label>
        )}
        {when === 'in' && (
          <label>
            Delay
            <input type="text" name="delay" value={delay} onInput={(e) => setDelay(e.currentTarget.value)} placeholder="30s" size={8} required />
          </label>
        )}
        <label>
          TTL
          <input type="text" name="ttl" value={ttl} onInput={(e) => setTtl(e.currentTarget.value)} placeholder="none" size={6} />
        </label>
        <label>
          Idempotency key
          <input type="text" name="idempotency-key" value={idem} onInput={(e) => setIdem(e.currentTarget.value)} placeholder="none" size={12} />
        </label>
      </div>
      <label>
        Data (JSON; anything else is sent as a string)
        <textarea name="data" rows={3} value={data} onInput={(e) => setData(e.currentTarget.value)} />
      </label>
      <div class="row msg-publish-foot">
        <button type="submit" disabled={busy}>
          {busy ? 'Publishing…' : 'Publish'}
        </button>
        {result !== undefined && (
          <span class={`ack ${result.ok ? 'good' : 'bad'}`} role="status" data-testid="publish-result">
            {result.text}
          </span>
        )}
      </div>
    </form>
  );
}
