import type { LockPlace } from './store.js';

/** A lock a connection of this node holds: renewed while it lives, released when it goes. */
export interface Holding {
  place: LockPlace;
  leaseKey: string;
  token: number;
  user: string;
  session: string;
  /** Set while its release is in progress: a renewal that fails meanwhile is no loss. */
  releasing?: boolean;
}

/**
 * The locks held by this node's connections, by connection and by lease key. A lock
 * re-acquired by the same session on another connection (a reconnect within the grace)
 * moves to the new connection.
 */
export class Holdings {
  readonly #byClient = new Map<string, Map<string, Holding>>();
  readonly #clientOf = new Map<string, string>();

  /** Record a grant; false (nothing changed) when this node already records a newer grant of the key, which a late, stale grant must not displace. */
  add(client: string, holding: Holding): boolean {
    const previous = this.#clientOf.get(holding.leaseKey);
    const current = previous === undefined ? undefined : this.#byClient.get(previous)?.get(holding.leaseKey);
    if (current !== undefined && current.token > holding.token) return false;
    if (previous !== undefined && previous !== client) this.#byClient.get(previous)?.delete(holding.leaseKey);
    let held = this.#byClient.get(client);
    if (!held) {
      held = new Map();
      this.#byClient.set(client, held);
    }
    held.set(holding.leaseKey, holding);
    this.#clientOf.set(holding.leaseKey, client);
    return true;
  }

  /** Forget a lock if `token` is the grant this node holds. */
  remove(leaseKey: string, token: number): void {
    const client = this.#clientOf.get(leaseKey);
    if (client === undefined) return;
    const held = this.#byClient.get(client);
    if (held?.get(leaseKey)?.token !== token) return;
    held.delete(leaseKey);
    if (held.size === 0) this.#byClient.delete(client);
    this.#clientOf.delete(leaseKey);
  }

  of(client: string): Holding[] {
    return [...(this.#byClient.get(client)?.values() ?? [])];
  }

  get(client: string, leaseKey: string): Holding | undefined {
    return this.#byClient.get(client)?.get(leaseKey);
  }

  count(client: string): number {
    return this.#byClient.get(client)?.size ?? 0;
  }

  /** Whether `client` still holds this grant (it was not released or moved meanwhile). */
  holds(client: string, holding: Holding): boolean {
    return this.#byClient.get(client)?.get(holding.leaseKey)?.token === holding.token;
  }

  /** Whether `holding` is still the grant this node holds for its key (not released, replaced or moved). */
  current(holding: Holding): boolean {
    const client = this.#clientOf.get(holding.leaseKey);
    return client !== undefined && this.#byClient.get(client)?.get(holding.leaseKey) === holding;
  }

  all(): Holding[] {
    const out: Holding[] = [];
    for (const held of this.#byClient.values()) out.push(...held.values());
    return out;
  }

  clear(): void {
    this.#byClient.clear();
    this.#clientOf.clear();
  }
}
