import { z } from 'zod';
import { duration, int } from '../../config/fields.js';

/** Options of the lock service, at `locks` in the config (see docs/locks.md). */
export const locksConfig = z.strictObject({
  grace: duration('3s', 'how long the locks of a connection that dropped without a close stay held, for it to come back'),
  connectionLease: duration('15s', "lease of a connection's lock in the engine, renewed every third of it while the connection lives"),
  maxKeyBytes: int(128, 1, 4096, 'largest lock key, bytes of UTF-8'),
  maxAttributesBytes: int(1024, 0, 65_536, 'largest attributes of a lock, bytes of JSON'),
  perConnection: int(32, 1, 100_000, 'locks one connection may hold'),
  perUser: int(256, 1, 1_000_000, 'locks one user may hold in a tenant, connections and backend leases together'),
  perChannel: int(1000, 1, 1_000_000, 'locks held on the keys of one channel'),
  minLease: duration('1s', 'shortest backend lease (ttlMs of PUT)'),
  maxLease: duration('1h', 'longest backend lease (ttlMs of PUT)'),
  maxWait: duration('30s', 'longest waitMs of an acquire'),
  waitLease: duration(
    '3s',
    "how long a waiting acquire keeps its place in the key's line, renewed every third of it while it waits: the places of a departed node's waiters go after this",
  ),
  sweepInterval: duration('1s', 'how often expired backend leases are looked for and announced'),
});

export type LocksConfig = z.output<typeof locksConfig>;
