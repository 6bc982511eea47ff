import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { urlsFromEnv } from '../scripts/local-services.js';
import { HealthMonitor, type Probe } from '../src/infra/health.js';
import { openRedis } from '../src/infra/redis.js';

const answers: Probe = () => Promise.resolve();
const hangs: Probe = () => new Promise(() => undefined);
const refuses: Probe = () => Promise.reject(new Error('connect ECONNREFUSED'));

describe('HealthMonitor', () => {
  it('marks a dependency that refuses down at the first check', async () => {
    const health = new HealthMonitor({ postgres: answers, redis: refuses, nats: answers }, 1000, 20);
    const report = await health.check();
    expect(report.redis).toEqual({ up: false, error: 'connect ECONNREFUSED' });
    expect(health.down()).toEqual(['redis']);
  });

  it('keeps a slow dependency up for two late answers and marks it down at the third', async () => {
    let probe = hangs;
    const health = new HealthMonitor({ postgres: answers, redis: answers, nats: () => probe() }, 1000, 20);
    await health.check();
    await health.check();
    expect(health.allUp()).toBe(true);
    await health.check();
    expect(health.down()).toEqual(['nats']);
    expect((await health.check()).nats.error).toMatch(/no answer within 20 ms/);
    // One answer in time brings it back and starts the count again.
    probe = answers;
    await health.check();
    expect(health.allUp()).toBe(true);
    probe = hangs;
    await health.check();
    expect(health.allUp()).toBe(true);
  });

  it('counts an answer that came while the event loop was busy past the timeout as in time', async () => {
    // A burst keeps the gateway's loop busy for long turns: the PONG is on the socket before the
    // loop comes back, and the probe's timer (run before I/O in a turn) must not call it late.
    const redis = await openRedis(urlsFromEnv().redisUrl);
    try {
      const health = new HealthMonitor({ postgres: answers, redis: () => redis.ping(), nats: answers }, 1000, 20);
      for (let i = 0; i < 3; i++) {
        const checked = health.check();
        await nextTurn(); // the PING is written (auto-pipelined at the end of the turn)
        const busyUntil = performance.now() + 200;
        while (performance.now() < busyUntil); // one long turn, ten times the probe's timeout
        expect((await checked).redis).toEqual({ up: true });
      }
      expect(health.allUp()).toBe(true);
    } finally {
      redis.disconnect();
    }
  });

  it('cuts credentials out of the URLs in a reason, so the detailed report never shows a password', async () => {
    const leaks: Probe = () =>
      Promise.reject(new Error('cannot reach redis://ops:hunter2@10.0.0.5:6379 or postgres://app:s3cret@db/tix'));
    const health = new HealthMonitor({ postgres: answers, redis: leaks, nats: answers }, 1000, 20);
    const { redis } = await health.check();
    expect(redis.error).toBe('cannot reach redis://***@10.0.0.5:6379 or postgres://***@db/tix');
  });

  it('reports an optional dependency apart: unused until its first probe passes, and down without making the process unready', async () => {
    let replica = answers;
    const health = new HealthMonitor(
      { postgres: answers, redis: answers, nats: answers, 'postgres-replica': () => replica() },
      1000,
      20,
    );
    expect(health.isUp('postgres-replica')).toBe(false);
    await health.check();
    expect(health.isUp('postgres-replica')).toBe(true);
    replica = refuses;
    const report = await health.check();
    expect(report['postgres-replica']).toEqual({ up: false, error: 'connect ECONNREFUSED' });
    expect(health.allUp()).toBe(true);
    expect(health.down()).toEqual([]);
    expect(health.degraded()).toEqual(['postgres-replica']);
  });

  it('leaves an optional dependency out of the report when it is not configured', async () => {
    const health = new HealthMonitor({ postgres: answers, redis: answers, nats: answers }, 1000, 20);
    expect(Object.keys(await health.check())).toEqual(['postgres', 'redis', 'nats']);
    expect(health.degraded()).toEqual([]);
  });
});
