// The stock gate's Lua scripts (see StockGate in stock-gate.ts for what each key holds). Each
// touches the keys of one event only, all under the event's hash tag, so it runs on Redis Cluster.

export const DAY_SECONDS = 86_400;

// KEYS: stock, held, decided, inflight, inflightQty. ARGV: maxPerUser, ttl, then (bookingId, userId, qty)*.
// Returns one entry per attempt: 'N' (reserved now), 'R' (reserved by an earlier call), 'X:<reason>'
// (rejected), or {'NOSTOCK'} when the event's stock is not loaded.
export const RESERVE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'NOSTOCK'} end
local stock = tonumber(redis.call('GET', KEYS[1]))
local max = tonumber(ARGV[1])
local out = {}
local taken = 0
for i = 3, #ARGV, 3 do
  local b, u, q = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local d = redis.call('HGET', KEYS[3], b)
  if not d then
    local held = tonumber(redis.call('HGET', KEYS[2], u) or '0')
    if held + q > max then d = 'X:LIMIT_EXCEEDED'
    elseif stock < q then d = 'X:SOLD_OUT'
    else
      stock = stock - q
      taken = taken + q
      redis.call('HINCRBY', KEYS[2], u, q)
      redis.call('HSET', KEYS[4], b, q)
      d = 'N'
    end
    redis.call('HSET', KEYS[3], b, d == 'N' and 'R' or d)
  end
  out[#out + 1] = d
end
if taken > 0 then
  redis.call('SET', KEYS[1], stock)
  redis.call('INCRBY', KEYS[5], taken)
end
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[2]))
return out
`;

// After the Postgres transaction. KEYS: stock, held, decided, inflight, inflightQty, version, loaded.
// ARGV: available, version, then (bookingId, userId, qty, outcome)* where outcome 'N' means newly
// committed by this transaction, 'C' already in Postgres before it (a redelivery: counted when it was
// reserved, never again), and anything else is the decision to remember for an attempt Postgres did
// not take.
export const SETTLE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local ver = tonumber(ARGV[2])
local newer = ver > tonumber(redis.call('GET', KEYS[6]) or '-1')
local removed = 0
for i = 3, #ARGV, 4 do
  local b, u, q, o = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local wasInFlight = redis.call('HDEL', KEYS[4], b) == 1
  if wasInFlight then removed = removed + q end
  if o == 'N' then
    -- Reserved before Redis lost its data and committed after the snapshot it reloaded: count it now.
    if not wasInFlight and ver > tonumber(redis.call('GET', KEYS[7]) or '-1') then
      redis.call('HINCRBY', KEYS[2], u, q)
    end
  elseif o ~= 'C' then
    if wasInFlight and redis.call('HINCRBY', KEYS[2], u, -q) <= 0 then redis.call('HDEL', KEYS[2], u) end
    redis.call('HSET', KEYS[3], b, o)
  end
end
if removed > 0 then redis.call('DECRBY', KEYS[5], removed) end
if newer then
  redis.call('SET', KEYS[6], ver)
  redis.call('SET', KEYS[1], tonumber(ARGV[1]) - tonumber(redis.call('GET', KEYS[5]) or '0'))
elseif removed > 0 then
  -- A newer Postgres state was applied while these were still counted in flight.
  redis.call('INCRBY', KEYS[1], removed)
end
return tonumber(redis.call('GET', KEYS[1]))
`;

// Tickets of an order left (or came back to) Postgres stock. KEYS: stock, held, inflightQty, version, marks.
// ARGV: available, version, userId, delta (negative: tickets given back), mark (once per order and direction).
export const ADJUST = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('SADD', KEYS[5], ARGV[5]) == 1 then
  if redis.call('HINCRBY', KEYS[2], ARGV[3], tonumber(ARGV[4])) <= 0 then redis.call('HDEL', KEYS[2], ARGV[3]) end
end
redis.call('EXPIRE', KEYS[5], ${DAY_SECONDS * 7})
local ver = tonumber(ARGV[2])
if ver > tonumber(redis.call('GET', KEYS[4]) or '-1') then
  local inflight = tonumber(redis.call('GET', KEYS[3]) or '0')
  redis.call('SET', KEYS[4], ver)
  redis.call('SET', KEYS[1], tonumber(ARGV[1]) - inflight)
end
return tonumber(redis.call('GET', KEYS[1]))
`;

// Loads an event from a Postgres snapshot when Redis has nothing (first sale, or Redis lost its data).
// KEYS: stock, held, inflightQty, version, loaded. ARGV: available, version, then (userId, held)*.
// `loaded` is the version whose buyers `held` reflects: a commit newer than it is not counted yet.
export const LOAD = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[4], ARGV[2])
redis.call('SET', KEYS[5], ARGV[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
return 1
`;

// Makes Redis equal to a Postgres snapshot, but only while nothing is in flight and no newer
// Postgres state has been applied meanwhile. KEYS: stock, held, inflightQty, version, loaded. ARGV as LOAD.
export const RECONCILE = `
if tonumber(redis.call('GET', KEYS[3]) or '0') ~= 0 then return 0 end
if tonumber(redis.call('GET', KEYS[4]) or '-1') > tonumber(ARGV[2]) then return 0 end
local before = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[4], ARGV[2])
redis.call('SET', KEYS[5], ARGV[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
if before == ARGV[1] then return 0 end
return 1
`;

// Sets the given buyers' counts to Postgres' (0: the buyer holds nothing), writing only those that
// differ, and only while nothing is in flight and Redis is at exactly the snapshot's version.
// KEYS: held, inflightQty, version, loaded. ARGV: version, then (userId, held)*.
// Returns how many counts it changed, or -1 when Redis moved on (the next sweep looks again).
export const REPAIR_HELD = `
if tonumber(redis.call('GET', KEYS[2]) or '0') ~= 0 then return -1 end
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
local fixed = 0
for i = 2, #ARGV, 2 do
  local u, n = ARGV[i], ARGV[i + 1]
  local current = redis.call('HGET', KEYS[1], u)
  if n == '0' then
    if current then redis.call('HDEL', KEYS[1], u); fixed = fixed + 1 end
  elseif current ~= n then
    redis.call('HSET', KEYS[1], u, n)
    fixed = fixed + 1
  end
end
redis.call('SET', KEYS[4], ARGV[1])
return fixed
`;

// Forgets reservations whose Postgres decision was made long ago, so their settle was lost (a Redis
// failover drops the newest writes: Redis Cluster replicates asynchronously). KEYS: inflight, inflightQty.
// ARGV: booking ids. Returns the quantity forgotten; the next reconcile sets stock and buyers from Postgres.
export const FORGET = `
local forgotten = 0
for i = 1, #ARGV do
  local q = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if q > 0 then
    redis.call('HDEL', KEYS[1], ARGV[i])
    forgotten = forgotten + q
  end
end
if forgotten > 0 then redis.call('DECRBY', KEYS[2], forgotten) end
return forgotten
`;
