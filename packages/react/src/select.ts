import { useRef, useSyncExternalStore } from './externals.js';
import type { HookResult, Store } from './store.js';

const noSubscribe = () => () => {};

/** The store the latest `useSelected` call read (null: none): each plain hook reads one, and its Suspense flavour waits on it. */
let lastRead: Store<unknown> | null = null;

/** The store the plain hook called last in this render read (null on the server and before the provider has a client). */
export const lastStore = (): Store<unknown> | null => lastRead;

/**
 * Read a store through a selector: the component re-renders only when `isEqual` says the
 * selected value changed. Without a store (server, no client yet) it reads `fallback`.
 */
export function useSelected<S, R>(store: Store<S> | null, fallback: S, select: (s: S) => R, isEqual: (a: R, b: R) => boolean = Object.is): R {
  lastRead = store as Store<unknown> | null;
  const memo = useRef<{ source: S; selected: R } | null>(null);
  const read = (source: S): R => {
    const last = memo.current;
    if (last !== null && Object.is(last.source, source)) return last.selected;
    const selected = select(source);
    const kept = last !== null && isEqual(last.selected, selected) ? last.selected : selected;
    memo.current = { source, selected: kept };
    return kept;
  };
  return useSyncExternalStore(
    store ? store.subscribe : noSubscribe,
    () => read(store ? store.get() : fallback),
    () => read(fallback),
  );
}

/** A result with its data replaced by `map(data)`; loading and error results pass through as they are. */
export function mapResult<T, R>(result: HookResult<T>, map: (data: T) => R): HookResult<R> {
  if (result.data === undefined) return result as unknown as HookResult<R>;
  return { data: map(result.data), isLoading: result.isLoading, error: result.error };
}

/** Equal results: the same loading state and error, and data equal by `isEqual`. */
export function sameResult<R>(isEqual: (a: R, b: R) => boolean): (a: HookResult<R>, b: HookResult<R>) => boolean {
  return (a, b) =>
    a.isLoading === b.isLoading && a.error === b.error && (a.data === b.data || (a.data !== undefined && b.data !== undefined && isEqual(a.data, b.data)));
}
