import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { StockGate } from '../src/infra/stock-gate.js';
import { AppFleet, HOLD_SECONDS } from './app-processes.js';
import { ChaosProxy } from './chaos-proxy.js';
import { History } from './history.js';
import { checkInvariants, waitSettled, type Check } from './invariants.js';
import { Rng } from './rng.js';
import type { Scenario } from './scenarios.js';
import type { PrivateServices } from './services.js';
import { leftInStreams } from './streams.js';
import { prepareSale, runBuyers } from './workload.js';

/**
 * One scenario end to end on the private services: a fresh database and namespace, proxies, the
 * app processes, the seeded sale with its fault, the settle wait and the invariants. Everything it
 * started is stopped before it returns or throws.
 */
export interface ScenarioResult {
  name: string;
  checks: Check[];
  settled: boolean;
}

export interface RunOptions {
  seed: number;
  buyers: number;
  log: (msg: string) => void;
  /** Registers a cleanup that the CLI's Ctrl-C handler runs; returns its unregistration. */
  onAbort: (cleanup: () => Promise<void>) => () => void;
}

/** A scenario's own seed: the same for `--scenario X --seed N` as inside a full run with seed N. */
export function scenarioSeed(seed: number, name: string): number {
  let h = seed >>> 0;
  for (const ch of name) h = (Math.imul(h ^ ch.charCodeAt(0), 16777619) + 1) >>> 0;
  return h;
}

export async function runScenario(
  scenario: Scenario,
  services: PrivateServices,
  opts: RunOptions,
): Promise<ScenarioResult> {
  const log = (msg: string) => opts.log(`[${scenario.name}] ${msg}`);
  const rng = new Rng(scenarioSeed(opts.seed, scenario.name));
  const suffix = randomBytes(4).toString('hex');
  const database = `chaos_${suffix}`;
  const namespace = `chaos${suffix}`;
  const proxies = {
    postgres: await new ChaosProxy('postgres', services.postgres.port).start(),
    redis: await new ChaosProxy('redis', services.redis.port).start(),
    nats: await new ChaosProxy('nats', services.nats.port).start(),
  };
  const jwtSecret = randomBytes(32).toString('hex');
  const fleet = new AppFleet({
    databaseUrl: `postgres://postgres@127.0.0.1:${proxies.postgres.port}/${database}`,
    redisUrl: `redis://127.0.0.1:${proxies.redis.port}`,
    natsUrl: `nats://127.0.0.1:${proxies.nats.port}`,
    namespace,
    jwtSecret,
  });
  const db = new pg.Pool({
    connectionString: `postgres://postgres@127.0.0.1:${services.postgres.port}/${database}`,
    max: 4,
  });
  db.on('error', () => undefined); // a fault drops idle connections; the next query reconnects
  const redis = new Redis(services.redis.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 3 });
  redis.on('error', () => undefined);
  const cleanup = async () => {
    await fleet.stop().catch(() => undefined);
    await Promise.all(Object.values(proxies).map((p) => p.stop()));
    await db.end().catch(() => undefined);
    redis.disconnect();
    await restoreServices(services);
  };
  const unregister = opts.onAbort(cleanup);
  try {
    log(
      `seed ${opts.seed}; starting 2 gateways and 2 workers${scenario.skewedWorker ? ' (worker-2 clock +10 min)' : ''}`,
    );
    await fleet.start(2, 2, scenario.skewedWorker ?? false);
    const gateways = fleet.gateways.map((g) => g.url);
    const sale = await prepareSale(db, jwtSecret, gateways[0]!, rng.fork(), opts.buyers);
    log(`${sale.events.map((e) => `${e.total} tickets`).join(' + ')}, ${sale.buyers.length} buyers`);
    const history = new History();
    const opened = history.opened;
    const faultRng = rng.fork();
    const sampler = overdueSampler(db);
    const workerless: { from: number; to: number }[] = [];
    const fault = scenario.inject({
      services,
      proxies,
      fleet,
      db,
      database,
      rng: faultRng,
      log: (m) => log(`${history.t(Date.now())}: ${m}`),
      at: (ms) => sleep(Math.max(0, opened + ms - Date.now())),
      workerless: (from, to) => workerless.push({ from, to }),
    });
    await Promise.all([runBuyers(sale, gateways, history, suffix), fault]);
    log(history.summary());
    log(`buyers done after ${((Date.now() - opened) / 1000).toFixed(0)} s; waiting for the sale to settle`);
    const settled = await waitSettled(db, (HOLD_SECONDS + 90) * 1000);
    const end = Date.now();
    const gate = new StockGate(redis, namespace);
    const checks = await checkInvariants(
      db,
      gate,
      sale,
      history,
      { maxOverdueMs: sampler.stop(), end, workerless },
      scenario.limits,
    );
    const left = await leftInStreams(`nats://127.0.0.1:${services.nats.port}`, namespace);
    checks.push({
      name: 'no message left in a stream',
      pass: left.length === 0,
      detail: left.length ? left.join(', ') : 'every work-queue stream is empty',
    });
    if (!settled)
      checks.unshift({
        name: 'sale settles',
        pass: false,
        detail: 'holds still open or notices missing at the deadline',
      });
    return { name: scenario.name, checks, settled };
  } finally {
    unregister();
    await cleanup();
  }
}

/** Every second: how long the most overdue UNPAID/FAILED order is past its expiresAt (Postgres clock). */
function overdueSampler(db: pg.Pool): { stop(): number } {
  let worst = 0;
  const timer = setInterval(() => {
    db.query<{ ms: number | null }>(
      `select (extract(epoch from now() - min(expires_at)) * 1000)::float as ms from orders
        where status in ('UNPAID', 'FAILED') and expires_at < now()`,
    ).then(
      (res) => (worst = Math.max(worst, res.rows[0]?.ms ?? 0)),
      () => undefined, // Postgres down: nothing to see
    );
  }, 1000);
  return {
    stop() {
      clearInterval(timer);
      return worst;
    },
  };
}

/** After a scenario, every service runs and is thawed again, whatever the fault left behind. */
async function restoreServices(services: PrivateServices): Promise<void> {
  for (const s of [services.postgres, services.redis, services.nats]) {
    s.thaw();
    if (s.pids().length === 0) await s.start().catch(() => undefined);
  }
}
