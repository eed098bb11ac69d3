import { createHash } from 'node:crypto';
import type { RedisClient } from './topology.js';

/**
 * A Lua script run by EVALSHA, falling back to EVAL when Redis does not know it yet
 * (first use, or after a Redis restart). Scripts touch only the keys they are given,
 * and all of one call's keys share a hash tag, so they also run on a Redis Cluster.
 */
export class Script {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly lua: string,
  ) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: RedisClient, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}

/** Redis server time in milliseconds: one clock for every node. */
export const NOW = `local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)`;

/** Extend a key's TTL to at least `ttl` ms, never shorten it (one call, except for a key without TTL). */
const EXTEND = `local function extend(key, ttl)
  if redis.call('PEXPIRE', key, ttl, 'GT') == 0 and redis.call('PTTL', key) == -1 then
    redis.call('PEXPIRE', key, ttl)
  end
end`;

/**
 * Redis time in ms with a fraction: the node's estimate passed as ARGV[n] (its monotonic
 * clock set against Redis time by the heartbeats, so a node's wall clock never matters),
 * or TIME when the node has none yet ('').
 */
const nowFrom = (arg: number) => `local now
if ARGV[${arg}] ~= '' then
  now = tonumber(ARGV[${arg}])
else
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
end`;

/**
 * Where a stream stands: {epoch, offset} from its last generated id, or nil when there is
 * no stream. A channel's stream is one key: entry ids are `{epoch}-{offset}`, so the
 * stream's last id is its position even once its entries are trimmed. A key of another
 * type is an error (never taken for a missing stream).
 */
const LAST = `local function last(key)
  if redis.call('EXISTS', key) == 0 then return nil end
  local info = redis.call('XINFO', 'STREAM', key)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      local id = info[i + 1]
      local dash = string.find(id, '-', 1, true)
      return {string.sub(id, 1, dash - 1), tonumber(string.sub(id, dash + 1))}
    end
  end
  return nil
end`;

/**
 * A new epoch: Redis time in microseconds, above `floor` (an epoch the caller knows for
 * the channel), so a stream that comes back empty never repeats an epoch a node or client
 * saw, even if Redis's clock went back. An epoch is a stream id's first part (< 2^53 here).
 */
const NEW_EPOCH = `local function newEpoch(floor)
  local clock = redis.call('TIME')
  local e = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
  local f = tonumber(floor) or 0
  if f >= e then e = f + 1 end
  return string.format('%.0f', e)
end`;

/**
 * Take `cost` from a rate bucket (GCRA: the key holds the theoretical arrival time, ms).
 * Equivalent to a token bucket of capacity `burst` refilled at 1000 / `interval` per
 * second; a missing key is a full bucket. Returns {0, the value written} when taken, else
 * {the milliseconds until `cost` could be taken (at least 1)}.
 *
 * `known` is the value this node last wrote ('' = none). With it, one SET … GET writes
 * the next value computed from it and reads what was there: when that is what the node
 * knew (the usual case: a user publishing through one node) the take is one command; when
 * another node moved the bucket meanwhile, the value is recomputed from what was there and
 * written again (or put back when that refuses). Without it: GET, then SET when allowed.
 */
const TAKE = `local function nextOf(value, interval, burst, cost)
  local tat = tonumber(value or '0') or 0
  if tat < now then tat = now end
  local nextTat = tat + cost * interval
  local over = nextTat - now - burst * interval
  if over > 1e-6 then return nil, math.max(1, math.ceil(over)) end
  return nextTat, 0
end
local function ttlOf(tat) return math.max(1, math.ceil(tat - now)) + 1000 end
local function take(key, interval, burst, cost, known)
  if known ~= '' then
    local guess = nextOf(known, interval, burst, cost)
    if guess then
      local s = string.format('%.17g', guess)
      local prev = redis.call('SET', key, s, 'PX', ttlOf(guess), 'GET')
      local right, wait = nextOf(prev, interval, burst, cost)
      if right == guess then return {0, s} end
      if right then
        local r = string.format('%.17g', right)
        redis.call('SET', key, r, 'PX', ttlOf(right))
        return {0, r}
      end
      local held = tonumber(prev or '0') or 0
      if held > now then redis.call('SET', key, prev, 'PX', ttlOf(held)) else redis.call('DEL', key) end
      return {wait}
    end
  end
  local value = redis.call('GET', key)
  local nextTat, wait = nextOf(value, interval, burst, cost)
  if not nextTat then return {wait} end
  local s = string.format('%.17g', nextTat)
  redis.call('SET', key, s, 'PX', ttlOf(nextTat))
  return {0, s}
end`;

/**
 * Drop a stream's expired entries from its head (entries carry their expiry, field x).
 * Returns the first offset still held, or nil when none is.
 */
const TRIM_EXPIRED = `local function trimExpired(key, epoch)
  local batch = 1
  while true do
    local head = redis.call('XRANGE', key, '-', '+', 'COUNT', batch)
    if #head == 0 then return nil end
    for _, entry in ipairs(head) do
      local fields = entry[2]
      for i = 1, #fields, 2 do
        if fields[i] == 'x' then
          if tonumber(fields[i + 1]) > now then
            redis.call('XTRIM', key, 'MINID', entry[1])
            return tonumber(string.match(entry[1], '%-(%d+)$'))
          end
          break
        end
      end
    end
    local lastSeq = tonumber(string.match(head[#head][1], '%-(%d+)$'))
    redis.call('XTRIM', key, 'MINID', epoch .. '-' .. (lastSeq + 1))
    if #head < batch then return nil end
    batch = 100
  end
end`;

/**
 * Publish: rate-check, sequence, store, dedupe and fan out, atomically per channel, in one
 * round trip. KEYS: stream, idempotency[, rate bucket (not in a Redis Cluster: its slot
 * differs)]. ARGV: 1 data, 2 info JSON ('' = none), 3 historySize, 4 historyTtl, 5 now
 * (the node's Redis time, ms; '' = TIME), 6 idempotencyTtl, 7 the channel's epoch as this
 * node last saw it ('' = none), 8 stream TTL, 9 topic, 10 use idempotency ('1'/'0'),
 * 11 refresh TTL and drop expired entries ('1'/'0'; the node asks once a minute per
 * channel), 12 bucket interval ms, 13 bucket burst, 14 tags JSON ('' = none), 15 the
 * bucket value this node last wrote ('' = none), 16 the delivery priority's letter ('' = none:
 * normal; `c`, `h`, `n` or `l`), kept in the entry (field `r`) and sent ahead of the message
 * (`r{letter}`), so other nodes deliver at it. Returns {offset, epoch, 0 | 1 deduplicated
 * | 2 rate limited, ms until the bucket has a token (rate limited) or the bucket value
 * written ('' = none)}.
 *
 * The hot path is XADD `{epoch}-*` (Redis numbers the entry: its offset), PUBLISH, and a
 * SET … GET with a bucket: 3 commands with the EVALSHA, 4 with a bucket. NOMKSTREAM and
 * the numbering catch a stale epoch: no stream (lost: a new epoch), a later epoch (the
 * node's is stale: use the stream's) or an earlier one (Redis came back empty with its
 * clock behind: the entry gets offset 0, and the stream starts over in a new epoch).
 */
export const publishScript = new Script(
  'publish',
  `${nowFrom(5)}
${EXTEND}
${LAST}
${NEW_EPOCH}
${TAKE}
${TRIM_EXPIRED}
if ARGV[10] == '1' then
  local seen = redis.call('GET', KEYS[2])
  if seen then
    local cur = last(KEYS[1])
    local sep = string.find(seen, ':', 1, true)
    if cur and sep and string.sub(seen, sep + 1) == cur[1] then
      return {tonumber(string.sub(seen, 1, sep - 1)), cur[1], 1}
    end
  end
end
local bucket = ''
if KEYS[3] then
  local taken = take(KEYS[3], tonumber(ARGV[12]), tonumber(ARGV[13]), 1, ARGV[15])
  if taken[1] > 0 then return {0, '', 2, taken[1]} end
  bucket = taken[2]
end
local ms = math.floor(now)
local size = tonumber(ARGV[3])
local fields
if size > 0 then
  fields = {'d', ARGV[1], 't', ms, 'x', ms + tonumber(ARGV[4])}
  if ARGV[2] ~= '' then table.insert(fields, 'i'); table.insert(fields, ARGV[2]) end
  if ARGV[14] ~= '' then table.insert(fields, 'g'); table.insert(fields, ARGV[14]) end
  if ARGV[16] ~= '' then table.insert(fields, 'r'); table.insert(fields, ARGV[16]) end
else
  fields = {'t', ms}
end
local known = ARGV[7]
-- An epoch is digits (a node of an older release may have told this one another kind).
if not string.match(known, '^%d+$') then known = '' end
local epoch = false
local offset = 0
local floor = known
local refresh = ARGV[11] == '1'
if known ~= '' then
  local added = redis.pcall('XADD', KEYS[1], 'NOMKSTREAM', 'MAXLEN', size, known .. '-*', unpack(fields))
  if type(added) == 'string' then
    local seq = tonumber(string.sub(added, #known + 2))
    if seq > 0 then
      epoch = known
      offset = seq
    end
  elseif type(added) == 'table' and added.err and not string.find(added.err, 'smaller', 1, true) then
    return redis.error_reply(added.err)
  end
end
if not epoch then
  local cur = last(KEYS[1])
  if cur and (known == '' or tonumber(cur[1]) > tonumber(known)) then
    epoch = cur[1]
    local id = redis.call('XADD', KEYS[1], 'MAXLEN', size, epoch .. '-*', unpack(fields))
    offset = tonumber(string.sub(id, #epoch + 2))
  else
    -- No stream, or one in an earlier epoch than this node saw: whatever it holds belongs
    -- to a lost epoch. Start over in a new one.
    if cur and tonumber(cur[1]) > (tonumber(floor) or 0) then floor = cur[1] end
    epoch = newEpoch(floor)
    redis.call('DEL', KEYS[1])
    redis.call('XADD', KEYS[1], 'MAXLEN', size, epoch .. '-1', unpack(fields))
    offset = 1
    refresh = true
  end
end
if refresh then
  extend(KEYS[1], tonumber(ARGV[8]))
  if size > 0 then trimExpired(KEYS[1], epoch) end
end
if ARGV[10] == '1' then
  redis.call('SET', KEYS[2], offset .. ':' .. epoch, 'PX', ARGV[6])
end
local lead = ''
if ARGV[16] ~= '' then lead = 'r' .. ARGV[16] end
if ARGV[14] == '' then
  redis.call('PUBLISH', ARGV[9], lead .. 'p' .. epoch .. '\\n' .. offset .. '\\n' .. ms .. '\\n' .. ARGV[2] .. '\\n' .. ARGV[1])
else
  redis.call('PUBLISH', ARGV[9], lead .. 'q' .. epoch .. '\\n' .. offset .. '\\n' .. ms .. '\\n' .. ARGV[2] .. '\\n' .. ARGV[14] .. '\\n' .. ARGV[1])
end
return {offset, epoch, 0, bucket}
`,
);

/**
 * Publish an event on a channel's topic from the node that owns the channel's slot (in a
 * Redis Cluster; the key only routes it). KEYS: stream. ARGV: topic, message.
 */
export const eventScript = new Script('event', `return redis.call('PUBLISH', ARGV[1], ARGV[2])`);

/**
 * History: the stream position and a page of publications. Creates the stream (empty, in
 * a new epoch) when missing, so the first publication keeps the epoch a reader saw; drops
 * expired entries from the head. KEYS: stream. ARGV: 1 an epoch the reader knows ('' =
 * none; a new epoch is above it), 2 empty-stream TTL, 3 stream TTL, 4 since offset ('' =
 * none), 5 since epoch, 6 limit, 7 reverse ('1'/'0'), 8 now ('' = TIME).
 * Returns {epoch, offset, firstOffset, entries}.
 */
export const historyScript = new Script(
  'history',
  `${nowFrom(8)}
${EXTEND}
${LAST}
${NEW_EPOCH}
${TRIM_EXPIRED}
local cur = last(KEYS[1])
if not cur then
  local epoch = newEpoch(ARGV[1])
  redis.call('XADD', KEYS[1], epoch .. '-0', 't', 0)
  redis.call('XTRIM', KEYS[1], 'MAXLEN', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {epoch, 0, 1, {}}
end
local epoch = cur[1]
local offset = cur[2]
if offset == 0 then extend(KEYS[1], tonumber(ARGV[2])) else extend(KEYS[1], tonumber(ARGV[3])) end
local first = trimExpired(KEYS[1], epoch) or (offset + 1)
local limit = tonumber(ARGV[6])
local entries = {}
if limit > 0 then
  local lo = '-'
  if ARGV[4] ~= '' and ARGV[5] == epoch then lo = epoch .. '-' .. ARGV[4] end
  if ARGV[7] == '1' then
    entries = redis.call('XREVRANGE', KEYS[1], '+', lo, 'COUNT', limit)
  else
    entries = redis.call('XRANGE', KEYS[1], lo, '+', 'COUNT', limit)
  end
end
return {epoch, offset, first, entries}
`,
);

/**
 * Drop a stream's expired entries (a channel gone quiet: nothing else would until its key
 * expires), keeping the key and so its position. KEYS: stream. ARGV: now ('' = TIME).
 * Returns the entries left.
 */
export const trimScript = new Script(
  'trim',
  `${nowFrom(1)}
${LAST}
${TRIM_EXPIRED}
local cur = last(KEYS[1])
if not cur then return 0 end
trimExpired(KEYS[1], cur[1])
return redis.call('XLEN', KEYS[1])
`,
);

/**
 * Position of a stream, for a node to compare with where its delivery stands; keeps a
 * listened channel's stream alive. KEYS: stream. ARGV: offset whose entry's time to return
 * ('' = none), stream TTL. Returns {epoch or nil (no stream), offset, time of the entry at
 * that offset or nil (not in history)}.
 */
export const positionScript = new Script(
  'position',
  `${LAST}
local cur = last(KEYS[1])
if not cur then return {false, 0, false} end
redis.call('PEXPIRE', KEYS[1], ARGV[2], 'GT')
local time = false
if ARGV[1] ~= '' then
  local id = cur[1] .. '-' .. ARGV[1]
  local entry = redis.call('XRANGE', KEYS[1], id, id)
  if #entry > 0 then
    local fields = entry[1][2]
    for i = 1, #fields, 2 do
      if fields[i] == 't' then time = tonumber(fields[i + 1]) break end
    end
  end
end
return {cur[1], cur[2], time}
`,
);

/**
 * Add or replace a presence entry; a connection not present yet only while the channel has
 * fewer entries than the cap (check and set in one step, so nodes cannot race past it).
 * KEYS: presence. ARGV: client, entry JSON, cap ('' = none). Returns 'new', 'updated' or 'full'.
 */
export const presenceSetScript = new Script(
  'presence-set',
  `if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 'updated'
end
if ARGV[3] ~= '' and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 'full' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 'new'
`,
);

/** Remove a presence entry if present; only one caller gets it. KEYS: presence. ARGV: client. */
export const presenceRemoveScript = new Script(
  'presence-remove',
  `local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then redis.call('HDEL', KEYS[1], ARGV[1]) end
return v
`,
);

/** Adjust a user's connection counters by d; drop counters that reach zero. */
const ADJUST = `local function adjust(user, d)
  if redis.call('HINCRBY', KEYS[2], user, d) <= 0 then redis.call('HDEL', KEYS[2], user) end
  if redis.call('INCRBY', KEYS[1], d) <= 0 then redis.call('DEL', KEYS[1]) end
end`;

/**
 * Take a connection slot. KEYS: tenant count, user counts, this node's user counts.
 * ARGV: user, per-user limit, per-tenant limit. Returns 'ok', 'user' or 'tenant'.
 */
export const acquireScript = new Script(
  'acquire',
  `local users = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if users >= tonumber(ARGV[2]) then return 'user' end
local tenant = tonumber(redis.call('GET', KEYS[1]) or '0')
if tenant >= tonumber(ARGV[3]) then return 'tenant' end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('INCR', KEYS[1])
redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
return 'ok'
`,
);

/** Release a slot this node holds (none held: nothing happens). Same KEYS; ARGV: user. Returns 1 or 0. */
export const releaseScript = new Script(
  'release',
  `${ADJUST}
local held = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if held <= 0 then return 0 end
if held == 1 then redis.call('HDEL', KEYS[3], ARGV[1]) else redis.call('HINCRBY', KEYS[3], ARGV[1], -1) end
adjust(ARGV[1], -1)
return 1
`,
);

/**
 * Make a node's slots in a tenant exactly `user1 count1 user2 count2 …` (nothing: release
 * all), moving the shared counters by the difference. Used after errors, after a lost
 * registration, on shutdown, and by a survivor for a dead node. Same KEYS.
 */
export const reconcileScript = new Script(
  'reconcile',
  `${ADJUST}
local want = {}
for i = 1, #ARGV, 2 do want[ARGV[i]] = tonumber(ARGV[i + 1]) end
local have = {}
local current = redis.call('HGETALL', KEYS[3])
for i = 1, #current, 2 do have[current[i]] = tonumber(current[i + 1]) end
for user, n in pairs(want) do
  local d = n - (have[user] or 0)
  if d ~= 0 then adjust(user, d) end
  have[user] = nil
end
for user, n in pairs(have) do adjust(user, -n) end
redis.call('DEL', KEYS[3])
for user, n in pairs(want) do
  if n > 0 then redis.call('HSET', KEYS[3], user, n) end
end
return 1
`,
);

/**
 * Rate bucket (GCRA, the same key format as the publish script's). KEYS: bucket.
 * ARGV: rate per second, burst, cost, now (the node's Redis time, ms; '' = TIME), the value
 * the node expects in the bucket ('' = none, optional). A missing key is a full bucket.
 * Returns {0, the value written} when taken, else {the milliseconds until it could be}.
 */
export const takeScript = new Script(
  'take',
  `${nowFrom(4)}
${TAKE}
return take(KEYS[1], 1000 / tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[5] or '')
`,
);

/**
 * Node heartbeat. KEYS: nodes. ARGV: node id, TTL ms. Returns {was registered (0/1),
 * Redis now, dead nodes, live nodes with expiry scores, TIME's seconds, TIME's microseconds}.
 */
export const heartbeatScript = new Script(
  'heartbeat',
  `${NOW}
local had = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES')
local registered = 0
if had then registered = 1 end
return {registered, now, dead, live, clock[1], clock[2]}
`,
);

/** Redis time (TIME's seconds and microseconds), read on the primary that holds KEYS[1]: the registry's, for every node alike. */
export const timeScript = new Script('time', `return redis.call('TIME')`);

/** Forget a node whose heartbeat is still expired. KEYS: nodes. ARGV: node id. Returns 1 or 0. */
export const forgetNodeScript = new Script(
  'forget-node',
  `${NOW}
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) > now then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
`,
);

/** Every script but the leases' (lease-scripts.ts), loaded on every primary when a connection opens. */
export const ALL_SCRIPTS = [
  publishScript,
  eventScript,
  historyScript,
  trimScript,
  positionScript,
  presenceSetScript,
  presenceRemoveScript,
  acquireScript,
  releaseScript,
  reconcileScript,
  takeScript,
  heartbeatScript,
  timeScript,
  forgetNodeScript,
];
