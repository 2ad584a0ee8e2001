/**
 * The samples of the block fixtures in fixtures/ (blocks written by earlier versions of the store, kept
 * to prove they stay readable): a deterministic function of the series and the scrape number, so the
 * tests know every value the fixture must answer without storing them twice.
 */
export const FIXTURE_T0 = 1_700_006_400_000;
export const HOUR = 3_600_000;

export interface FixtureSample {
  labels: Record<string, string>;
  timeMs: number;
  value: number;
}

/** 1.6 h of 10 s scrapes (with a few ms of jitter shared by one scrape) of 6 series of host `h`. */
export function fixtureSamples(): FixtureSample[] {
  const out: FixtureSample[] = [];
  const special = [Number.NaN, Number.POSITIVE_INFINITY, -0, Number.NEGATIVE_INFINITY, 5e-324];
  let counter = 1e9;
  let cpu = 12345.67;
  for (let k = 0; k < (1.6 * HOUR) / 10_000; k++) {
    const timeMs = FIXTURE_T0 + k * 10_000 + ((k * 7) % 5);
    counter = k === 200 ? 17 : counter + ((k * 7919) % 1013); // one counter reset
    cpu = Math.round((cpu + ((k * 31) % 17) / 100) * 100) / 100;
    const add = (name: string, labels: Record<string, string>, value: number): void => {
      out.push({ labels: { __name__: name, host: 'h', ...labels }, timeMs, value });
    };
    add('bytes_total', { dev: 'eth0' }, counter);
    add('cpu_seconds_total', { mode: 'idle' }, cpu);
    add('mem_free_bytes', {}, 4096 * (1000 + ((k * 13) % 29)));
    add('up', {}, 1);
    add('temperature', { sensor: 'a' }, k % 50 === 3 ? special[(k / 50) % special.length | 0]! : 20 + Math.sin(k / 10));
    add('load1', {}, Math.round(Math.abs(Math.sin(k / 30)) * 100) / 100);
  }
  return out;
}
