import { crc32 } from 'node:zlib';
import { Cluster, Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { parseRedisUrl } from './redis-url.js';

export type { Redis };

/**
 * A Redis client that fails fast: while Redis is down a command errors at once instead of
 * queueing, so callers can answer UNAVAILABLE rather than hang. Auto-pipelining batches commands
 * issued in the same tick into one round trip.
 *
 * For a `redis+cluster://` URL it is an ioredis Cluster, which follows MOVED/ASK redirections and
 * re-learns the slots after a failover. It is typed as `Redis` because both speak the same commands;
 * the code keeps to what Redis Cluster allows: every script and MULTI touches keys of one hash slot
 * (see redisKeys), and whole-keyspace commands (SCAN, KEYS) go through `eachPrimary`.
 */
/**
 * Longest a command waits for its reply before it fails (and its caller answers UNAVAILABLE). A
 * command written on a connection that then dropped is otherwise kept for the next one: with a
 * Redis that accepts connections and drops them, sign-in waited 31 s, until Redis came back.
 * Redis answers in microseconds; 5 s leaves room for a gateway's event loop under a burst.
 */
const REDIS_COMMAND_TIMEOUT_MS = 5000;

export async function openRedis(url: string, log?: Logger): Promise<Redis> {
  const target = parseRedisUrl(url);
  const options = {
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    enableOfflineQueue: false,
    lazyConnect: true,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 2000),
  };
  const redis =
    target.kind === 'single'
      ? new Redis(target.url, options)
      : (new Cluster(target.nodes, {
          enableAutoPipelining: true,
          enableOfflineQueue: false,
          lazyConnect: true,
          clusterRetryStrategy: (attempt: number) => Math.min(attempt * 100, 2000),
          // While a primary fails over, its slots answer CLUSTERDOWN or refuse connections: retry
          // briefly (a failover takes a few seconds) and then fail, so a caller answers UNAVAILABLE.
          retryDelayOnClusterDown: 200,
          retryDelayOnFailover: 200,
          retryDelayOnTryAgain: 100,
          maxRedirections: 16,
          slotsRefreshTimeout: 2000,
          redisOptions: {
            maxRetriesPerRequest: 1,
            commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
            ...(target.username ? { username: target.username } : {}),
            ...(target.password ? { password: target.password } : {}),
            ...(target.tls ? { tls: {} } : {}),
          },
        }) as unknown as Redis);
  let warned = false;
  redis.on('error', (err: Error) => {
    if (!warned) log?.warn({ err: err.message }, 'redis connection error');
    warned = true;
  });
  redis.on('ready', () => {
    warned = false;
  });
  await redis.connect();
  return redis;
}

/** True when the client talks to a Redis Cluster. */
export function isCluster(redis: Redis): boolean {
  return (redis as unknown as { isCluster?: boolean }).isCluster === true;
}

/**
 * Runs `fn` on every primary that holds keys: the one server, or each primary of a cluster (for
 * SCAN-style walks of the whole keyspace, which a cluster only answers node by node).
 */
export async function eachPrimary(redis: Redis, fn: (node: Redis) => Promise<void>): Promise<void> {
  const nodes = isCluster(redis) ? (redis as unknown as Cluster).nodes('master') : [redis];
  for (const node of nodes) await fn(node);
}

/**
 * How many groups the booking registry's pending index is split into. In Redis Cluster each group
 * is its own hash slot, so the registry's keys spread over the shards; the sweep walks them all.
 */
export const BOOKING_GROUPS = 16;

/** The registry group of a buyer: every key of the buyer's attempts is in it. */
export function bookingGroup(userId: string): number {
  return crc32(userId) % BOOKING_GROUPS;
}

/**
 * Key names. Keys one Lua script touches together share a hash tag, so that in Redis Cluster they
 * live on one slot: `{e:<id>}` for one event's stock gate, `{bk:<group>}` for the booking
 * registry (a buyer's attempts, their rate counter and the group's pending index).
 */
export function redisKeys(namespace: string) {
  const ns = namespace;
  const group = (g: number) => `${ns}:{bk:${g}}`;
  return {
    /** Prefix of every key of one event's stock gate; the braces keep them in one Redis Cluster slot. */
    eventTag: (eventId: string) => `${ns}:{e:${eventId}}`,
    rateLimit: (userId: string) => `${group(bookingGroup(userId))}:rl:${userId}`,
    /** One attempt's record, in its buyer's group (bookingGroup). */
    booking: (g: number, bookingId: string) => `${group(g)}:rec:${bookingId}`,
    /** Attempts of one group still waiting for a decision (a sorted set by deadline). */
    pendingBookings: (g: number) => `${group(g)}:pending`,
    /** Sign-in attempts counted against one account, named by a hash of its e-mail (Redis never holds the e-mail). */
    signInsOfAccount: (emailHash: string) => `${ns}:auth:acct:${emailHash}`,
    /** Sign-in attempts counted against one client address, whatever the accounts. */
    signInsOfAddress: (address: string) => `${ns}:auth:addr:${address}`,
    /** Sign-ups from one client address in the current window. */
    signUpsOfAddress: (address: string) => `${ns}:auth:signup:${address}`,
    /** The primary's WAL position after a user's last write: their reads wait for the replica to pass it. */
    lastWrite: (userId: string) => `${ns}:rw:${userId}`,
    /** The lock that keeps one periodic worker's rounds from overlapping across the deployment. */
    periodicLock: (worker: string) => `${ns}:lock:${worker}`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
