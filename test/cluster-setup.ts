import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startNatsCluster } from '../scripts/nats-cluster.js';
import { startRedisCluster } from '../scripts/redis-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The clustered engines the `cluster` project's test files run on (see test/support/on-cluster.ts). */
    cluster: { redisUrl: string; natsUrl: string };
  }
}

/**
 * Global setup of the `cluster` project: a 6-node Redis Cluster and a 3-node NATS JetStream
 * cluster of this machine's binaries, on free ports, with their data in a temporary directory;
 * stopped and removed after the project's files ran. Postgres stays the suite's single server.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), 'test-cluster-'));
  const redis = await startRedisCluster(join(dir, 'redis'));
  const nats = await startNatsCluster(join(dir, 'nats')).catch(async (err: unknown) => {
    await redis.stop();
    throw err;
  });
  console.log(`[cluster] Redis Cluster ${redis.url}, NATS cluster ${nats.url}`);
  project.provide('cluster', { redisUrl: redis.url, natsUrl: nats.url });
  return async () => {
    await Promise.all([redis.stop(), nats.stop()]);
    rmSync(dir, { recursive: true, force: true });
  };
}
