/**
 * `@switchboard/react/suspense`: the same hooks, returning their data; while loading they
 * suspend (the nearest `<Suspense>` shows its fallback) and an error goes to the nearest
 * error boundary. Wrap them in `ClientSideSuspense` so the server renders the fallback.
 */
import type { MetricSubscribeParams, PresenceMember, PublicationEvent } from '@switchboard/client';
import type { Activity } from '@switchboard/client/activity';
import type { Notification, NotificationPreferences, UnreadCount } from '@switchboard/client/notifications';
import type { ReactNode } from 'react';
import type { ConnectionStatus } from './connection.js';
import { createElement, Suspense, useEffect, useState } from './externals.js';
import * as plain from './hooks.js';
import type { LatestKey } from './latest.js';
import type { MetricSnapshot } from './metric-stream.js';
import type { ActivityFilters, NotificationsOptions } from './registry.js';
import type { ChannelSnapshot, Cursor } from './room.js';
import { lastStore } from './select.js';
import type { HookResult, Store } from './store.js';
import { type LatestOptions, useLatest as usePlainLatest } from './use-latest.js';
import { useMetric as usePlainMetric } from './use-metric.js';

export { useErrorListener, usePublish } from './hooks.js';
export { SwitchboardProvider, useClient } from './provider.js';

/** Never settles: suspends until the provider has a client (on the server, forever: use `ClientSideSuspense`). */
const NEVER = new Promise<never>(() => {});

/**
 * The data of the plain hook's result called just before: throws its error, or suspends
 * until the store that hook read has loaded.
 */
function unwrap<T>(result: HookResult<T>): T {
  if (result.error !== null) throw result.error;
  if (!result.isLoading) return result.data as T;
  const store = lastStore() as Store<HookResult<unknown>> | null;
  throw store === null ? NEVER : store.until((r) => !r.isLoading || r.error !== null);
}

/**
 * Renders `fallback` on the server and until mounted in the browser, then `children()` in a
 * `<Suspense>` with the same fallback: Suspense hooks never run on the server.
 *
 * @example
 * <ClientSideSuspense fallback={<Spinner />}>{() => <Inbox />}</ClientSideSuspense>
 */
export function ClientSideSuspense(props: { fallback: ReactNode; children: () => ReactNode }): ReactNode {
  const [mounted, setMounted] = useState(false);
  useEffect(() => setMounted(true), []);
  return createElement(Suspense, { fallback: props.fallback }, mounted ? props.children() : props.fallback);
}

/** The connection status (never suspends: the state is known once the client exists). */
export function useConnectionStatus(): ConnectionStatus {
  return unwrap(plain.useConnectionStatus());
}

export function useChannel<T = unknown>(channel: string, onPublication?: (p: PublicationEvent<T>) => void): ChannelSnapshot<T> {
  return unwrap(plain.useChannel(channel, onPublication));
}

export function usePresence<P = unknown, R = PresenceMember<P>[]>(
  channel: string,
  selector?: (members: PresenceMember<P>[]) => R,
  isEqual?: (a: R, b: R) => boolean,
): R {
  return unwrap(plain.usePresence(channel, selector, isEqual));
}

export function useOthers<P = unknown, R = PresenceMember<P>[]>(
  channel: string,
  selector?: (others: PresenceMember<P>[]) => R,
  isEqual?: (a: R, b: R) => boolean,
): R {
  return unwrap(plain.useOthers(channel, selector, isEqual));
}

export function useMyPresence<P = unknown>(channel: string): [P | null, (state: P) => Promise<void>] {
  const result = plain.useMyPresence<P>(channel);
  return [unwrap(result), result.update];
}

export function useTyping(channel: string): [readonly string[], (typing: boolean) => void] {
  const result = plain.useTyping(channel);
  return [unwrap(result), result.setTyping];
}

export function useCursors<T = unknown>(channel: string, options?: plain.CursorsOptions): [readonly Cursor<T>[], (position: T | null) => void] {
  const result = plain.useCursors<T>(channel, options);
  return [unwrap(result), result.update];
}

export function useNotifications(
  options: NotificationsOptions = {},
): Omit<plain.NotificationsResult, 'data' | 'isLoading' | 'error'> & { data: readonly Notification[] } {
  const result = plain.useNotifications(options);
  return { ...result, data: unwrap(result) };
}

export function useUnreadCount(): UnreadCount {
  return unwrap(plain.useUnreadCount());
}

export function useNotificationPreferences(): [NotificationPreferences, plain.PreferencesResult['update']] {
  const result = plain.useNotificationPreferences();
  return [unwrap(result), result.update];
}

export function useActivity(
  scope: string,
  filters: ActivityFilters = {},
): Omit<plain.ListResult<Activity>, 'data' | 'isLoading' | 'error'> & { data: readonly Activity[] } {
  const result = plain.useActivity(scope, filters);
  return { ...result, data: unwrap(result) };
}

/** The latest value of one key on a conflated channel (null while there is none); suspends until seeded. */
export function useLatest<T = unknown>(channel: string, key: LatestKey, options: LatestOptions): T | null {
  return unwrap(usePlainLatest<T>(channel, key, options));
}

/** A live metric subscription's columns; suspends until the backfill arrived. */
export function useMetric(query: MetricSubscribeParams): MetricSnapshot {
  return unwrap(usePlainMetric(query));
}
