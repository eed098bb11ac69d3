import { LATEST_HISTORY, type LatestKey } from './latest.js';
import { useRegistry } from './provider.js';
import { useSelected } from './select.js';
import { type HookResult, LOADING } from './store.js';

/** Options of `useLatest`. */
export interface LatestOptions {
  /** The dot path of the key in each publication's data: the namespace's `conflation.key` (`formId`, `symbol.id`). */
  keyPath: string;
  /** How many of the newest publications of history seed the value after each subscribe (default 100; 0: live only). */
  history?: number;
}

/**
 * The latest value of one key on a conflated channel (a progress bar, a price): the data of
 * the newest publication whose `keyPath` is `key`, or null while there is none. Seeded from
 * the newest page of history, then live; the component re-renders only when this key's
 * value changes, not on the channel's other keys.
 *
 * @example
 * const { data: bar } = useLatest<{ formId: string; pct: number }>('progress:import-7', 'f7', { keyPath: 'formId' });
 * return <progress max={100} value={bar?.pct ?? 0} />;
 */
export function useLatest<T = unknown>(channel: string, key: LatestKey, options: LatestOptions): HookResult<T | null> {
  const registry = useRegistry();
  const history = options.history ?? LATEST_HISTORY;
  const store = registry === null ? null : registry.latest(channel, options.keyPath, history).of(key);
  return useSelected(store, LOADING, (r) => r) as HookResult<T | null>;
}
