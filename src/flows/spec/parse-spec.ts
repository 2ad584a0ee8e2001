/**
 * Parses and validates a workflow spec (the YAML of FLOW-1). Every problem carries its line and column;
 * all problems are reported at once, in file order. Executor files are resolved relative to the spec
 * file through `readFile` (the CLI reads the disk; the server reads the files uploaded with the spec).
 */
import { Cron } from 'croner';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { labelProblem, MAX_LABELS } from '../../monitor/index.js';
import { buildGraph, findCycle } from '../dag/graph.js';
import { triggerRules, type TriggerRule } from '../dag/trigger-rules.js';
import { parseEdgeLine } from './edges.js';
import type { FlowSpec, NotifyEvent, NotifySpec, RetryPolicy, SpecProblem, TaskAction, TaskSpec, Trigger } from './spec-types.js';
import { SpecReader } from './yaml-reader.js';

export interface ParseSpecOptions {
  /** Reads an executor file named relative to the spec file; undefined when it does not exist. */
  readFile: (relativePath: string) => string | undefined;
}

export type ParseSpecResult = { spec: FlowSpec; problems: [] } | { spec?: undefined; problems: SpecProblem[] };

const rootFields = ['collection', 'tasks', 'workflow'] as const;
const collectionFields = [
  'key', 'description', 'triggertime', 'timeout', 'retries', 'retry_delay', 'retry_exponential_backoff', 'max_retry_delay',
  'concurrency', 'max_active_runs', 'catchup', 'env', 'params', 'notify',
] as const;
const taskFields = [
  'key', 'description', 'triggertime', 'executor', 'command', 'sensor', 'timeout', 'retries', 'retry_delay',
  'retry_exponential_backoff', 'max_retry_delay', 'trigger_rule', 'runs_on', 'env', 'params', 'connection', 'branch',
] as const;
const sensorFields = ['file', 'mode', 'poke_interval'] as const;
const notifyFields = ['webhooks', 'email', 'channel', 'on'] as const;
const emailFields = ['smtp', 'from', 'to'] as const;
const notifyEvents: readonly NotifyEvent[] = ['run_success', 'run_failed', 'task_failed'];
const keyPattern = /^[A-Za-z0-9_.-]{1,128}$/;

/** Parses a trigger: a cron expression (5 or 6 fields, or @daily...) or an ISO 8601 instant. */
export function parseTrigger(text: string): { value: Trigger; error?: undefined } | { error: string } {
  const t = text.trim();
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
    const ms = Date.parse(t);
    if (Number.isNaN(ms)) return { error: `bad ISO time ${JSON.stringify(text)}` };
    return { value: { kind: 'once', atMs: ms, text: t } };
  }
  try {
    new Cron(t, { paused: true });
  } catch (err) {
    return { error: `bad cron expression ${JSON.stringify(text)}: ${err instanceof Error ? err.message : String(err)}` };
  }
  return { value: { kind: 'cron', expr: t } };
}

export function parseFlowSpec(text: string, options: ParseSpecOptions): ParseSpecResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false });
  const r = new SpecReader(lines, text);
  for (const e of doc.errors) r.problemAt(e.pos[0], e.message.split('\n')[0]!);
  if (doc.errors.length > 0) return { problems: sorted(r.problems) };
  const root = r.entries(doc.contents, 'the spec', rootFields);
  if (root === undefined) return { problems: sorted(r.problems) };
  for (const f of rootFields) if (!root.has(f)) r.problemAt(0, `missing "${f}"`);

  const defaults = { retries: 0, delayMs: 10_000, exponential: false, maxDelayMs: 3_600_000, timeoutMs: undefined as number | undefined };
  let flowKey = '';
  let description = '';
  let trigger: Trigger | undefined;
  let concurrency = 0;
  let maxActiveRuns = 1;
  let catchup = false;
  let env: Record<string, string> = {};
  let params: Record<string, unknown> = {};
  let notify: NotifySpec = { webhooks: [], email: undefined, channels: [], on: ['run_failed', 'task_failed'] };

  const coll = root.get('collection');
  const c = coll !== undefined ? r.entries(coll.value, 'collection', collectionFields) : undefined;
  if (c !== undefined) {
    const keyPair = c.get('key');
    if (keyPair === undefined) r.problem(coll!.key, 'collection.key is required');
    else {
      const k = r.string(keyPair.value, 'collection.key');
      if (k !== undefined && !keyPattern.test(k)) r.problem(keyPair.value, `collection.key ${JSON.stringify(k)} may use only letters, digits, "_", "." and "-"`);
      else if (k !== undefined) flowKey = k;
    }
    for (const [name, pair] of c) {
      const v = pair.value;
      switch (name) {
        case 'description':
          description = r.string(v, 'collection.description') ?? '';
          break;
        case 'triggertime':
          trigger = readTrigger(r, v, 'collection.triggertime');
          break;
        case 'timeout':
          defaults.timeoutMs = r.duration(v, 'collection.timeout');
          break;
        case 'retries':
          defaults.retries = r.int(v, 'collection.retries', 0, 100) ?? 0;
          break;
        case 'retry_delay':
          defaults.delayMs = r.duration(v, 'collection.retry_delay') ?? defaults.delayMs;
          break;
        case 'retry_exponential_backoff':
          defaults.exponential = r.bool(v, 'collection.retry_exponential_backoff') ?? false;
          break;
        case 'max_retry_delay':
          defaults.maxDelayMs = r.duration(v, 'collection.max_retry_delay') ?? defaults.maxDelayMs;
          break;
        case 'concurrency':
          concurrency = r.int(v, 'collection.concurrency', 0, 100_000) ?? 0;
          break;
        case 'max_active_runs':
          maxActiveRuns = r.int(v, 'collection.max_active_runs', 1, 10_000) ?? 1;
          break;
        case 'catchup':
          catchup = r.bool(v, 'collection.catchup') ?? false;
          break;
        case 'env':
          env = r.stringMap(v, 'collection.env');
          break;
        case 'params':
          params = r.json(v);
          break;
        case 'notify':
          notify = readNotify(r, v) ?? notify;
          break;
      }
    }
  }

  const tasks: TaskSpec[] = [];
  const keyNodes = new Map<string, Node>();
  const tasksPair = root.get('tasks');
  const t = tasksPair !== undefined ? r.entries(tasksPair.value, 'tasks') : undefined;
  if (t !== undefined && t.size === 0) r.problem(tasksPair!.value ?? tasksPair!.key, 'tasks must list at least one task');
  for (const [name, pair] of t ?? []) {
    const task = readTask(r, name, pair.key, pair.value, defaults, options);
    if (task === undefined) continue;
    const prev = keyNodes.get(task.key);
    if (prev !== undefined) r.problem(pair.key, `task "${name}" has key "${task.key}", already used by another task`);
    else keyNodes.set(task.key, pair.key);
    tasks.push(task);
  }

  const edges: [string, string][] = [];
  const edgeNodes = new Map<string, { offset: number }>();
  const wf = root.get('workflow');
  if (wf !== undefined) readWorkflow(r, wf.value, keyNodes, edges, edgeNodes, t !== undefined);

  if (r.problems.length === 0) {
    const cycle = findCycle(buildGraph(tasks.map((x) => x.key), edges));
    if (cycle !== undefined) {
      const first = edgeNodes.get(`${cycle[0]}\u0000${cycle[1]}`);
      r.problemAt(first?.offset ?? 0, `cycle in workflow: ${cycle.join(' -> ')}`);
    }
  }
  if (r.problems.length > 0) return { problems: sorted(r.problems) };
  return {
    spec: { key: flowKey, description, trigger, timeoutMs: defaults.timeoutMs, concurrency, maxActiveRuns, catchup, env, params, notify, tasks, edges },
    problems: [],
  };
}

function sorted(p: SpecProblem[]): SpecProblem[] {
  return p.sort((a, b) => a.line - b.line || a.col - b.col);
}

function readTrigger(r: SpecReader, node: Node | null | undefined, what: string): Trigger | undefined {
  const s = r.string(node, what);
  if (s === undefined) return undefined;
  const parsed = parseTrigger(s);
  if (parsed.error !== undefined) {
    r.problem(node, `${what}: ${parsed.error}`, isScalar(node) && (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') ? 1 : 0);
    return undefined;
  }
  return parsed.value;
}

function readNotify(r: SpecReader, node: Node | null | undefined): NotifySpec | undefined {
  const n = r.entries(node, 'collection.notify', notifyFields);
  if (n === undefined) return undefined;
  const out: NotifySpec = { webhooks: [], email: undefined, channels: [], on: ['run_failed', 'task_failed'] };
  const hooks = n.get('webhooks');
  if (hooks !== undefined) {
    out.webhooks = r.stringList(hooks.value, 'notify.webhooks');
    for (const [i, url] of out.webhooks.entries()) {
      if (!/^https?:\/\/\S+$/.test(url)) r.problem(isSeq(hooks.value) ? (hooks.value.items[i] as Node) : hooks.value, `notify.webhooks: ${JSON.stringify(url)} is not an http(s) URL`);
    }
  }
  const channels = n.get('channel');
  if (channels !== undefined) {
    out.channels = r.stringList(channels.value, 'notify.channel');
    for (const [i, c] of out.channels.entries()) {
      // The channel names of scheduled messaging (src/pubsub); $flotilla.* is the server's own.
      if (!/^[A-Za-z0-9_\-.:@/=]{1,255}$/.test(c)) r.problem(isSeq(channels.value) ? (channels.value.items[i] as Node) : channels.value, `notify.channel: ${JSON.stringify(c)} is not a channel name (1-255 letters, digits, _-.:@/=)`);
    }
  }
  const on = n.get('on');
  if (on !== undefined) {
    const events = r.stringList(on.value, 'notify.on');
    const bad = events.find((e) => !notifyEvents.includes(e as NotifyEvent));
    if (bad !== undefined) r.problem(on.value, `notify.on: unknown event "${bad}" (expected ${notifyEvents.join(', ')})`);
    else out.on = events as NotifyEvent[];
  }
  const email = n.get('email');
  if (email !== undefined) {
    const e = r.entries(email.value, 'notify.email', emailFields);
    if (e !== undefined) {
      const smtp = e.get('smtp') !== undefined ? r.string(e.get('smtp')!.value, 'notify.email.smtp') : undefined;
      const from = e.get('from') !== undefined ? r.string(e.get('from')!.value, 'notify.email.from') : undefined;
      const to = e.get('to') !== undefined ? r.stringList(e.get('to')!.value, 'notify.email.to') : [];
      if (smtp === undefined || from === undefined || to.length === 0) r.problem(email.key, 'notify.email needs smtp (host:port), from and to');
      else out.email = { smtp, from, to };
    }
  }
  return out;
}

function readTask(
  r: SpecReader,
  name: string,
  nameNode: Node,
  node: Node | null | undefined,
  defaults: { retries: number; delayMs: number; exponential: boolean; maxDelayMs: number; timeoutMs: number | undefined },
  options: ParseSpecOptions,
): TaskSpec | undefined {
  const where = `task "${name}"`;
  const f = r.entries(node, where, taskFields);
  if (f === undefined) return undefined;
  const before = r.problems.length;
  let key = name;
  if (!keyPattern.test(name)) r.problem(nameNode, `${where}: names may use only letters, digits, "_", "." and "-"`);
  const retry: RetryPolicy = { retries: defaults.retries, delayMs: defaults.delayMs, exponential: defaults.exponential, maxDelayMs: defaults.maxDelayMs };
  const task: TaskSpec = {
    name, key, action: { kind: 'command', command: '' }, timeoutMs: defaults.timeoutMs, retry, triggerRule: 'all_success',
    runsOn: undefined, runsOnLabels: undefined, env: {}, params: {}, trigger: undefined, connection: undefined, branch: false,
  };
  const actions = (['executor', 'command', 'sensor'] as const).filter((k) => f.has(k));
  if (actions.length !== 1) {
    r.problem(nameNode, actions.length === 0 ? `${where} needs one of executor, command or sensor` : `${where} has both ${actions.join(' and ')}; give only one`);
  }
  for (const [field, pair] of f) {
    const v = pair.value;
    switch (field) {
      case 'key': {
        const k = r.string(v, `${where}: key`);
        if (k !== undefined && !keyPattern.test(k)) r.problem(v, `${where}: key ${JSON.stringify(k)} may use only letters, digits, "_", "." and "-"`);
        else if (k !== undefined) key = k;
        break;
      }
      case 'executor': {
        const path = r.string(v, `${where}: executor`);
        if (path === undefined) break;
        const ext = /\.(sh|py|sql)$/.exec(path)?.[1] as 'sh' | 'py' | 'sql' | undefined;
        if (ext === undefined) {
          r.problem(v, `${where}: executor ${JSON.stringify(path)} must be a .sh, .py or .sql file`);
          break;
        }
        const content = options.readFile(path);
        if (content === undefined) r.problem(v, `${where}: executor file ${JSON.stringify(path)} not found (relative to the spec file)`);
        else task.action = { kind: ext, file: path, content };
        break;
      }
      case 'command': {
        const cmd = r.string(v, `${where}: command`);
        if (cmd !== undefined) task.action = { kind: 'command', command: cmd };
        break;
      }
      case 'sensor': {
        const s = r.entries(v, `${where}: sensor`, sensorFields);
        if (s === undefined) break;
        const file = s.get('file') !== undefined ? r.string(s.get('file')!.value, `${where}: sensor.file`) : undefined;
        if (file === undefined) {
          if (!s.has('file')) r.problem(pair.key, `${where}: sensor.file is required`);
          break;
        }
        let mode: 'poke' | 'reschedule' | 'deferrable' = 'poke';
        const m = s.get('mode');
        if (m !== undefined) {
          const text = r.string(m.value, `${where}: sensor.mode`);
          if (text === 'poke' || text === 'reschedule' || text === 'deferrable') mode = text;
          else if (text !== undefined) r.problem(m.value, `${where}: sensor.mode must be poke, reschedule or deferrable`);
        }
        const pi = s.get('poke_interval');
        const pokeIntervalMs = pi !== undefined ? (r.duration(pi.value, `${where}: sensor.poke_interval`) ?? 1000) : 1000;
        task.action = { kind: 'sensor', file, mode, pokeIntervalMs } satisfies TaskAction;
        break;
      }
      case 'timeout':
        task.timeoutMs = r.duration(v, `${where}: timeout`);
        break;
      case 'retries':
        retry.retries = r.int(v, `${where}: retries`, 0, 100) ?? retry.retries;
        break;
      case 'retry_delay':
        retry.delayMs = r.duration(v, `${where}: retry_delay`) ?? retry.delayMs;
        break;
      case 'retry_exponential_backoff':
        retry.exponential = r.bool(v, `${where}: retry_exponential_backoff`) ?? retry.exponential;
        break;
      case 'max_retry_delay':
        retry.maxDelayMs = r.duration(v, `${where}: max_retry_delay`) ?? retry.maxDelayMs;
        break;
      case 'trigger_rule': {
        const rule = r.string(v, `${where}: trigger_rule`);
        if (rule !== undefined && !(triggerRules as readonly string[]).includes(rule)) r.problem(v, `${where}: unknown trigger_rule "${rule}" (expected one of: ${triggerRules.join(', ')})`);
        else if (rule !== undefined) task.triggerRule = rule as TriggerRule;
        break;
      }
      case 'runs_on':
        if (isMap(v)) task.runsOnLabels = readLabelSelector(r, v, `${where}: runs_on`);
        else if (isScalar(v) && (typeof v.value === 'string' || typeof v.value === 'number') && String(v.value) !== '') task.runsOn = String(v.value);
        else r.problem(v ?? pair.key, `${where}: runs_on must be an agent name or a label selector such as {labels: {gpu: "true"}}`);
        break;
      case 'env':
        task.env = r.stringMap(v, `${where}: env`);
        break;
      case 'params':
        task.params = r.json(v);
        break;
      case 'triggertime':
        task.trigger = readTrigger(r, v, `${where}: triggertime`);
        break;
      case 'connection': {
        const conn = r.string(v, `${where}: connection`);
        if (conn !== undefined && !/^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(conn)) r.problem(v, `${where}: connection must be sqlite:PATH or postgres://...`);
        else task.connection = conn;
        break;
      }
      case 'branch':
        task.branch = r.bool(v, `${where}: branch`) ?? false;
        break;
    }
  }
  if (task.connection !== undefined && task.action.kind !== 'sql') r.problem(f.get('connection')!.key, `${where}: connection applies only to a .sql executor`);
  task.key = key;
  return r.problems.length === before ? task : { ...task };
}

function readWorkflow(
  r: SpecReader,
  node: Node | null | undefined,
  keys: Map<string, Node>,
  edges: [string, string][],
  edgeOffsets: Map<string, { offset: number }>,
  tasksKnown: boolean,
): void {
  const lines: { text: string; offset: number }[] = [];
  const addScalar = (n: Node, multi: boolean): void => {
    if (!isScalar(n) || typeof n.value !== 'string') {
      r.problem(n, 'workflow edges must be strings such as "a -> b"');
      return;
    }
    const value = n.value;
    let searchFrom = n.range?.[0] ?? 0;
    for (const line of multi ? value.split('\n') : [value]) {
      // Where this line's text sits in the file (a quoted or block scalar starts after its marker).
      const found = line === '' ? -1 : r.source.indexOf(line, searchFrom);
      const offset = found >= 0 ? found : (n.range?.[0] ?? 0);
      if (found >= 0) searchFrom = found + line.length;
      lines.push({ text: line, offset });
    }
  };
  if (isSeq(node)) for (const item of node.items) addScalar(item as Node, false);
  else if (isScalar(node)) addScalar(node, true);
  else {
    r.problem(node, 'workflow must be a list of edges or one multi-line string');
    return;
  }
  for (const { text, offset } of lines) {
    const parsed = parseEdgeLine(text);
    if (parsed.error !== undefined) {
      r.problemAt(offset + parsed.index, `workflow: ${parsed.error}`);
      continue;
    }
    let ok = true;
    for (const stage of parsed.stages) {
      for (const n of stage) {
        if (!keys.has(n.name)) {
          ok = false;
          if (tasksKnown) r.problemAt(offset + n.index, `workflow: unknown task "${n.name}" in edge ${JSON.stringify(text.trim())}`);
        }
      }
    }
    if (!ok) continue;
    for (let i = 0; i + 1 < parsed.stages.length; i++) {
      for (const a of parsed.stages[i]!) {
        for (const b of parsed.stages[i + 1]!) {
          const id = `${a.name}\u0000${b.name}`;
          if (a.name === b.name) {
            r.problemAt(offset + b.index, `cycle in workflow: ${a.name} -> ${a.name}`);
            continue;
          }
          if (edgeOffsets.has(id)) continue;
          edgeOffsets.set(id, { offset: offset + a.index });
          edges.push([a.name, b.name]);
        }
      }
    }
  }
}

/** `runs_on: {labels: {KEY: VALUE, ...}}`: every label must match (agent labels follow the same rules). */
function readLabelSelector(r: SpecReader, node: Node, where: string): Record<string, string> | undefined {
  const f = r.entries(node, where, ['labels']);
  if (f === undefined) return undefined;
  const pair = f.get('labels');
  if (pair === undefined) {
    r.problem(node, `${where} needs labels: {KEY: VALUE, ...}`);
    return undefined;
  }
  const entries = r.entries(pair.value, `${where}.labels`);
  if (entries === undefined) return undefined;
  if (entries.size === 0) {
    r.problem(pair.value ?? pair.key, `${where}.labels must name at least one label`);
    return undefined;
  }
  if (entries.size > MAX_LABELS) {
    r.problem(pair.value, `${where}.labels: at most ${MAX_LABELS} labels`);
    return undefined;
  }
  const labels: Record<string, string> = {};
  let ok = true;
  for (const [k, p] of entries) {
    const v = p.value;
    if (!isScalar(v) || !(typeof v.value === 'string' || typeof v.value === 'number' || typeof v.value === 'boolean')) {
      r.problem(v ?? p.key, `${where}.labels.${k} must be a string, number or boolean`);
      ok = false;
      continue;
    }
    const value = String(v.value);
    const bad = labelProblem(k, value);
    if (bad !== undefined) {
      r.problem(labelProblem(k, '') !== undefined ? p.key : v, `${where}: ${bad}`);
      ok = false;
      continue;
    }
    labels[k] = value;
  }
  return ok ? labels : undefined;
}
