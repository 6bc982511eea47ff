import { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

export type { Redis };

/**
 * A Redis client that fails fast: while Redis is down a command errors at once instead of
 * queueing, so callers can answer UNAVAILABLE rather than hang. Auto-pipelining batches commands
 * issued in the same tick into one round trip.
 */
export async function openRedis(url: string, log: Logger): Promise<Redis> {
  const redis = new Redis(url, {
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    lazyConnect: true,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
  });
  let warned = false;
  redis.on('error', (err: Error) => {
    if (!warned) log.warn({ err: err.message }, 'redis connection error');
    warned = true;
  });
  redis.on('ready', () => {
    warned = false;
  });
  await redis.connect();
  return redis;
}

/**
 * Key names. Keys of one event share a hash tag (`{e:<id>}`) so that in Redis Cluster they live on
 * one shard and a Lua script may touch them together.
 */
export function redisKeys(namespace: string) {
  const ns = namespace;
  return {
    /** Prefix of every key of one event's stock gate; the braces keep them in one Redis Cluster slot. */
    eventTag: (eventId: string) => `${ns}:{e:${eventId}}`,
    rateLimit: (userId: string) => `${ns}:rl:${userId}`,
    booking: (bookingId: string) => `${ns}:bk:${bookingId}`,
    pendingBookings: `${ns}:bk:pending`,
    /** Sign-in attempts counted against one account, named by a hash of its e-mail (Redis never holds the e-mail). */
    signInsOfAccount: (emailHash: string) => `${ns}:auth:acct:${emailHash}`,
    /** Sign-in attempts counted against one client address, whatever the accounts. */
    signInsOfAddress: (address: string) => `${ns}:auth:addr:${address}`,
    /** Sign-ups from one client address in the current window. */
    signUpsOfAddress: (address: string) => `${ns}:auth:signup:${address}`,
    /** The lock that keeps one periodic worker's rounds from overlapping across the deployment. */
    periodicLock: (worker: string) => `${ns}:lock:${worker}`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
