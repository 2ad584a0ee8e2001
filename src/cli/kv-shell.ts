/**
 * `flotilla kv shell`: an interactive session against one node. Line editing and history (up/down
 * arrows, `history`) come from node:readline; Tab completes command names. Errors print one line and the
 * shell goes on. Reads commands from a pipe too (no prompt then), so scripts and tests can drive it.
 */
import { createInterface } from 'node:readline';
import { FlotillaError } from '../core/errors.js';
import { formatResult, formatScan, openKvSession, type KvFlags, type KvSession } from './kv.js';

export const SHELL_COMMANDS = ['put', 'get', 'del', 'scan', 'health', 'consistency', 'node', 'history', 'help', 'exit', 'quit'] as const;

const HELP = `commands:
  put KEY VALUE [TTL]      store a value (TTL like 30s, 10m)
  get KEY                  read a value
  del KEY                  delete a key
  scan [PREFIX] [LIMIT]    keys starting with PREFIX (default all, 100)
  health                   the node's view: N, W, R, nodes up and down, hints waiting
  consistency [LEVEL]      show or set one|quorum|all|N for this session
  node [HOST:PORT]         show or change the node asked
  history                  commands typed so far
  help                     this text
  exit | quit              leave (Ctrl-D too)
Quote keys or values with spaces: put "my key" "hello world"
`;

/** Splits a line into words; double or single quotes group, backslash escapes inside double quotes. */
export function splitWords(line: string): { value: string[]; error?: undefined } | { error: string } {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote !== undefined) return { error: `unclosed ${quote}` };
  if (inWord) out.push(cur);
  return { value: out };
}

export function completeCommand(line: string): [string[], string] {
  const words = line.trimStart();
  if (words.includes(' ')) return [[], line];
  const hits = SHELL_COMMANDS.filter((c) => c.startsWith(words));
  return [hits.length > 0 ? [...hits] : [...SHELL_COMMANDS], words];
}

export async function runKvShell(node: string, initial: KvFlags): Promise<void> {
  const interactive = process.stdin.isTTY === true;
  const flags: KvFlags = { ...initial };
  let session: KvSession = openKvSession(node);
  const history: string[] = [];
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: interactive, completer: completeCommand, historySize: 1000 });
  const write = (s: string): void => void process.stdout.write(s);
  if (interactive) write(`flotilla kv shell on ${node} (help for commands, Tab completes, Ctrl-D leaves)\n`);
  rl.setPrompt(`kv ${node}> `);
  if (interactive) rl.prompt();
  try {
    for await (const line of rl) {
      const parsed = splitWords(line);
      if (parsed.error !== undefined) {
        write(`error: ${parsed.error}\n`);
      } else if (parsed.value.length > 0) {
        history.push(line);
        const [cmd, ...args] = parsed.value as [string, ...string[]];
        if (cmd === 'exit' || cmd === 'quit') break;
        try {
          await runCommand(cmd, args);
        } catch (err) {
          write(`error: ${FlotillaError.from(err).message}\n`);
        }
      }
      if (interactive) rl.prompt();
    }
  } finally {
    rl.close();
    session.close();
  }

  async function runCommand(cmd: string, args: string[]): Promise<void> {
    const need = (n: number, usage: string): void => {
      if (args.length < n) throw new Error(`usage: ${usage}`);
    };
    switch (cmd) {
      case 'put':
        need(2, 'put KEY VALUE [TTL]');
        write(formatResult('put', await session.put(args[0]!, Buffer.from(args[1]!, 'utf8'), { ...flags, ...(args[2] !== undefined ? { ttl: args[2] } : {}) })));
        return;
      case 'get':
        need(1, 'get KEY');
        write(formatResult('get', await session.get(args[0]!, flags)));
        return;
      case 'del':
      case 'delete':
        need(1, 'del KEY');
        write(formatResult('del', await session.del(args[0]!, flags)));
        return;
      case 'scan':
        write(formatScan(await session.scan(args[0] ?? '', { ...flags, ...(args[1] !== undefined ? { limit: args[1] } : {}) })));
        return;
      case 'health':
        write(formatResult('health', await session.health()));
        return;
      case 'consistency':
        if (args[0] !== undefined) flags.consistency = args[0];
        write(`consistency: ${flags.consistency ?? 'cluster default'}\n`);
        return;
      case 'node':
        if (args[0] !== undefined) {
          const next = openKvSession(args[0]);
          session.close();
          session = next;
          rl.setPrompt(`kv ${args[0]}> `);
        }
        write(`node: ${session.node}\n`);
        return;
      case 'history':
        write(history.map((h, i) => `${String(i + 1).padStart(4)}  ${h}`).join('\n') + '\n');
        return;
      case 'help':
        write(HELP);
        return;
      default:
        write(`unknown command ${JSON.stringify(cmd)}; type help\n`);
    }
  }
}
