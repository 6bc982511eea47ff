import { randomUUID } from 'node:crypto';
import { redisKeys, type Redis } from '../infra/redis.js';
import type { Logger } from '../logger.js';
import type { Worker } from './worker.js';

/** A periodic worker; `runNow` runs a round at once (or joins the running one). */
export type PeriodicWorker = Worker & { runNow(): Promise<void> };

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const EXTEND = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;

/**
 * Runs `task` every `intervalMs`, never two at once. With `lock`, rounds never overlap across
 * the whole deployment: a Redis lease of one interval, renewed while a round runs longer than that
 * (a slow Postgres, a long sweep), released after the round, and expiring by itself if its holder
 * dies or freezes.
 */
export function runPeriodically(opts: {
  name: string;
  intervalMs: number;
  log: Logger;
  task: () => Promise<void>;
  /** The lock is named after the worker, in the deployment's key namespace. */
  lock?: { redis: Redis; namespace: string };
}): PeriodicWorker {
  let running: Promise<void> | undefined;
  let stopped = false;

  const round = async () => {
    if (!opts.lock) return opts.task();
    const { redis, namespace } = opts.lock;
    const key = redisKeys(namespace).periodicLock(opts.name);
    const token = randomUUID();
    if ((await redis.set(key, token, 'PX', opts.intervalMs, 'NX')) !== 'OK') return;
    const renew = setInterval(
      () => {
        redis.eval(EXTEND, 1, key, token, opts.intervalMs).catch((err: unknown) => {
          opts.log.warn({ err, task: opts.name }, 'could not renew the lease of a periodic round');
        });
      },
      Math.max(1, Math.floor(opts.intervalMs / 3)),
    );
    try {
      await opts.task();
    } finally {
      clearInterval(renew);
      // Release only our own lock (it may have expired and been taken by another process meanwhile).
      await redis.eval(RELEASE, 1, key, token);
    }
  };
  const runNow = () => {
    running ??= round()
      .catch((err: unknown) => opts.log.error({ err, task: opts.name }, 'periodic task failed'))
      .finally(() => (running = undefined));
    return running;
  };
  const timer = setInterval(() => {
    if (!stopped) void runNow();
  }, opts.intervalMs);
  timer.unref();

  return {
    name: opts.name,
    runNow,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
