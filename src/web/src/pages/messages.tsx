/**
 * Messages: the channels that have scheduled or recently delivered messages, the scheduled messages with
 * their delivery times (cancel one), the latest deliveries, the publish form and a live subscriber panel.
 * The lists are read again after a publish or cancel, when the next message comes due, and every 10 s.
 */
import { useEffect, useState } from 'preact/hooks';
import { errorText, getJson, sendJson } from '../api.js';
import { MsgPublishForm } from '../components/msg-publish-form.js';
import { MsgSubscriber } from '../components/msg-subscriber.js';

interface MessageView {
  id: string;
  channel: string;
  state: string;
  deliverAt: string;
  deliverAtMs: number;
  createdAt: string;
  data?: unknown;
  dataBase64?: string;
  expiresAt?: string;
  deliveredAt?: string;
  idempotencyKey?: string;
}

const REFRESH_MS = 10_000;

function dataPreview(m: MessageView): string {
  const text = m.data !== undefined ? JSON.stringify(m.data) : `base64 ${m.dataBase64 ?? ''}`;
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

function dueIn(ms: number, now: number): string {
  const s = Math.round((ms - now) / 1000);
  if (s <= 0) return 'due';
  if (s < 120) return `in ${s}s`;
  if (s < 7200) return `in ${Math.round(s / 60)}m`;
  if (s < 172_800) return `in ${Math.round(s / 3600)}h`;
  return `in ${Math.round(s / 86_400)}d`;
}

interface Channel {
  name: string;
  scheduled: number;
  nextMs: number | undefined;
  lastDeliveredMs: number | undefined;
}

function channelsOf(scheduled: MessageView[], delivered: MessageView[]): Channel[] {
  const map = new Map<string, Channel>();
  const get = (name: string): Channel => {
    let c = map.get(name);
    if (c === undefined) map.set(name, (c = { name, scheduled: 0, nextMs: undefined, lastDeliveredMs: undefined }));
    return c;
  };
  for (const m of scheduled) {
    const c = get(m.channel);
    c.scheduled++;
    c.nextMs = Math.min(c.nextMs ?? Infinity, m.deliverAtMs);
  }
  for (const m of delivered) {
    const c = get(m.channel);
    const t = m.deliveredAt !== undefined ? Date.parse(m.deliveredAt) : m.deliverAtMs;
    c.lastDeliveredMs = Math.max(c.lastDeliveredMs ?? 0, t);
  }
  return [...map.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export function MessagesPage() {
  const [scheduled, setScheduled] = useState<MessageView[] | undefined>();
  const [delivered, setDelivered] = useState<MessageView[]>([]);
  const [error, setError] = useState<string | undefined>();
  const [filter, setFilter] = useState('');
  const [subChannel, setSubChannel] = useState('public:demo');
  const [note, setNote] = useState<{ text: string; bad: boolean } | undefined>();
  const [version, setVersion] = useState(0);
  const [now, setNow] = useState(Date.now());
  const reload = (): void => setVersion((v) => v + 1);

  useEffect(() => {
    let stopped = false;
    const q = filter === '' ? '' : `&channel=${encodeURIComponent(filter)}`;
    Promise.all([
      getJson<{ messages: MessageView[] }>(`/api/v1/messages?state=scheduled&limit=500${q}`),
      getJson<{ messages: MessageView[] }>(`/api/v1/messages?state=delivered&limit=50${q}`),
    ]).then(
      ([s, d]) => {
        if (stopped) return;
        setScheduled(s.messages.sort((a, b) => a.deliverAtMs - b.deliverAtMs));
        setDelivered(d.messages.sort((a, b) => (b.deliveredAt ?? '').localeCompare(a.deliveredAt ?? '')));
        setError(undefined);
        setNow(Date.now());
      },
      (err: unknown) => {
        if (!stopped) setError(errorText(err));
      },
    );
    return () => {
      stopped = true;
    };
  }, [version, filter]);

  // Read again every 10 s, and just after the next message comes due (not more than once per 2 s).
  useEffect(() => {
    const next = scheduled?.[0]?.deliverAtMs;
    const wait = next === undefined ? REFRESH_MS : Math.min(REFRESH_MS, Math.max(2000, next - Date.now() + 500));
    const timer = setTimeout(reload, wait);
    const clock = setInterval(() => setNow(Date.now()), 1000);
    return () => {
      clearTimeout(timer);
      clearInterval(clock);
    };
  }, [scheduled]);

  const cancel = (m: MessageView): void => {
    sendJson<MessageView>('DELETE', `/api/v1/messages/${encodeURIComponent(m.id)}`).then(
      () => {
        setNote({ text: `cancelled ${m.id}`, bad: false });
        reload();
      },
      (err: unknown) => {
        setNote({ text: `cannot cancel ${m.id}: ${errorText(err)}`, bad: true });
        reload();
      },
    );
  };

  const channels = channelsOf(scheduled ?? [], delivered);
  return (
    <div class="page">
      <h1>Messages</h1>
      {error !== undefined && <p class="note bad">Cannot read the messages: {error}</p>}
      <div class="grid msg-grid">
        <section class="card">
          <h2>Publish</h2>
          <MsgPublishForm
            channel={subChannel}
            onPublished={() => {
              reload();
            }}
          />
        </section>
        <section class="card">
          <h2>Live subscriber</h2>
          <MsgSubscriber channel={subChannel} onChannel={setSubChannel} />
        </section>
      </div>
      <section class="card">
        <h2>Channels</h2>
        {channels.length === 0 ? (
          <p class="muted" data-testid="channels">
            No channel has scheduled or recently delivered messages.
          </p>
        ) : (
          <div class="scroll">
            <table data-testid="channels">
              <thead>
                <tr>
                  <th>Channel</th>
                  <th class="num">Scheduled</th>
                  <th>Next due</th>
                  <th>Last delivery</th>
                </tr>
              </thead>
              <tbody>
                {channels.map((c) => (
                  <tr key={c.name} data-channel={c.name} class={c.name === filter ? 'selected' : ''}>
                    <th scope="row">
                      <button type="button" class="link mono" onClick={() => setFilter(c.name === filter ? '' : c.name)} title="show only this channel">
                        {c.name}
                      </button>
                    </th>
                    <td class="num">{c.scheduled}</td>
                    <td class="nowrap">{c.nextMs === undefined ? '-' : `${new Date(c.nextMs).toLocaleString()} (${dueIn(c.nextMs, now)})`}</td>
                    <td class="nowrap">{c.lastDeliveredMs === undefined ? '-' : new Date(c.lastDeliveredMs).toLocaleTimeString()}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {filter !== '' && (
          <p class="small">
            Showing <code>{filter}</code> only.{' '}
            <button type="button" class="link" onClick={() => setFilter('')}>
              Show all
            </button>
          </p>
        )}
      </section>
      <section class="card">
        <h2>Scheduled</h2>
        {note !== undefined && (
          <p class={`note ${note.bad ? 'bad' : ''}`} role="status">
            {note.text}
          </p>
        )}
        {scheduled === undefined ? (
          <p class="muted">Loading…</p>
        ) : scheduled.length === 0 ? (
          <p class="muted" data-testid="scheduled">
            Nothing scheduled.
          </p>
        ) : (
          <div class="scroll">
            <table data-testid="scheduled">
              <thead>
                <tr>
                  <th>Deliver at</th>
                  <th>Channel</th>
                  <th>Data</th>
                  <th>Id</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {scheduled.map((m) => (
                  <tr key={m.id} data-id={m.id}>
                    <td class="nowrap">
                      {new Date(m.deliverAtMs).toLocaleString()} <span class="muted small">({dueIn(m.deliverAtMs, now)})</span>
                    </td>
                    <td class="mono small">{m.channel}</td>
                    <td class="mono small msg-data">{dataPreview(m)}</td>
                    <td class="mono small" title={m.id}>
                      {m.id.slice(0, 8)}
                    </td>
                    <td>
                      <button type="button" class="ghost" onClick={() => cancel(m)} data-testid="msg-cancel">
                        Cancel
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section class="card">
        <h2>Recently delivered</h2>
        {delivered.length === 0 ? (
          <p class="muted">None yet.</p>
        ) : (
          <div class="scroll">
            <table data-testid="delivered">
              <thead>
                <tr>
                  <th>Delivered</th>
                  <th>Channel</th>
                  <th>Data</th>
                  <th>Due</th>
                </tr>
              </thead>
              <tbody>
                {delivered.map((m) => (
                  <tr key={m.id} data-id={m.id}>
                    <td class="nowrap">{m.deliveredAt !== undefined ? new Date(m.deliveredAt).toLocaleTimeString() : '-'}</td>
                    <td class="mono small">{m.channel}</td>
                    <td class="mono small msg-data">{dataPreview(m)}</td>
                    <td class="nowrap small">{new Date(m.deliverAtMs).toLocaleTimeString()}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}
