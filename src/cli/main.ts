/** The `flotilla` command: one program, a file per command group. */
import { Command, CommanderError } from 'commander';
import { version } from '../core/version.js';
import { registerAgent } from './agent.js';
import { registerAuth } from './auth.js';
import { addTokenOptions } from './credentials.js';
import { registerCerts } from './certs.js';
import { registerCmd } from './cmd.js';
import { registerCoord } from './coord.js';
import { registerFlow } from './flow.js';
import { registerHealth } from './health.js';
import { registerKv } from './kv.js';
import { registerNode } from './node.js';
import { registerObj } from './obj.js';
import { registerPub } from './pub.js';
import { registerRing } from './ring.js';
import { fail } from './run.js';
import { registerServer } from './server.js';
import { registerStatus } from './status.js';
import { registerUp } from './up.js';

export function buildProgram(): Command {
  const program = new Command('flotilla')
    .description(
      'Run a fleet of machines: monitoring, a replicated key-value store, a multi-cloud object store,\n' +
        'workflows and scheduled messages, on one cluster core.',
    )
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerUp(program);
  registerServer(program);
  registerCoord(program);
  registerCmd(program);
  registerNode(program);
  registerAgent(program);
  registerStatus(program);
  registerHealth(program);
  registerKv(program);
  registerRing(program);
  registerFlow(program);
  registerPub(program);
  registerObj(program);
  registerCerts(program);
  registerAuth(program);
  // Last: every client command registered above gets --token / --token-file.
  addTokenOptions(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      process.exit(err.exitCode === 0 ? 0 : 2);
    }
    fail(err);
  }
}
