import { NOW, Script } from './scripts.js';

/* The lease store's scripts (redis-lease-store.ts): one hash per lease, its line beside it. */

/**
 * Take a lease, or wait for it in line. KEYS: lease, line, places. ARGV: owner, ttl ms, the
 * node's highest token seen, place ttl ms (0: do not wait), '1' to be put first in line. Returns the token, or nil while
 * another owner holds the key or comes first in its line. The holder gets its token again and
 * a new TTL. A new token is the larger of Redis time in microseconds and the node's highest
 * token + 1: nothing of the key is kept once it is free, so tokens keep increasing after
 * Redis restarts empty (time moved on) and even if its clock went back (the nodes remember).
 * The line: owners by arrival (a place that lapsed is lost: asking again queues at the end),
 * each with the Redis time its place lapses; lapsed places are dropped when they come first.
 */
export const leaseAcquireScript = new Script(
  'lease-acquire',
  `${NOW}
local owner = ARGV[1]
local function leave()
  if redis.call('ZREM', KEYS[2], owner) == 1 then redis.call('HDEL', KEYS[3], owner) end
end
local function wait()
  local ttl = tonumber(ARGV[4])
  if ttl <= 0 then return nil end
  local deadline = tonumber(redis.call('HGET', KEYS[3], owner) or '0')
  if deadline <= now then
    local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
    local score = 1
    if last[2] then score = tonumber(last[2]) + 1 end
    if last[1] == owner then score = tonumber(last[2]) end
    redis.call('ZADD', KEYS[2], score, owner)
  end
  redis.call('HSET', KEYS[3], owner, string.format('%.0f', now + ttl))
  for i = 2, 3 do
    if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
  return nil
end
local held = redis.call('HMGET', KEYS[1], 'o', 't')
if ARGV[5] == '1' and held[1] ~= owner then
  local head = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if head[1] ~= owner then
    local score = 0
    if head[2] then score = tonumber(head[2]) - 1 end
    redis.call('ZADD', KEYS[2], score, owner)
  end
  redis.call('HSET', KEYS[3], owner, string.format('%.0f', now + 1))
end
if held[1] then
  if held[1] ~= owner then return wait() end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  leave()
  return tonumber(held[2])
end
local first = nil
for i = 1, 1000 do
  first = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not first or tonumber(redis.call('HGET', KEYS[3], first) or '0') > now then break end
  redis.call('ZREM', KEYS[2], first)
  redis.call('HDEL', KEYS[3], first)
  first = nil
end
if first and first ~= owner then return wait() end
leave()
local token = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local floor = tonumber(ARGV[3]) + 1
if floor > token then token = floor end
redis.call('HSET', KEYS[1], 'o', owner, 't', string.format('%.0f', token))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token
`,
);

/** Leave a lease's line. KEYS: line, places. ARGV: owner. */
export const leaseLeaveScript = new Script(
  'lease-leave',
  `if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('HDEL', KEYS[2], ARGV[1]) end
return 0
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

export const LEASE_SCRIPTS = [leaseAcquireScript, leaseLeaveScript, leaseRenewScript, leaseReleaseScript, leaseGetScript];
