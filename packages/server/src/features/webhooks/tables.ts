/** Row types of the webhooks tables (conventions: storage/tables.ts). */

export interface WebhookEndpointTable {
  id: string;
  tenant: string;
  url: string;
  description: string;
  /** JSON text: the subscribed event types (`*` every type, `group.*` a group). */
  events: string;
  /** JSON text: channel patterns (`project:*`); empty: every channel. */
  channels: string;
  /** The signing secret, `whsec_` + base64. */
  secret: string;
  /** The secret before the last rotation, still signing until `previous_until`. */
  previous_secret: string | null;
  previous_until: number | null;
  status: 'enabled' | 'disabled';
  /** Why it was disabled: `gone` (410), `failing` (failed for `disableAfter`), `admin`. */
  disabled_reason: string | null;
  /** Unix ms of the first failure since the last 2xx; null while it succeeds. */
  failing_since: number | null;
  /** Batching (opt-in): events of this many ms go out together, at most `batch_size` per request; null: one event per request. */
  batch_window: number | null;
  batch_size: number | null;
  created_at: number;
  updated_at: number;
}

/** One event as emitted, kept for the messages that deliver it (and replays). */
export interface WebhookEventTable {
  id: string;
  tenant: string;
  type: string;
  /** JSON text: the `data` of the body. */
  data: string;
  occurred_at: number;
}

/** One event for one endpoint; its delivery is the sb_jobs row of the same id. */
export interface WebhookMessageTable {
  id: string;
  tenant: string;
  endpoint_id: string;
  event_id: string;
  created_at: number;
}

export interface WebhookAttemptTable {
  message_id: string;
  at: number;
  response_status: number | null;
  duration_ms: number;
  error: string | null;
}

/** A subscription (`kind` sub) or presence entry (`kind` presence) of a connection, while lifecycle events are wanted. */
export interface WebhookMemberTable {
  tenant: string;
  channel: string;
  kind: 'sub' | 'presence';
  connection_id: string;
  user_id: string;
  /** The node serving the connection (its rows are reaped when it departs). */
  node: string;
  /** Presence: the state's JSON text (null: none). */
  state: string | null;
  joined_at: number;
}

/**
 * A decided `on` state: a channel occupied (`user_id` '') or a user present in a channel.
 * The row exists from the transition that emitted `occupied`/`joined` to the one that emitted
 * `vacated`/`left`; every membership change of the channel locks it first.
 */
export interface WebhookOccupancyTable {
  tenant: string;
  channel: string;
  user_id: string;
  /** Presence: the devices' states as last announced (a change sends `presence.updated`). */
  signature: string | null;
  since: number;
  /** When its last member left (a grace job for this moment decides `off`); null while it has members. */
  empty_since: number | null;
}

/** A connection that is open, while `connection.closed` is wanted (its node's departure closes it). */
export interface WebhookConnectionTable {
  connection_id: string;
  tenant: string;
  user_id: string;
  node: string;
  opened_at: number;
}

export interface WebhookTables {
  sb_webhook_members: WebhookMemberTable;
  sb_webhook_occupancy: WebhookOccupancyTable;
  sb_webhook_connections: WebhookConnectionTable;
  sb_webhook_endpoints: WebhookEndpointTable;
  sb_webhook_events: WebhookEventTable;
  sb_webhook_messages: WebhookMessageTable;
  sb_webhook_attempts: WebhookAttemptTable;
}
