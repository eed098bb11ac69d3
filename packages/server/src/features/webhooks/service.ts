import { ErrorCode } from '@switchboard/protocol';
import { ReplyError } from '../../errors/reply-error.js';
import { newId, newOrderedId } from '../../storage/ids.js';
import { decodeCursor, pageOf } from '../../storage/paging.js';
import { EventCatalogue, type EventType, type OutgoingEvent } from '../events.js';
import type { WebhooksConfig } from './config.js';
import type { Deliveries } from './delivery.js';
import { isDeclared } from './endpoint-ids.js';
import { unknownEventType } from './event-filter.js';
import { newSecret } from './signing.js';
import { type AddressCheck, urlProblem } from './ssrf.js';
import { type Endpoint, type Message, type MessageStatus, toEndpoint, type WebhookStore } from './store.js';
import type { WebhookEndpointTable } from './tables.js';

/** Replays add at most this many messages per request. */
const MAX_REPLAY = 10_000;
/** A replay window may end this far past now (clock skew between the caller and the server). */
const FUTURE_SLACK = 60_000;

export interface EndpointInput {
  url: string;
  events: string[];
  channels: string[];
  description: string;
  batch: { windowMs: number; maxEvents: number } | null;
}

const notFound = () => new ReplyError(ErrorCode.NotFound, 'no such webhook endpoint');

/** What the routes do: endpoints of a tenant, their messages, tests and replays. */
export class WebhookService {
  constructor(
    readonly store: WebhookStore,
    readonly deliveries: Deliveries,
    private readonly o: {
      config: () => WebhooksConfig;
      check: AddressCheck;
      catalogue: () => readonly EventType[];
      now: () => number;
      /** The tenant's endpoints changed: resolves once this node's cache has the change (the other nodes are told, not waited for). */
      changed: (tenant: string) => Promise<void>;
    },
  ) {}

  #checkUrl(url: string): void {
    const problem = urlProblem(url, this.o.config().maxUrlLength, this.o.check);
    if (problem) throw new ReplyError(ErrorCode.InvalidWebhookUrl, `url: ${problem}`);
  }

  #checkEvents(events: readonly string[]): void {
    const unknown = unknownEventType(events, this.o.catalogue());
    if (unknown !== null) throw new ReplyError(ErrorCode.UnknownEventType, `events: "${unknown.slice(0, 100)}" is not in the event catalogue`);
  }

  /** An endpoint the API may change: not one declared in the config file. */
  #changeable(id: string): void {
    if (isDeclared(id))
      throw new ReplyError(ErrorCode.Conflict, 'this endpoint is declared in the config file (webhooks.endpoints): change or remove it there');
  }

  async #own(tenant: string, id: string): Promise<WebhookEndpointTable> {
    const row = await this.store.endpoint(tenant, id);
    if (!row) throw notFound();
    return row;
  }

  async create(tenant: string, input: EndpointInput): Promise<Endpoint & { secret: string }> {
    this.#checkUrl(input.url);
    this.#checkEvents(input.events);
    const now = this.o.now();
    const row: WebhookEndpointTable = {
      id: newId('whe', now),
      tenant,
      url: input.url,
      description: input.description,
      events: JSON.stringify([...new Set(input.events)]),
      channels: JSON.stringify([...new Set(input.channels)]),
      secret: newSecret(),
      previous_secret: null,
      previous_until: null,
      status: 'enabled',
      disabled_reason: null,
      failing_since: null,
      batch_window: input.batch?.windowMs ?? null,
      batch_size: input.batch?.maxEvents ?? null,
      created_at: now,
      updated_at: now,
    };
    const cap = this.o.config().maxEndpoints;
    if ((await this.store.create(row, cap)) === 'full') throw new ReplyError(ErrorCode.LimitExceeded, `a tenant has at most ${cap} webhook endpoints`);
    await this.o.changed(tenant);
    return { ...toEndpoint(row), secret: row.secret };
  }

  async list(tenant: string): Promise<Endpoint[]> {
    return (await this.store.allEndpoints(tenant)).map(toEndpoint);
  }

  async get(tenant: string, id: string): Promise<Endpoint> {
    return toEndpoint(await this.#own(tenant, id));
  }

  async update(tenant: string, id: string, patch: Partial<EndpointInput>): Promise<Endpoint> {
    await this.#own(tenant, id);
    this.#changeable(id);
    if (patch.url !== undefined) this.#checkUrl(patch.url);
    if (patch.events !== undefined) this.#checkEvents(patch.events);
    const set: Partial<WebhookEndpointTable> = { updated_at: this.o.now() };
    if (patch.url !== undefined) set.url = patch.url;
    if (patch.description !== undefined) set.description = patch.description;
    if (patch.events !== undefined) set.events = JSON.stringify([...new Set(patch.events)]);
    if (patch.channels !== undefined) set.channels = JSON.stringify([...new Set(patch.channels)]);
    if (patch.batch !== undefined) {
      set.batch_window = patch.batch?.windowMs ?? null;
      set.batch_size = patch.batch?.maxEvents ?? null;
    }
    const row = await this.store.update(tenant, id, set);
    if (!row) throw notFound();
    await this.o.changed(tenant);
    return toEndpoint(row);
  }

  async remove(tenant: string, id: string): Promise<{ deleted: true }> {
    await this.#own(tenant, id);
    this.#changeable(id);
    if (!(await this.store.delete(tenant, id, this.o.now()))) throw notFound();
    await this.o.changed(tenant);
    return { deleted: true };
  }

  async rotate(tenant: string, id: string): Promise<Endpoint & { secret: string }> {
    const old = await this.#own(tenant, id);
    this.#changeable(id);
    const now = this.o.now();
    const secret = newSecret();
    const row = await this.store.update(tenant, id, {
      secret,
      previous_secret: old.secret,
      previous_until: now + this.o.config().rotationOverlap,
      updated_at: now,
    });
    if (!row) throw notFound();
    return { ...toEndpoint(row), secret };
  }

  async enable(tenant: string, id: string): Promise<Endpoint> {
    await this.#own(tenant, id);
    const row = await this.store.update(tenant, id, { status: 'enabled', disabled_reason: null, failing_since: null, updated_at: this.o.now() });
    if (!row) throw notFound();
    await this.o.changed(tenant);
    return toEndpoint(row);
  }

  async test(tenant: string, id: string): Promise<{ eventId: string; messageId: string }> {
    await this.#own(tenant, id);
    const at = this.o.now();
    const event: OutgoingEvent = {
      id: newOrderedId('evt', at),
      type: 'webhook.test',
      tenant,
      timestamp: at,
      data: { endpointId: id, message: 'a test event from Switchboard' },
    };
    const messageId = await this.deliveries.writeTo(id, event);
    return { eventId: event.id, messageId };
  }

  async replay(
    tenant: string,
    id: string,
    body: { since: number; until?: number | undefined; status?: MessageStatus | undefined },
  ): Promise<{ replayed: number }> {
    await this.#own(tenant, id);
    const now = this.o.now();
    const until = body.until ?? now;
    if (body.since > until) throw new ReplyError(ErrorCode.InvalidRange, 'since: after until');
    if (body.since > now + FUTURE_SLACK || until > now + FUTURE_SLACK) throw new ReplyError(ErrorCode.InvalidRange, 'the replay window is in the future');
    const events = await this.store.eventsToReplay(tenant, id, body.since, until, body.status, MAX_REPLAY);
    return { replayed: await this.deliveries.replay(tenant, id, events) };
  }

  async messages(tenant: string, id: string, q: { status?: MessageStatus | undefined; cursor?: string | undefined; limit: number }) {
    await this.#own(tenant, id);
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    const rows = await this.store.messages(tenant, id, { ...(q.status ? { status: q.status } : {}), ...(after ? { after } : {}), limit: q.limit });
    const page = pageOf<Message>(rows, q.limit, (m) => ({ time: m.createdAt, id: m.id }));
    return { messages: page.rows, nextCursor: page.nextCursor };
  }

  eventTypes() {
    return {
      eventTypes: this.o
        .catalogue()
        .map((t) => ({ type: t.type, description: t.description, schema: EventCatalogue.jsonSchema(t), example: t.example as unknown })),
    };
  }
}
