import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { urlsFromEnv } from '../scripts/local-services.js';
import { dropDatabase } from '../src/infra/database.js';
import { deleteNamespace } from '../src/infra/namespace.js';
import { natsNames } from '../src/infra/nats.js';
import { startTestSystem } from './support/system.js';

/**
 * The suite never touches data it did not make: a database named in DATABASE_URL and a namespace
 * named in NAMESPACE (standing in for a user's real data) survive a test system, and the drop
 * functions refuse them outright.
 */
const real = urlsFromEnv();
const sentinel = `sentinel_${randomBytes(4).toString('hex')}`;
const sentinelUrl = (() => {
  const url = new URL(real.databaseUrl);
  url.pathname = `/${sentinel}`;
  return url.toString();
})();
const sentinelKey = `${sentinel}:precious`;
const sentinelStream = natsNames(sentinel).streams.bookings;

let admin: pg.Client;
let redis: Redis;
let nc: NatsConnection;

async function sentinelsExist(): Promise<{ database: boolean; key: boolean; stream: boolean }> {
  const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [sentinel]);
  const jsm = await jetstreamManager(nc);
  const stream = await jsm.streams.info(sentinelStream).then(
    () => true,
    () => false,
  );
  return { database: rowCount === 1, key: (await redis.exists(sentinelKey)) === 1, stream };
}

beforeAll(async () => {
  const maintenance = new URL(real.databaseUrl);
  maintenance.pathname = '/postgres';
  admin = new pg.Client({ connectionString: maintenance.toString() });
  await admin.connect();
  await admin.query(`create database ${sentinel}`);
  redis = new Redis(real.redisUrl);
  await redis.set(sentinelKey, 'user data');
  nc = await connectNats({ servers: real.natsUrl });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: sentinelStream, subjects: [`${sentinel}.precious`] });
});

afterAll(async () => {
  // Removed directly: the guarded functions would (rightly) refuse.
  await admin?.query(`drop database if exists ${sentinel} with (force)`);
  await admin?.end();
  await redis?.del(sentinelKey);
  redis?.disconnect();
  if (nc) await (await jetstreamManager(nc)).streams.delete(sentinelStream).catch(() => undefined);
  await nc?.close();
});

describe('test systems and the data they did not make', () => {
  it('a database named in DATABASE_URL and a NAMESPACE survive a test system started and stopped on them', async () => {
    const sys = await startTestSystem({ DATABASE_URL: sentinelUrl, NAMESPACE: sentinel });
    expect(new URL(sys.config.databaseUrl).pathname).not.toBe(`/${sentinel}`);
    expect(sys.config.namespace).not.toBe(sentinel);
    await sys.stop();
    expect(await sentinelsExist()).toEqual({ database: true, key: true, stream: true });
  });

  it('refuses to drop a database or delete a namespace this process did not make', async () => {
    await expect(dropDatabase(sentinelUrl)).rejects.toThrow(/refusing to drop database .*sentinel_/);
    await expect(deleteNamespace(sentinel, real)).rejects.toThrow(/refusing to delete namespace sentinel_/);
    expect(await sentinelsExist()).toEqual({ database: true, key: true, stream: true });
  });
});
