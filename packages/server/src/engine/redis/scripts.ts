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
const NOW = `local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)`;

/** Extend a key's TTL to at least `ttl` ms, never shorten it (one call, except for a key without TTL). */
const EXTEND = `local function extend(key, ttl)
  if redis.call('PEXPIRE', key, ttl, 'GT') == 0 and redis.call('PTTL', key) == -1 then
    redis.call('PEXPIRE', key, ttl)
  end
end`;

/** Redis server time in milliseconds with a fraction (microsecond precision), for rate buckets. */
const NOW_PRECISE = `local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000`;

/**
 * Take `cost` from a rate bucket (GCRA: the key holds the theoretical arrival time, ms).
 * Equivalent to a token bucket of capacity `burst` refilled at 1000 / `interval` per
 * second; a missing key is a full bucket. One GET, and one SET when allowed. Returns 0
 * when taken, else the milliseconds until `cost` could be taken (at least 1).
 */
const TAKE = `local function take(key, interval, burst, cost)
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local nextTat = tat + cost * interval
  local over = nextTat - now - burst * interval
  if over > 1e-6 then return math.max(1, math.ceil(over)) end
  redis.call('SET', key, string.format('%.17g', nextTat), 'PX', math.ceil(nextTat - now) + 1000)
  return 0
end`;

/**
 * Publish: rate-check, sequence, store, dedupe and fan out, atomically per channel, in one
 * round trip. KEYS: meta, history, idempotency[, rate bucket (not in a Redis Cluster: its
 * slot differs)]. ARGV: 1 data, 2 info JSON ('' = none), 3 historySize, 4 historyTtl,
 * 5 history key TTL, 6 idempotencyTtl, 7 epoch candidate, 8 meta TTL, 9 topic, 10 use
 * idempotency ('1'/'0'), 11 refresh TTLs ('1'/'0'; the node asks once a minute per channel),
 * 12 bucket interval ms, 13 bucket burst, 14 tags JSON ('' = none). Returns {offset, epoch, 0 | 1 deduplicated | 2 rate limited,
 * ms until the bucket has a token (rate limited only)}.
 * The hot path is TIME, HINCRBY, HGET, XADD, PUBLISH (+ GET, SET with a bucket).
 */
export const publishScript = new Script(
  'publish',
  `${NOW_PRECISE}
${EXTEND}
${TAKE}
local epoch = false
if ARGV[10] == '1' then
  local seen = redis.call('GET', KEYS[3])
  if seen then
    epoch = redis.call('HGET', KEYS[1], 'e')
    local sep = string.find(seen, ':', 1, true)
    if epoch and sep and string.sub(seen, sep + 1) == epoch then
      return {tonumber(string.sub(seen, 1, sep - 1)), epoch, 1}
    end
  end
end
if KEYS[4] then
  local wait = take(KEYS[4], tonumber(ARGV[12]), tonumber(ARGV[13]), 1)
  if wait > 0 then return {0, '', 2, wait} end
end
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
if not epoch then epoch = redis.call('HGET', KEYS[1], 'e') end
local refresh = ARGV[11] == '1' or offset == 1
if not epoch then
  -- No meta: a new stream. Whatever history is left belongs to a lost epoch.
  epoch = ARGV[7]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 1)
  offset = 1
  refresh = true
end
if refresh then extend(KEYS[1], tonumber(ARGV[8])) end
local ms = math.floor(now)
local size = tonumber(ARGV[3])
if size > 0 then
  local id = offset .. '-0'
  local expires = ms + tonumber(ARGV[4])
  local fields = {'d', ARGV[1], 't', ms, 'x', expires}
  if ARGV[2] ~= '' then table.insert(fields, 'i'); table.insert(fields, ARGV[2]) end
  if ARGV[14] ~= '' then table.insert(fields, 'g'); table.insert(fields, ARGV[14]) end
  local added = redis.pcall('XADD', KEYS[2], 'MAXLEN', size, id, unpack(fields))
  if type(added) == 'table' and added.err then
    -- The stream is ahead of the meta (they were not restored together): start it over.
    redis.call('DEL', KEYS[2])
    redis.call('XADD', KEYS[2], 'MAXLEN', size, id, unpack(fields))
    refresh = true
  end
  if refresh then extend(KEYS[2], tonumber(ARGV[5])) end
end
if ARGV[10] == '1' then
  redis.call('SET', KEYS[3], offset .. ':' .. epoch, 'PX', ARGV[6])
end
if ARGV[14] == '' then
  redis.call('PUBLISH', ARGV[9], 'p' .. epoch .. '\\n' .. offset .. '\\n' .. ms .. '\\n' .. ARGV[2] .. '\\n' .. ARGV[1])
else
  redis.call('PUBLISH', ARGV[9], 'q' .. epoch .. '\\n' .. offset .. '\\n' .. ms .. '\\n' .. ARGV[2] .. '\\n' .. ARGV[14] .. '\\n' .. ARGV[1])
end
return {offset, epoch, 0}
`,
);

/**
 * Publish an event on a channel's topic from the node that owns the channel's slot (in a
 * Redis Cluster; the key only routes it). KEYS: meta. ARGV: topic, message.
 */
export const eventScript = new Script('event', `return redis.call('PUBLISH', ARGV[1], ARGV[2])`);

/**
 * History: the stream position and a page of publications. Creates the meta (a new epoch)
 * when missing, so the first publication keeps the epoch a reader saw; drops expired
 * entries from the head. KEYS: meta, history. ARGV: epoch candidate, empty-stream TTL,
 * meta TTL, since offset ('' = none), since epoch, limit, reverse ('1'/'0').
 * Returns {epoch, offset, firstOffset, entries}.
 */
export const historyScript = new Script(
  'history',
  `${NOW}
${EXTEND}
local meta = redis.call('HMGET', KEYS[1], 'e', 'o')
local epoch = meta[1]
if not epoch then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', ARGV[1], 'o', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {ARGV[1], 0, 1, {}}
end
local offset = tonumber(meta[2])
if offset == 0 then extend(KEYS[1], tonumber(ARGV[2])) else extend(KEYS[1], tonumber(ARGV[3])) end
local first = offset + 1
local batch = 1
while true do
  local head = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', batch)
  if #head == 0 then break end
  local live = nil
  for _, entry in ipairs(head) do
    local fields = entry[2]
    for i = 1, #fields, 2 do
      if fields[i] == 'x' then
        if tonumber(fields[i + 1]) > now then live = entry[1] end
        break
      end
    end
    if live then break end
  end
  if live then
    redis.call('XTRIM', KEYS[2], 'MINID', live)
    first = tonumber(string.match(live, '^(%d+)'))
    break
  end
  local last = tonumber(string.match(head[#head][1], '^(%d+)'))
  redis.call('XTRIM', KEYS[2], 'MINID', (last + 1) .. '-0')
  if #head < batch then break end
  batch = 100
end
local limit = tonumber(ARGV[6])
local entries = {}
if limit > 0 then
  local start = '-'
  if ARGV[4] ~= '' and ARGV[5] == epoch then start = ARGV[4] end
  if ARGV[7] == '1' then
    entries = redis.call('XREVRANGE', KEYS[2], '+', start, 'COUNT', limit)
  else
    entries = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', limit)
  end
end
return {epoch, offset, first, entries}
`,
);

/**
 * Position of a stream, for a node to compare with where its delivery stands; keeps the
 * meta of a listened channel alive. KEYS: meta, history. ARGV: offset whose entry's time
 * to return ('' = none), meta TTL. Returns {epoch or nil (no stream), offset, time of the
 * entry at that offset or nil (not in history)}.
 */
export const positionScript = new Script(
  'position',
  `local meta = redis.call('HMGET', KEYS[1], 'e', 'o')
if not meta[1] then return {false, 0, false} end
redis.call('PEXPIRE', KEYS[1], ARGV[2], 'GT')
local time = false
if ARGV[1] ~= '' then
  local entry = redis.call('XRANGE', KEYS[2], ARGV[1] .. '-0', ARGV[1] .. '-0')
  if #entry > 0 then
    local fields = entry[1][2]
    for i = 1, #fields, 2 do
      if fields[i] == 't' then time = tonumber(fields[i + 1]) break end
    end
  end
end
return {meta[1], tonumber(meta[2]), time}
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
 * ARGV: rate per second, burst, cost. A missing key is a full bucket. Returns 0 when
 * taken, else the milliseconds until it could be.
 */
export const takeScript = new Script(
  'take',
  `${NOW_PRECISE}
${TAKE}
return take(KEYS[1], 1000 / tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
`,
);

/**
 * Node heartbeat. KEYS: nodes. ARGV: node id, TTL ms. Returns {was registered (0/1),
 * Redis now, dead nodes, live nodes with expiry scores}.
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
return {registered, now, dead, live}
`,
);

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

/**
 * Take a lease. KEYS: lease. ARGV: owner, ttl ms, the node's highest token seen. Returns the
 * token, or nil while another owner holds it. The holder gets its token again and a new TTL.
 * A new token is the larger of Redis time in microseconds and the node's highest token + 1:
 * nothing of the key is kept once it is free, so tokens keep increasing after Redis restarts
 * empty (time moved on) and even if its clock went back (the nodes remember).
 */
export const leaseAcquireScript = new Script(
  'lease-acquire',
  `local held = redis.call('HMGET', KEYS[1], 'o', 't')
if held[1] then
  if held[1] ~= ARGV[1] then return nil end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(held[2])
end
local clock = redis.call('TIME')
local token = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local floor = tonumber(ARGV[3]) + 1
if floor > token then token = floor end
redis.call('HSET', KEYS[1], 'o', ARGV[1], 't', string.format('%.0f', token))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token
`,
);

/** Renew a lease held with a token. KEYS: lease. ARGV: token, ttl ms. Returns 1 or 0. */
export const leaseRenewScript = new Script(
  'lease-renew',
  `if redis.call('HGET', KEYS[1], 't') ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`,
);

/** Release a lease held with a token. KEYS: lease. ARGV: token. Returns 1 or 0. */
export const leaseReleaseScript = new Script(
  'lease-release',
  `if redis.call('HGET', KEYS[1], 't') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`,
);

/** A lease as {owner, token, ttl ms}, or nil when free. KEYS: lease. */
export const leaseGetScript = new Script(
  'lease-get',
  `local held = redis.call('HMGET', KEYS[1], 'o', 't')
if not held[1] then return nil end
return {held[1], tonumber(held[2]), redis.call('PTTL', KEYS[1])}
`,
);

export const ALL_SCRIPTS = [
  publishScript,
  eventScript,
  historyScript,
  positionScript,
  presenceSetScript,
  presenceRemoveScript,
  acquireScript,
  releaseScript,
  reconcileScript,
  takeScript,
  heartbeatScript,
  forgetNodeScript,
  leaseAcquireScript,
  leaseRenewScript,
  leaseReleaseScript,
  leaseGetScript,
];
