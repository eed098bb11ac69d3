import type { ChannelList, ChannelSource, ControlBus, ControlCommand, SurveyHandler, SurveyResult } from './control-bus.js';

/** One-process control bus: a command is handled by this node only. */
export class MemoryControlBus implements ControlBus {
  #handler: ((command: ControlCommand) => void) | null = null;
  #source: ChannelSource = () => [];

  setHandler(handler: (command: ControlCommand) => void): void {
    this.#handler = handler;
  }

  async publish(command: ControlCommand): Promise<void> {
    this.#handler?.(command);
  }

  setChannelSource(source: ChannelSource): void {
    this.#source = source;
  }

  async channels(tenant: string, prefix: string): Promise<ChannelList> {
    return { channels: this.#source(tenant, prefix).map((c) => ({ ...c })), nodes: 1, complete: true };
  }

  readonly #surveyHandlers = new Map<string, SurveyHandler>();

  setSurveyHandler(kind: string, handler: SurveyHandler): void {
    this.#surveyHandlers.set(kind, handler);
  }

  async survey(kind: string, request: unknown): Promise<SurveyResult> {
    const handler = this.#surveyHandlers.get(kind);
    const answer = handler ? await handler(request) : undefined;
    return { answers: answer === undefined ? [] : [answer], nodes: 1, complete: true };
  }

  async close(): Promise<void> {}
}
