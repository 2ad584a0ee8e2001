/** Durations as Prometheus writes them: units y, w, d, h, m, s, ms in that order, each at most once (`1h30m`). */

const durationRe = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const unitMs = [365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1];

/** Parses a Prometheus duration into ms; `{ error }` when malformed. */
export function parsePromDuration(text: string): { value: number; error?: undefined } | { error: string } {
  if (text === '0') return { value: 0 };
  const m = durationRe.exec(text);
  if (text === '' || m === null) return { error: `not a valid duration string: ${JSON.stringify(text)}` };
  let total = 0;
  for (let i = 0; i < unitMs.length; i++) {
    const g = m[i + 1];
    if (g !== undefined) total += Number(g) * unitMs[i]!;
  }
  if (!Number.isSafeInteger(total)) return { error: `duration out of range: ${JSON.stringify(text)}` };
  return { value: total };
}

/** Formats ms as Prometheus does (`1h30m`, `0s`). */
export function formatPromDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  let out = '';
  const names = ['y', 'w', 'd', 'h', 'm', 's', 'ms'];
  for (let i = 0; i < unitMs.length; i++) {
    const n = Math.floor(rest / unitMs[i]!);
    if (n > 0) {
      out += `${n}${names[i]!}`;
      rest -= n * unitMs[i]!;
    }
  }
  return sign + out;
}
