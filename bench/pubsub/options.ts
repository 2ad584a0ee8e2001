/** Command-line flags of `npm run bench -- pubsub` and its two profiles (quick and full). */
import { resolve } from 'node:path';
import type { FlotillaError } from '../../src/core/errors.js';
import { parsePositiveIntFlag, usageError } from '../flags.js';

export const USAGE = `usage: npm run bench -- pubsub [--quick] [--subscribers N] [--messages N] [--procs N] [--rounds N] [--acks] [--profile DIR] [--build]

Fan-out of one publisher to N WebSocket subscribers of one channel on a \`flotilla server\` (dist/), beside
NATS core pub/sub (Debian nats-server) with the same number of subscribers of one subject, both started
on free 127.0.0.1 ports. Measures deliveries/s (a burst of messages, every subscriber receiving each) and
publish-to-receive latency at a paced rate; prints flotilla/nats ratios.

  --quick           1,000 subscribers, a short burst, one round (a smoke run, ~30 s)
  --subscribers N   subscribers per peer (default 5000, quick 1000)
  --messages N      messages in the throughput burst (default 400, quick 100)
  --procs N         load-generator child processes holding the subscribers (default 4)
  --rounds N        rounds per measurement, peer order alternating; the median is reported (default 2, quick 1)
  --acks            Flotilla subscribers ask for acknowledged delivery and ack every 64 publications
                    (default: no acks, which is what NATS core does)
  --profile DIR     write a CPU profile of the flotilla server into DIR (.cpuprofile, for Chrome DevTools)
  --build           compile src/ to dist/ first (npx tsc -p tsconfig.build.json)
  --help            this text`;

export interface Profile {
  readonly name: 'quick' | 'full';
  readonly subscribers: number;
  readonly procs: number;
  readonly rounds: number;
  /** Messages of one throughput burst. */
  readonly burstMessages: number;
  /** Publish requests in flight at once (Flotilla's HTTP publisher). */
  readonly publishConcurrency: number;
  /** A burst run ends when everything arrived, nothing arrived for this long, or the time limit. */
  readonly stallMs: number;
  readonly burstTimeLimitMs: number;
  /** Latency phase: messages per second and how many. */
  readonly latencyRate: number;
  readonly latencyMessages: number;
  readonly payloadBytes: number;
  readonly acks: boolean;
}

export interface PubsubBenchOptions {
  profile: Profile;
  /** Where to write a CPU profile of the flotilla server. */
  profileDir: string | undefined;
  build: boolean;
  help: boolean;
}

const QUICK: Profile = {
  name: 'quick',
  subscribers: 1000,
  procs: 4,
  rounds: 1,
  burstMessages: 100,
  publishConcurrency: 32,
  stallMs: 10_000,
  burstTimeLimitMs: 30_000,
  latencyRate: 20,
  latencyMessages: 40,
  payloadBytes: 64,
  acks: false,
};

const FULL: Profile = {
  name: 'full',
  subscribers: 5000,
  procs: 4,
  rounds: 2,
  burstMessages: 400,
  publishConcurrency: 32,
  stallMs: 15_000,
  burstTimeLimitMs: 120_000,
  latencyRate: 10,
  latencyMessages: 60,
  payloadBytes: 64,
  acks: false,
};

const bad = (message: string): FlotillaError => usageError(message, USAGE);
const parsePositiveInt = (flag: string, text: string | undefined, max: number): number => parsePositiveIntFlag(flag, text, max, USAGE);

export function parsePubsubBenchArgs(args: readonly string[]): PubsubBenchOptions {
  let quick = false;
  let build = false;
  let help = false;
  let acks = false;
  let profileDir: string | undefined;
  const o: { subscribers?: number; messages?: number; procs?: number; rounds?: number } = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string | undefined => inline ?? args[++i];
    switch (flag) {
      case '--quick':
        quick = true;
        break;
      case '--build':
        build = true;
        break;
      case '--acks':
        acks = true;
        break;
      case '--profile': {
        const dir = value();
        if (dir === undefined || dir === '' || dir.startsWith('--')) throw bad('--profile needs a directory');
        profileDir = resolve(dir);
        break;
      }
      case '--help':
      case '-h':
        help = true;
        break;
      case '--subscribers':
        o.subscribers = parsePositiveInt('--subscribers', value(), 20_000);
        break;
      case '--messages':
        o.messages = parsePositiveInt('--messages', value(), 100_000);
        break;
      case '--procs':
        o.procs = parsePositiveInt('--procs', value(), 32);
        break;
      case '--rounds':
        o.rounds = parsePositiveInt('--rounds', value(), 20);
        break;
      default:
        throw bad(`unknown argument '${arg}'`);
    }
  }
  const base = quick ? QUICK : FULL;
  const profile: Profile = {
    ...base,
    subscribers: o.subscribers ?? base.subscribers,
    burstMessages: o.messages ?? base.burstMessages,
    procs: Math.min(o.procs ?? base.procs, o.subscribers ?? base.subscribers),
    rounds: o.rounds ?? base.rounds,
    acks,
  };
  return { profile, profileDir, build, help };
}
