import { randomBytes } from 'node:crypto';
import type { ChannelCount, ChannelList, ChannelSource, ControlBus, ControlCommand } from '../control-bus.js';
import { publishInOrder } from './channel-event.js';
import type { RedisConnection } from './connection.js';
import type { NodeRegistry } from './node-registry.js';

/** A node asks the others for their channels (on the control topic). */
interface ChannelsRequest {
  survey: 'channels';
  id: string;
  from: string;
  tenant: string;
  prefix: string;
}

/** A node's answer, on the asking node's reply topic: [channel, local subscribers] pairs. */
interface ChannelsReply {
  id: string;
  node: string;
  channels: Array<[string, number]>;
}

/** A survey waiting for its answers. */
interface Survey {
  waiting: Set<string>;
  answers: Map<string, Array<[string, number]>>;
  finish: () => void;
}

export interface RedisControlBusOptions {
  /** How long a channel survey waits for the live nodes' answers (ms, default 1000). */
  surveyTimeout?: number;
}

const isString = (v: unknown): v is string => typeof v === 'string';

function isCommand(value: unknown): value is ControlCommand {
  if (!value || typeof value !== 'object') return false;
  const c = value as Record<string, unknown>;
  const base = isString(c['tenant']) && isString(c['user']) && typeof c['code'] === 'number' && isString(c['reason']);
  if (c['kind'] === 'disconnect') return base && (c['client'] === undefined || isString(c['client']));
  return c['kind'] === 'unsubscribe' && base && isString(c['channel']);
}

function isRequest(value: unknown): value is ChannelsRequest {
  if (!value || typeof value !== 'object') return false;
  const r = value as Record<string, unknown>;
  return r['survey'] === 'channels' && isString(r['id']) && isString(r['from']) && isString(r['tenant']) && isString(r['prefix']);
}

function isReply(value: unknown): value is ChannelsReply {
  if (!value || typeof value !== 'object') return false;
  const r = value as Record<string, unknown>;
  return (
    isString(r['id']) &&
    isString(r['node']) &&
    Array.isArray(r['channels']) &&
    r['channels'].every((c: unknown) => Array.isArray(c) && c.length === 2 && isString(c[0]) && Number.isSafeInteger(c[1]) && (c[1] as number) >= 0)
  );
}

function parse(message: string): unknown {
  try {
    return JSON.parse(message);
  } catch {
    return null;
  }
}

/**
 * Node-to-node commands over one Redis pub/sub topic; every node, this one included, handles
 * each. Channel lists are surveys: the asking node publishes a request on the same topic and
 * waits, a bounded time, for an answer from every node the registry holds for live; each
 * answers on the asking node's own reply topic.
 */
export class RedisControlBus implements ControlBus {
  #handler: ((command: ControlCommand) => void) | null = null;
  #source: ChannelSource = () => [];
  readonly #surveys = new Map<string, Survey>();
  readonly #timeout: number;

  private constructor(
    private readonly conn: RedisConnection,
    private readonly registry: NodeRegistry,
    options: RedisControlBusOptions,
  ) {
    this.#timeout = Math.max(1, options.surveyTimeout ?? 1000);
  }

  static async create(conn: RedisConnection, registry: NodeRegistry, options: RedisControlBusOptions = {}): Promise<RedisControlBus> {
    const bus = new RedisControlBus(conn.retain(), registry, options);
    const { keys, nodeId } = conn;
    const routes: Array<[string, (message: string) => void]> = [
      [keys.controlTopic, (message) => bus.#receive(message)],
      [keys.nodeReplies(nodeId), (message) => bus.#receiveReply(message)],
    ];
    for (const [topic, listener] of routes) {
      // Not connected yet: the topic stays routed, so it is subscribed on connect.
      await conn.subscribe(topic, listener, true).catch((err) => conn.logger?.debug({ err, topic }, 'control topic not subscribed yet'));
    }
    return bus;
  }

  setHandler(handler: (command: ControlCommand) => void): void {
    this.#handler = handler;
  }

  async publish(command: ControlCommand): Promise<void> {
    const { keys } = this.conn;
    await publishInOrder(this.conn, keys.controlTopic, keys.controlTopic, JSON.stringify(command));
  }

  setChannelSource(source: ChannelSource): void {
    this.#source = source;
  }

  async channels(tenant: string, prefix: string): Promise<ChannelList> {
    const { keys, nodeId } = this.conn;
    const others = (await this.registry.liveNodes()).filter((n) => n !== nodeId);
    const answers = new Map<string, Array<[string, number]>>();
    if (others.length > 0) {
      const id = randomBytes(9).toString('base64url');
      let finish = () => {};
      const finished = new Promise<void>((resolve) => {
        finish = resolve;
      });
      const timer = setTimeout(finish, this.#timeout);
      this.#surveys.set(id, { waiting: new Set(others), answers, finish });
      try {
        const request: ChannelsRequest = { survey: 'channels', id, from: nodeId, tenant, prefix };
        await publishInOrder(this.conn, keys.controlTopic, keys.controlTopic, JSON.stringify(request));
        await finished;
      } finally {
        clearTimeout(timer);
        this.#surveys.delete(id);
      }
    }
    const sums = new Map<string, number>();
    for (const c of this.#source(tenant, prefix)) sums.set(c.channel, (sums.get(c.channel) ?? 0) + c.subscribers);
    for (const list of answers.values()) for (const [channel, n] of list) sums.set(channel, (sums.get(channel) ?? 0) + n);
    const channels: ChannelCount[] = [...sums].map(([channel, subscribers]) => ({ channel, subscribers }));
    return { channels, nodes: 1 + answers.size, complete: others.every((n) => answers.has(n)) };
  }

  async close(): Promise<void> {
    for (const survey of this.#surveys.values()) survey.finish();
    await this.conn.release();
  }

  #receive(message: string): void {
    const value = parse(message);
    if (isCommand(value)) {
      this.#handler?.(value);
      return;
    }
    if (isRequest(value)) {
      this.#answer(value);
      return;
    }
    this.conn.logger?.warn('ignored a malformed control command');
  }

  #answer(request: ChannelsRequest): void {
    const { cmd, keys, nodeId, logger } = this.conn;
    if (request.from === nodeId) return; // the asking node counts its own channels itself
    const channels = this.#source(request.tenant, request.prefix).map((c): [string, number] => [c.channel, c.subscribers]);
    const reply: ChannelsReply = { id: request.id, node: nodeId, channels };
    this.conn
      .track(cmd.publish(keys.nodeReplies(request.from), JSON.stringify(reply)))
      .catch((err) => logger?.debug({ err }, 'answering a channel survey failed'));
  }

  #receiveReply(message: string): void {
    const value = parse(message);
    if (!isReply(value)) {
      this.conn.logger?.warn('ignored a malformed channel survey answer');
      return;
    }
    const survey = this.#surveys.get(value.id);
    if (!survey) return; // answered too late
    survey.answers.set(value.node, value.channels);
    survey.waiting.delete(value.node);
    if (survey.waiting.size === 0) survey.finish();
  }
}
