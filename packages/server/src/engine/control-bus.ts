/** Node-to-node commands, so an HTTP request on any node can act on connections of all nodes. */
export type ControlCommand =
  | { kind: 'disconnect'; tenant: string; user: string; code: number; reason: string; client?: string }
  | { kind: 'unsubscribe'; tenant: string; user: string; channel: string; code: number; reason: string }
  | { kind: 'subscribe'; tenant: string; user: string; channel: string };

/** A channel and its subscribers: on one node, or summed over the nodes. */
export interface ChannelCount {
  channel: string;
  subscribers: number;
}

/** This node's channels with local subscribers in a tenant, whose names start with `prefix`. */
export type ChannelSource = (tenant: string, prefix: string) => ChannelCount[];

/** The channels of a tenant over every live node. */
export interface ChannelList {
  /** One entry per channel, subscribers summed over the nodes that answered; in no particular order. */
  channels: ChannelCount[];
  /** Nodes whose channels are counted, this one included. */
  nodes: number;
  /** False when a node registered as live did not answer in time: its channels are missing. */
  complete: boolean;
}

/** What a node answers to a survey of one kind: a JSON value (undefined: no answer from this node). */
export type SurveyHandler = (request: unknown) => unknown | Promise<unknown>;

/** The answers of every live node to a survey, this node's first when it answers. */
export interface SurveyResult {
  answers: unknown[];
  /** Nodes whose answers are counted, this one included. */
  nodes: number;
  /** False when a node registered as live did not answer in time. */
  complete: boolean;
}

export interface ControlBus {
  setHandler(handler: (command: ControlCommand) => void): void;
  /** Deliver a command to every node, this one included. */
  publish(command: ControlCommand): Promise<void>;
  /** What this node answers when any node lists channels (none until set). */
  setChannelSource(source: ChannelSource): void;
  /** Ask every live node for its channels and sum them; waits a bounded time for the answers. */
  channels(tenant: string, prefix: string): Promise<ChannelList>;
  /** Set what this node answers to surveys of `kind` (one handler per kind; a later one replaces it). */
  setSurveyHandler(kind: string, handler: SurveyHandler): void;
  /** Ask every live node (this one included) a question of `kind`; waits a bounded time for the answers. */
  survey(kind: string, request: unknown): Promise<SurveyResult>;
  close(): Promise<void>;
}
