/**
 * The ref table of one agent stream (protocol 2 of monitor.proto): `SeriesDef`s bind small numbers (refs)
 * to series of the host, once per stream; every later `Scrape` names its series by ref. Each definition is
 * resolved once, through the global view (validation, the per-host series cap), and the table keeps the
 * answer, so a sample costs one array read. A ref defined again is bound to the new series from then on
 * (an agent reuses refs once its own table is full). A reconnect opens a new stream, so a new, empty table.
 *
 * Bounded: refs must be below `maxRefs` (announced in the ServerWelcome as max_series_refs); a ref at or
 * past it, a scrape naming a ref never defined on the stream, or refs and values of different lengths are
 * protocol errors: the stream ends with INVALID_ARGUMENT and a message saying which ref.
 */
import { Code, FlotillaError } from '../../core/errors.js';
import type { ResolvedScrape, ResolvedSeries } from './global-view.js';

/** A series definition in the server's domain (converted from SeriesDef at the edge). */
export interface SeriesDefInput {
  ref: number;
  metric: string;
  labels: Record<string, string>;
}

/** A scrape as it came off the wire: parallel refs and values. */
export interface ScrapeInput {
  timeMs: number;
  refs: ArrayLike<number>;
  values: ArrayLike<number>;
}

/** Resolves a definition (GlobalView.resolveSeries bound to the stream's host). */
export type SeriesResolver = (metric: string, labels: Record<string, string>) => ResolvedSeries;

export class SeriesRefTable {
  private readonly slots: (ResolvedSeries | undefined)[] = [];
  private bound = 0;
  /** Definitions taken, and of those the ones that replaced an earlier binding of their ref. */
  definitions = 0;
  redefinitions = 0;

  constructor(
    /** Refs must be below this. */
    readonly maxRefs: number,
    private readonly resolve: SeriesResolver,
  ) {
    if (!(Number.isSafeInteger(maxRefs) && maxRefs >= 1 && maxRefs <= 2 ** 32)) throw new RangeError(`maxRefs must be 1..2^32, got ${maxRefs}`);
  }

  /** Refs bound now. */
  get size(): number {
    return this.bound;
  }

  private checkRef(ref: number, where: string): void {
    if (!(Number.isInteger(ref) && ref >= 0 && ref < this.maxRefs)) {
      throw new FlotillaError(Code.INVALID_ARGUMENT, `${where}: ref ${ref} is out of range (this server takes refs 0..${this.maxRefs - 1}, see ServerWelcome.max_series_refs)`);
    }
  }

  /** Binds each definition's ref to its resolved series (a ref defined again is bound anew). */
  define(defs: readonly SeriesDefInput[]): void {
    for (const d of defs) {
      this.checkRef(d.ref, 'series definition');
      const previous = this.slots[d.ref];
      if (previous === undefined) {
        // Fill holes up to the ref so the array stays dense (refs are small and mostly consecutive).
        while (this.slots.length < d.ref) this.slots.push(undefined);
        this.bound += 1;
      } else this.redefinitions += 1;
      this.slots[d.ref] = this.resolve(d.metric, d.labels);
      this.definitions += 1;
    }
  }

  /** The series bound to `ref`, or undefined. */
  get(ref: number): ResolvedSeries | undefined {
    return this.slots[ref];
  }

  /**
   * Resolves every ref of every scrape, before anything is applied (a batch naming an unknown ref is
   * refused whole: the stream ends and the agent sends the batch again, with its definitions, on the next).
   */
  resolveScrapes(scrapes: readonly ScrapeInput[]): ResolvedScrape[] {
    const out: ResolvedScrape[] = [];
    for (let k = 0; k < scrapes.length; k++) {
      const sc = scrapes[k]!;
      const refs = sc.refs;
      const n = refs.length;
      if (sc.values.length !== n) throw new FlotillaError(Code.INVALID_ARGUMENT, `scrape ${k}: ${n} refs but ${sc.values.length} values (they go in pairs)`);
      const series: ResolvedSeries[] = [];
      const slots = this.slots;
      for (let i = 0; i < n; i++) {
        const s = slots[refs[i]!];
        if (s === undefined) {
          const ref = refs[i]!;
          this.checkRef(ref, `scrape ${k}`);
          throw new FlotillaError(Code.INVALID_ARGUMENT, `scrape ${k}: ref ${ref} was never defined on this stream (send its SeriesDef first, in this batch or an earlier one)`);
        }
        series.push(s);
      }
      out.push({ timeMs: sc.timeMs, series, values: sc.values });
    }
    return out;
  }
}
