/** The `flotilla` command: one program, a file per command group. */
import { Command, CommanderError } from 'commander';
import { version } from '../core/version.js';
import { addTokenOptions } from './credentials.js';
import { addClientTlsOptions } from './run.js';
import { fail } from './run.js';

type Register = (program: Command) => void;

/**
 * Every command group, in the order help lists them, each loaded only when used: a command imports just
 * its own group (`flotilla kv get` does not load the server), which keeps every invocation quick.
 */
const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = {
  up: async () => (await import('./up.js')).registerUp,
  server: async () => (await import('./server.js')).registerServer,
  coord: async () => (await import('./coord.js')).registerCoord,
  cmd: async () => (await import('./cmd.js')).registerCmd,
  node: async () => (await import('./node.js')).registerNode,
  agent: async () => (await import('./agent.js')).registerAgent,
  status: async () => (await import('./status.js')).registerStatus,
  health: async () => (await import('./health.js')).registerHealth,
  kv: async () => (await import('./kv.js')).registerKv,
  ring: async () => (await import('./ring.js')).registerRing,
  flow: async () => (await import('./flow.js')).registerFlow,
  pub: async () => (await import('./pub.js')).registerPub,
  obj: async () => (await import('./obj.js')).registerObj,
  certs: async () => (await import('./certs.js')).registerCerts,
  auth: async () => (await import('./auth.js')).registerAuth,
};

/**
 * The program with every command group, or with only `only` when it names one (what main does for a
 * command line that starts with a command; help and unknown commands get every group).
 */
export async function buildProgram(only?: string): Promise<Command> {
  const program = new Command('flotilla')
    .description(
      'Run a fleet of machines: monitoring, a replicated key-value store, a multi-cloud object store,\n' +
        'workflows and scheduled messages, on one cluster core.',
    )
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const names = only !== undefined && Object.hasOwn(COMMANDS, only) ? [only] : Object.keys(COMMANDS);
  const registers = await Promise.all(names.map((name) => COMMANDS[name]!()));
  for (const register of registers) register(program);
  // Last: every client command registered above gets --tls-ca/--tls-dir/--tls-name, then --token / --token-file
  // (in this order: the token's fetch wrapper goes around the TLS one).
  addClientTlsOptions(program);
  addTokenOptions(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    const program = await buildProgram(argv[2]);
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      process.exit(err.exitCode === 0 ? 0 : 2);
    }
    fail(err);
  }
}
