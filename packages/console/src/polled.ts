import type { SwitchboardError } from '@switchboard/client';
import type { HookResult } from '@switchboard/react';
import { useEffect, useRef, useState } from 'react';

export type Polled<T> = HookResult<T> & { refresh(): void };

/**
 * A value read from the HTTP API now and then every `intervalMs`, as the React bindings'
 * hooks return theirs (`{ data, isLoading, error }`); new `deps` read at once. The last data
 * stays while a later read fails, beside its error. A read in flight when the component
 * goes is left to finish and ignored (never aborted: an aborted request is a failed one).
 */
export function usePolled<T>(read: () => Promise<T>, intervalMs: number, deps: readonly unknown[]): Polled<T> {
  const [result, setResult] = useState<HookResult<T>>({ data: undefined, isLoading: true, error: null });
  const readRef = useRef(read);
  readRef.current = read;
  const [tick, setTick] = useState(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: the caller's deps and tick start a new read
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const once = async () => {
      try {
        const data = await readRef.current();
        if (!stopped) setResult({ data, isLoading: false, error: null });
      } catch (err) {
        if (!stopped) setResult((prev) => ({ data: prev.data, isLoading: false, error: err as SwitchboardError }));
      }
      if (!stopped) timer = setTimeout(once, intervalMs);
    };
    void once();
    return () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [...deps, intervalMs, tick]);

  return { ...result, refresh: () => setTick((n) => n + 1) };
}
