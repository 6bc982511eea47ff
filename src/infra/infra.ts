import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createMetrics, type Metrics } from '../metrics.js';
import type { LiveTopics } from '../services/messages/live-topics.js';
import { openDatabase, type Database } from './database.js';
import { HealthMonitor } from './health.js';
import { LiveBus } from './live-bus.js';
import { openNats, type Nats } from './nats.js';
import { openRedis, type Redis } from './redis.js';

/** The connections to the outside world, opened once per process. */
export interface Infra {
  config: Config;
  log: Logger;
  metrics: Metrics;
  orm: Database;
  redis: Redis;
  nats: Nats;
  live: LiveBus<LiveTopics>;
  health: HealthMonitor;
}

export async function openInfra(config: Config, log: Logger): Promise<Infra> {
  const orm = await openDatabase(config.databaseUrl, log, {
    migrate: config.migrateOnStart,
    timeouts: config.databaseTimeouts,
  });
  const redis = await openRedis(config.redisUrl, log);
  const nats = await openNats(config.natsUrl, config.namespace, log, config.jetstreamReplicas);
  const health = new HealthMonitor({
    postgres: () => orm.em.fork().execute('select 1'),
    redis: () => redis.ping(),
    nats: async () => {
      if (nats.nc.isClosed()) throw new Error('connection closed');
      await nats.nc.flush();
    },
  });
  // A dropped NATS connection marks it down at once, so no booking is published into the client's reconnect buffer.
  void (async () => {
    for await (const s of nats.nc.status()) if (s.type === 'disconnect') health.reportFailure('nats', 'disconnected');
  })();
  return { config, log, metrics: createMetrics(), orm, redis, nats, live: new LiveBus<LiveTopics>(nats, log), health };
}

export async function closeInfra(infra: Infra): Promise<void> {
  infra.live.close();
  await infra.nats.close();
  infra.redis.disconnect();
  await infra.orm.close();
}
