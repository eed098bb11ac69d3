import { randomBytes } from 'node:crypto';
import type { ChannelCount, ChannelList, ChannelSource, ControlBus, ControlCommand, SurveyHandler, SurveyResult } from '../control-bus.js';
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

/** A node asks the others a question of a kind some module answers (`setSurveyHandler`). */
interface AskRequest {
  survey: 'ask';
  kind: string;
  id: string;
  from: string;
  request: unknown;
}

/** A node's answer, on the asking node's reply topic: [channel, local subscribers] pairs, or a module's answer. */
type SurveyReply = { id: string; node: string; channels: Array<[string, number]> } | { id: string; node: string; answer: unknown };

/** A survey waiting for its answers. */
interface Survey {
  waiting: Set<string>;
  answers: Map<string, unknown>;
  /** Whether an answer has the shape this survey asked for. */
  valid: (reply: SurveyReply) => boolean;
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
  if (c['kind'] === 'subscribe') return isString(c['tenant']) && isString(c['user']) && isString(c['channel']);
  const base = isString(c['tenant']) && isString(c['user']) && typeof c['code'] === 'number' && isString(c['reason']);
  if (c['kind'] === 'disconnect') return base && (c['client'] === undefined || isString(c['client']));
  return c['kind'] === 'unsubscribe' && base && isString(c['channel']);
}

function isRequest(value: unknown): value is ChannelsRequest {
  if (!value || typeof value !== 'object') return false;
  const r = value as Record<string, unknown>;
  return r['survey'] === 'channels' && isString(r['id']) && isString(r['from']) && isString(r['tenant']) && isString(r['prefix']);
}

function isAsk(value: unknown): value is AskRequest {
  if (!value || typeof value !== 'object') return false;
  const r = value as Record<string, unknown>;
  return r['survey'] === 'ask' && isString(r['kind']) && isString(r['id']) && isString(r['from']) && 'request' in r;
}

function isReply(value: unknown): value is SurveyReply {
  if (!value || typeof value !== 'object') return false;
  const r = value as Record<string, unknown>;
  return isString(r['id']) && isString(r['node']) && ('answer' in r || 'channels' in r);
}

function isChannelsReply(r: SurveyReply): boolean {
  return (
    'channels' in r &&
    Array.isArray(r.channels) &&
    r.channels.every((c: unknown) => Array.isArray(c) && c.length === 2 && isString(c[0]) && Number.isSafeInteger(c[1]) && (c[1] as number) >= 0)
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
  readonly #surveyHandlers = new Map<string, SurveyHandler>();
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
    const request: ChannelsRequest = { survey: 'channels', id: '', from: this.conn.nodeId, tenant, prefix };
    const { answers, nodes, complete } = await this.#survey(request, isChannelsReply);
    const sums = new Map<string, number>();
    for (const c of this.#source(tenant, prefix)) sums.set(c.channel, (sums.get(c.channel) ?? 0) + c.subscribers);
    for (const list of answers as Array<Array<[string, number]>>) for (const [channel, n] of list) sums.set(channel, (sums.get(channel) ?? 0) + n);
    const channels: ChannelCount[] = [...sums].map(([channel, subscribers]) => ({ channel, subscribers }));
    return { channels, nodes, complete };
  }

  setSurveyHandler(kind: string, handler: SurveyHandler): void {
    this.#surveyHandlers.set(kind, handler);
  }

  async survey(kind: string, request: unknown): Promise<SurveyResult> {
    const handler = this.#surveyHandlers.get(kind);
    const own = handler ? await handler(request) : undefined;
    const ask: AskRequest = { survey: 'ask', kind, id: '', from: this.conn.nodeId, request };
    const { answers, nodes, complete } = await this.#survey(ask, (r) => 'answer' in r);
    return { answers: own === undefined ? answers : [own, ...answers], nodes, complete };
  }

  /**
   * Publish a survey request on the control topic and wait, at most the survey timeout, for
   * an answer from every other node the registry holds for live. The asking node answers
   * for itself without the round trip.
   */
  async #survey(
    request: ChannelsRequest | AskRequest,
    valid: (reply: SurveyReply) => boolean,
  ): Promise<{ answers: unknown[]; nodes: number; complete: boolean }> {
    const { keys, nodeId } = this.conn;
    const others = (await this.registry.liveNodes()).filter((n) => n !== nodeId);
    const answers = new Map<string, unknown>();
    if (others.length > 0) {
      const id = randomBytes(9).toString('base64url');
      let finish = () => {};
      const finished = new Promise<void>((resolve) => {
        finish = resolve;
      });
      const timer = setTimeout(finish, this.#timeout);
      this.#surveys.set(id, { waiting: new Set(others), answers, valid, finish });
      try {
        await publishInOrder(this.conn, keys.controlTopic, keys.controlTopic, JSON.stringify({ ...request, id }));
        await finished;
      } finally {
        clearTimeout(timer);
        this.#surveys.delete(id);
      }
    }
    return { answers: [...answers.values()], nodes: 1 + answers.size, complete: others.every((n) => answers.has(n)) };
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
    if (isAsk(value)) {
      this.#answerAsk(value);
      return;
    }
    this.conn.logger?.warn('ignored a malformed control command');
  }

  #answer(request: ChannelsRequest): void {
    const { cmd, keys, nodeId, logger } = this.conn;
    if (request.from === nodeId) return; // the asking node counts its own channels itself
    const channels = this.#source(request.tenant, request.prefix).map((c): [string, number] => [c.channel, c.subscribers]);
    const reply: SurveyReply = { id: request.id, node: nodeId, channels };
    this.conn
      .track(cmd.publish(keys.nodeReplies(request.from), JSON.stringify(reply)))
      .catch((err) => logger?.debug({ err }, 'answering a channel survey failed'));
  }

  /** Answer another node's question with the module's handler; no handler here: no answer (the asker sees it incomplete). */
  #answerAsk(request: AskRequest): void {
    const { cmd, keys, nodeId, logger } = this.conn;
    if (request.from === nodeId) return;
    const handler = this.#surveyHandlers.get(request.kind);
    if (!handler) return;
    Promise.resolve()
      .then(() => handler(request.request))
      .then((answer) => {
        const reply: SurveyReply = { id: request.id, node: nodeId, answer: answer ?? null };
        return this.conn.track(cmd.publish(keys.nodeReplies(request.from), JSON.stringify(reply)));
      })
      .catch((err) => logger?.warn({ err, kind: request.kind }, 'answering a survey failed'));
  }

  #receiveReply(message: string): void {
    const value = parse(message);
    if (!isReply(value)) {
      this.conn.logger?.warn('ignored a malformed channel survey answer');
      return;
    }
    const survey = this.#surveys.get(value.id);
    if (!survey) return; // answered too late
    if (!survey.valid(value)) {
      this.conn.logger?.warn('ignored a malformed survey answer');
      return;
    }
    survey.answers.set(value.node, 'channels' in value ? value.channels : value.answer);
    survey.waiting.delete(value.node);
    if (survey.waiting.size === 0) survey.finish();
  }
}
