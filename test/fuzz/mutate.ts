/**
 * Input generators for the bounded fuzz runs: random text over an alphabet, and mutations of a corpus of
 * valid inputs (byte flips, insertions, deletions, splices between corpus entries, repeated slices).
 * Built on fast-check so a failure prints its seed and a shrunk counterexample.
 */
import fc from 'fast-check';

/** Applies one random edit to `text`, choosing positions and replacements from `pieces`. */
function mutation(pieces: readonly string[]): fc.Arbitrary<(text: string, other: string) => string> {
  const piece = fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 4 }), fc.string({ unit: 'binary', maxLength: 2 }));
  const at = fc.double({ min: 0, max: 1, noNaN: true });
  return fc.oneof(
    fc.tuple(at, piece).map(([p, s]) => (t: string) => insert(t, p, s)),
    fc.tuple(at, fc.integer({ min: 1, max: 8 })).map(([p, n]) => (t: string) => t.slice(0, idx(t, p)) + t.slice(idx(t, p) + n)),
    fc.tuple(at, piece, fc.integer({ min: 1, max: 4 })).map(([p, s, n]) => (t: string) => t.slice(0, idx(t, p)) + s + t.slice(idx(t, p) + n)),
    fc.tuple(at, at).map(([p, q]) => (t: string, o: string) => t.slice(0, idx(t, p)) + o.slice(idx(o, q))),
    fc.tuple(at, at, fc.integer({ min: 2, max: 6 })).map(([p, q, n]) => (t: string) => {
      const a = Math.min(idx(t, p), idx(t, q));
      const b = Math.max(idx(t, p), idx(t, q));
      return t.slice(0, b) + t.slice(a, b).repeat(n) + t.slice(b);
    }),
  );
}

function idx(t: string, p: number): number {
  return Math.floor(p * (t.length + 1));
}

function insert(t: string, p: number, s: string): string {
  const i = idx(t, p);
  return t.slice(0, i) + s + t.slice(i);
}

/** A valid corpus entry with 1 to `maxEdits` random edits applied. */
export function mutated(corpus: readonly string[], pieces: readonly string[], maxEdits = 4): fc.Arbitrary<string> {
  return fc
    .tuple(fc.constantFrom(...corpus), fc.constantFrom(...corpus), fc.array(mutation(pieces), { minLength: 1, maxLength: maxEdits }))
    .map(([base, other, edits]) => edits.reduce((t, edit) => edit(t, other), base));
}

/** Random text made of the given tokens and a little noise. */
export function tokenSoup(pieces: readonly string[], maxTokens = 24): fc.Arbitrary<string> {
  return fc.array(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...pieces) }, { weight: 1, arbitrary: fc.string({ maxLength: 3 }) }), { maxLength: maxTokens }).map((a) => a.join(''));
}

/** The number of runs per property: a few thousand, as the suite's budget allows. */
export const fuzzRuns = Number(process.env.FLOTILLA_FUZZ_RUNS ?? 3000);
