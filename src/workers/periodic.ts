import type { Redis } from '../infra/redis.js';
import type { Logger } from '../logger.js';
import type { Worker } from './index.js';

/**
 * Runs `task` every `intervalMs`, never two at once. With `lock`, one process of the whole
 * deployment runs each round (a Redis lock that expires by itself if its holder dies).
 */
export function runPeriodically(opts: {
  name: string;
  intervalMs: number;
  log: Logger;
  task: () => Promise<void>;
  lock?: { redis: Redis; key: string };
}): Worker & { runNow(): Promise<void> } {
  let running: Promise<void> | undefined;
  let stopped = false;

  const round = async () => {
    if (opts.lock) {
      const acquired = await opts.lock.redis.set(opts.lock.key, String(process.pid), 'PX', opts.intervalMs, 'NX');
      if (acquired !== 'OK') return;
    }
    await opts.task();
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
