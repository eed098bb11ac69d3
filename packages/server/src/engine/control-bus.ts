/** Node-to-node commands, so an HTTP request on any node can act on connections of all nodes. */
export type ControlCommand =
  | { kind: 'disconnect'; tenant: string; user: string; code: number; reason: string; client?: string }
  | { kind: 'unsubscribe'; tenant: string; user: string; channel: string; code: number; reason: string };

export interface ControlBus {
  setHandler(handler: (command: ControlCommand) => void): void;
  /** Deliver a command to every node, this one included. */
  publish(command: ControlCommand): Promise<void>;
  close(): Promise<void>;
}
