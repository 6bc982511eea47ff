import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { eachPrimary, openRedis, redisKeys } from '../src/infra/redis.js';
import { StockGate, type GateAttempt } from '../src/infra/stock-gate.js';
import { HttpClient, closedLoop, jsonHeaders } from './load.js';
import { freePort, readProc, spawnNode, waitReady } from './processes.js';
import { Samples, rate } from './stats.js';
import type { PhaseCpu } from './timeline.js';

/**
 * The three baselines of issue 6, run on the same machine at the same moment as the system:
 * (a) a bare node:http handler, (b) the naive one-transaction-per-attempt design on Postgres,
 * (c) the project's Redis Lua gate alone.
 */

export interface BareResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** CPU of the bare server process over the phase, in cores. */
  serverCores: number;
}

/** (a) The bare server in a child process, hammered by the same closed loop as the GraphQL phases. */
export async function bareBaseline(opts: {
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  /** A body of the size the GraphQL phases send, so the parser does comparable work. */
  body: string;
  onProgress?: (fraction: number) => void;
}): Promise<BareResult> {
  const script = fileURLToPath(new URL('./bare-server.js', import.meta.url));
  const child = spawnNode('bare', script, await freePort(), {});
  const http = new HttpClient(child.url, opts.concurrency);
  try {
    await waitReady(child, '/');
    const headers = jsonHeaders();
    const cpuBefore = readProc(child.pid)?.cpuSeconds ?? NaN;
    const t0 = performance.now();
    const result = await closedLoop({
      concurrency: opts.concurrency,
      warmupMs: opts.warmupMs,
      durationMs: opts.durationMs,
      send: () => http.send('POST', '/', headers, opts.body),
      check: (a) => a.status === 200,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    const serverCores = ((readProc(child.pid)?.cpuSeconds ?? NaN) - cpuBefore) / ((performance.now() - t0) / 1000);
    const s = result.latency.summary();
    return { rps: rate(result.requests, result.ms), p50Ms: s.p50, p99Ms: s.p99, errors: result.errors, serverCores };
  } finally {
    await http.close();
    await child.stop();
  }
}

export interface NaiveResult {
  tps: number;
  clients: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/**
 * (b) The design the requirements reject: every attempt is its own Postgres transaction that
 * decrements one hot event row and inserts the order. Scratch tables in the bench database.
 */
export async function naiveBaseline(opts: {
  databaseUrl: string;
  clients: number;
  durationMs: number;
  onProgress?: (fraction: number) => void;
}): Promise<NaiveResult> {
  const admin = new pg.Client({ connectionString: opts.databaseUrl });
  await admin.connect();
  const suffix = randomUUID().slice(0, 8);
  const events = `bench_events_naive_${suffix}`;
  const orders = `bench_orders_naive_${suffix}`;
  // Leave room for the app's own pools: Postgres refuses connections past max_connections.
  const { rows } = await admin.query<{ max: string; used: string }>(
    `select current_setting('max_connections') as max, (select count(*) from pg_stat_activity) as used`,
  );
  const clients = Math.max(1, Math.min(opts.clients, Number(rows[0]!.max) - Number(rows[0]!.used) - 10));
  await admin.query(
    `create table ${events} (id integer primary key, available integer not null check (available >= 0))`,
  );
  await admin.query(
    `create table ${orders} (id uuid primary key, event_id integer not null references ${events} (id),
       user_id uuid not null, quantity integer not null, created_at timestamptz not null default now())`,
  );
  await admin.query(`insert into ${events} values (1, 1000000000)`);
  const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: clients });
  try {
    const latency = new Samples(1 << 14);
    let committed = 0;
    let errors = 0;
    const t0 = performance.now();
    const end = t0 + opts.durationMs;
    const progress = opts.onProgress
      ? setInterval(() => opts.onProgress!(Math.min(1, (performance.now() - t0) / opts.durationMs)), 200)
      : undefined;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        const client = await pool.connect();
        try {
          while (performance.now() < end) {
            const start = performance.now();
            try {
              await client.query('begin');
              const taken = await client.query(
                `update ${events} set available = available - 1 where id = $1 and available > 0`,
                [1],
              );
              if (taken.rowCount === 1) {
                await client.query(`insert into ${orders} (id, event_id, user_id, quantity) values ($1, $2, $3, 1)`, [
                  randomUUID(),
                  1,
                  randomUUID(),
                ]);
              }
              await client.query('commit');
              committed += 1;
              latency.add(performance.now() - start);
            } catch {
              errors += 1;
              await client.query('rollback').catch(() => undefined);
            }
          }
        } finally {
          client.release();
        }
      }),
    );
    clearInterval(progress);
    const ms = performance.now() - t0;
    const s = latency.summary();
    return { tps: rate(committed, ms), clients, p50Ms: s.p50, p99Ms: s.p99, errors };
  } finally {
    await pool.end();
    await admin.query(`drop table if exists ${orders}, ${events}`).catch(() => undefined);
    await admin.end();
  }
}

export interface LuaResult {
  attemptsPerSec: number;
  batchSize: number;
  inFlight: number;
  batchP50Ms: number;
  batchP99Ms: number;
}

/** Attempts per StockGate.reserve call, and calls outstanding at once, in the Lua baseline. */
const LUA_BATCH_SIZE = 100;
const LUA_IN_FLIGHT = 8;

/**
 * (c) The project's Lua gate (StockGate.reserve) alone: batches of LUA_BATCH_SIZE attempts of
 * unique buyers, LUA_IN_FLIGHT calls outstanding on one pipelined ioredis connection, against a
 * stock that never runs out. Keys live under `namespace` and are deleted afterwards. With several
 * `eventIds` (bench/stock-buckets.ts: one event's stock split into buckets on different slots)
 * each is loaded and the calls take them in turn, call i the bucket i mod N.
 */
export async function luaBaseline(opts: {
  redisUrl: string;
  namespace: string;
  durationMs: number;
  eventIds?: string[];
  inFlight?: number;
  onProgress?: (fraction: number) => void;
}): Promise<LuaResult> {
  const redis = await openRedis(opts.redisUrl);
  const gate = new StockGate(redis, opts.namespace);
  const eventIds = opts.eventIds ?? [randomUUID()];
  const inFlight = opts.inFlight ?? LUA_IN_FLIGHT;
  try {
    for (const eventId of eventIds) {
      await gate.load(eventId, { available: 1_000_000_000, version: 1, heldByUser: new Map() });
    }
    const latency = new Samples(1 << 14);
    let attempts = 0;
    let seq = 0;
    const t0 = performance.now();
    const end = t0 + opts.durationMs;
    const progress = opts.onProgress
      ? setInterval(() => opts.onProgress!(Math.min(1, (performance.now() - t0) / opts.durationMs)), 200)
      : undefined;
    await Promise.all(
      Array.from({ length: inFlight }, async (_, call) => {
        const eventId = eventIds[call % eventIds.length]!;
        while (performance.now() < end) {
          const batch: GateAttempt[] = [];
          for (let i = 0; i < LUA_BATCH_SIZE; i++, seq++)
            batch.push({ bookingId: `b${seq}`, userId: `u${seq}`, quantity: 1 });
          const start = performance.now();
          const decisions = await gate.reserve(eventId, 4, batch);
          if (!decisions || decisions.length !== LUA_BATCH_SIZE) throw new Error('lua gate: unexpected answer');
          latency.add(performance.now() - start);
          attempts += LUA_BATCH_SIZE;
        }
      }),
    );
    clearInterval(progress);
    const ms = performance.now() - t0;
    const s = latency.summary();
    return {
      attemptsPerSec: rate(attempts, ms),
      batchSize: LUA_BATCH_SIZE,
      inFlight,
      batchP50Ms: s.p50,
      batchP99Ms: s.p99,
    };
  } finally {
    // An event's keys share one slot: on a cluster they are all on one of the primaries.
    await eachPrimary(redis, async (node) => {
      for (const eventId of eventIds) {
        const keys = await node.keys(`${redisKeys(opts.namespace).eventTag(eventId)}:*`);
        if (keys.length) await redis.del(...keys);
      }
    }).catch(() => undefined);
    redis.disconnect();
  }
}

/** What the baselines measured in one benchmark, for the report. */
export interface Baselines {
  /** The faster of the bare runs (before and after the sale): the ceiling the ratios divide by. */
  bare?: BareResult;
  bareRuns: (BareResult & { when: string })[];
  naive?: NaiveResult;
  lua?: LuaResult;
  cpu: PhaseCpu[];
}
