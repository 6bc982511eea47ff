import { join } from 'node:path';
import { startNatsCluster } from './nats-cluster.js';
import { startPostgresPair } from './postgres-pair.js';
import { startRedisCluster } from './redis-cluster.js';

/**
 * The clustered engines of `npm run cluster` and `npm run bench -- --cluster`, from this machine's
 * binaries, data and logs under `dir`: a 6-node Redis Cluster, a 3-node NATS JetStream cluster and
 * a Postgres primary with a streaming replica. A failed start stops what had started.
 */
export interface ClusterEngines {
  redisUrl: string;
  natsUrl: string;
  /** Postgres URLs (database `ticketing`; a scratch database on the same servers works too). */
  primaryUrl: string;
  replicaUrl: string;
  stop(): Promise<void>;
}

export async function startClusterEngines(dir: string, log: (msg: string) => void): Promise<ClusterEngines> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch((err: unknown) => console.error(err));
  };
  try {
    const redis = await startRedisCluster(join(dir, 'redis'));
    stops.push(() => redis.stop());
    log(`redis cluster: ${redis.url}`);
    const nats = await startNatsCluster(join(dir, 'nats'));
    stops.push(() => nats.stop());
    log(`nats cluster: ${nats.url}`);
    const pg = await startPostgresPair(join(dir, 'postgres'));
    stops.push(() => pg.stop());
    log(`postgres: primary ${pg.primaryUrl}, replica ${pg.replicaUrl}`);
    return { redisUrl: redis.url, natsUrl: nats.url, primaryUrl: pg.primaryUrl, replicaUrl: pg.replicaUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
