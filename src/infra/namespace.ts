import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats } from '@nats-io/transport-node';
import { natsNames, natsServers } from './nats.js';
import { eachPrimary, openRedis, type Redis } from './redis.js';

/** Namespaces this process made with scratchNamespace: the only ones deleteNamespace deletes. */
const scratchNamespaces = new Set<string>();

/**
 * A fresh random namespace (`<prefix>_<8 hex>`) for a test or benchmark run, recorded so that
 * deleteNamespace may remove its streams and keys later.
 */
export function scratchNamespace(prefix: string): string {
  const namespace = `${prefix}_${randomBytes(4).toString('hex')}`;
  scratchNamespaces.add(namespace);
  return namespace;
}

/**
 * Removes the JetStream streams and Redis keys of a namespace made by scratchNamespace (SCAN,
 * not KEYS: the server stays responsive however many keys it holds), so a test or benchmark
 * leaves the shared servers as it found them; refuses any other namespace. It opens its own
 * connections; stop the app first, so nothing recreates a stream or key behind it. Best effort:
 * a server that is gone has nothing to clean, and a failure is skipped.
 */
export async function deleteNamespace(namespace: string, urls: { natsUrl: string; redisUrl: string }): Promise<void> {
  if (!scratchNamespaces.has(namespace)) {
    throw new Error(`refusing to delete namespace ${namespace}: this process did not make it with scratchNamespace`);
  }
  try {
    const nc = await connectNats({ servers: natsServers(urls.natsUrl) });
    try {
      const jsm = await jetstreamManager(nc);
      for (const stream of Object.values(natsNames(namespace).streams)) {
        await jsm.streams.delete(stream).catch(() => undefined);
      }
    } finally {
      await nc.close();
    }
  } catch {
    // NATS gone: nothing to clean there
  }
  let redis: Redis | undefined;
  try {
    redis = await openRedis(urls.redisUrl);
    const client = redis;
    // Node by node on a cluster; key by key, since one node's keys span many slots.
    await eachPrimary(client, async (node) => {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 1000);
        cursor = next;
        await Promise.all(keys.map((key) => client.unlink(key)));
      } while (cursor !== '0');
    });
  } catch {
    // Redis gone: nothing to clean there
  } finally {
    redis?.disconnect();
  }
}
