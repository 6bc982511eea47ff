/**
 * The flash-sale benchmark (issue 6).
 *
 *   npm run bench                                   # 10k tickets, 50k buyers, burst + ramp, baselines
 *   npm run bench -- --quick                        # a small smoke run
 *   npm run bench -- --tickets 10000 --users 50000 --json /tmp/bench.json
 *   npm run bench -- --gateways 2 --workers 2       # scale-out on this machine
 *   npm run bench -- --runs 3                       # memory check: RSS after each run
 *   npm run bench -- --users 50000,200000,1000000   # one run per scale: CPU µs per attempt at each
 *   npm run bench -- --url http://127.0.0.1:4000 --jwt-secret … --namespace tix   # a running system
 *   npm run bench -- --cluster --scale 1,2,4        # single node vs the local cluster, 3 sizes
 *
 * By default it starts G gateway and W worker processes (`node dist/src/main.js`) on a fresh
 * database (bench_<random>) and namespace, runs the baselines (bare node:http, naive Postgres,
 * the Lua gate alone) and then, per run: U buyers (straight into Postgres, tokens minted with the
 * shared secret), an event with T tickets opening a few seconds later while R readers refresh its
 * page every second and watch stockChanged; the burst (everyone books at once, 80% HTTP / 20%
 * graphql-ws); closed-loop bookTicket on the sold-out event and event(id) reads, then the event
 * page as a persisted GET straight to the gateways and through an nginx micro-cache (one second of
 * cache in front of them; nginx is unpacked from the OS package when missing); the ramp
 * (open-loop arrivals at --ramp-rate on a fresh event); the invariant checks. Progress on stderr,
 * one table on stdout, everything in --json. Everything it created is removed at the end.
 *
 * Flags (defaults): --tickets 10000 --users 50000 --gateways 1 --workers 1 --arrival burst|ramp
 * (both) --ramp-rate 2000 --duration 10 (s, ramp and throughput phases) --concurrency 64
 * --readers 200 --reader-reads get|post|edge (get: the persisted EventPage GET; post: event(id) as a
 * POST body; edge: the GET through an nginx micro-cache) --ws-sockets 10000 (most graphql-ws buyers; the rest of --ws-share books over HTTP)
 * --burst-connections 2000 --ramp-connections (rate × wait) --ws-share 0.2
 * --wait-ms 2000 (BOOKING_WAIT_MS; `--env BOOKING_WAIT_MS=…` sets the same, both must agree)
 * --open-delay 3 (s from creating the event to the sale opening) --poll-ms 250 (booking(id) polls
 * of attempts answered QUEUED over HTTP) --warmup 1 (s unmeasured before each closed loop)
 * --decide-timeout 300 or 1 s per 1,000 buyers, whichever is longer (s to wait for the last
 * decisions of the burst and the ramp) --runs 1 (per
 * scale: --users may be a list, run in the order given; the top-level figures are the last run's)
 * --json FILE --url URL --jwt-secret S --namespace NS (the last two only with --url)
 * --env K=V (more env for the children, repeatable) --naive-clients 50 --skip-baselines
 * --skip-throughput (no sold-out/read phases) --skip-edge (no GET phases, direct and through nginx) --cpu-prof DIR (V8 profiles of the gateway/worker
 * processes, written when they stop; summarize with dist/bench/profile-summary.js) --heap-profile DIR
 * (the gateways start with their inspector on: the burst's live heap by allocation site, before and
 * after a forced GC, goes to the report and DIR/gateway-N.run-R.burst.heapprofile) --quick.
 * --quick changes the defaults of --tickets 200, --users 1000, --ramp-rate 300, --duration 3,
 * --concurrency 32, --readers 20, --burst-connections 200, --naive-clients 20, --open-delay 2,
 * --warmup 0.5 and --decide-timeout 60. With --url, the flags that only shape the processes the
 * benchmark starts (--gateways, --workers, --env, --cpu-prof, --heap-profile) are refused, not ignored. A flag
 * error exits with status 2 before anything starts.
 * Each phase's per-second timeline (counts and cores per process) goes to stderr and --json.
 * DATABASE_URL, REDIS_URL, NATS_URL and JWT_SECRET are read through the app's config module.
 *
 * --cluster starts the engines of `npm run cluster` once (a 6-node Redis Cluster, a 3-node NATS
 * cluster with R=3 streams, Postgres with a streaming replica that serves DATABASE_READ_URL; data
 * in a temporary directory) and then, per size of --scale N,M,… (n gateways + n workers; without it
 * the --gateways/--workers pair), runs the same sale twice on a fresh database and namespace each:
 * single node (the config's servers, as without --cluster) and on the cluster with the gateways
 * behind HAProxy. Each run prints its table; a last table puts the sizes side by side, and --json
 * gets { sizes: [{ gateways, workers, single, cluster }] }. Not with --url or --waiting-room.
 */
import 'reflect-metadata';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { startClusterEngines } from '../scripts/cluster-engines.js';
import { loadConfig, type Config } from '../src/config.js';
import { openRedis, type Redis } from '../src/infra/redis.js';
import { StockGate } from '../src/infra/stock-gate.js';
import { AccessTokens } from '../src/services/auth/access-tokens.js';
import { bareBaseline, luaBaseline, naiveBaseline, type Baselines } from './baselines.js';
import type { Ctx } from './context.js';
import { parseFlags, type Flags } from './flags.js';
import { eventPayload } from './operations.js';
import { ProcSampler } from './processes.js';
import { Progress } from './progress.js';
import { buildReport, renderTable, type Report } from './report.js';
import { runOnce, type RunResult } from './scenario.js';
import { createUsers } from './seed.js';
import { fmtMs, group, table } from './stats.js';
import { runWaitingRoomBench } from './waiting-room.js';
import { BENCH_TOKEN_TTL_SECONDS, attachSystem, startSystem, type SystemUnderTest } from './system.js';

/** Where the system under test runs: the servers given by the config, or the clustered engines. */
interface Engines {
  databaseUrl: string;
  redisUrl: string;
  natsUrl: string;
  cluster?: { replicaUrl: string; jetstreamReplicas: number; haproxyDir: string };
}

/** What must be stopped before the process exits, last started first (also on Ctrl-C). */
type Stops = (() => Promise<void>)[];

async function stopAll(stops: Stops): Promise<void> {
  for (const stop of stops.splice(0).reverse()) await stop().catch((err: unknown) => console.error(err));
}

async function main(): Promise<void> {
  const flags = parseFlags();
  // The app's config module reads DATABASE_URL, REDIS_URL, NATS_URL, NAMESPACE and JWT_SECRET.
  const config = loadConfig();
  const progress = new Progress();
  const stops: Stops = [];
  process.once('SIGINT', () => {
    progress.log('interrupted: cleaning up…');
    void stopAll(stops).finally(() => process.exit(130));
  });
  const single: Engines = { databaseUrl: config.databaseUrl, redisUrl: config.redisUrl, natsUrl: config.natsUrl };
  try {
    if (!flags.cluster) {
      const out = await benchSystem(flags, config, single, progress, stops);
      if (out) {
        console.log(out.table);
        writeJson(flags, out.report, progress);
      }
      return;
    }
    const sizes = await benchCluster(flags, config, single, progress, stops);
    console.log(renderScaleTable(sizes));
    writeJson(flags, { sizes }, progress);
  } finally {
    await stopAll(stops);
  }
}

function writeJson(flags: Flags, value: unknown, progress: Progress): void {
  if (!flags.json) return;
  writeFileSync(flags.json, `${JSON.stringify(value, null, 2)}\n`);
  progress.log(`wrote ${flags.json}`);
}

/**
 * `--cluster`: starts the clustered engines of `npm run cluster` once, then per size (`--scale`)
 * the same sale twice, each on a fresh database and namespace: single node (the servers of the
 * config, the load generator spreading over the gateways itself) and on the cluster (through HAProxy).
 */
async function benchCluster(flags: Flags, config: Config, single: Engines, progress: Progress, stops: Stops) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cluster-'));
  chmodSync(dir, 0o711); // the postgres OS user must reach its data directory inside
  stops.push(async () => rmSync(dir, { recursive: true, force: true }));
  progress.log(`starting the cluster engines (data and logs in ${dir})…`);
  const engines = await startClusterEngines(dir, (m) => progress.log(m));
  stops.push(() => engines.stop());
  const clustered: Engines = {
    databaseUrl: engines.primaryUrl,
    redisUrl: engines.redisUrl,
    natsUrl: engines.natsUrl,
    cluster: { replicaUrl: engines.replicaUrl, jetstreamReplicas: 3, haproxyDir: dir },
  };
  const sizes: { gateways: number; workers: number; single: Report; cluster: Report }[] = [];
  for (const size of flags.sizes) {
    const sized: Flags = { ...flags, params: { ...flags.params, ...size } };
    const name = `${size.gateways} gateway(s) + ${size.workers} worker(s)`;
    const results: Report[] = [];
    for (const [label, target] of [
      ['single node', single],
      ['cluster', clustered],
    ] as const) {
      progress.log(`— ${name}, ${label}`);
      const out = await benchSystem(sized, config, target, progress, stops);
      if (!out) throw new Error('no report');
      console.log(`\n## ${name}, ${label}\n${out.table}`);
      results.push(out.report);
    }
    sizes.push({ ...size, single: results[0]!, cluster: results[1]! });
  }
  return sizes;
}

/** The figures the cluster benchmark compares, per size: single node next to cluster. */
function renderScaleTable(sizes: Awaited<ReturnType<typeof benchCluster>>): string {
  const count = (n: number | null) => (n === null ? '–' : group(Math.round(n)));
  // Answers that were errors (HTTP 503s from a load balancer with no gateway left, say), all phases.
  const errors = (r: Report) =>
    r.runs.reduce(
      (n, run) =>
        n + (run.burst?.errors ?? 0) + (run.soldOut?.errors ?? 0) + (run.read?.errors ?? 0) + (run.ramp?.errors ?? 0),
      0,
    );
  const figures = (r: Report) => [
    fmtMs(r.selloutMs ?? NaN),
    count(r.decisionsPerSec),
    count(r.soldOutRps),
    count(r.readRps),
    count(errors(r)),
  ];
  return [
    '',
    '## single node vs cluster (same flags, same session)',
    table([
      [
        'processes',
        'sell-out',
        'decisions/s',
        'sold-out/s',
        'reads/s',
        'errors',
        'cluster: sell-out',
        'decisions/s',
        'sold-out/s',
        'reads/s',
        'errors',
        'invariants',
      ],
      ...sizes.map((s) => [
        `${s.gateways} + ${s.workers}`,
        ...figures(s.single),
        ...figures(s.cluster),
        s.single.invariantsOk && s.cluster.invariantsOk ? 'held' : 'VIOLATED',
      ]),
    ]),
  ].join('\n');
}

/** One benchmark of one system (started on `engines`, or attached with --url), stopped at the end. */
async function benchSystem(flags: Flags, config: Config, engines: Engines, progress: Progress, stops: Stops) {
  const { params } = flags;
  let sut: SystemUnderTest;
  if (flags.url) {
    const secret = flags.jwtSecret ?? (config.auth.jwtSecretIsEphemeral ? undefined : config.auth.jwtSecret);
    if (!secret) throw new Error("--url needs the system's JWT secret: --jwt-secret or JWT_SECRET");
    sut = attachSystem({
      url: flags.url,
      namespace: flags.namespace ?? config.namespace,
      databaseUrl: config.databaseUrl,
      redisUrl: config.redisUrl,
      jwtSecret: secret,
    });
  } else {
    progress.log(`starting ${params.gateways} gateway(s) and ${params.workers} worker(s)…`);
    sut = await startSystem({
      gateways: params.gateways,
      workers: params.workers,
      waitMs: flags.waitMs,
      // A hold outlasts the run: one that expires puts its ticket back on sale, and the late
      // attempts of a long burst (a million buyers take minutes) reserve it again, which the
      // invariants would count as oversold. `--env HOLD_SECONDS=…` still wins.
      env: { HOLD_SECONDS: String(Math.ceil(params.decideTimeoutS) + 600), ...flags.env },
      ...engines,
      ...(flags.cpuProfDir ? { cpuProfDir: resolve(flags.cpuProfDir) } : {}),
      inspectGateways: params.heapProfileDir !== undefined,
      log: (m) => progress.log(m),
    });
  }

  const sampler = new ProcSampler(sut.watched);
  const db = new pg.Pool({ connectionString: sut.databaseUrl, max: 4 });
  let redis: Redis | undefined;
  const cleanup = async () => {
    sampler.stop();
    await db.end().catch(() => undefined);
    redis?.disconnect();
    await sut.stop();
  };
  stops.push(cleanup);

  try {
    redis = await openRedis(sut.redisUrl);
    const tokens = new AccessTokens(sut.jwtSecret, BENCH_TOKEN_TTL_SECONDS);
    const gate = new StockGate(redis, sut.namespace);
    const ctx: Ctx = { sut, params, db, gate, tokens, progress, sampler, adminAuth: '' };
    progress.start('admin user');
    const admin = await createUsers(ctx, 1, 'ADMIN');
    progress.done('token minted');
    ctx.adminAuth = admin.auth[0]!;

    if (flags.waitingRoom) {
      const result = await runWaitingRoomBench(ctx, flags.waitingRoom);
      writeJson(flags, result, progress);
      return undefined;
    }
    const baselines: Baselines = { cpu: [], bareRuns: [] };
    if (!flags.skipBaselines) await runBaselines(ctx, flags, baselines);

    const runs: RunResult[] = [];
    // --runs runs per scale, the scales of --users in the order given.
    for (const users of flags.scales) {
      ctx.params = { ...params, users };
      for (let k = 1; k <= flags.runs; k++) {
        const run = runs.length + 1;
        runs.push(await runOnce(ctx, run));
        if (flags.runs * flags.scales.length === 1) continue;
        const after = runs[runs.length - 1]!.rssAfterMb;
        progress.log(
          `RSS after run ${run} (${group(users)} buyers): ${sut.appProcessNames.map((n) => `${n} ${Math.round(after[n] ?? 0)} MB`).join(', ')}`,
        );
      }
    }
    // The bare ceiling again after the sale: other load on a shared machine comes and goes.
    if (!flags.skipBaselines) await runBare(ctx, baselines, 'after');
    const report = buildReport(flags, sut, baselines, runs);
    return { report, table: renderTable(flags, sut, baselines, runs, report) };
  } finally {
    progress.log(
      flags.url
        ? 'closing connections (the running system keeps the users and events the benchmark added)'
        : 'cleaning up (processes, streams, keys, database)…',
    );
    const cleanupStart = performance.now();
    // Ctrl-C may have run it already (it left the list then).
    const i = stops.indexOf(cleanup);
    if (i >= 0) {
      stops.splice(i, 1);
      await cleanup();
    }
    progress.log(`cleaned up in ${((performance.now() - cleanupStart) / 1000).toFixed(1)} s`);
  }
}

/** Baseline (a) once more; `out.bare` keeps the fastest. */
async function runBare(ctx: Ctx, out: Baselines, when: string): Promise<void> {
  const { params: p, progress, sampler } = ctx;
  // A body the size of an event(id) request, so both parsers see about the same bytes.
  const body = eventPayload('00000000-0000-4000-8000-000000000000');
  progress.start(`baseline (a), ${when}: bare node:http, ${p.concurrency} connections`);
  const a = sampler.mark();
  const bare = await bareBaseline({
    concurrency: p.concurrency,
    durationMs: p.durationS * 1000,
    warmupMs: p.warmupS * 1000,
    body,
    onProgress: (f) => progress.update(f),
  });
  const b = sampler.mark();
  const cpu = ProcSampler.cpuBetween(a, b).filter((c) => !/^(gateway|worker)/.test(c.name));
  cpu.unshift({ name: 'bare server', cores: bare.serverCores, cpuSeconds: NaN });
  out.cpu.push({
    phase: `bare ${when}`,
    seconds: (b.at - a.at) / 1000,
    cpu,
    machineCores: ProcSampler.machineBetween(a, b),
  });
  out.bareRuns.push({ ...bare, when });
  if (!out.bare || bare.rps > out.bare.rps) out.bare = bare;
  progress.done(`${group(Math.round(bare.rps))} requests/s, p99 ${bare.p99Ms.toFixed(2)} ms`);
}

async function runBaselines(ctx: Ctx, flags: Flags, out: Baselines): Promise<void> {
  const { params: p, progress } = ctx;
  await runBare(ctx, out, 'before');

  progress.start(`baseline (b): naive Postgres, ${flags.naiveClients} clients`);
  out.naive = await naiveBaseline({
    databaseUrl: ctx.sut.databaseUrl,
    clients: flags.naiveClients,
    durationMs: p.durationS * 1000,
    onProgress: (f) => progress.update(f),
  });
  progress.done(`${group(Math.round(out.naive.tps))} transactions/s with ${out.naive.clients} clients`);

  progress.start('baseline (c): the Lua gate alone');
  out.lua = await luaBaseline({
    redisUrl: ctx.sut.redisUrl,
    namespace: ctx.sut.namespace,
    durationMs: Math.min(5, p.durationS) * 1000,
    onProgress: (f) => progress.update(f),
  });
  progress.done(
    `${group(Math.round(out.lua.attemptsPerSec))} attempts/s (batches of ${out.lua.batchSize}, ${out.lua.inFlight} in flight)`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
