import type { PresenceMember, PublicationEvent, PublishOptions, PublishResult } from '@switchboard/client';
import type { Activity } from '@switchboard/client/activity';
import type { Notification, NotificationPreferences, UnreadCount } from '@switchboard/client/notifications';
import { type ConnectionStatus, NO_CONNECTION } from './connection.js';
import { ClientCode, notifications, SwitchboardError, useCallback, useEffect, useMemo, useRef } from './externals.js';
import type { ListSnapshot } from './live-list.js';
import { useRegistry } from './provider.js';
import type { ActivityFilters, NotificationsOptions } from './registry.js';
import type { ChannelSnapshot, Cursor, Room } from './room.js';
import { mapResult, sameResult, useSelected } from './select.js';
import { type HookResult, LOADING, loaded, type Store } from './store.js';

const CONNECTION_FALLBACK: HookResult<ConnectionStatus> = Object.freeze({ data: NO_CONNECTION, isLoading: true, error: null });

function useRoom(channel: string): Room | null {
  const registry = useRegistry();
  return registry === null ? null : registry.room(channel);
}

/** Read a result store as it is (stable: the store's own snapshot objects). */
export function useResult<T>(store: Store<HookResult<T>> | null): HookResult<T> {
  return useSelected<HookResult<T>, HookResult<T>>(store, LOADING, (r) => r);
}

const notConnected = (): Promise<never> => Promise.reject(SwitchboardError.of(ClientCode.ConnectionClosed, 'no client yet'));

/**
 * The connection: `state`, the last `code` / `reason`, "reconnecting in `reconnectIn` ms",
 * and how many publishes wait in the client's offline queue (`queued`).
 *
 * @example
 * const { data } = useConnectionStatus();
 * return <span>{data?.state === 'connecting' && data.reconnectIn !== null ? `reconnecting in ${Math.ceil(data.reconnectIn / 1000)} s` : data?.state}</span>;
 */
export function useConnectionStatus(): HookResult<ConnectionStatus> {
  const registry = useRegistry();
  return useSelected(registry?.connection.store ?? null, CONNECTION_FALLBACK, (r) => r);
}

/**
 * Hold a channel subscription (shared by every hook on the channel) and read its state and
 * latest publication; `onPublication` hears each publication.
 *
 * @example
 * const { data, error } = useChannel<{ text: string }>('chat:lobby', (p) => append(p.data.text));
 */
export function useChannel<T = unknown>(channel: string, onPublication?: (p: PublicationEvent<T>) => void): HookResult<ChannelSnapshot<T>> {
  const room = useRoom(channel);
  const listener = useRef(onPublication);
  listener.current = onPublication;
  useEffect(() => room?.onPublication((p) => listener.current?.(p as PublicationEvent<T>)), [room]);
  return useResult(room?.status ?? null) as HookResult<ChannelSnapshot<T>>;
}

/**
 * A function that publishes to `channel` (queued while offline; counted in `useConnectionStatus().data.queued`).
 *
 * @example
 * const publish = usePublish<{ text: string }>('chat:lobby');
 * await publish({ text: 'hello' });
 */
export function usePublish<T = unknown>(channel: string): (data: T, options?: PublishOptions) => Promise<PublishResult> {
  const registry = useRegistry();
  return useCallback(
    (data: T, options?: PublishOptions) => (registry === null ? notConnected() : registry.client.publish(channel, data, options)),
    [registry, channel],
  );
}

/**
 * Who is present on a channel, grouped by user; with a `selector`, only what it selects
 * (the component re-renders only when `isEqual` says the selection changed).
 *
 * @example
 * const { data: count } = usePresence('doc:7', (members) => members.length);
 */
export function usePresence<P = unknown, R = PresenceMember<P>[]>(
  channel: string,
  selector?: (members: PresenceMember<P>[]) => R,
  isEqual: (a: R, b: R) => boolean = Object.is,
): HookResult<R> {
  const room = useRoom(channel);
  const select = selector ?? ((m: PresenceMember<P>[]) => m as unknown as R);
  return useSelected(room?.presence ?? null, LOADING, (r) => mapResult(r as HookResult<PresenceMember<P>[]>, select), sameResult(isEqual));
}

/** The members without this connection (its other tabs stay, as devices of its user). */
function others<P>(members: readonly PresenceMember<P>[], self: string | undefined): PresenceMember<P>[] {
  const out: PresenceMember<P>[] = [];
  for (const m of members) {
    if (!m.devices.some((d) => d.client === self)) out.push(m);
    else if (m.devices.length > 1) out.push({ ...m, devices: m.devices.filter((d) => d.client !== self) });
  }
  return out;
}

/**
 * The other members of a channel (everyone but this connection), through an optional selector.
 *
 * @example
 * const { data: count } = useOthers('doc:7', (o) => o.length); // renders only when the count changes
 */
export function useOthers<P = unknown, R = PresenceMember<P>[]>(
  channel: string,
  selector?: (others: PresenceMember<P>[]) => R,
  isEqual: (a: R, b: R) => boolean = Object.is,
): HookResult<R> {
  const registry = useRegistry();
  const room = registry?.room(channel) ?? null;
  const select = selector ?? ((m: PresenceMember<P>[]) => m as unknown as R);
  return useSelected(
    room?.presence ?? null,
    LOADING,
    (r) => mapResult(r as HookResult<PresenceMember<P>[]>, (members) => select(others(members, registry?.client.session?.client))),
    sameResult(isEqual),
  );
}

/** What `useMyPresence` returns. */
export type MyPresence<P> = HookResult<P | null> & {
  /** Set this connection's presence state: shown at once, entered (or updated) on the server. */
  update: (state: P) => Promise<void>;
};

/**
 * This connection's presence state on a channel and its updater.
 *
 * @example
 * const { data: me, update } = useMyPresence<{ page: string }>('doc:7');
 * useEffect(() => void update({ page: location.pathname }), [update]);
 */
export function useMyPresence<P = unknown>(channel: string): MyPresence<P> {
  const room = useRoom(channel);
  const result = useResult(room?.mine ?? null) as HookResult<P | null>;
  const update = useCallback((state: P) => (room === null ? notConnected() : room.setMyPresence(state)), [room]);
  return useMemo(() => ({ ...result, update }), [result, update]);
}

/** What `useTyping` returns. */
export type Typing = HookResult<readonly string[]> & {
  /** Call with true on each keystroke (sent at most every 2.5 s), false when the text is sent or cleared. */
  setTyping: (typing: boolean) => void;
};

/**
 * The other users typing on a channel (each shown for 5 s after their last keystroke), and
 * the function that says this user is typing.
 *
 * @example
 * const { data: typing, setTyping } = useTyping('chat:lobby');
 * <input onChange={() => setTyping(true)} onBlur={() => setTyping(false)} />
 */
export function useTyping(channel: string): Typing {
  const room = useRoom(channel);
  const result = useResult(room?.typing ?? null);
  const setTyping = useCallback((typing: boolean) => room?.setTyping(typing), [room]);
  return useMemo(() => ({ ...result, setTyping }), [result, setTyping]);
}

/** Options of `useCursors`. */
export interface CursorsOptions {
  /** Send this connection's cursor at most once per this many ms (latest wins). Default 50. */
  throttleMs?: number;
}

/** What `useCursors` returns. */
export type Cursors<T> = HookResult<readonly Cursor<T>[]> & {
  /** Move this connection's cursor (null hides it). */
  update: (position: T | null) => void;
};

/**
 * The other connections' cursors on a channel, re-rendered at most once per animation
 * frame however fast they move, and the function that moves this one's.
 *
 * @example
 * const { data: cursors, update } = useCursors<{ x: number; y: number }>('board:1', { throttleMs: 30 });
 * <div onPointerMove={(e) => update({ x: e.clientX, y: e.clientY })}>{cursors?.map((c) => <Dot key={c.client} {...c.position} />)}</div>
 */
export function useCursors<T = unknown>(channel: string, options: CursorsOptions = {}): Cursors<T> {
  const room = useRoom(channel);
  const throttleMs = options.throttleMs ?? 50;
  const result = useResult(room?.cursors ?? null) as HookResult<readonly Cursor<T>[]>;
  const update = useCallback((position: T | null) => room?.moveCursor(position, throttleMs), [room, throttleMs]);
  return useMemo(() => ({ ...result, update }), [result, update]);
}

/** A live list's result: the items, and paging. */
export type ListResult<T> = HookResult<readonly T[]> & {
  /** Older items exist. */
  hasMore: boolean;
  /** Load the next (older) page. */
  loadMore: () => Promise<void>;
};

function useList<T extends { id: string }>(list: { store: Store<HookResult<ListSnapshot<T>>>; loadMore(): Promise<void> } | null): ListResult<T> {
  const result = useResult(list?.store ?? null);
  return useMemo(
    () => ({
      data: result.data?.items,
      isLoading: result.isLoading,
      error: result.error,
      hasMore: !!result.data?.next,
      loadMore: () => list?.loadMore() ?? Promise.resolve(),
    }),
    [result, list],
  );
}

/** What `useNotifications` returns. */
export type NotificationsResult = ListResult<Notification> & {
  markRead: (id: string) => Promise<void>;
  markAllRead: () => Promise<{ updated: number }>;
};

/**
 * The connected user's notifications, newest first, live: new ones appear, ones read
 * elsewhere (another tab) update. `types` filters by type; `unreadOnly` drops read ones.
 *
 * @example
 * const { data, markRead, markAllRead, loadMore, hasMore } = useNotifications({ unreadOnly: true, types: ['mention'] });
 */
export function useNotifications(options: NotificationsOptions = {}): NotificationsResult {
  const registry = useRegistry();
  // The registry keeps one list per options: the same one every render.
  const list = registry?.inbox(options) ?? null;
  const result = useList(list);
  return useMemo(
    () => ({
      ...result,
      markRead: (id: string) => (registry === null ? notConnected() : notifications(registry.client).markRead(id)),
      markAllRead: () => (registry === null ? notConnected() : notifications(registry.client).markAllRead()),
    }),
    [result, registry],
  );
}

/**
 * The unread and unseen counts of the connected user, pushed after every change.
 *
 * @example
 * const { data } = useUnreadCount();
 * return <span aria-label="unread">{data?.count ?? 0}</span>;
 */
export function useUnreadCount(): HookResult<UnreadCount> {
  const registry = useRegistry();
  return useResult(registry?.unreadCount() ?? null);
}

/** What `useNotificationPreferences` returns. */
export type PreferencesResult = HookResult<NotificationPreferences> & {
  /** Change some preferences; resolves with all of them. */
  update: (patch: Partial<NotificationPreferences>) => Promise<NotificationPreferences>;
};

/**
 * The connected user's notification preferences and their updater.
 *
 * @example
 * const { data, update } = useNotificationPreferences();
 * <button onClick={() => update({ mutedTypes: [...(data?.mutedTypes ?? []), 'digest'] })}>Mute digests</button>
 */
export function useNotificationPreferences(): PreferencesResult {
  const registry = useRegistry();
  const store = registry?.preferences() ?? null;
  const result = useResult(store);
  const update = useCallback(
    async (patch: Partial<NotificationPreferences>) => {
      if (registry === null || store === null) return notConnected();
      const all = await notifications(registry.client).setPreferences(patch);
      store.set(loaded(all));
      return all;
    },
    [registry, store],
  );
  return useMemo(() => ({ ...result, update }), [result, update]);
}

/**
 * A scope's activity feed, newest first, filtered, live.
 *
 * @example
 * const { data, loadMore, hasMore } = useActivity('project:42', { verb: 'commented' });
 */
export function useActivity(scope: string, filters: ActivityFilters = {}): ListResult<Activity> {
  const registry = useRegistry();
  // The registry keeps one list per scope and filters: the same one every render.
  const list = registry?.feed(scope, filters) ?? null;
  return useList(list);
}

/**
 * Hear every error of work nobody awaits: the client's (token, connect, refresh) and the
 * hooks' (a refused subscribe, a failed load).
 *
 * @example
 * useErrorListener((error) => toast(`${error.code}: ${error.message}`));
 */
export function useErrorListener(listener: (error: SwitchboardError) => void): void {
  const registry = useRegistry();
  const current = useRef(listener);
  current.current = listener;
  useEffect(() => {
    if (registry === null) return;
    const offClient = registry.client.on('error', (e) => current.current(e.error));
    const offHooks = registry.errors.on((error) => current.current(error));
    return () => {
      offClient();
      offHooks();
    };
  }, [registry]);
}
