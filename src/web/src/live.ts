/**
 * Live state shared by every page: the membership view and the agents with their latest samples. Both
 * arrive as messages on the server's internal channels (`$flotilla.members`, `$flotilla.agents`), read
 * over /ws with the pubsub browser client (src/pubsub/client) and a channel token from
 * POST /api/v1/channel-tokens. Each channel's first view (and the view after a gap the server could not
 * fill) comes from GET /api/v1/members?events=true and GET /api/v1/agents?metrics=true. The connection is
 * opened by the first page that needs it and kept while the app runs, so switching pages keeps the
 * history the charts draw from.
 */
import { useEffect, useState } from 'preact/hooks';
import { createPubsubClient, INTERNAL_CHANNELS, type PubsubClient, type SubscribedInfo } from '../../pubsub/client/index.js';
import { getJson, postJson, type StreamState } from './api.js';
import type { Agent, FeedEvent, MemberEvent, MembersJson } from './types.js';

type Listener = () => void;

/** Points kept per series for the live charts. */
const MAX_POINTS = 3600;
const MAX_FEED = 100;

export interface SeriesHistory {
  times: number[];
  values: number[];
}

export interface LiveState {
  members?: MembersJson;
  membersStream: StreamState;
  membersError?: string;
  agents: Map<string, Agent>;
  agentsStream: StreamState;
  agentsError?: string;
  feed: FeedEvent[];
  /** Bumped on every change, so a hook re-renders. */
  tick: number;
}

const state: LiveState = { membersStream: 'connecting', agents: new Map(), agentsStream: 'connecting', feed: [], tick: 0 };
/** host -> series key -> points (seconds, value). */
const history = new Map<string, Map<string, SeriesHistory>>();
const listeners = new Set<Listener>();
const started = { members: false, agents: false };
let notifyQueued = false;

function notify(): void {
  if (notifyQueued) return;
  notifyQueued = true;
  queueMicrotask(() => {
    notifyQueued = false;
    state.tick++;
    for (const l of listeners) l();
  });
}

function pushFeed(e: FeedEvent): void {
  state.feed.unshift(e);
  if (state.feed.length > MAX_FEED) state.feed.length = MAX_FEED;
}

function memberFeed(e: MemberEvent): FeedEvent {
  const tone = e.status === 'ACTIVE' ? 'good' : e.status === 'DISCONNECTED' ? 'bad' : 'neutral';
  const text = e.previous === null ? `node ${e.name} seen ${e.status}` : `node ${e.name} ${e.previous} → ${e.status}`;
  return { at: e.at, kind: 'node', name: e.name, text, tone };
}

/** The stable key of a series: metric{label="v",...}. */
export function seriesKey(metric: string, labels: Record<string, string>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]}"`);
  return parts.length === 0 ? metric : `${metric}{${parts.join(',')}}`;
}

function record(agent: Agent): void {
  if (agent.lastMetrics === undefined) return;
  let host = history.get(agent.hostname);
  if (host === undefined) history.set(agent.hostname, (host = new Map<string, SeriesHistory>()));
  for (const m of agent.lastMetrics) {
    const key = seriesKey(m.metric, m.labels);
    let s = host.get(key);
    if (s === undefined) host.set(key, (s = { times: [], values: [] }));
    const t = m.timeMs / 1000;
    if (s.times.length > 0 && t <= s.times[s.times.length - 1]!) continue;
    s.times.push(t);
    s.values.push(m.value);
    if (s.times.length > MAX_POINTS) {
      s.times.shift();
      s.values.shift();
    }
  }
}

function setAgent(agent: Agent, initial: boolean): void {
  const before = state.agents.get(agent.hostname);
  if (!initial && (before === undefined || before.alive !== agent.alive)) {
    pushFeed({ at: new Date().toISOString(), kind: 'agent', name: agent.hostname, text: `agent ${agent.hostname} ${agent.alive ? 'alive' : 'dead'}`, tone: agent.alive ? 'good' : 'bad' });
  }
  state.agents.set(agent.hostname, agent);
  record(agent);
}

let client: PubsubClient | undefined;

/** The one WebSocket of the app (opened on first use). */
function pubsub(): PubsubClient {
  if (client !== undefined) return client;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  client = createPubsubClient({
    url,
    getToken: async (channel) => (await postJson<{ token: string }>('/api/v1/channel-tokens', { channel, ttl: '12h' })).token,
    onState: (s) => {
      const mapped: StreamState = s === 'connected' ? 'open' : s === 'connecting' ? 'connecting' : 'retrying';
      // "open" only once the channel's subscription answered (see onSubscribed).
      if (mapped !== 'open') {
        state.membersStream = mapped;
        state.agentsStream = mapped;
        notify();
      }
    },
  });
  return client;
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** True when the subscription starts without the messages before it: the caller loads a fresh view. */
const needsSnapshot = (info: SubscribedInfo): boolean => info.recovered !== true;

function applyMembersSnapshot(snap: MembersJson & { events?: MemberEvent[] }): void {
  state.members = { observer: snap.observer, coordinationReachable: snap.coordinationReachable, members: snap.members };
  const known = new Set(state.feed.filter((f) => f.kind === 'node').map((f) => `${f.at}|${f.text}`));
  for (const e of snap.events ?? []) {
    const f = memberFeed(e);
    if (!known.has(`${f.at}|${f.text}`)) pushFeed(f);
  }
  state.feed.sort((a, b) => b.at.localeCompare(a.at));
}

function startMembers(): void {
  if (started.members) return;
  started.members = true;
  pubsub().subscribe(INTERNAL_CHANNELS.members, {
    onSubscribed(info) {
      state.membersStream = 'open';
      state.membersError = undefined;
      notify();
      if (!needsSnapshot(info)) return;
      getJson<MembersJson & { events?: MemberEvent[] }>('/api/v1/members?events=true')
        .then((snap) => {
          applyMembersSnapshot(snap);
          notify();
        })
        .catch((e: unknown) => {
          state.membersError = errorText(e);
          notify();
        });
    },
    onPublication(p) {
      const msg = p.data as { type: string; event?: MemberEvent } & MembersJson;
      if (msg.type === 'members') state.members = { observer: msg.observer, coordinationReachable: msg.coordinationReachable, members: msg.members };
      else if (msg.type === 'status' && msg.event !== undefined) pushFeed(memberFeed(msg.event));
      notify();
    },
    onError(e) {
      state.membersStream = 'retrying';
      state.membersError = e.message;
      notify();
    },
  });
}

function startAgents(): void {
  if (started.agents) return;
  started.agents = true;
  pubsub().subscribe(INTERNAL_CHANNELS.agents, {
    onSubscribed(info) {
      state.agentsStream = 'open';
      state.agentsError = undefined;
      notify();
      if (!needsSnapshot(info)) return;
      getJson<{ agents: Agent[] }>('/api/v1/agents?metrics=true')
        .then((snap) => {
          for (const a of snap.agents) setAgent(a, true);
          notify();
        })
        .catch((e: unknown) => {
          state.agentsError = errorText(e);
          notify();
        });
    },
    onPublication(p) {
      const msg = p.data as { type: string; agent?: Agent };
      if (msg.type === 'agent' && msg.agent !== undefined) setAgent(msg.agent, false);
      notify();
    },
    onError(e) {
      state.agentsStream = 'retrying';
      state.agentsError = e.message;
      notify();
    },
  });
}

/** The live state, re-rendering the caller on every change of the streams it names. */
export function useLive(streams: { members?: boolean; agents?: boolean }): LiveState {
  const [, setTick] = useState(0);
  useEffect(() => {
    if (streams.members === true) startMembers();
    if (streams.agents === true) startAgents();
    const l: Listener = () => setTick(state.tick);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, [streams.members, streams.agents]);
  return state;
}

/** The recorded points of one series of one host (empty when none arrived yet). */
export function seriesHistory(host: string, key: string): SeriesHistory {
  return history.get(host)?.get(key) ?? { times: [], values: [] };
}

/** Keys of every series seen for a host, sorted. */
export function seriesKeys(host: string): string[] {
  return [...(history.get(host)?.keys() ?? [])].sort();
}
