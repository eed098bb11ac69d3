import { z } from 'zod';
import type { SurveysView } from '../../core/context.js';
import type { AwarenessStateEntry } from './document-awareness.js';

/** What the census reads of this node's documents: the loaded one of a channel, if any. */
export interface LocalDocuments {
  loaded(tenant: string, channel: string): { readonly peers: { readonly size: number }; readonly aware: { entries(): AwarenessStateEntry[] } } | undefined;
}

/** Connections of documents over every node that answered. */
export interface ClusterConnections {
  /** By document name; documents with none are absent. */
  counts: Map<string, number>;
  nodes: number;
  complete: boolean;
}

/** Who is in a document over every node that answered. */
export interface ClusterAwareness {
  /** Each awareness client's state once, by client id. */
  states: Array<{ clientId: number; state: unknown }>;
  nodes: number;
  complete: boolean;
}

const connectionsRequest = z.object({ tenant: z.string(), channels: z.array(z.string()) });
/** A node's connections of each channel asked, in the order asked. */
const connectionsAnswer = z.array(z.number().int().nonnegative());
const awarenessRequest = z.object({ tenant: z.string(), channel: z.string() });
/** The states a node's own connections set (never the copies it holds of other nodes'), with their clocks. */
const awarenessAnswer = z.object({
  node: z.string(),
  states: z.array(z.object({ clientId: z.number().int(), clock: z.number().int(), state: z.record(z.string(), z.unknown()) })),
});
type AwarenessAnswer = z.infer<typeof awarenessAnswer>;

/**
 * The documents' connections and awareness over the cluster, for the HTTP API: each node
 * answers a survey from its own connections, the asking node sums or merges the answers.
 */
export class DocumentCensus {
  #open = true;

  constructor(
    private readonly surveys: SurveysView,
    /** This node's id as the node messages name it (what awareness copies are kept under). */
    private readonly nodeId: string,
    private readonly documents: LocalDocuments,
  ) {
    surveys.answer('connections', (request) => this.#localConnections(request));
    surveys.answer('awareness', (request) => this.#localAwareness(request));
  }

  /** The documents stopped: this node gives no answer any more. */
  close(): void {
    this.#open = false;
  }

  /** Connections of a tenant's documents summed over the nodes: one survey for all of them. */
  async connections(tenant: string, channels: string[]): Promise<ClusterConnections> {
    const { answers, nodes, complete } = await this.surveys.ask('connections', { tenant, channels });
    const counts = new Map<string, number>();
    for (const answer of answers) {
      const parsed = connectionsAnswer.safeParse(answer);
      if (!parsed.success || parsed.data.length !== channels.length) continue;
      parsed.data.forEach((n, i) => {
        const channel = channels[i] as string;
        if (n > 0) counts.set(channel, (counts.get(channel) ?? 0) + n);
      });
    }
    return { counts, nodes, complete };
  }

  /**
   * The awareness states of a document over the nodes, each client id once: from the node
   * its connection is on (the latest clock, while a provider moves between nodes). When a
   * node did not answer, this node's copies of the states set there stand in for them.
   */
  async awareness(tenant: string, channel: string): Promise<ClusterAwareness> {
    const { answers, nodes, complete } = await this.surveys.ask('awareness', { tenant, channel });
    const byId = new Map<number, { clock: number; state: unknown }>();
    const answered = new Set<string>();
    for (const answer of answers) {
      const parsed = awarenessAnswer.safeParse(answer);
      if (!parsed.success) continue;
      answered.add(parsed.data.node);
      for (const s of parsed.data.states) {
        const seen = byId.get(s.clientId);
        if (!seen || s.clock > seen.clock) byId.set(s.clientId, { clock: s.clock, state: s.state });
      }
    }
    if (!complete) {
      for (const e of this.documents.loaded(tenant, channel)?.aware.entries() ?? []) {
        if (e.node !== null && !answered.has(e.node) && !byId.has(e.clientId)) byId.set(e.clientId, { clock: e.clock, state: e.state });
      }
    }
    const states = [...byId].sort(([a], [b]) => a - b).map(([clientId, { state }]) => ({ clientId, state }));
    return { states, nodes, complete };
  }

  #localConnections(request: unknown): number[] | undefined {
    const parsed = connectionsRequest.safeParse(request);
    if (!this.#open || !parsed.success) return undefined;
    const { tenant, channels } = parsed.data;
    return channels.map((channel) => this.documents.loaded(tenant, channel)?.peers.size ?? 0);
  }

  #localAwareness(request: unknown): AwarenessAnswer | undefined {
    const parsed = awarenessRequest.safeParse(request);
    if (!this.#open || !parsed.success) return undefined;
    const doc = this.documents.loaded(parsed.data.tenant, parsed.data.channel);
    const states = (doc?.aware.entries() ?? []).filter((e) => e.node === null).map(({ clientId, clock, state }) => ({ clientId, clock, state }));
    return { node: this.nodeId, states };
  }
}
