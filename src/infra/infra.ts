import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createMetrics, type Metrics } from '../metrics.js';
import type { LiveTopics } from '../services/messages/live-topics.js';
import { openDatabase, openReadReplica, type Database } from './database.js';
import { DatabaseReads } from './database-reads.js';
import { HealthMonitor } from './health.js';
import { LiveBus } from './live-bus.js';
import { openNats, type Nats } from './nats.js';
import { openRedis, type Redis } from './redis.js';

/** The connections to the outside world, opened once per process. */
export interface Infra {
  config: Config;
  log: Logger;
  metrics: Metrics;
  /** The primary: every write, and every read that decides something. */
  orm: Database;
  /** Reads where a little staleness is harmless: the replica when one is configured and safe. */
  reads: DatabaseReads;
  redis: Redis;
  /**
   * Redis's health probe has a connection of its own: on the shared one a PING waits behind every
   * booking command queued before it, and a burst made it late three times in a row while Redis
   * answered at once, turning bookings away as UNAVAILABLE.
   */
  redisProbe: Redis;
  nats: Nats;
  live: LiveBus<LiveTopics>;
  health: HealthMonitor;
}

export async function openInfra(config: Config, log: Logger): Promise<Infra> {
  const orm = await openDatabase(config.databaseUrl, log, {
    migrate: config.migrateOnStart,
    timeouts: config.databaseTimeouts,
  });
  const replica = config.databaseRead.url
    ? await openReadReplica(config.databaseRead.url, config.databaseTimeouts)
    : null;
  const redis = await openRedis(config.redisUrl, log);
  const redisProbe = await openRedis(config.redisUrl, log);
  const nats = await openNats(config.natsUrl, config.namespace, log, config.jetstreamReplicas);
  const metrics = createMetrics();
  const health = new HealthMonitor({
    postgres: () => orm.em.fork().execute('select 1'),
    redis: () => redisProbe.ping(),
    nats: async () => {
      if (nats.nc.isClosed()) throw new Error('connection closed');
      await nats.nc.flush();
    },
    // Probes run only once the app starts the monitor, by when `reads` exists.
    ...(replica ? { 'postgres-replica': (): Promise<void> => reads.probe() } : {}),
  });
  const reads: DatabaseReads = new DatabaseReads({
    primary: orm,
    replica,
    redis,
    namespace: config.namespace,
    health,
    metrics,
    log,
    maxLagMs: config.databaseRead.maxLagMs,
  });
  // A dropped NATS connection marks it down at once, so no booking is published into the client's reconnect buffer.
  void (async () => {
    for await (const s of nats.nc.status()) if (s.type === 'disconnect') health.reportFailure('nats', 'disconnected');
  })();
  return {
    config,
    log,
    metrics,
    orm,
    reads,
    redis,
    redisProbe,
    nats,
    live: new LiveBus<LiveTopics>(nats, log),
    health,
  };
}

export async function closeInfra(infra: Infra): Promise<void> {
  infra.live.close();
  await infra.nats.close();
  infra.redis.disconnect();
  infra.redisProbe.disconnect();
  await infra.orm.close();
  await infra.reads.close();
}
