/** One way for a component to show data from the API: loaded when its inputs change, errors kept as text. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from './api.js';

export interface Loaded<T> {
  /** The last answer (kept while a newer one loads, unless clearOnChange). */
  data: T | undefined;
  /** The last failure's message; cleared by the next answer. */
  error: string | undefined;
  loading: boolean;
  /** Loads again now. */
  reload: () => void;
  /** Loads again after coalesceMs, once for any number of calls in that window (a burst of events). */
  reloadSoon: () => void;
}

export interface LoadOptions {
  /** Also loads again every this long while mounted. */
  refreshMs?: number;
  /** Forgets the data when the inputs change, rather than showing it until the new answer. */
  clearOnChange?: boolean;
  /** The window of reloadSoon. Default 300 ms. */
  coalesceMs?: number;
}

/**
 * The data `load(signal)` answers, loaded when a value in `deps` changes or reload() is called. The
 * request in flight is aborted when it is superseded or the component goes away, so a late answer never
 * overwrites a newer one. `load` undefined loads nothing and forgets the data (e.g. no key chosen yet).
 */
export function useLoad<T>(load: ((signal: AbortSignal) => Promise<T>) | undefined, deps: readonly unknown[], options: LoadOptions = {}): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: string; loading: boolean }>({ loading: load !== undefined });
  const [generation, setGeneration] = useState(0);
  // The latest function, so that callers may pass a new closure on each render without reloading.
  const current = useRef(load);
  current.current = load;
  const wanted = load !== undefined;
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(
    () => () => {
      if (pending.current !== undefined) clearTimeout(pending.current);
    },
    [],
  );
  const { refreshMs, clearOnChange } = options;
  useEffect(() => {
    const fn = current.current;
    if (fn === undefined) {
      setState({ loading: false });
      return undefined;
    }
    const ctl = new AbortController();
    setState((s) => (clearOnChange === true ? { loading: true } : { ...s, loading: true }));
    const run = (): void => {
      fn(ctl.signal).then(
        (data) => {
          if (!ctl.signal.aborted) setState({ data, loading: false });
        },
        (err: unknown) => {
          if (!ctl.signal.aborted) setState((s) => ({ ...s, error: errorText(err), loading: false }));
        },
      );
    };
    run();
    const timer = refreshMs !== undefined ? setInterval(run, refreshMs) : undefined;
    return () => {
      ctl.abort();
      if (timer !== undefined) clearInterval(timer);
    };
  }, [...deps, wanted, generation, refreshMs, clearOnChange]);
  const reload = (): void => setGeneration((g) => g + 1);
  const reloadSoon = (): void => {
    pending.current ??= setTimeout(() => {
      pending.current = undefined;
      reload();
    }, options.coalesceMs ?? 300);
  };
  return { data: state.data, error: state.error, loading: state.loading, reload, reloadSoon };
}
