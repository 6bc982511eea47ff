import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { AppFleet } from './app-processes.js';
import type { ChaosProxy } from './chaos-proxy.js';
import type { Limits } from './invariants.js';
import { seconds } from './measures.js';
import type { Rng } from './rng.js';
import type { PrivateServices } from './services.js';

/**
 * The faults, each injected at a seeded moment of the sale and healed before it settles. A fault
 * that kills an app process restarts it a few seconds later, as an orchestrator would.
 */
export interface FaultContext {
  services: PrivateServices;
  proxies: { postgres: ChaosProxy; redis: ChaosProxy; nats: ChaosProxy };
  fleet: AppFleet;
  /** A direct connection (not through the proxy) to the scenario's database. */
  db: pg.Pool;
  database: string;
  rng: Rng;
  log: (msg: string) => void;
  /** Sleeps until `ms` after the sale opened. */
  at(ms: number): Promise<void>;
  /**
   * Records a time when no worker process ran at all (all killed, until one was ready again): no
   * notice can be made then, so the notice delay is measured without it.
   */
  workerless(from: number, to: number): void;
}

export interface Scenario {
  name: string;
  /** Part of `--short` (and the CI test). */
  short?: boolean;
  /** worker-2 runs with its clock ten minutes ahead. */
  skewedWorker?: boolean;
  limits: Limits;
  inject(ctx: FaultContext): Promise<void>;
}

/** Targets of the issue: a process fault never stops sales for more than 5 s or delays a notice more than 10 s. */
const PROCESS_FAULT: Limits = { maxStallMs: 5000, maxNoticeMs: 10_000 };
const RESTART_AFTER_MS = 5000;
const PARTITION_MS = 10_000;

export const scenarios: Scenario[] = [
  {
    name: 'kill-9-worker',
    short: true,
    limits: PROCESS_FAULT,
    async inject(ctx) {
      // While the burst is still being decided and its first buyers pay.
      await ctx.at(ctx.rng.int(2500, 6000));
      const victim = ctx.fleet.workers[ctx.rng.int(0, 1)]!;
      ctx.log(`kill -9 ${victim.name}`);
      ctx.fleet.kill9(victim);
      await sleep(RESTART_AFTER_MS);
      ctx.log(`${victim.name} restarted, ready after ${seconds(await ctx.fleet.restart(victim))}`);
    },
  },
  {
    name: 'kill-9-gateway',
    limits: PROCESS_FAULT,
    async inject(ctx) {
      await ctx.at(ctx.rng.int(1000, 4000));
      const victim = ctx.fleet.gateways[ctx.rng.int(0, 1)]!;
      ctx.log(`kill -9 ${victim.name}`);
      ctx.fleet.kill9(victim);
      await sleep(RESTART_AFTER_MS);
      ctx.log(`${victim.name} restarted, ready after ${seconds(await ctx.fleet.restart(victim))}`);
    },
  },
  {
    name: 'kill-9-all-workers-during-payments',
    limits: { maxNoticeMs: PROCESS_FAULT.maxNoticeMs },
    async inject(ctx) {
      // Buyers pay 0.3–4 s after their reservation, so this falls among the burst's payments.
      await ctx.at(ctx.rng.int(4000, 7000));
      ctx.log('kill -9 every worker');
      const killed = Date.now();
      for (const w of ctx.fleet.workers) ctx.fleet.kill9(w);
      await sleep(RESTART_AFTER_MS);
      // Whichever comes up first ends the time with no worker at all.
      const ready = ctx.fleet.workers.map((w) => ctx.fleet.restart(w));
      const first = await Promise.race(ready);
      ctx.workerless(killed, Date.now());
      ctx.log(`workers restarted, the first ready after ${seconds(first)}`);
      await Promise.all(ready);
    },
  },
  {
    name: 'sigstop-worker',
    short: true,
    limits: PROCESS_FAULT,
    async inject(ctx) {
      await ctx.at(ctx.rng.int(500, 2000));
      const victim = await freezeInsideTransaction(ctx);
      // Longer than the booking consumer's 30 s ack wait.
      await sleep(35_000);
      ctx.log(`SIGCONT ${victim}`);
      for (const w of ctx.fleet.workers) ctx.fleet.thaw(w);
    },
  },
  {
    name: 'redis-restarted-empty',
    short: true,
    limits: {},
    async inject(ctx) {
      await ctx.at(ctx.rng.int(1000, 4000));
      ctx.log('kill -9 redis, start it again empty');
      await ctx.services.redis.kill9();
      await sleep(2000);
      await ctx.services.redis.start();
    },
  },
  {
    name: 'nats-restarted-on-store',
    limits: {},
    async inject(ctx) {
      await ctx.at(ctx.rng.int(1000, 6000));
      ctx.log('kill -9 nats-server, start it again on its store');
      await ctx.services.nats.kill9();
      await sleep(3000);
      await ctx.services.nats.start();
    },
  },
  {
    name: 'postgres-stopped-immediate',
    limits: {},
    async inject(ctx) {
      await ctx.at(ctx.rng.int(1000, 6000));
      ctx.log('pg_ctl stop -m immediate, start after 5 s');
      await ctx.services.postgres.stopNow();
      await sleep(RESTART_AFTER_MS);
      await ctx.services.postgres.start();
    },
  },
  {
    name: 'postgres-kill-9',
    limits: {},
    async inject(ctx) {
      await ctx.at(ctx.rng.int(1000, 6000));
      ctx.log('kill -9 every Postgres process, start it again after 5 s (crash recovery)');
      await ctx.services.postgres.kill9();
      await sleep(RESTART_AFTER_MS);
      await ctx.services.postgres.start();
    },
  },
  {
    name: 'redis-frozen',
    limits: {},
    async inject(ctx) {
      await ctx.at(ctx.rng.int(1000, 6000));
      ctx.log(`SIGSTOP redis-server for ${PARTITION_MS / 1000} s, then SIGCONT`);
      ctx.services.redis.freeze();
      await sleep(PARTITION_MS);
      ctx.services.redis.thaw();
    },
  },
  ...(['postgres', 'redis', 'nats'] as const).map((dep): Scenario => ({
    name: `partition-${dep}`,
    limits: {},
    async inject(ctx) {
      await ctx.at(ctx.rng.int(1000, 6000));
      ctx.log(`blackhole between the app and ${dep} for ${PARTITION_MS / 1000} s`);
      ctx.proxies[dep].blackhole();
      await sleep(PARTITION_MS);
      ctx.proxies[dep].heal();
    },
  })),
  {
    name: 'slow-postgres',
    limits: {},
    async inject(ctx) {
      await ctx.at(ctx.rng.int(0, 2000));
      ctx.log('200 ms latency to Postgres for 15 s');
      ctx.proxies.postgres.delay(200);
      await sleep(15_000);
      ctx.proxies.postgres.heal();
    },
  },
  {
    name: 'worker-clock-10-min-ahead',
    skewedWorker: true,
    limits: PROCESS_FAULT,
    async inject() {
      // The fault is the skewed clock itself, there from the start.
    },
  },
];

/**
 * SIGSTOPs a worker while it is inside a transaction (its backend left idle in transaction): that is
 * the freeze that holds the event's stock lock. Tries the workers in turn until one is caught.
 */
async function freezeInsideTransaction(ctx: FaultContext): Promise<string> {
  for (let tries = 0; tries < 60; tries++) {
    const victim = ctx.fleet.workers[tries % 2]!;
    ctx.fleet.freeze(victim);
    await sleep(200);
    const res = await ctx.db.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity
        where datname = $1 and state = 'idle in transaction' and now() - state_change > interval '150 milliseconds'`,
      [ctx.database],
    );
    if (res.rows[0]!.n > 0 || tries === 59) {
      ctx.log(`SIGSTOP ${victim.name}${res.rows[0]!.n > 0 ? ' inside its transaction' : ' (no transaction caught)'}`);
      return victim.name;
    }
    ctx.fleet.thaw(victim);
    await sleep(ctx.rng.int(20, 150));
  }
  throw new Error('unreachable');
}
