// Data loading for pages: the value, the error (shown as the API's message, never a blank page) and
// a reload; stale answers of an earlier load never overwrite a newer one.
import { useCallback, useEffect, useRef, useState } from 'react';

export interface Loaded<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => Promise<void>;
  set: (v: T) => void;
}

export function useLoad<T>(fn: (signal: AbortSignal) => Promise<T>, deps: unknown[], opts: { intervalMs?: number } = {}): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  const fnRef = useRef(fn);
  fnRef.current = fn;

  const run = useCallback(async (quiet = false) => {
    const my = ++seq.current;
    const ctl = new AbortController();
    if (!quiet) setLoading(true);
    try {
      const v = await fnRef.current(ctl.signal);
      if (my === seq.current) {
        setData(v);
        setError(undefined);
      }
    } catch (err) {
      if (my === seq.current && (err as Error).name !== 'AbortError') setError(err as Error);
    } finally {
      if (my === seq.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    void run();
    if (!opts.intervalMs) return;
    const id = setInterval(() => {
      if (document.visibilityState === 'visible') void run(true);
    }, opts.intervalMs);
    return () => clearInterval(id);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);

  return { data, error, loading, reload: () => run(true), set: setData };
}

/** Runs an action, keeping `busy` and the error of the last attempt. */
export function useAction<A extends unknown[], R>(fn: (...args: A) => Promise<R>): { run: (...args: A) => Promise<R | undefined>; busy: boolean; error: Error | undefined; clear: () => void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const run = useCallback(async (...args: A) => {
    setBusy(true);
    setError(undefined);
    try {
      return await fnRef.current(...args);
    } catch (err) {
      setError(err as Error);
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { run, busy, error, clear: () => setError(undefined) };
}

export function useMediaQuery(q: string): boolean {
  const [m, setM] = useState(() => window.matchMedia(q).matches);
  useEffect(() => {
    const mq = window.matchMedia(q);
    const on = () => setM(mq.matches);
    mq.addEventListener('change', on);
    return () => mq.removeEventListener('change', on);
  }, [q]);
  return m;
}
