/**
 * network: per interface, from /proc/net/dev: bytes, packets, errors and drops per second, received and
 * transmitted. The loopback interface is skipped by default (node_exporter's default
 * `--collector.netdev.device-exclude=^lo$`); every other interface is kept.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CollectTime, Collector, HostPaths, Sample } from './collector.js';
import { DEFAULT_HOST_PATHS, pushFinite } from './collector.js';
import { RateTracker } from '../rate.js';

const DIRECTIONS = ['receive', 'transmit'] as const;
const KINDS = ['bytes', 'packets', 'errors', 'drops'] as const;

export const NETWORK_METRICS = DIRECTIONS.flatMap((d) => KINDS.map((k) => `node_network_${d}_${k}_per_second`));

export interface InterfaceCounters {
  interface: string;
  receive: Record<(typeof KINDS)[number], number>;
  transmit: Record<(typeof KINDS)[number], number>;
}

/**
 * Parses /proc/net/dev: two header lines, then `name: rx_bytes rx_packets rx_errs rx_drop rx_fifo
 * rx_frame rx_compressed rx_multicast tx_bytes tx_packets tx_errs tx_drop ...`.
 */
/** The interfaces skipped by default. */
export const DEFAULT_INTERFACE_EXCLUDE = /^lo$/;

export function parseNetDev(text: string, exclude?: RegExp): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.includes('|')) continue;
    const name = line.slice(0, colon).trim();
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (name === '' || exclude?.test(name) === true || f.length < 16 || !f.slice(0, 16).every((v) => Number.isFinite(v) && v >= 0)) continue;
    out.push({
      interface: name,
      receive: { bytes: f[0]!, packets: f[1]!, errors: f[2]!, drops: f[3]! },
      transmit: { bytes: f[8]!, packets: f[9]!, errors: f[10]!, drops: f[11]! },
    });
  }
  return out;
}

export interface NetworkCollectorOptions {
  paths?: HostPaths;
  /** Interfaces to skip; undefined keeps every one. Default: DEFAULT_INTERFACE_EXCLUDE (lo). */
  exclude?: RegExp | undefined;
}

export function createNetworkCollector(options: NetworkCollectorOptions = {}): Collector {
  const paths = options.paths ?? DEFAULT_HOST_PATHS;
  const exclude = 'exclude' in options ? options.exclude : DEFAULT_INTERFACE_EXCLUDE;
  const rates = new RateTracker();
  return {
    name: 'network',
    metrics: NETWORK_METRICS,
    async collect(now: CollectTime): Promise<Sample[]> {
      const ifaces = parseNetDev(readFileSync(join(paths.proc, 'net', 'dev'), 'utf8'), exclude);
      const out: Sample[] = [];
      for (const i of ifaces) {
        const labels = { interface: i.interface };
        for (const d of DIRECTIONS) {
          for (const k of KINDS) {
            pushFinite(out, `node_network_${d}_${k}_per_second`, rates.rate(`${i.interface}/${d}/${k}`, i[d][k], now.monoMs), labels);
          }
        }
      }
      rates.endRound();
      return out;
    },
  };
}
