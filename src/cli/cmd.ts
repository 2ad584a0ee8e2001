/** `flotilla cmd`: send one command to one agent through the server and print its ack (MON-4). */
import type { Command } from 'commander';
import { parseHostPort } from '../core/address.js';
import { parseDuration } from '../core/duration.js';
import { Code, FlotillaError } from '../core/errors.js';
import { ExitCode } from '../core/lifecycle.js';
import { COMMAND_ACTIONS, createMonitorClient, validateCommand } from '../monitor/index.js';
import { action } from './run.js';

interface CmdOptions {
  host: string;
  action: string;
  payload?: string;
  server?: string;
  timeout?: string;
  json?: boolean;
}

/** The server address from --server, FLOTILLA_SERVER, or 127.0.0.1:50051. */
export function serverAddress(given: string | undefined): string {
  const text = given ?? process.env.FLOTILLA_SERVER ?? '127.0.0.1:50051';
  const p = parseHostPort(text);
  if (p.error !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid --server ${JSON.stringify(text)}: ${p.error}`);
  return text.trim();
}

export function registerCmd(program: Command): void {
  program
    .command('cmd')
    .description(`send a command to one agent through the server and print its ack (actions: ${COMMAND_ACTIONS.join(', ')})`)
    .requiredOption('--host <name>', 'the agent\'s host name (e.g. node-a)')
    .requiredOption('--action <action>', `one of ${COMMAND_ACTIONS.join(', ')}`)
    .option('--payload <json>', 'the action\'s parameters as a JSON object, e.g. \'{"interval":2}\' (default {})')
    .option('--server <host:port>', 'the server gRPC address (env FLOTILLA_SERVER, default 127.0.0.1:50051)')
    .option('--timeout <duration>', 'how long to wait for the agent\'s ack (default 10s)')
    .option('--json', 'print the ack as JSON')
    .action(
      action(async (opts: CmdOptions) => {
        const address = serverAddress(opts.server);
        const payloadJson = opts.payload ?? '{}';
        // Checked here too, so a typo needs no server to be reported.
        validateCommand(opts.action, payloadJson);
        let timeoutMs = 10_000;
        if (opts.timeout !== undefined) {
          const d = parseDuration(opts.timeout);
          if (d.error !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid --timeout: ${d.error}`);
          if (d.value <= 0) throw new FlotillaError(Code.INVALID_ARGUMENT, 'invalid --timeout: must be more than 0');
          timeoutMs = d.value;
        }
        const client = createMonitorClient({ address });
        try {
          const ack = await client.sendCommand({ hostname: opts.host, action: opts.action, payloadJson, timeoutMs });
          if (opts.json === true) {
            process.stdout.write(JSON.stringify({ host: opts.host, action: opts.action, ...ack }) + '\n');
          } else {
            const detail = ack.message !== '' ? `: ${ack.message}` : '';
            process.stdout.write(`${opts.host}: ${opts.action} ${ack.ok ? 'ok' : 'refused'}${detail} (command ${ack.id})\n`);
          }
          if (!ack.ok) {
            if (opts.json !== true) process.stderr.write(`flotilla: ${opts.host} refused ${opts.action}${ack.message !== '' ? `: ${ack.message}` : ''}\n`);
            process.exitCode = ExitCode.FAILURE;
          }
        } finally {
          client.close();
        }
      }),
    );
}
