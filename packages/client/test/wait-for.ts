import type { ClientEvents, EventSource, Subscription, SubscriptionEvents, SwitchboardClient } from '@switchboard/client';

type Match<T> = (payload: T) => boolean;

/**
 * Resolve with the next event `name` from `source` that matches `match`, or reject after
 * `timeoutMs`. Integration tests wait for events, never for time.
 */
export function waitFor<K extends keyof ClientEvents>(
  source: SwitchboardClient,
  name: K,
  match?: Match<ClientEvents[K]>,
  timeoutMs?: number,
): Promise<ClientEvents[K]>;
export function waitFor<T, P, K extends keyof SubscriptionEvents<T, P>>(
  source: Subscription<T, P>,
  name: K,
  match?: Match<SubscriptionEvents<T, P>[K]>,
  timeoutMs?: number,
): Promise<SubscriptionEvents<T, P>[K]>;
export function waitFor(source: object, name: string, match: Match<unknown> = () => true, timeoutMs = 8000): Promise<unknown> {
  const events = source as EventSource<Record<string, unknown>>;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for "${name}"`));
    }, timeoutMs);
    const off = events.on(name, (payload) => {
      if (!match(payload)) return;
      clearTimeout(timer);
      off();
      resolve(payload);
    });
  });
}

/** Resolve once `check()` is true, re-checked on every event `name`; reject after `timeoutMs`. */
export function waitUntil(source: SwitchboardClient, name: keyof ClientEvents, check: () => boolean, timeoutMs?: number): Promise<void>;
export function waitUntil<T, P>(source: Subscription<T, P>, name: keyof SubscriptionEvents<T, P>, check: () => boolean, timeoutMs?: number): Promise<void>;
export async function waitUntil(source: object, name: string, check: () => boolean, timeoutMs = 8000): Promise<void> {
  if (check()) return;
  await (waitFor as (s: object, n: string, m: Match<unknown>, t: number) => Promise<unknown>)(source, name, () => check(), timeoutMs);
}
