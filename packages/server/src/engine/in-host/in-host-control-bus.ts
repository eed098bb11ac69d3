import type { ChannelList, ChannelSource, ControlBus, ControlCommand, SurveyHandler, SurveyResult } from '../control-bus.js';
import type { InHostConnection } from './connection.js';

/**
 * A worker's control bus: commands go through the host to every worker, this one included,
 * in order; channel lists and surveys are questions the host puts to every worker.
 */
export class InHostControlBus implements ControlBus {
  readonly #conn: InHostConnection;
  #handler: ((command: ControlCommand) => void) | null = null;
  #source: ChannelSource = () => [];
  readonly #surveyHandlers = new Map<string, SurveyHandler>();

  constructor(conn: InHostConnection) {
    this.#conn = conn.retain();
    conn.onPush((push) => {
      if (push.p === 'cmd') this.#handler?.(push.v as ControlCommand);
      else if (push.p === 'ask') void this.#answer(push.q, push.k, push.v);
    });
  }

  setHandler(handler: (command: ControlCommand) => void): void {
    this.#handler = handler;
  }

  publish(command: ControlCommand): Promise<void> {
    return this.#conn.request('control.publish', [command]);
  }

  setChannelSource(source: ChannelSource): void {
    this.#source = source;
  }

  channels(tenant: string, prefix: string): Promise<ChannelList> {
    return this.#conn.request('control.channels', [tenant, prefix]);
  }

  setSurveyHandler(kind: string, handler: SurveyHandler): void {
    this.#surveyHandlers.set(kind, handler);
  }

  survey(kind: string, request: unknown): Promise<SurveyResult> {
    return this.#conn.request('control.survey', [kind, request ?? null]);
  }

  async close(): Promise<void> {
    this.#handler = null;
    await this.#conn.release();
  }

  async #answer(q: number, kind: 'channels' | 'survey', request: unknown): Promise<void> {
    let value: unknown;
    try {
      if (kind === 'channels') {
        const { tenant, prefix } = request as { tenant: string; prefix: string };
        value = this.#source(tenant, prefix);
      } else {
        const { kind: k, request: r } = request as { kind: string; request: unknown };
        const handler = this.#surveyHandlers.get(k);
        value = handler ? await handler(r) : undefined;
      }
    } catch {
      // A failing handler gives no answer; the worker still counts as having answered.
      value = undefined;
    }
    this.#conn.answer(q, value);
  }
}
