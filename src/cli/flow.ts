/**
 * `flotilla flow`: workflows (FLOW-*). `validate` works offline; the other commands talk to the server's
 * HTTP API (`--http HOST:PORT`, env FLOTILLA_HTTP, default 127.0.0.1:8080), as `flotilla pub` does.
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { Code, FlotillaError } from '../core/errors.js';
import { ExitCode } from '../core/lifecycle.js';
import { formatProblems, loadFlowSpecFile } from '../flows/index.js';
import { action } from './run.js';
import { callServerApi } from './server-api.js';

interface ClientOpts { http?: string; json?: boolean }

/** A JSON call to the server's HTTP API (server-api.ts). */
function call<T>(opts: ClientOpts, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  return callServerApi<T>(opts.http, method, path, body);
}

interface RunView {
  run: { id: string; flow_key: string; state: string; reason: string; version: string };
  tasks: { task_key: string; state: string; try_number: number; host: string; reason: string; lateness_ms: number | null }[];
}

function renderRun(v: RunView): string {
  const rows = v.tasks.map((t) => [t.task_key, t.state, String(t.try_number), t.host, t.reason]);
  const head = ['TASK', 'STATE', 'TRY', 'HOST', 'REASON'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return `run ${v.run.id} (${v.run.flow_key}@${v.run.version}): ${v.run.state}\n${[head, ...rows].map(line).join('\n')}\n`;
}

const finished = new Set(['success', 'failed', 'cancelled']);

async function watchRun(opts: ClientOpts, runId: string): Promise<RunView> {
  let last = '';
  let drawnLines = 0;
  for (;;) {
    const v = await call<RunView>(opts, 'GET', `/api/v1/flows/runs/${encodeURIComponent(runId)}`);
    const text = renderRun(v);
    if (text !== last) {
      if (process.stdout.isTTY && drawnLines > 0) process.stdout.write(`\x1b[${drawnLines}A\x1b[J`);
      process.stdout.write(text);
      drawnLines = text.split('\n').length - 1;
      last = text;
    }
    if (finished.has(v.run.state)) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
}

function bundleFromFile(file: string): ReturnType<typeof loadFlowSpecFile>['bundle'] {
  const { bundle, result } = loadFlowSpecFile(file);
  if (result.spec === undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid workflow spec:\n${formatProblems(file, result.problems)}`);
  return bundle;
}

export function registerFlow(program: Command): void {
  const flow = program.command('flow').description('workflows: validate, submit and run YAML DAGs of shell, Python and SQL tasks');
  const client = (c: Command): Command => c.option('--http <host:port>', 'the server HTTP address (env FLOTILLA_HTTP, default 127.0.0.1:8080)').option('--json', 'print JSON');

  flow
    .command('validate <file>')
    .description('check a spec file offline; prints each problem as FILE:LINE:COL: message')
    .action(
      action(async (file: string) => {
        const { result } = loadFlowSpecFile(file);
        if (result.spec === undefined) {
          process.stderr.write(formatProblems(file, result.problems) + '\n');
          process.exit(ExitCode.USAGE);
        }
        process.stdout.write(`${file}: valid: flow ${result.spec.key}, ${result.spec.tasks.length} task(s), ${result.spec.edges.length} edge(s)\n`);
      }),
    );
  client(flow.command('submit <file>').description('validate and store a spec (a new version; running runs keep theirs)')).action(
    action(async (file: string, opts: ClientOpts) => {
      const r = await call<{ key: string; version: string; created: boolean }>(opts, 'POST', '/api/v1/flows', bundleFromFile(file));
      process.stdout.write(opts.json === true ? JSON.stringify(r) + '\n' : `flow ${r.key} version ${r.version}${r.created ? ' (new flow)' : ''}\n`);
    }),
  );
  client(flow.command('list').description('the flows on the server')).action(
    action(async (opts: ClientOpts) => {
      const r = await call<{ flows: { key: string; version: string; paused: number }[] }>(opts, 'GET', '/api/v1/flows');
      if (opts.json === true) process.stdout.write(JSON.stringify(r) + '\n');
      else for (const f of r.flows) process.stdout.write(`${f.key.padEnd(24)} ${f.version}  ${f.paused === 1 ? 'paused' : 'active'}\n`);
    }),
  );
  client(flow.command('run <flow-or-file>').description('start a run (a FILE is submitted first)').option('--wait', 'show the task states live until the run ends; exit 1 unless it succeeds')).action(
    action(async (target: string, opts: ClientOpts & { wait?: boolean }) => {
      let key = target;
      if (existsSync(target)) key = (await call<{ key: string }>(opts, 'POST', '/api/v1/flows', bundleFromFile(target))).key;
      const run = await call<{ id: string }>(opts, 'POST', `/api/v1/flows/${encodeURIComponent(key)}/runs`);
      if (opts.wait !== true) {
        process.stdout.write(opts.json === true ? JSON.stringify(run) + '\n' : `${run.id}\n`);
        return;
      }
      const v = await watchRun(opts, run.id);
      if (v.run.state !== 'success') process.exit(ExitCode.FAILURE);
    }),
  );
  client(flow.command('status <run>').description('a run and its task instances')).action(
    action(async (runId: string, opts: ClientOpts) => {
      const v = await call<RunView>(opts, 'GET', `/api/v1/flows/runs/${encodeURIComponent(runId)}`);
      process.stdout.write(opts.json === true ? JSON.stringify(v) + '\n' : renderRun(v));
    }),
  );
  client(flow.command('logs <run> [task]').description("the run's attempt logs").option('-f, --follow', 'keep printing new lines until the run ends')).action(
    action(async (runId: string, task: string | undefined, opts: ClientOpts & { follow?: boolean }) => {
      let after = 0;
      for (;;) {
        const q = `after=${after}${task !== undefined ? `&task=${encodeURIComponent(task)}` : ''}`;
        const r = await call<{ state: string; lines: { id: number; task_key: string; try_number: number; stream: string; line: string }[] }>(opts, 'GET', `/api/v1/flows/runs/${encodeURIComponent(runId)}/logs?${q}`);
        for (const l of r.lines) {
          process.stdout.write(opts.json === true ? JSON.stringify(l) + '\n' : `${task === undefined ? `[${l.task_key}#${l.try_number}] ` : ''}${l.stream === 'stderr' ? '! ' : ''}${l.line}\n`);
          after = l.id;
        }
        if (opts.follow !== true || (finished.has(r.state) && r.lines.length === 0)) return;
        if (r.lines.length === 0) await new Promise((res) => setTimeout(res, 250));
      }
    }),
  );
  client(flow.command('rerun <run>').description('rerun from the failure point, or from --task').option('--task <key>', 'rerun this task and its downstream').option('--latest', "move the run to the flow's current spec version first")).action(
    action(async (runId: string, opts: ClientOpts & { task?: string; latest?: boolean }) => {
      const r = await call<{ cleared: string[] }>(opts, 'POST', `/api/v1/flows/runs/${encodeURIComponent(runId)}/rerun`, { ...(opts.task !== undefined ? { task: opts.task } : {}), ...(opts.latest === true ? { latest: true } : {}) });
      process.stdout.write(opts.json === true ? JSON.stringify(r) + '\n' : `rerunning: ${r.cleared.join(', ') || 'nothing to rerun'}\n`);
    }),
  );
  client(flow.command('cancel <run>').description('stop a run: running attempts are killed (shutdown)')).action(
    action(async (runId: string, opts: ClientOpts) => {
      const r = await call<{ state: string }>(opts, 'POST', `/api/v1/flows/runs/${encodeURIComponent(runId)}/cancel`);
      process.stdout.write(`${runId}: ${r.state}\n`);
    }),
  );
  for (const verb of ['pause', 'resume'] as const) {
    client(flow.command(`${verb} <flow>`).description(verb === 'pause' ? 'stop creating scheduled runs' : 'create scheduled runs again (catching up when the flow says catchup)')).action(
      action(async (key: string, opts: ClientOpts) => {
        await call(opts, 'POST', `/api/v1/flows/${encodeURIComponent(key)}/${verb}`);
        process.stdout.write(`${key}: ${verb === 'pause' ? 'paused' : 'resumed'}\n`);
      }),
    );
  }
}
