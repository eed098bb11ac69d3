/**
 * Lock state on the wire: what `locks.*` commands and the HTTP API answer, and the pushes
 * the locks feature publishes on a resource's channel (`{ kind: 'lock', … }`).
 */

/** Who holds a lock: the user, the connection (absent for a backend lease), the attributes given at acquire. */
export interface LockHolder {
  user: string;
  /** The holding connection's id; absent when the backend holds the lock over HTTP. */
  client?: string;
  /** Attributes given at acquire (at most 1 KiB of JSON by default), e.g. `{ "name": "Ada", "field": "email" }`. */
  attributes?: unknown;
}

/** A held lock on a key of a channel. */
export interface LockInfo {
  key: string;
  holder: LockHolder;
  /** Strictly increasing per (tenant, channel, key): present it on every write the lock guards. */
  fencingToken: number;
  /** Unix ms when it expires unless renewed; null while a connection holds it (released when the connection goes). */
  expiresAt: number | null;
}

/**
 * Why a lock was released: `released` by its holder; `disconnect` its connection closed;
 * `connection-lost` its connection dropped and did not come back within the grace;
 * `node-down` the node that held it died; `expired` a backend lease was not renewed;
 * `forced` taken back by a permitted user or the backend; `lost` its lease could not be renewed.
 */
export type LockReleaseReason = 'released' | 'disconnect' | 'connection-lost' | 'node-down' | 'expired' | 'forced' | 'lost';

/** A lock push on a resource's channel: a grant (or renewal of a backend lease) or a release. */
export type LockPush = { kind: 'lock'; event: 'acquired'; lock: LockInfo } | { kind: 'lock'; event: 'released'; lock: LockInfo; reason: LockReleaseReason };
