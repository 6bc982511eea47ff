/**
 * Hot events across shards (issue 14): is one event's stock gate faster split into N buckets on
 * slots of different Redis Cluster primaries than on one slot? The Lua gate baseline (baselines.ts
 * (c): StockGate.reserve, batches of 100) on a private 6-node Redis Cluster (3 primaries), one slot
 * against N buckets, the same calls in flight, alternated `--rounds` times:
 *
 *   npm run build && node dist/bench/stock-buckets.js [--duration 5] [--in-flight 8,24] [--rounds 2]
 *
 * A bucket is an event id of its own, chosen so that the N buckets sit on N different primaries.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Cluster } from 'ioredis';
import { startRedisCluster } from '../scripts/redis-cluster.js';
import { openRedis, redisKeys } from '../src/infra/redis.js';
import { luaBaseline } from './baselines.js';
import { group, table } from './stats.js';

const NAMESPACE = 'bench_buckets';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { duration: { type: 'string' }, 'in-flight': { type: 'string' }, rounds: { type: 'string' } },
  });
  const durationMs = Number(values.duration ?? 5) * 1000;
  const inFlights = (values['in-flight'] ?? '8,24').split(',').map(Number);
  const rounds = Number(values.rounds ?? 2);
  const dir = mkdtempSync(join(tmpdir(), 'bench-buckets-'));
  const cluster = await startRedisCluster(dir);
  const stop = async () => {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().finally(() => process.exit(130)));
  try {
    const buckets = await eventsOnDistinctPrimaries(cluster.url, 3);
    const rows: string[][] = [['in flight', 'layout', ...Array.from({ length: rounds }, (_, r) => `round ${r + 1}`)]];
    for (const inFlight of inFlights) {
      const results: Record<string, number[]> = { '1 slot': [], [`${buckets.length} buckets`]: [] };
      for (let r = 0; r < rounds; r++) {
        for (const [layout, eventIds] of [
          ['1 slot', buckets.slice(0, 1)],
          [`${buckets.length} buckets`, buckets],
        ] as const) {
          const res = await luaBaseline({
            redisUrl: cluster.url,
            namespace: NAMESPACE,
            durationMs,
            eventIds,
            inFlight,
          });
          results[layout]!.push(res.attemptsPerSec);
          console.error(
            `in flight ${inFlight}, ${layout}, round ${r + 1}: ${group(Math.round(res.attemptsPerSec))} attempts/s, batch p99 ${res.batchP99Ms.toFixed(2)} ms`,
          );
        }
      }
      for (const [layout, rates] of Object.entries(results)) {
        rows.push([String(inFlight), layout, ...rates.map((x) => `${group(Math.round(x))}/s`)]);
      }
    }
    console.log(table(rows));
  } finally {
    await stop();
  }
}

/** `count` event ids whose gate keys hash to slots served by `count` different primaries. */
async function eventsOnDistinctPrimaries(url: string, count: number): Promise<string[]> {
  const redis = (await openRedis(url)) as unknown as Cluster;
  try {
    const byNode = new Map<string, string>();
    while (byNode.size < count) {
      const id = randomUUID();
      const slot = Number(await redis.cluster('KEYSLOT', `${redisKeys(NAMESPACE).eventTag(id)}:stock`));
      const node = redis.slots[slot]?.[0];
      if (node && !byNode.has(node)) byNode.set(node, id);
    }
    return [...byNode.values()];
  } finally {
    redis.disconnect();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
