import { ErrorCode } from '@switchboard/protocol';
import type { Logger } from 'pino';
import { ReplyError } from '../../errors/reply-error.js';
import { newId } from '../../storage/ids.js';
import type { Job, JobExecutor } from '../../storage/job-store.js';
import type { EventSink, OutgoingEvent } from '../events.js';
import type { FeatureJobs } from '../scoped-jobs.js';
import type { WebhooksConfig } from './config.js';
import type { EndpointCache } from './endpoint-cache.js';
import type { WebhookMetrics } from './metrics.js';
import { DeliveryFailure, probeWait } from './schedule.js';
import type { WebhookSender } from './sender.js';
import { signedHeaders } from './signing.js';
import type { WebhookStore } from './store.js';
import type { WebhookAttemptTable, WebhookEndpointTable, WebhookTables } from './tables.js';

/** The job kind of one message's delivery (`webhooks.deliver` in sb_jobs). */
export const DELIVER = 'deliver';
/** The job kind of a failing endpoint's probe (`webhooks.probe`): one per failing spell. */
export const PROBE = 'probe';
/** Rows per multi-row insert of the outbox. */
const INSERT_CHUNK = 200;
/** Oldest pending messages a probe looks at (one may be running, or just claimed). */
const PROBE_CANDIDATES = 5;

export interface DeliveryOptions {
  store: WebhookStore;
  jobs: FeatureJobs;
  cache: EndpointCache;
  sender: WebhookSender;
  metrics: WebhookMetrics;
  logger: Logger;
  config: () => WebhooksConfig;
  now: () => number;
  /** The retry schedule's wait after `attempts` failed attempts ending in `failure`; null when none is left. */
  retryWait: (attempts: number, failure: unknown) => number | null;
  /** Called when an endpoint's state changed (disabled): every node reloads the tenant's endpoints. */
  changed: (tenant: string) => Promise<void>;
}

type DeliveryRow = NonNullable<Awaited<ReturnType<WebhookStore['delivery']>>>;

/** A claimed message of a batching endpoint, waiting for its batch's outcome. */
interface Queued {
  job: Job;
  signal: AbortSignal;
  resolve: (result: unknown) => void;
  reject: (err: unknown) => void;
}

const iso = (ms: number | string) => JSON.stringify(new Date(Number(ms)).toISOString());

/** The Standard Webhooks body of one event: `{ type, timestamp, data }` (data is stored as JSON text). */
function eventBody(d: DeliveryRow): string {
  return `{"type":${JSON.stringify(d.type)},"timestamp":${iso(d.occurred_at)},"data":${d.data}}`;
}

/** A batch: `{ type: "batch", timestamp, events: [{ id, type, timestamp, data }] }`, in occurrence order. */
function batchBody(items: readonly DeliveryRow[], at: number): string {
  const events = items.map((d) => `{"id":${JSON.stringify(d.event_id)},"type":${JSON.stringify(d.type)},"timestamp":${iso(d.occurred_at)},"data":${d.data}}`);
  return `{"type":"batch","timestamp":${iso(at)},"events":[${events.join(',')}]}`;
}

/** A batch's messages in occurrence order: by time, then by event id (a node's event ids increase, also within a millisecond). */
function inOccurrenceOrder(rows: DeliveryRow[]): DeliveryRow[] {
  return rows.sort((x, y) => Number(x.occurred_at) - Number(y.occurred_at) || (x.event_id < y.event_id ? -1 : x.event_id > y.event_id ? 1 : 0));
}

/** A message with its event and its endpoint, as one attempt needs them. */
interface Loaded {
  delivery: DeliveryRow | undefined;
  endpoint: WebhookEndpointTable | undefined;
}

/**
 * The reads of the attempts that start in one turn (the messages one claim took), made
 * together: two statements per claim instead of two per message.
 */
class DeliveryReads {
  readonly #store: WebhookStore;
  #queued: Map<string, Array<{ resolve: (l: Loaded) => void; reject: (err: unknown) => void }>> | null = null;

  constructor(store: WebhookStore) {
    this.#store = store;
  }

  load(messageId: string): Promise<Loaded> {
    if (!this.#queued) {
      this.#queued = new Map();
      queueMicrotask(() => void this.#read());
    }
    const queued = this.#queued;
    return new Promise((resolve, reject) => queued.set(messageId, [...(queued.get(messageId) ?? []), { resolve, reject }]));
  }

  async #read(): Promise<void> {
    const queued = this.#queued;
    if (!queued) return;
    this.#queued = null;
    try {
      const rows = await this.#store.deliveries([...queued.keys()]);
      const endpoints = new Map((await this.#store.endpointsById([...new Set(rows.map((r) => r.endpoint_id))])).map((e) => [e.id, e]));
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (const [id, waiting] of queued) {
        const delivery = byId.get(id);
        const loaded = { delivery, endpoint: delivery ? endpoints.get(delivery.endpoint_id) : undefined };
        for (const w of waiting) w.resolve(loaded);
      }
    } catch (err) {
      for (const waiting of queued.values()) for (const w of waiting) w.reject(err);
    }
  }
}

/** Attempts in flight per endpoint on this node, at most `limit`; the others wait their turn. */
class Slots {
  readonly #active = new Map<string, number>();
  readonly #waiting = new Map<string, Array<() => void>>();

  async run<T>(key: string, limit: number, fn: () => Promise<T>): Promise<T> {
    if ((this.#active.get(key) ?? 0) >= limit) await new Promise<void>((resolve) => this.#waiting.set(key, [...(this.#waiting.get(key) ?? []), resolve]));
    this.#active.set(key, (this.#active.get(key) ?? 0) + 1);
    try {
      return await fn();
    } finally {
      const left = (this.#active.get(key) ?? 1) - 1;
      if (left === 0) this.#active.delete(key);
      else this.#active.set(key, left);
      const next = this.#waiting.get(key)?.shift();
      if (this.#waiting.get(key)?.length === 0) this.#waiting.delete(key);
      next?.();
    }
  }
}

/**
 * The webhooks outbox and its delivery: events become one message per endpoint that wants
 * them, each a job of the job runner written in the same transaction as the event (and, when
 * the emitter passes its transaction, as the change the event reports). One node claims a
 * message at a time; it signs and posts it, records the attempt, and the retry schedule
 * decides the next one.
 */
export class Deliveries implements EventSink {
  readonly #o: DeliveryOptions;
  readonly #slots = new Slots();
  readonly #reads: DeliveryReads;
  /** Attempt rows waiting for the job runner's next group commit: one multi-row insert for all of them. */
  #attemptRows: { rows: WebhookAttemptTable[]; written: Promise<void> } | null = null;
  /** Messages of batching endpoints claimed on this node, waiting for their endpoint's batch. */
  readonly #batchQueues = new Map<string, Queued[]>();
  /** Batching endpoints with a follow-up batch of borrowed messages on this node (`#follow`). */
  readonly #followers = new Set<string>();
  #pollTimer: NodeJS.Timeout | null = null;

  constructor(options: DeliveryOptions) {
    this.#o = options;
    this.#reads = new DeliveryReads(options.store);
  }

  wants(tenant: string, type: string, channel?: string): boolean {
    return this.#o.cache.wants(tenant, type, channel);
  }

  async write(events: readonly OutgoingEvent[], trx?: JobExecutor): Promise<void> {
    const targets = events.map((e) => ({ event: e, endpoints: this.#o.cache.match(e.tenant, e.type, e.channel) })).filter((t) => t.endpoints.length > 0);
    if (targets.length === 0) return;
    if (trx) return this.#insert(trx, targets);
    await this.#o.store.db.transaction().execute((t) => this.#insert(t, targets));
    this.#pollSoon();
  }

  committed(): void {
    this.#pollSoon();
  }

  /** Claim the new messages soon: the writes of one turn (and of the next millisecond) share one claim. */
  #pollSoon(): void {
    if (this.#pollTimer) return;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = null;
      void this.#o.jobs.poll();
    }, 1);
  }

  /** Deliver one event to one endpoint (the test event; replays), whatever it subscribed to. */
  async writeTo(endpointId: string, event: OutgoingEvent): Promise<string> {
    const ids: string[] = [];
    await this.#o.store.db.transaction().execute((t) => this.#insert(t, [{ event, endpoints: [endpointId] }], ids));
    void this.#o.jobs.poll();
    return ids[0] as string;
  }

  /** New messages for events already stored (a replay): the same event ids, so the same `webhook-id`. */
  async replay(tenant: string, endpointId: string, eventIds: readonly string[]): Promise<number> {
    if (eventIds.length === 0) return 0;
    const now = this.#o.now();
    await this.#o.store.db.transaction().execute(async (trx) => {
      for (const eventId of eventIds) await this.#message(trx, tenant, endpointId, eventId, now);
    });
    void this.#o.jobs.poll();
    return eventIds.length;
  }

  async #insert(trx: JobExecutor, targets: Array<{ event: OutgoingEvent; endpoints: string[] }>, ids: string[] = []): Promise<void> {
    const now = this.#o.now();
    const events = targets.map(({ event: e }) => ({ id: e.id, tenant: e.tenant, type: e.type, data: JSON.stringify(e.data), occurred_at: e.timestamp }));
    const messages: Array<{ id: string; tenant: string; endpoint_id: string; event_id: string; created_at: number }> = [];
    for (const { event, endpoints } of targets)
      for (const endpoint of endpoints)
        messages.push({ id: newId('msg', now), tenant: event.tenant, endpoint_id: endpoint, event_id: event.id, created_at: now });
    // Every event, message and delivery job in a few multi-row statements (a request's events together).
    await this.#o.store.insertOutbox(trx, events, messages, INSERT_CHUNK);
    await this.#o.jobs.addMany(
      messages.map((m) => ({
        kind: DELIVER,
        id: m.id,
        tenant: m.tenant,
        payload: { message: m.id, endpoint: m.endpoint_id },
        queue: m.endpoint_id,
        // On a batching endpoint the first message waits its window for others to join it.
        dueAt: now + this.#o.cache.windowOf(m.endpoint_id),
      })),
      trx,
    );
    for (const m of messages) ids.push(m.id);
  }

  async #message(trx: JobExecutor, tenant: string, endpointId: string, eventId: string, now: number): Promise<string> {
    const id = newId('msg', now);
    await (trx as unknown as import('kysely').Kysely<WebhookTables>)
      .insertInto('sb_webhook_messages')
      .values({ id, tenant, endpoint_id: endpointId, event_id: eventId, created_at: now })
      .execute();
    // On a batching endpoint the first message waits its window for others to join it.
    await this.#o.jobs.add(
      { kind: DELIVER, id, tenant, payload: { message: id, endpoint: endpointId }, queue: endpointId, dueAt: now + this.#o.cache.windowOf(endpointId) },
      trx,
    );
    return id;
  }

  /** One attempt of a message (the job handler); on a batching endpoint, with the messages of its window. */
  async deliver(job: Job, signal: AbortSignal): Promise<unknown> {
    const { message: messageId, endpoint: endpointId } = job.payload as { message: string; endpoint?: string };
    // Decided before any await: the messages of one endpoint claimed together queue together.
    if (endpointId !== undefined && this.#o.cache.windowOf(endpointId) > 0) return this.#deliverBatch(job, endpointId, signal);
    const { delivery: d, endpoint } = await this.#reads.load(messageId);
    if (!d) return { skipped: 'the message was deleted' };
    if (!endpoint) return { skipped: 'the endpoint was deleted' };
    if (endpoint.status !== 'enabled') throw new ReplyError(ErrorCode.NotAvailable, `the endpoint is disabled (${endpoint.disabled_reason ?? 'disabled'})`);
    return this.#attempt([d], endpoint, signal);
  }

  /**
   * A message of a batching endpoint joins the endpoint's queue on this node; one batch at a
   * time per endpoint takes what is queued (messages claimed by this node's runner: each
   * gets the batch's outcome as its own attempt) and tops it up with the endpoint's pending
   * messages due within the window (borrowed: no attempt counted; after a failure they wait
   * as long as the batch's first message), up to the batch size, in occurrence order.
   */
  #deliverBatch(job: Job, endpointId: string, signal: AbortSignal): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const queue = this.#batchQueues.get(endpointId);
      if (queue) {
        queue.push({ job, signal, resolve, reject });
        return;
      }
      this.#batchQueues.set(endpointId, [{ job, signal, resolve, reject }]);
      // After this turn: the endpoint's other messages claimed in the same poll join the queue.
      setImmediate(() => void this.#drainBatches(endpointId));
    });
  }

  async #drainBatches(endpointId: string): Promise<void> {
    const queue = this.#batchQueues.get(endpointId) as Queued[];
    const { store, now } = this.#o;
    while (queue.length > 0) {
      let taken: Queued[] = queue.splice(0, 1);
      try {
        const endpoint = await store.endpointById(endpointId);
        if (!endpoint) {
          for (const q of [...taken, ...queue.splice(0)]) q.resolve({ skipped: 'the endpoint was deleted' });
          break;
        }
        if (endpoint.status !== 'enabled') throw new ReplyError(ErrorCode.NotAvailable, `the endpoint is disabled (${endpoint.disabled_reason ?? 'disabled'})`);
        const size = Math.max(1, Number(endpoint.batch_size ?? 1));
        taken = [...taken, ...queue.splice(0, size - 1)];
        const messageOf = (q: Queued) => (q.job.payload as { message: string }).message;
        // The rest of the batch: the endpoint's pending messages due within the window, oldest first.
        const borrowed = await this.#o.jobs.borrowQueue(DELIVER, endpointId, now() + Number(endpoint.batch_window ?? 0), size - taken.length);
        // One read for the claimed messages and the borrowed ones.
        const rows = await store.deliveries([...taken.map(messageOf), ...borrowed.ids]);
        const found = new Set(rows.map((d) => d.id));
        for (const q of taken.filter((q) => !found.has(messageOf(q)))) q.resolve({ skipped: 'the message was deleted' });
        taken = taken.filter((q) => found.has(messageOf(q)));
        if (taken.length === 0) {
          await borrowed.giveBack();
          continue;
        }
        const items = inOccurrenceOrder(rows);
        const lead = taken[0] as Queued;
        try {
          const result = { ...((await this.#attempt(items, endpoint, lead.signal)) as object), batch: items.length };
          // The borrowed ones, the claimed ones and the attempts all end in the same group commit.
          const finished = borrowed.done(result);
          for (const q of taken) q.resolve(result);
          await finished;
          if (items.length === size) this.#follow(endpointId);
        } catch (err) {
          const wait = err instanceof DeliveryFailure ? this.#o.retryWait(lead.job.attempts, err) : null;
          await borrowed.giveBack(wait === null ? undefined : now() + wait);
          for (const q of taken) q.reject(err);
        }
      } catch (err) {
        for (const q of taken) q.reject(err);
      }
    }
    this.#batchQueues.delete(endpointId);
  }

  /**
   * After a full batch: while the endpoint has a full batch due, this node sends one more
   * batch at a time beside those of the claimed messages, made of borrowed ones only, so that
   * one batch is on the wire while the next is read and written (a backlog drained one batch
   * at a time left the node idle during each request). It runs as work of the job runner
   * (a slot, waited for at stop), takes only messages already due (a window still open is
   * left to its own batch), stops at the first batch that is not full, and after a failure
   * leaves the endpoint to its claimed messages, its retries and its probe (the borrowed
   * messages wait as after a first failed attempt).
   */
  #follow(endpointId: string): void {
    if (this.#followers.has(endpointId)) return;
    this.#followers.add(endpointId);
    const { store, now } = this.#o;
    this.#o.jobs
      .hold(async (signal) => {
        while (!signal.aborted) {
          const endpoint = await store.endpointById(endpointId);
          if (endpoint?.status !== 'enabled' || endpoint.failing_since !== null || endpoint.batch_size === null) return;
          const size = Number(endpoint.batch_size);
          const borrowed = await this.#o.jobs.borrowQueue(DELIVER, endpointId, now(), size);
          if (borrowed.ids.length < size) {
            await borrowed.giveBack();
            return;
          }
          const items = inOccurrenceOrder(await store.deliveries(borrowed.ids));
          if (items.length === 0) {
            await borrowed.done({ skipped: 'the messages were deleted' });
            continue;
          }
          try {
            await borrowed.done({ ...((await this.#attempt(items, endpoint, signal)) as object), batch: items.length });
          } catch (err) {
            const wait = err instanceof DeliveryFailure ? this.#o.retryWait(1, err) : null;
            await borrowed.giveBack(wait === null ? undefined : now() + wait);
            return;
          }
        }
      })
      .catch((err: unknown) => this.#o.logger.debug({ err, endpoint: endpointId }, 'a follow-up batch stopped'))
      .finally(() => this.#followers.delete(endpointId));
  }

  /**
   * The probe of a failing endpoint (the job handler of PROBE): every `probeInterval` its
   * oldest pending message is tried once more, outside its schedule (borrowed: its attempts
   * and next due time stay as they were). On a 2xx that message is delivered and every other
   * pending message of the endpoint becomes due, so a receiver's backlog drains within a
   * probe interval of its return, not at its messages' next scheduled attempts (hours later).
   * It ends when the endpoint is healthy again, disabled or deleted.
   */
  async probe(job: Job, signal: AbortSignal): Promise<unknown> {
    const { store } = this.#o;
    const { endpoint: endpointId, since } = job.payload as { endpoint: string; since: number };
    const endpoint = await store.endpointById(endpointId);
    if (endpoint?.status !== 'enabled' || endpoint.failing_since === null || Number(endpoint.failing_since) !== since)
      return { ended: 'the endpoint is healthy, disabled or deleted' };
    let failure: unknown = null;
    for (const messageId of await store.oldestPending(endpointId, PROBE_CANDIDATES)) {
      const borrowed = await this.#o.jobs.borrow(DELIVER, [messageId]);
      if (borrowed.ids.length === 0) continue;
      const d = await store.delivery(messageId);
      if (!d) {
        await borrowed.done({ skipped: 'the message was deleted' });
        continue;
      }
      try {
        await borrowed.done(await this.#attempt([d], endpoint, signal));
      } catch (err) {
        await borrowed.giveBack();
        if (err instanceof ReplyError) return { ended: err.message };
        failure = err;
      }
      break;
    }
    // Still failing (or nothing pending to try now): the next probe after the interval (or the Retry-After).
    if (Number((await store.endpointById(endpointId))?.failing_since ?? Number.NaN) === since)
      throw failure instanceof DeliveryFailure ? failure : new DeliveryFailure('still failing', null, null);
    return { ended: 'the endpoint answered' };
  }

  /**
   * Send one request — one event, or on a batching endpoint a batch of `items` — record it as
   * an attempt of each message, and settle the endpoint's health; a throw is a failure.
   */
  async #attempt(items: readonly DeliveryRow[], endpoint: WebhookEndpointTable, signal: AbortSignal): Promise<unknown> {
    const { store, config, now } = this.#o;
    const cfg = config();
    const at = now();
    const first = items[0] as DeliveryRow;
    const batching = endpoint.batch_size !== null && endpoint.batch_window !== null;
    const body = batching ? batchBody(items, at) : eventBody(first);
    const secrets = [endpoint.secret];
    if (endpoint.previous_secret && Number(endpoint.previous_until) > at) secrets.push(endpoint.previous_secret);
    // A batch's webhook-id is its first message's id (each event in it carries its own id).
    const headers = signedHeaders(secrets, batching ? first.id : first.event_id, Math.floor(at / 1000), body);
    const result = await this.#slots.run(endpoint.id, cfg.concurrency, () =>
      this.#o.sender.send({ url: endpoint.url, headers, body, timeoutMs: cfg.timeout, signal }),
    );
    this.#o.metrics.attempt(result.status, result.error, result.durationMs / 1000);
    const rows = items.map((d) => ({ message_id: d.id, at, response_status: result.status, duration_ms: result.durationMs, error: result.error }));
    // In the runner's next group commit, with the completions of the deliveries that finished meanwhile.
    const recorded = this.#recordAttempts(rows);
    if (result.ok) {
      // A 2xx completes the message in the same group (or, if it failed, the attempt row alone is missing).
      recorded.catch((err: unknown) => this.#o.logger.warn({ err }, 'recording a webhook attempt failed'));
      // A healthy endpoint (as read for this attempt) has nothing to heal: no write.
      if (endpoint.failing_since !== null && (await store.succeeded(endpoint.id, now()))) void this.#o.jobs.poll();
      return { status: result.status };
    }
    await recorded;
    const what = result.status !== null ? `answered ${result.status}` : (result.error ?? 'failed');
    if (result.status === 410) {
      await this.#disable(endpoint.id, endpoint.tenant, 'gone');
      throw new ReplyError(ErrorCode.NotAvailable, 'the endpoint answered 410 Gone: it is disabled');
    }
    // An endpoint already failing as read for this attempt has its spell and its probe (which
    // runs every probe interval until a 2xx): nothing to write for it, however many of its
    // attempts fail (during an outage that was a transaction per failed attempt) — unless the
    // receiver asked for a wait (Retry-After), which postpones the probe.
    const known = endpoint.failing_since !== null && result.retryAfterMs === null;
    const since = known ? Number(endpoint.failing_since) : await this.#failing(endpoint, result.retryAfterMs);
    if (since === null) throw new ReplyError(ErrorCode.NotFound, 'the endpoint was deleted');
    if (now() - since >= cfg.disableAfter) {
      await this.#disable(endpoint.id, endpoint.tenant, 'failing');
      throw new ReplyError(ErrorCode.NotAvailable, `the endpoint has failed since ${new Date(since).toISOString()}: it is disabled`);
    }
    throw new DeliveryFailure(what, result.status, result.retryAfterMs);
  }

  /**
   * A healthy endpoint's failure starts its failing spell: the time it began (null when the
   * endpoint was deleted), with one probe per spell (its id names the spell), due a probe
   * interval from now, or when the receiver's Retry-After says if that is later; written with
   * the failure, so an endpoint deleted meanwhile keeps no probe.
   */
  async #failing(endpoint: WebhookEndpointTable, retryAfterMs: number | null): Promise<number | null> {
    const { store, config, now } = this.#o;
    const probeAt = now() + probeWait(config().probeInterval, retryAfterMs);
    return store.failed(endpoint.id, now(), async (trx, since) => {
      const probeId = `probe:${endpoint.id}:${since}`;
      const added = await this.#o.jobs.add(
        { kind: PROBE, id: probeId, tenant: endpoint.tenant, payload: { endpoint: endpoint.id, since }, dueAt: probeAt },
        trx,
      );
      if (added !== 'full' && !added.created) await this.#o.jobs.postpone(PROBE, probeId, probeAt, trx);
    });
  }

  /** Queue attempt rows for the next group commit; resolves once they are written. */
  #recordAttempts(rows: readonly WebhookAttemptTable[]): Promise<void> {
    if (!this.#attemptRows) {
      const group: { rows: WebhookAttemptTable[]; written: Promise<void> } = { rows: [], written: Promise.resolve() };
      group.written = this.#o.jobs.grouped(async (trx) => {
        // Rows queued from now on wait for the next group.
        if (this.#attemptRows === group) this.#attemptRows = null;
        await this.#o.store.recordAttempts(group.rows, trx);
      });
      this.#attemptRows = group;
    }
    this.#attemptRows.rows.push(...rows);
    return this.#attemptRows.written;
  }

  async #disable(endpointId: string, tenant: string, reason: string): Promise<void> {
    await this.#o.store.disable(endpointId, reason, this.#o.now());
    this.#o.metrics.disabled(reason);
    this.#o.logger.warn({ endpoint: endpointId, tenant, reason }, 'webhook endpoint disabled');
    await this.#o.changed(tenant);
  }
}
