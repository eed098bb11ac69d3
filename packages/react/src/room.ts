import type { PresenceMember, PublicationEvent, SignalEvent, Subscription, SubscriptionState, SwitchboardClient } from '@switchboard/client';
import { Emitter, type ErrorBus, offAll } from './errors.js';
import { ClientCode, SwitchboardError } from './externals.js';
import { applyPresence, type PresenceChange } from './presence.js';
import { failed, type HookResult, LOADING, loaded, Store } from './store.js';

/** What `useChannel` shows of a subscription. */
export interface ChannelSnapshot<T = unknown> {
  readonly state: SubscriptionState;
  /** The latest publication received since the hook mounted, or null. */
  readonly last: PublicationEvent<T> | null;
}

/** Another connection's cursor. */
export interface Cursor<T = unknown> {
  readonly user: string;
  readonly client: string;
  readonly position: T;
  readonly info?: unknown;
}

/** The signal keys the hooks use. */
export const TYPING_KEY = 'typing';
export const CURSOR_KEY = 'cursor';
/** How long a `typing` signal counts without a newer one. */
export const TYPING_TIMEOUT = 5000;

const frame = (run: () => void): void => {
  const raf = (globalThis as { requestAnimationFrame?: (cb: () => void) => unknown }).requestAnimationFrame;
  if (typeof raf === 'function') raf.call(globalThis, run);
  else setTimeout(run, 16);
};

/**
 * One channel of one client, shared by every hook on it: one SDK subscription while any of
 * its stores has a listener (reference-counted), released a microtask after the last leaves.
 */
export class Room {
  #sub: Subscription | null = null;
  #offs: Array<() => void> = [];
  #refs = 0;
  #error: SwitchboardError | null = null;
  /** The hooks made the subscription, so they end it. */
  #owned = false;
  #members: PresenceMember[] = [];
  /** Presence events that arrived while the member list was being fetched. */
  #pending: PresenceChange[] | null = null;
  readonly #typing = new Map<string, { user: string; until: number }>();
  #typingTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #cursors = new Map<string, Cursor>();
  #framePending = false;
  readonly #publications = new Emitter<PublicationEvent>();
  #typingSentAt = 0;
  #cursorSentAt = 0;
  #cursorTimer: ReturnType<typeof setTimeout> | undefined;
  #cursorNext: unknown;

  readonly status: Store<HookResult<ChannelSnapshot>>;
  readonly presence: Store<HookResult<readonly PresenceMember[]>>;
  readonly typing: Store<HookResult<readonly string[]>>;
  readonly cursors: Store<HookResult<readonly Cursor[]>>;
  /** This connection's presence state as the app last set it (null: none yet). */
  readonly mine: Store<HookResult<unknown>>;

  readonly #client: SwitchboardClient;
  readonly #channel: string;
  readonly #errors: ErrorBus;

  constructor(client: SwitchboardClient, channel: string, errors: ErrorBus) {
    this.#client = client;
    this.#channel = channel;
    this.#errors = errors;
    const lifecycle = { start: () => this.#retain(), stop: () => this.#release() };
    this.status = new Store<HookResult<ChannelSnapshot>>(LOADING, lifecycle);
    this.presence = new Store<HookResult<readonly PresenceMember[]>>(LOADING, {
      start: () => {
        this.#retain();
        if (this.#sub?.state === 'subscribed') this.#fetchPresence();
      },
      stop: () => this.#release(),
    });
    this.typing = new Store<HookResult<readonly string[]>>(LOADING, lifecycle);
    this.cursors = new Store<HookResult<readonly Cursor[]>>(LOADING, lifecycle);
    this.mine = new Store<HookResult<unknown>>(LOADING, lifecycle);
  }

  /** Listen to the channel's publications while a hook holds it. */
  onPublication(listener: (p: PublicationEvent) => void): () => void {
    return this.#publications.on(listener);
  }

  /** Set this connection's presence state (shown at once, sent to the server). */
  setMyPresence(state: unknown): Promise<void> {
    if (this.#sub === null) return Promise.reject(SwitchboardError.of(ClientCode.SubscriptionUnsubscribed, this.#channel));
    this.mine.set(loaded(state));
    return this.#sub.updatePresence(state);
  }

  /** Say this user is typing (again at most every half timeout) or stopped. */
  setTyping(typing: boolean): void {
    if (this.#sub === null) return;
    const now = Date.now();
    if (typing && now - this.#typingSentAt < TYPING_TIMEOUT / 2) return;
    if (!typing && this.#typingSentAt === 0) return;
    this.#typingSentAt = typing ? now : 0;
    this.#sub.signal(TYPING_KEY, typing);
  }

  /** Send this connection's cursor (null hides it), at most once per `throttleMs`, the latest position winning. */
  moveCursor(position: unknown, throttleMs: number): void {
    this.#cursorNext = position;
    if (this.#cursorTimer !== undefined) return;
    const wait = this.#cursorSentAt + throttleMs - Date.now();
    const send = () => {
      this.#cursorTimer = undefined;
      this.#cursorSentAt = Date.now();
      this.#sub?.signal(CURSOR_KEY, this.#cursorNext ?? null);
    };
    if (wait <= 0) send();
    else this.#cursorTimer = setTimeout(send, wait);
  }

  /** The live subscription (null while no hook holds the channel). */
  get subscription(): Subscription | null {
    return this.#sub;
  }

  #retain(): void {
    if (this.#refs++ > 0) return;
    let sub: Subscription;
    // A subscription the app (or an SDK module: notifications, activity) already holds stays theirs.
    this.#owned = this.#client.getSubscription(this.#channel) === undefined;
    try {
      sub = this.#client.subscribe(this.#channel);
    } catch (err) {
      // An invalid channel name: the SDK throws its typed error.
      this.#fail(err as SwitchboardError);
      return;
    }
    this.#sub = sub;
    const ready = () => {
      if (this.#error !== null || (sub.state !== 'subscribed' && this.status.get().isLoading)) return;
      this.status.set(loaded({ state: sub.state, last: this.status.get().data?.last ?? null }));
      this.#showTyping();
      this.#showCursors();
      if (this.mine.get().isLoading) this.mine.set(loaded(null));
    };
    this.#offs = [
      sub.on('state', ready),
      sub.on('subscribed', () => {
        ready();
        this.#fetchPresence();
      }),
      sub.on('publication', (p) => {
        this.status.set(loaded({ state: sub.state, last: p }));
        this.#publications.emit(p);
      }),
      sub.on('join', (event) => this.#presenceEvent({ kind: 'join', event })),
      sub.on('update', (event) => this.#presenceEvent({ kind: 'update', event })),
      sub.on('leave', (e) => {
        this.#presenceEvent({ kind: 'leave', event: e });
        this.#typing.delete(e.device.client);
        this.#cursors.delete(e.device.client);
        this.#showTyping();
        this.#scheduleCursors();
      }),
      sub.on('signal', (s) => this.#signal(s)),
      sub.on('error', (e) => {
        this.#errors.emit(e.error);
        if (e.during === 'subscribe' && !e.error.temporary) this.#fail(e.error);
      }),
    ];
    if (sub.state === 'subscribed') {
      ready();
      this.#fetchPresence();
    }
  }

  #release(): void {
    if (--this.#refs > 0) return;
    offAll(this.#offs);
    // Ended by the server already (a refusal) when it is not the client's any more.
    if (this.#owned && this.#sub && this.#client.getSubscription(this.#channel) === this.#sub) this.#sub.unsubscribe();
    this.#sub = null;
    this.#error = null;
    this.#members = [];
    this.#pending = null;
    this.#typing.clear();
    this.#cursors.clear();
    clearTimeout(this.#typingTimer);
    clearTimeout(this.#cursorTimer);
    this.#cursorTimer = undefined;
    this.#typingSentAt = 0;
    this.#setAll(LOADING);
  }

  #fail(error: SwitchboardError): void {
    this.#error = error;
    this.#setAll(failed(error));
  }

  #setAll(result: HookResult<never>): void {
    for (const store of [this.status, this.presence, this.typing, this.cursors, this.mine] as Store<HookResult<unknown>>[]) store.set(result);
  }

  #fetchPresence(): void {
    const sub = this.#sub;
    if (sub === null || this.#pending !== null || !this.presence.active) return;
    this.#pending = [];
    sub.presence().then(
      (members) => {
        if (this.#sub !== sub) return;
        const pending = this.#pending ?? [];
        this.#pending = null;
        this.#members = pending.reduce(applyPresence, members);
        this.presence.set(loaded(this.#members));
      },
      (error: SwitchboardError) => {
        if (this.#sub !== sub) return;
        this.#pending = null;
        this.presence.set(failed(error));
      },
    );
  }

  #presenceEvent(change: PresenceChange): void {
    if (this.#pending !== null) {
      this.#pending.push(change);
      return;
    }
    if (this.presence.get().isLoading) return;
    this.#members = applyPresence(this.#members, change);
    this.presence.set(loaded(this.#members));
  }

  #signal(s: SignalEvent): void {
    if (s.key === TYPING_KEY) {
      if (s.data === true) this.#typing.set(s.from.client, { user: s.from.user, until: Date.now() + TYPING_TIMEOUT });
      else this.#typing.delete(s.from.client);
      this.#showTyping();
    } else if (s.key === CURSOR_KEY) {
      if (s.data === null || s.data === undefined) this.#cursors.delete(s.from.client);
      else this.#cursors.set(s.from.client, { user: s.from.user, client: s.from.client, position: s.data, info: s.from.info });
      this.#scheduleCursors();
    }
  }

  /** Cursors render at most once per animation frame, however fast they arrive. */
  #scheduleCursors(): void {
    if (this.#framePending) return;
    this.#framePending = true;
    frame(() => {
      this.#framePending = false;
      if (this.#refs > 0) this.#showCursors();
    });
  }

  #showCursors(): void {
    this.cursors.set(loaded([...this.#cursors.values()]));
  }

  /** Show who is typing now (the same result while that is unchanged), and look again when the next of them expires. */
  #showTyping(): void {
    const now = Date.now();
    const users = new Set<string>();
    let next = Number.POSITIVE_INFINITY;
    for (const [client, t] of this.#typing) {
      if (t.until <= now) this.#typing.delete(client);
      else {
        users.add(t.user);
        next = Math.min(next, t.until);
      }
    }
    const list = [...users].sort();
    const shown = this.typing.get().data;
    if (!shown || shown.length !== list.length || shown.some((u, i) => u !== list[i])) this.typing.set(loaded(list));
    clearTimeout(this.#typingTimer);
    if (next < Number.POSITIVE_INFINITY) this.#typingTimer = setTimeout(() => this.#showTyping(), next - now);
  }
}
