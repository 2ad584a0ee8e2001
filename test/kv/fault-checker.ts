/**
 * The history checker of the KV fault test. Each key has one writer (the client that owns it), whose
 * operations on it are sequential, so per key the history is a sequence. A write is acknowledged
 * (ok), failed (the store said so: it may still have reached some replicas) or unknown (timed out).
 *
 * Checks:
 * - every successful read returns the state of the latest acknowledged write before it, or of a write
 *   that was not acknowledged and came after that one (R + W > N, no concurrent writers);
 * - after convergence, every replica holds, for every key, that same kind of state (no acknowledged
 *   write lost), and all replicas hold the same state.
 */

export type Op =
  | { kind: 'put'; key: string; value: string; startMs: number; endMs: number; outcome: 'ok' | 'failed' | 'unknown'; node: string; error?: string }
  | { kind: 'del'; key: string; startMs: number; endMs: number; outcome: 'ok' | 'failed' | 'unknown'; node: string; error?: string }
  | { kind: 'get'; key: string; startMs: number; endMs: number; outcome: 'ok' | 'failed'; found?: boolean; value?: string; node: string; error?: string };

/** The state of a key: a value, or null for "absent" (never written or deleted). */
type State = string | null;

const stateOf = (op: Op): State => (op.kind === 'put' ? op.value : null);

/** States a read (or final replica) may show after the ops before it: the last acked, or any later unacked write. */
function allowedAfter(writes: Op[]): Set<State> {
  let lastAcked = -1;
  writes.forEach((w, i) => {
    if (w.outcome === 'ok') lastAcked = i;
  });
  const allowed = new Set<State>([lastAcked < 0 ? null : stateOf(writes[lastAcked]!)]);
  for (let i = lastAcked + 1; i < writes.length; i++) allowed.add(stateOf(writes[i]!));
  // Before the first acknowledged write, any earlier unacked write may show too (and absence).
  if (lastAcked < 0) for (const w of writes) allowed.add(stateOf(w));
  return allowed;
}

export interface CheckResult {
  ok: boolean;
  reads: number;
  acknowledgedWrites: number;
  problems: string[];
}

/**
 * `history`: every op, each key's ops in the order its client issued them. `finals`: per node, key ->
 * state held there after convergence.
 */
export function checkHistory(history: readonly Op[], finals: Record<string, Record<string, State>>): CheckResult {
  const problems: string[] = [];
  const byKey = new Map<string, Op[]>();
  for (const op of history) {
    const list = byKey.get(op.key) ?? [];
    list.push(op);
    byKey.set(op.key, list);
  }
  let reads = 0;
  let acked = 0;
  for (const [key, ops] of byKey) {
    const writes: Op[] = [];
    for (const op of ops) {
      if (op.kind === 'get') {
        if (op.outcome !== 'ok') continue;
        reads++;
        const seen: State = op.found === true ? (op.value ?? '') : null;
        const allowed = allowedAfter(writes);
        if (!allowed.has(seen)) {
          problems.push(`stale or lost read of ${key} at ${op.startMs} via ${op.node}: got ${JSON.stringify(seen)}, allowed ${JSON.stringify([...allowed])}`);
        }
      } else {
        if (op.outcome === 'ok') acked++;
        writes.push(op);
      }
    }
    const allowed = allowedAfter(writes);
    const states = Object.entries(finals).map(([node, m]) => [node, m[key] ?? null] as const);
    for (const [node, s] of states) {
      if (!allowed.has(s)) problems.push(`after convergence ${node} holds ${JSON.stringify(s)} for ${key}; allowed ${JSON.stringify([...allowed])} (acknowledged write lost?)`);
    }
    if (new Set(states.map(([, s]) => s)).size > 1) problems.push(`replicas differ on ${key} after convergence: ${JSON.stringify(Object.fromEntries(states))}`);
  }
  return { ok: problems.length === 0, reads, acknowledgedWrites: acked, problems };
}
