import { DEFAULT_REACTIONS } from '@switchboard/protocol';
import { z } from 'zod';
import { duration, int, stringList } from '../../config/fields.js';

/** The limits a namespace's `comments` option may set for its channels: default, min, max, help. */
const LIMITS = {
  maxBodyChars: [10_000, 1, 1_000_000, 'longest comment body, characters'],
  maxMentions: [50, 0, 1000, 'most users mentioned in one comment'],
  maxMetadataBytes: [4096, 2, 65_536, 'largest thread metadata, bytes of JSON'],
  maxMetadataKeys: [16, 0, 256, 'most top-level keys of thread metadata'],
  maxMetadataDepth: [4, 1, 32, 'deepest nesting of thread metadata (an object of scalars is 1)'],
  maxCommentsPerThread: [10_000, 1, 1_000_000, 'most comments in one thread, tombstones included'],
  reactionRate: [20, 0, 100_000, 'reaction changes per second per user, over every node, on top of the publish rate (0 = no limit)'],
  reactionUsers: [20, 0, 1000, 'most user ids listed per reaction in live reaction pushes and in answers to reaction changes (counts stay exact)'],
} as const;
type LimitKey = keyof typeof LIMITS;

function limitFields<T>(make: (def: number, min: number, max: number, help: string) => T): { [K in LimitKey]: T } {
  return Object.fromEntries(Object.entries(LIMITS).map(([k, [def, min, max, help]]) => [k, make(def, min, max, help)])) as { [K in LimitKey]: T };
}

/** Options of comment threads, at `comments` in the config (see docs/comments.md); a namespace's `comments` option may override the limits and reactions. */
export const commentsConfig = z.strictObject({
  ...limitFields(int),
  reactions: stringList()
    .default([...DEFAULT_REACTIONS])
    .describe('reactions that may be given, comma separated (default like,love,laugh,wow,sad,angry; emoji allowed)'),
  pageSize: int(50, 1, 200, 'largest page of a thread list'),
  groupCommit: duration(
    '10ms',
    'a busy thread appends its comments, and a busy comment its reaction changes, at most once per this long (what comes in between commits, and reaches the watchers, together; a change after a quiet spell is written at once; 0: once per event-loop turn)',
  ),
  deadlineInterval: duration('10s', 'how often threads past their respondBy with no reply are looked for (also at start; 0 = only at start)'),
  idempotencyTtl: duration('24h', 'how long an idempotency key of a create request is remembered'),
  sweepInterval: duration('1h', 'interval of the sweep of expired idempotency keys (also run at start)'),
});

export type CommentsConfig = z.output<typeof commentsConfig>;

/** The comment settings of one namespace's channels. */
export type CommentSettings = Pick<CommentsConfig, LimitKey | 'reactions'>;

/**
 * The namespace option `comments`: `true` (threads with the server-wide settings), an
 * object overriding some of them for this namespace (`{ reactions: ['👍', '🎉'], maxBodyChars: 2000 }`),
 * or `false` (the default: no threads).
 */
export const commentsNamespaceOption = z
  .union([
    z.boolean(),
    z.strictObject({
      reactions: z.array(z.string().min(1).max(64)).min(1).max(64).optional(),
      ...limitFields((_def, min, max) => z.number().int().min(min).max(max).optional()),
    }),
  ])
  .default(false);

/** The settings of a namespace whose `comments` option is `option` (null: comments are off there). */
export function commentSettings(config: CommentsConfig, option: unknown): CommentSettings | null {
  if (option !== true && (typeof option !== 'object' || option === null)) return null;
  const base = { reactions: config.reactions } as CommentSettings;
  for (const k of Object.keys(LIMITS) as LimitKey[]) base[k] = config[k];
  return option === true ? base : { ...base, ...(option as Partial<CommentSettings>) };
}
