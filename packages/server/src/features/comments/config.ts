import { DEFAULT_REACTIONS } from '@switchboard/protocol';
import { z } from 'zod';
import { duration, int, stringList } from '../../config/fields.js';

/** Options of comment threads, at `comments` in the config (see docs/comments.md). */
export const commentsConfig = z.strictObject({
  namespaces: stringList()
    .default(['project'])
    .describe('namespaces whose channels may have comment threads, comma separated (default project; empty = comments off)'),
  maxBodyChars: int(10_000, 1, 1_000_000, 'longest comment body, characters'),
  maxMentions: int(50, 0, 1000, 'most users mentioned in one comment'),
  maxMetadataBytes: int(4096, 2, 65_536, 'largest thread metadata, bytes of JSON'),
  maxMetadataKeys: int(16, 0, 256, 'most top-level keys of thread metadata'),
  maxMetadataDepth: int(4, 1, 32, 'deepest nesting of thread metadata (an object of scalars is 1)'),
  maxCommentsPerThread: int(10_000, 1, 1_000_000, 'most comments in one thread, tombstones included'),
  reactions: stringList()
    .default([...DEFAULT_REACTIONS])
    .describe('reactions that may be given, comma separated (default like,love,laugh,wow,sad,angry; emoji allowed)'),
  reactionRate: int(20, 0, 100_000, 'reaction changes per second per user on this node, on top of the publish rate (0 = no limit)'),
  pageSize: int(50, 1, 200, 'largest page of a thread list'),
  deadlineInterval: duration('10s', 'how often threads past their respondBy with no reply are looked for (also at start; 0 = only at start)'),
  idempotencyTtl: duration('24h', 'how long an idempotency key of a create request is remembered'),
  sweepInterval: duration('1h', 'interval of the sweep of expired idempotency keys (also run at start)'),
});

export type CommentsConfig = z.output<typeof commentsConfig>;
