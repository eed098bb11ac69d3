import { z } from 'zod';
import { createError } from '../errors/sb-error.js';
import { newOrderedId } from '../storage/ids.js';
import type { JobExecutor } from '../storage/job-store.js';

/**
 * One event type of the catalogue, declared by the feature that emits it, in its own folder
 * (`features/<name>/events.ts`) and listed in its manifest's `events`. The zod schema builds
 * the payload (`emit` parses the data with it) and gives its JSON Schema to the catalogue.
 */
export interface EventType<S extends z.ZodType = z.ZodType> {
  /** `group.action`, lower case: `connection.opened`, `notification.created`. */
  type: string;
  description: string;
  data: S;
  /** A payload as a receiver gets it (documented; checked against `data` at start). */
  example: z.output<S>;
}

/** Define an event type with its payload type inferred from the schema. */
export function defineEventType<S extends z.ZodType>(event: EventType<S>): EventType<S> {
  return event;
}

/** An event as it leaves the feature that emitted it. */
export interface OutgoingEvent {
  /** `evt_…`: the Standard Webhooks `webhook-id`, the same on every attempt and replay. */
  id: string;
  type: string;
  tenant: string;
  /** Unix ms when it occurred. */
  timestamp: number;
  data: unknown;
  /** The tenant's channel the event is about, when it is about one (endpoints filter on it). */
  channel?: string;
}

/**
 * Where emitted events go: one consumer per server (the webhooks feature). `wants` is asked
 * first and must be cheap (no I/O): an event type nobody subscribed to costs one lookup.
 */
export interface EventSink {
  wants(tenant: string, type: string, channel?: string): boolean;
  /** Store the events durably; with `trx`, in that transaction (they commit with the change they report). */
  write(events: readonly OutgoingEvent[], trx?: JobExecutor): Promise<void>;
  /** A transaction that events were written in committed: deliver them now rather than at the next poll. */
  committed(): void;
}

export interface EmitOptions {
  /** The transaction of the change the event reports: the event is stored in it. */
  trx?: JobExecutor;
  channel?: string;
}

/** The catalogue as a feature sees it: it emits the types its manifest declares. */
export interface FeatureEvents {
  /** Whether an emit of this type would be stored (skip building a payload otherwise). */
  wanted(tenant: string, type: string, channel?: string): boolean;
  /** Emit an event (the payload parsed by its schema); resolves once stored, or at once when nobody wants it. */
  emit(type: string, tenant: string, data: unknown, options?: EmitOptions): Promise<void>;
  /**
   * Emit many events of one type and tenant at once (a request that notified many users): the
   * same as one `emit` each, in order, but stored together (a few multi-row statements).
   */
  emitMany(type: string, tenant: string, data: readonly unknown[], options?: EmitOptions): Promise<void>;
  /** Call after the transaction events were emitted in committed (their delivery starts at once). */
  committed(): void;
  /** Every event type of the server's features, in registration order. */
  catalogue(): readonly EventType[];
  /** Become the server's one consumer of events (SB_ERR_FEATURE_MANIFEST for a second one). */
  consume(sink: EventSink): void;
}

const TYPE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;

/** The event catalogue of one server: every feature's event types, checked at registration. */
export class EventCatalogue {
  readonly #types = new Map<string, { owner: string; event: EventType }>();
  #sink: EventSink | null = null;

  constructor(features: readonly { name: string; events?: readonly EventType[] }[]) {
    for (const f of features) {
      for (const event of f.events ?? []) {
        if (!TYPE.test(event.type)) throw createError('SB_ERR_FEATURE_MANIFEST', `feature "${f.name}": event type "${event.type}" is not group.action`);
        const other = this.#types.get(event.type);
        if (other) throw createError('SB_ERR_FEATURE_MANIFEST', `feature "${f.name}": event type "${event.type}" is declared by "${other.owner}"`);
        if (!event.data.safeParse(event.example).success)
          throw createError('SB_ERR_FEATURE_MANIFEST', `feature "${f.name}": the example of "${event.type}" does not match its schema`);
        this.#types.set(event.type, { owner: f.name, event });
      }
    }
  }

  get types(): readonly EventType[] {
    return [...this.#types.values()].map((t) => t.event);
  }

  has(type: string): boolean {
    return this.#types.has(type);
  }

  /** The catalogue as feature `owner` uses it. */
  scoped(owner: string, now: () => number): FeatureEvents {
    const sink = () => this.#sink;
    const emitMany = async (type: string, tenant: string, data: readonly unknown[], options: EmitOptions = {}): Promise<void> => {
      const entry = this.#types.get(type);
      if (!entry || entry.owner !== owner)
        throw createError('SB_ERR_FEATURE_MANIFEST', `feature "${owner}" emitted "${type}", which its manifest does not declare`);
      const to = sink();
      if (data.length === 0 || !to?.wants(tenant, type, options.channel)) return;
      const at = now();
      const events = data.map((d): OutgoingEvent => {
        // Ordered ids: the events keep the order they were given in, also within one millisecond.
        const event: OutgoingEvent = { id: newOrderedId('evt', at), type, tenant, timestamp: at, data: entry.event.data.parse(d) };
        if (options.channel !== undefined) event.channel = options.channel;
        return event;
      });
      await to.write(events, options.trx);
    };
    return {
      wanted: (tenant, type, channel) => sink()?.wants(tenant, type, channel) ?? false,
      emit: (type, tenant, data, options) => emitMany(type, tenant, [data], options),
      emitMany,
      committed: () => sink()?.committed(),
      catalogue: () => this.types,
      consume: (s) => {
        if (this.#sink) throw createError('SB_ERR_FEATURE_MANIFEST', `feature "${owner}": events already have a consumer`);
        this.#sink = s;
      },
    };
  }

  /** The JSON Schema of an event type's payload. */
  static jsonSchema(event: EventType): Record<string, unknown> {
    const { $schema: _dialect, ...rest } = z.toJSONSchema(event.data, { io: 'output', target: 'draft-2020-12', unrepresentable: 'any' }) as Record<
      string,
      unknown
    >;
    return rest;
  }
}
