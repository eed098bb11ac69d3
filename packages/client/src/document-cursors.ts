import { Emitter } from './emitter.js';
import type { PresenceEvent, SignalEvent } from './events.js';
import type { FeatureHost } from './feature-module.js';
import type { Subscription } from './subscription.js';

/** A pointer (`{x, y}`, e.g. on a canvas) or a text range (`{anchor, head}`, positions as the app encodes them). */
export type Cursor = { x: number; y: number } | { anchor: unknown; head: unknown };

/** Where one connection of the document is: its latest cursor and selection (each null until it sent one). */
export interface CursorEntry {
  /** The connection (one entry per device). */
  client: string;
  user: string;
  cursor: Cursor | null;
  selection: string[] | null;
}

export interface CursorsEvents {
  /** Someone's cursor or selection changed, or a connection left (its entry is gone). */
  change: { entries: CursorEntry[] };
}

const CURSOR = 'cursor';
const SELECTION = 'selection';

/**
 * Cursors and selections of a document for apps that do not use Yjs awareness (a node
 * editor, a canvas): typed sugar over the kernel's signals on the document's channel. Each
 * is latest-value-wins per connection, throttled (the `signalsPerSecond` limit, the last
 * value always sent), never stored, dropped first for a slow consumer; a connection that
 * goes (closed, dropped, its node dead) leaves the channel's presence, and its entry goes
 * with it. Needs the `signal` and `presence` capabilities on the document's channel.
 */
export class DocumentCursors extends Emitter<CursorsEvents> {
  readonly #entries = new Map<string, CursorEntry>();
  #sub: Subscription | null = null;
  /** This connection's own latest values (undefined: never set), sent again on every (re)subscribe. */
  readonly #mine: { cursor?: Cursor | null; selection?: string[] } = {};
  #offs: Array<() => void> = [];

  constructor(
    private readonly host: FeatureHost,
    readonly channel: string,
  ) {
    super();
  }

  /** Show where this connection is (null: nowhere); sent once subscribed, and again after a resubscribe. */
  set(cursor: Cursor | null): void {
    this.#mine.cursor = cursor;
    this.#subscription().signal(CURSOR, cursor);
  }

  /** Show what this connection has selected (`['node-7', 'node-9']`); sent once subscribed, and again after a resubscribe. */
  select(ids: readonly string[]): void {
    this.#mine.selection = [...ids];
    this.#subscription().signal(SELECTION, this.#mine.selection);
  }

  /** Start following the others' cursors without sending one (`set` and `select` start it too). */
  follow(): void {
    this.#subscription();
  }

  /** Everyone else's latest cursor and selection, one entry per connection. */
  get entries(): CursorEntry[] {
    return [...this.#entries.values()];
  }

  /** Stop: leave the channel (this connection's entry goes for everyone). */
  close(): void {
    for (const off of this.#offs.splice(0)) off();
    this.#sub?.unsubscribe();
    this.#sub = null;
    this.#entries.clear();
  }

  #subscription(): Subscription {
    if (this.#sub) return this.#sub;
    const sub = this.host.subscribe(this.channel);
    this.#sub = sub;
    this.#offs.push(
      sub.on('signal', (e) => this.#onSignal(e)),
      sub.on('leave', (e: PresenceEvent) => this.#drop(e.device.client)),
      // In presence, so that the others are told when this connection goes (and its cursor with it).
      sub.on('subscribed', () => {
        void sub.enterPresence({}).catch(() => undefined);
        if (this.#mine.cursor !== undefined) sub.signal(CURSOR, this.#mine.cursor);
        if (this.#mine.selection !== undefined) sub.signal(SELECTION, this.#mine.selection);
      }),
      // A resubscribe may have missed leaves: what comes next is current.
      sub.on('unsubscribed', () => this.#reset()),
    );
    if (sub.state === 'subscribed') void sub.enterPresence({}).catch(() => undefined);
    return sub;
  }

  #onSignal(e: SignalEvent): void {
    if (e.key !== CURSOR && e.key !== SELECTION) return;
    const client = e.from.client;
    if (client === this.host.session?.client) return;
    const entry = this.#entries.get(client) ?? { client, user: e.from.user, cursor: null, selection: null };
    if (e.key === CURSOR) entry.cursor = isCursor(e.data) ? e.data : null;
    else entry.selection = Array.isArray(e.data) ? e.data.filter((x): x is string => typeof x === 'string') : null;
    this.#entries.set(client, entry);
    this.emit('change', { entries: this.entries });
  }

  #drop(client: string): void {
    if (this.#entries.delete(client)) this.emit('change', { entries: this.entries });
  }

  #reset(): void {
    if (this.#entries.size === 0) return;
    this.#entries.clear();
    this.emit('change', { entries: [] });
  }
}

function isCursor(v: unknown): v is Cursor {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (typeof o['x'] === 'number' && typeof o['y'] === 'number') || ('anchor' in o && 'head' in o);
}
