/** Command-line flags of `npm run bench -- coord` and the two profiles (quick and full). */
import type { FlotillaError } from '../../src/core/errors.js';
import { parsePositiveIntFlag, usageError } from '../flags.js';

export const USAGE = `usage: npm run bench -- coord [--quick] [--clients 1,16,64] [--rounds N] [--build]

Puts/s and watch-event latency of real etcd and the embedded store (flotilla coord serve), started side
by side on free 127.0.0.1 ports, under the same etcd3-client load; prints embedded/etcd ratios.

  --quick         small counts, one round (a smoke run, ~20 s)
  --clients LIST  concurrent put clients, comma-separated (default 1,16,64)
  --rounds N      rounds per measurement, peer order alternating; the median is reported
                  (default 3, quick 1)
  --build         compile src/ to dist/ first (npx tsc -p tsconfig.build.json)
  --help          this text`;

export interface Profile {
  readonly name: 'quick' | 'full';
  readonly rounds: number;
  readonly clients: readonly number[];
  /** Measured puts per run for C clients. */
  putCount(clients: number): number;
  readonly putWarmupPerClient: number;
  readonly putTimeLimitMs: number;
  readonly valueBytes: number;
  /** Concurrent writers of the watch-latency runs. */
  readonly watchWriters: readonly number[];
  readonly watchEvents: number;
  readonly watchWarmup: number;
  readonly watchTimeLimitMs: number;
  readonly watchDrainMs: number;
}

export interface CoordBenchOptions {
  profile: Profile;
  build: boolean;
  help: boolean;
}

const clamp = (n: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, n));

const QUICK: Profile = {
  name: 'quick',
  rounds: 1,
  clients: [1, 16, 64],
  putCount: (c) => clamp(c * 150, 300, 3000),
  putWarmupPerClient: 3,
  putTimeLimitMs: 5000,
  valueBytes: 256,
  watchWriters: [1],
  watchEvents: 300,
  watchWarmup: 50,
  watchTimeLimitMs: 5000,
  watchDrainMs: 5000,
};

const FULL: Profile = {
  name: 'full',
  rounds: 3,
  clients: [1, 16, 64],
  putCount: (c) => clamp(c * 500, 1000, 15_000),
  putWarmupPerClient: 10,
  putTimeLimitMs: 30_000,
  valueBytes: 256,
  watchWriters: [1, 16],
  watchEvents: 1000,
  watchWarmup: 100,
  watchTimeLimitMs: 20_000,
  watchDrainMs: 10_000,
};

const bad = (message: string): FlotillaError => usageError(message, USAGE);
const parsePositiveInt = (flag: string, text: string | undefined, max: number): number => parsePositiveIntFlag(flag, text, max, USAGE);

export function parseCoordBenchArgs(args: readonly string[]): CoordBenchOptions {
  let quick = false;
  let build = false;
  let help = false;
  let clients: number[] | undefined;
  let rounds: number | undefined;
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
      case '--help':
      case '-h':
        help = true;
        break;
      case '--rounds':
        rounds = parsePositiveInt('--rounds', value(), 20);
        break;
      case '--clients': {
        const list = value();
        if (list === undefined || list === '') throw bad('--clients needs a list such as 1,16,64');
        clients = [...new Set(list.split(',').map((c) => parsePositiveInt('--clients', c.trim(), 512)))];
        break;
      }
      default:
        throw bad(`unknown argument '${arg}'`);
    }
  }
  const base = quick ? QUICK : FULL;
  const profile: Profile = { ...base, rounds: rounds ?? base.rounds, clients: clients ?? base.clients };
  return { profile, build, help };
}
