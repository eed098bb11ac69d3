/**
 * The Redis key layout, in one place. Every key starts with `${prefix}:` so several
 * deployments can share one Redis. Keys that one Lua script touches together carry the
 * same hash tag (`{...}`), so they live in one slot of a Redis Cluster:
 *
 *   {prefix}:{tenant|channel}:s          stream the channel's publications, entry id = `${epoch}-${offset}`:
 *                                        its last id is the position (epoch, offset), kept when entries are trimmed
 *   {prefix}:{tenant|channel}:i:{key}    string idempotency key -> `${offset}:${epoch}`
 *   {prefix}:{tenant|channel}:p          hash   presence: client -> entry JSON (with node id)
 *   {prefix}:{tenant|channel}:t          pub/sub topic of the channel (not a key)
 *   {prefix}:lim:{tenant}:t              string connections of the tenant
 *   {prefix}:lim:{tenant}:u              hash   user -> connections
 *   {prefix}:lim:{tenant}:n:{node}       hash   user -> connections held by that node
 *   {prefix}:rl:{bucket}                 string rate bucket (GCRA): theoretical arrival time, ms
 *   {prefix}:nodes                       zset   node -> heartbeat expiry (Redis time, ms)
 *   {prefix}:node:{node}:p               set    JSON [channel, client] of the node's presence
 *   {prefix}:node:{node}:l               set    tenants the node holds connections in
 *   {prefix}:node:{node}:s               string sweep lock of a dead node
 *   {prefix}:node:{node}:x               string set by a survivor that swept the node (it may be alive)
 *   {prefix}:node:{node}:r               pub/sub topic of answers to the node's channel surveys (not a key)
 *   {prefix}:node:{node}:n               pub/sub topic of features' messages to the node (not a key)
 *   {prefix}:control                     pub/sub topic of node-to-node commands
 *   {prefix}:notes                       pub/sub topic of features' messages to every node, and node departures
 *   {prefix}:lease:{key}                 hash   lease: o (owner), t (fencing token); expires with the lease
 *   {prefix}:lease-line:{key}            zset   owners waiting for the lease, in arrival order (score: 1, 2, …)
 *   {prefix}:lease-wait:{key}            hash   waiting owner -> when its place lapses (Redis time, ms)
 */
export class RedisKeys {
  readonly nodes: string;
  readonly controlTopic: string;
  readonly notesTopic: string;
  readonly #topicHead: string;

  constructor(readonly prefix: string) {
    this.nodes = `${prefix}:nodes`;
    this.controlTopic = `${prefix}:control`;
    this.notesTopic = `${prefix}:notes`;
    this.#topicHead = `${prefix}:{`;
  }

  stream(channel: string): string {
    return `${this.prefix}:{${channel}}:s`;
  }

  idempotency(channel: string, key: string): string {
    return `${this.prefix}:{${channel}}:i:${key}`;
  }

  presence(channel: string): string {
    return `${this.prefix}:{${channel}}:p`;
  }

  topic(channel: string): string {
    return `${this.prefix}:{${channel}}:t`;
  }

  /** The channel key of a topic, or null when the topic is not a channel's. */
  channelOfTopic(topic: string): string | null {
    if (!topic.startsWith(this.#topicHead) || !topic.endsWith('}:t')) return null;
    return topic.slice(this.#topicHead.length, -3);
  }

  tenantConnections(tenant: string): string {
    return `${this.prefix}:lim:{${tenant}}:t`;
  }

  userConnections(tenant: string): string {
    return `${this.prefix}:lim:{${tenant}}:u`;
  }

  nodeConnections(tenant: string, node: string): string {
    return `${this.prefix}:lim:{${tenant}}:n:${node}`;
  }

  bucket(key: string): string {
    return `${this.prefix}:rl:${key}`;
  }

  nodePresence(node: string): string {
    return `${this.prefix}:node:{${node}}:p`;
  }

  nodeTenants(node: string): string {
    return `${this.prefix}:node:{${node}}:l`;
  }

  nodeSweepLock(node: string): string {
    return `${this.prefix}:node:{${node}}:s`;
  }

  nodeSwept(node: string): string {
    return `${this.prefix}:node:{${node}}:x`;
  }

  nodeReplies(node: string): string {
    return `${this.prefix}:node:{${node}}:r`;
  }

  nodeNotes(node: string): string {
    return `${this.prefix}:node:{${node}}:n`;
  }

  lease(key: string): string {
    return `${this.prefix}:lease:{${key}}`;
  }

  /** The lease's line of waiting owners and their places' deadlines: one slot with the lease. */
  leaseLine(key: string): [line: string, places: string] {
    return [`${this.prefix}:lease-line:{${key}}`, `${this.prefix}:lease-wait:{${key}}`];
  }
}
