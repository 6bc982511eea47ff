import { afterAll, beforeAll, expect, it } from 'vitest';
import { scratchNamespace } from '../infra/namespace.js';
import { openRedis, redisKeys, type Redis } from '../infra/redis.js';
import { createLogger } from '../logger.js';
import { runPeriodically } from './periodic.js';

/**
 * Two processes' copies of one locked periodic worker, on the machine's Redis in a scratch
 * namespace (its one lock key is deleted at the end): a round that runs three intervals long
 * keeps its lease, so the other copy never starts a round beside it.
 */
const namespace = scratchNamespace('t');
let redis: Redis;

beforeAll(async () => {
  redis = await openRedis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
});
afterAll(async () => {
  await redis?.del(redisKeys(namespace).periodicLock('slow-sweep'));
  redis?.disconnect();
});

it('never runs two rounds at once across copies, even when a round outlasts the lease', async () => {
  const log = createLogger('silent');
  const intervalMs = 150;
  let running = 0;
  let overlapped = 0;
  let rounds = 0;
  const task = async () => {
    running += 1;
    if (running > 1) overlapped += 1;
    await new Promise((resolve) => setTimeout(resolve, intervalMs * 3));
    running -= 1;
    rounds += 1;
  };
  const copies = [1, 2].map(() =>
    runPeriodically({ name: 'slow-sweep', intervalMs, log, task, lock: { redis, namespace } }),
  );
  await new Promise((resolve) => setTimeout(resolve, intervalMs * 12));
  await Promise.all(copies.map((c) => c.stop()));
  expect(rounds).toBeGreaterThanOrEqual(2);
  expect(overlapped).toBe(0);
});
