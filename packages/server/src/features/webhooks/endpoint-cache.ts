import type { WebhookEndpointTable } from './tables.js';

/** What the hot path needs of an enabled endpoint: which events and channels it wants. */
interface Subscription {
  id: string;
  types: ReadonlySet<string>;
  /** `group.` prefixes of `group.*` entries. */
  groups: readonly string[];
  all: boolean;
  /** Channel patterns (`*` at the end matches any rest); empty: every channel. */
  channels: readonly string[];
  /** Batching window, ms (0: one event per request). */
  window: number;
}

const matchChannel = (pattern: string, channel: string) => (pattern.endsWith('*') ? channel.startsWith(pattern.slice(0, -1)) : pattern === channel);

/** Whether an endpoint's `events` list names a type (`*`, `group.*` or the type itself). */
export function subscribes(events: readonly string[], type: string): boolean {
  return events.some((e) => e === '*' || e === type || (e.endsWith('.*') && type.startsWith(e.slice(0, -1))));
}

/**
 * The enabled endpoints of every tenant, in memory, so that deciding whether an event is
 * wanted costs a map lookup and no I/O. Reloaded per tenant when an endpoint changes (on
 * every node: the change is announced over the node messages).
 */
export class EndpointCache {
  readonly #byTenant = new Map<string, Subscription[]>();
  readonly #byId = new Map<string, Subscription>();

  /** How long a new message of an endpoint waits for others to join its batch (0: not batching). */
  windowOf(endpointId: string): number {
    return this.#byId.get(endpointId)?.window ?? 0;
  }

  set(tenant: string, rows: readonly WebhookEndpointTable[]): void {
    const subs = rows
      .filter((r) => r.status === 'enabled')
      .map((r): Subscription => {
        const events = JSON.parse(r.events) as string[];
        return {
          id: r.id,
          types: new Set(events),
          groups: events.filter((e) => e.endsWith('.*')).map((e) => e.slice(0, -1)),
          all: events.includes('*'),
          channels: JSON.parse(r.channels) as string[],
          window: r.batch_window === null || r.batch_size === null ? 0 : Number(r.batch_window),
        };
      });
    for (const old of this.#byTenant.get(tenant) ?? []) this.#byId.delete(old.id);
    for (const sub of subs) this.#byId.set(sub.id, sub);
    if (subs.length === 0) this.#byTenant.delete(tenant);
    else this.#byTenant.set(tenant, subs);
  }

  /** Tenants with an enabled endpoint. */
  tenants(): string[] {
    return [...this.#byTenant.keys()];
  }

  /** Load every tenant's endpoints at once (at start). */
  load(rows: readonly WebhookEndpointTable[]): void {
    this.#byTenant.clear();
    this.#byId.clear();
    const grouped = new Map<string, WebhookEndpointTable[]>();
    for (const r of rows) grouped.set(r.tenant, [...(grouped.get(r.tenant) ?? []), r]);
    for (const [tenant, list] of grouped) this.set(tenant, list);
  }

  /** The ids of the enabled endpoints of `tenant` that want an event. */
  match(tenant: string, type: string, channel?: string): string[] {
    const subs = this.#byTenant.get(tenant);
    if (!subs) return [];
    const out: string[] = [];
    for (const s of subs) {
      if (!(s.all || s.types.has(type) || s.groups.some((g) => type.startsWith(g)))) continue;
      if (channel !== undefined && s.channels.length > 0 && !s.channels.some((p) => matchChannel(p, channel))) continue;
      out.push(s.id);
    }
    return out;
  }

  wants(tenant: string, type: string, channel?: string): boolean {
    return this.match(tenant, type, channel).length > 0;
  }
}
