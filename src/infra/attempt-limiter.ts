import { redisKeys, type Redis, type RedisKeys } from './redis.js';

/**
 * Counters in Redis for limiting attempts (sign-ins, sign-ups), each decided by one atomic script
 * call so that concurrent attempts cannot slip past a limit together. Time is Redis' own (`TIME`),
 * so gateways with skewed clocks agree. Every method answers in milliseconds: 0 when the attempt
 * may go ahead, else how long until it may be tried again.
 */

// KEYS: the counter (a hash of n = attempts counted, last = when the last one was, in ms).
// ARGV: free attempts, first back-off ms, longest back-off ms.
// After `free` attempts, each next one must wait base × 2^(n − free) (capped) after the last one.
// An allowed attempt is counted before it runs; the counter lives until the longest back-off has
// passed after the next attempt's wait.
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local free = tonumber(ARGV[1])
local base = tonumber(ARGV[2])
local longest = tonumber(ARGV[3])
local function delay(count)
  if count < free then return 0 end
  return math.min(base * 2 ^ (count - free), longest)
end
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
local wait = last + delay(n) - now
if wait > 0 then return math.ceil(wait) end
n = n + 1
redis.call('HSET', KEYS[1], 'n', n, 'last', now)
redis.call('PEXPIRE', KEYS[1], delay(n) + longest)
return 0
`;

// KEYS: the counter. Takes back one counted attempt (one that turned out not to be a failure).
const RELEASE = `
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
if n > 0 then redis.call('HSET', KEYS[1], 'n', n - 1) end
return 0
`;

// KEYS: the counter. ARGV: limit, window ms. A fixed window that starts with its first attempt.
const IN_WINDOW = `
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
if n > tonumber(ARGV[1]) then return ttl end
return 0
`;

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

export interface BackOff {
  /** Attempts allowed before the back-off starts. */
  free: number;
  /** The first wait; each further attempt doubles it. */
  firstMs: number;
  /** The longest wait. */
  longestMs: number;
}

export class AttemptLimiter {
  readonly keys: RedisKeys;
  private readonly reserveScript: ScriptFn;
  private readonly releaseScript: ScriptFn;
  private readonly inWindowScript: ScriptFn;

  constructor(
    private readonly redis: Redis,
    namespace: string,
  ) {
    this.keys = redisKeys(namespace);
    redis.defineCommand('attemptReserve', { numberOfKeys: 1, lua: RESERVE });
    redis.defineCommand('attemptRelease', { numberOfKeys: 1, lua: RELEASE });
    redis.defineCommand('attemptInWindow', { numberOfKeys: 1, lua: IN_WINDOW });
    const commands = redis as unknown as Record<string, ScriptFn>;
    this.reserveScript = commands['attemptReserve']!.bind(redis);
    this.releaseScript = commands['attemptRelease']!.bind(redis);
    this.inWindowScript = commands['attemptInWindow']!.bind(redis);
  }

  /** Counts an attempt on `key` unless it is backing off; returns the wait left (ms), 0 when counted. */
  async reserve(key: string, backOff: BackOff): Promise<number> {
    return Number(await this.reserveScript(key, backOff.free, backOff.firstMs, backOff.longestMs));
  }

  /** Takes back an attempt `reserve` counted. */
  async release(key: string): Promise<void> {
    await this.releaseScript(key);
  }

  /** Forgets every attempt on `key`. */
  async clear(key: string): Promise<void> {
    await this.redis.del(key);
  }

  /** Counts an attempt in a fixed window; returns the wait until the window ends (ms) when over `limit`, else 0. */
  async countInWindow(key: string, limit: number, windowMs: number): Promise<number> {
    return Number(await this.inWindowScript(key, limit, windowMs));
  }
}
