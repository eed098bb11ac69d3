import type net from 'node:net';

const key = (a: string, b: string) => JSON.stringify([a, b]);

/**
 * One worker's connection to the host and what it holds there: channels it wants
 * publications of, presence entries and connection slots — what is undone when it goes.
 */
export class HostSession {
  readonly channels = new Set<string>();
  /** Presence entries this worker wrote, as `[channel, client]` keys. */
  readonly #presence = new Set<string>();
  /** Connection slots held, by `[tenant, user]` key. */
  readonly #slots = new Map<string, number>();
  #open = true;
  /** When the last bytes arrived from the worker (ms): a worker silent too long is cut off. */
  lastHeard = Date.now();

  constructor(
    readonly node: string,
    private readonly socket: net.Socket,
    private readonly maxQueuedBytes: number,
  ) {}

  get open(): boolean {
    return this.#open;
  }

  write(frame: Buffer): void {
    if (!this.#open) return;
    // A worker that stopped reading is cut off rather than buffered for without bound.
    if (this.socket.writableLength > this.maxQueuedBytes) {
      this.socket.destroy();
      return;
    }
    this.socket.write(frame);
  }

  end(): void {
    this.#open = false;
    this.socket.destroy();
  }

  /** The entry is this worker's now (a client moves between workers only by reconnecting, but be exact). */
  ownPresence(channel: string, client: string, all: Iterable<HostSession>): void {
    const k = key(channel, client);
    for (const s of all) if (s !== this) s.#presence.delete(k);
    this.#presence.add(k);
  }

  disownPresence(channel: string, client: string): void {
    this.#presence.delete(key(channel, client));
  }

  /** The presence entries still held, forgotten here. */
  takePresence(): Array<[string, string]> {
    const list = [...this.#presence].map((k) => JSON.parse(k) as [string, string]);
    this.#presence.clear();
    return list;
  }

  holdSlot(tenant: string, user: string): void {
    const k = key(tenant, user);
    this.#slots.set(k, (this.#slots.get(k) ?? 0) + 1);
  }

  /** True when this worker held a slot of the user (so the store's count goes down). */
  releaseSlot(tenant: string, user: string): boolean {
    const k = key(tenant, user);
    const held = this.#slots.get(k) ?? 0;
    if (held === 0) return false;
    if (held === 1) this.#slots.delete(k);
    else this.#slots.set(k, held - 1);
    return true;
  }

  takeSlots(): Array<[string, string, number]> {
    const list = [...this.#slots].map(([k, n]) => [...(JSON.parse(k) as [string, string]), n] as [string, string, number]);
    this.#slots.clear();
    return list;
  }
}
