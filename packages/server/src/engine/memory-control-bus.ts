import type { ControlBus, ControlCommand } from './control-bus.js';

/** One-process control bus: a command is handled by this node only. */
export class MemoryControlBus implements ControlBus {
  #handler: ((command: ControlCommand) => void) | null = null;

  setHandler(handler: (command: ControlCommand) => void): void {
    this.#handler = handler;
  }

  async publish(command: ControlCommand): Promise<void> {
    this.#handler?.(command);
  }

  async close(): Promise<void> {}
}
