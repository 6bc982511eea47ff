/**
 * The flash-sale benchmark (issue 6).
 *
 *   npm run bench                                   # 10k tickets, 50k buyers, burst + ramp, baselines
 *   npm run bench -- --quick                        # a small smoke run
 *   npm run bench -- --tickets 10000 --users 50000 --json /tmp/bench.json
 *   npm run bench -- --gateways 2 --workers 2       # scale-out on this machine
 *   npm run bench -- --runs 3                       # memory check: RSS after each run
 *   npm run bench -- --url http://127.0.0.1:4000 --jwt-secret … --namespace tix   # a running system
 *
 * By default it starts G gateway and W worker processes (`node dist/src/main.js`) on a fresh
 * database (bench_<random>) and namespace, runs the baselines (bare node:http, naive Postgres,
 * the Lua gate alone) and then, per run: U buyers (straight into Postgres, tokens minted with the
 * shared secret), an event with T tickets opening a few seconds later while R readers refresh its
 * page every second and watch stockChanged; the burst (everyone books at once, 80% HTTP / 20%
 * graphql-ws); closed-loop bookTicket on the sold-out event and event(id) reads; the ramp
 * (open-loop arrivals at --ramp-rate on a fresh event); the invariant checks. Progress on stderr,
 * one table on stdout, everything in --json. Everything it created is removed at the end.
 *
 * Flags (defaults): --tickets 10000 --users 50000 --gateways 1 --workers 1 --arrival burst|ramp
 * (both) --ramp-rate 2000 --duration 10 (s, ramp and throughput phases) --concurrency 64
 * --readers 200 --burst-connections 2000 --ramp-connections (rate × wait) --ws-share 0.2
 * --wait-ms 2000 (BOOKING_WAIT_MS; `--env BOOKING_WAIT_MS=…` sets the same, both must agree)
 * --open-delay 3 (s from creating the event to the sale opening) --poll-ms 250 (booking(id) polls
 * of attempts answered QUEUED over HTTP) --warmup 1 (s unmeasured before each closed loop)
 * --decide-timeout 300 (s to wait for the last decisions of the burst and the ramp) --runs 1
 * --json FILE --url URL --jwt-secret S --namespace NS (the last two only with --url)
 * --env K=V (more env for the children, repeatable) --naive-clients 50 --skip-baselines
 * --skip-throughput (no sold-out/read phases) --cpu-prof DIR (V8 profiles of the gateway/worker
 * processes, written when they stop; summarize with dist/bench/profile-summary.js) --quick.
 * --quick changes the defaults of --tickets 200, --users 1000, --ramp-rate 300, --duration 3,
 * --concurrency 32, --readers 20, --burst-connections 200, --naive-clients 20, --open-delay 2,
 * --warmup 0.5 and --decide-timeout 60. With --url, the flags that only shape the processes the
 * benchmark starts (--gateways, --workers, --env, --cpu-prof) are refused, not ignored. A flag
 * error exits with status 2 before anything starts.
 * Each phase's per-second timeline (counts and cores per process) goes to stderr and --json.
 * DATABASE_URL, REDIS_URL, NATS_URL and JWT_SECRET are read through the app's config module.
 */
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { StockGate } from '../src/infra/stock-gate.js';
import { AccessTokens } from '../src/services/access-tokens.js';
import {
  bareBaseline,
  luaBaseline,
  naiveBaseline,
  type BareResult,
  type LuaResult,
  type NaiveResult,
} from './baselines.js';
import { ProcSampler } from './processes.js';
import { Progress } from './progress.js';
import {
  createUsers,
  eventPayload,
  runOnce,
  type BenchParams,
  type Ctx,
  type PhaseCpu,
  type RunResult,
} from './scenario.js';
import { fmtMs, fmtPct, fmtRate, fmtRatio, group, ratio, round, table } from './stats.js';
import { runWaitingRoomBench } from './waiting-room.js';
import { BENCH_TOKEN_TTL_SECONDS, attachSystem, startSystem, type SystemUnderTest } from './system.js';

const USAGE =
  'usage: npm run bench -- [--quick] [--tickets T] [--users U] [--gateways G] [--workers W] [--json out.json] … (see bench/flash-sale.ts)';

/** Default ramp connections: rate × BOOKING_WAIT_MS, between 64 and 8,000 (file descriptors). */
function rampConnectionsFor(rate: number, waitMs: number): number {
  return Math.min(8000, Math.max(64, Math.ceil((rate * waitMs) / 1000)));
}

/** A flag the benchmark cannot honour: say so and stop (status 2) before anything starts. */
function usageError(message: string): never {
  console.error(`flash-sale: ${message}\n${USAGE}`);
  process.exit(2);
}

const OPTIONS = {
  tickets: { type: 'string' },
  users: { type: 'string' },
  gateways: { type: 'string' },
  workers: { type: 'string' },
  arrival: { type: 'string' },
  'ramp-rate': { type: 'string' },
  duration: { type: 'string' },
  concurrency: { type: 'string' },
  readers: { type: 'string' },
  'burst-connections': { type: 'string' },
  'ramp-connections': { type: 'string' },
  'ws-share': { type: 'string' },
  'wait-ms': { type: 'string' },
  'open-delay': { type: 'string' },
  'poll-ms': { type: 'string' },
  warmup: { type: 'string' },
  'decide-timeout': { type: 'string' },
  'naive-clients': { type: 'string' },
  runs: { type: 'string' },
  json: { type: 'string' },
  url: { type: 'string' },
  'jwt-secret': { type: 'string' },
  namespace: { type: 'string' },
  env: { type: 'string', multiple: true },
  'skip-baselines': { type: 'boolean' },
  'skip-throughput': { type: 'boolean' },
  'cpu-prof': { type: 'string' },
  quick: { type: 'boolean' },
  'waiting-room': { type: 'boolean' },
  subscribers: { type: 'string' },
  'admit-per-second': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseFlags() {
  let values;
  try {
    ({ values } = parseArgs({ options: OPTIONS, strict: true }));
  } catch (err) {
    usageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const num = (name: keyof typeof values, fallback: number, quickValue = fallback): number => {
    const raw = values[name];
    if (raw === undefined) return quick ? quickValue : fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) usageError(`--${name}: not a number: ${String(raw)}`);
    return n;
  };
  const arrival = values.arrival ?? 'both';
  if (!['both', 'burst', 'ramp'].includes(arrival)) usageError('--arrival: burst or ramp');
  // A running system (--url) has its own processes: the flags that shape the ones started here
  // would do nothing; the system's secret and namespace, on the other hand, only mean something there.
  if (values.url !== undefined) {
    const ignored = (['gateways', 'workers', 'env', 'cpu-prof'] as const).filter((f) => values[f] !== undefined);
    if (ignored.length) {
      usageError(`${ignored.map((f) => `--${f}`).join(', ')}: not with --url (the system runs already)`);
    }
  } else {
    const attachOnly = (['jwt-secret', 'namespace'] as const).filter((f) => values[f] !== undefined);
    if (attachOnly.length) usageError(`${attachOnly.map((f) => `--${f}`).join(', ')}: only with --url`);
  }
  const env: Record<string, string> = {};
  for (const kv of values.env ?? []) {
    const eq = kv.indexOf('=');
    if (eq < 1) usageError(`--env: expected KEY=VALUE, got ${kv}`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  // BOOKING_WAIT_MS has two spellings, --wait-ms and --env BOOKING_WAIT_MS=…: one value from here on.
  let waitMs = num('wait-ms', 2000);
  const envWait = env['BOOKING_WAIT_MS'];
  if (envWait !== undefined) {
    const n = Number(envWait);
    if (envWait.trim() === '' || !Number.isFinite(n) || n < 0) {
      usageError(`--env BOOKING_WAIT_MS: not a number: ${envWait}`);
    }
    if (values['wait-ms'] !== undefined && n !== waitMs) {
      usageError(`--wait-ms ${values['wait-ms']} and --env BOOKING_WAIT_MS=${envWait} disagree: give one`);
    }
    waitMs = n;
  }
  waitMs = Math.round(waitMs);
  const rampRate = Math.max(1, num('ramp-rate', 2000, 300));
  const params: BenchParams = {
    tickets: Math.max(1, Math.round(num('tickets', 10_000, 200))),
    users: Math.max(1, Math.round(num('users', 50_000, 1000))),
    gateways: Math.max(1, Math.round(num('gateways', 1))),
    workers: Math.max(1, Math.round(num('workers', 1))),
    arrival: arrival as BenchParams['arrival'],
    rampRate,
    durationS: Math.max(1, num('duration', 10, 3)),
    concurrency: Math.max(1, Math.round(num('concurrency', 64, 32))),
    readers: Math.round(num('readers', 200, 20)),
    burstConnections: Math.max(1, Math.round(num('burst-connections', 2000, 200))),
    // Enough that the open loop never waits for a connection: rate × the longest a bookTicket may take.
    rampConnections: Math.max(1, Math.round(num('ramp-connections', rampConnectionsFor(rampRate, waitMs)))),
    wsShare: Math.min(1, num('ws-share', 0.2)),
    throughput: !values['skip-throughput'],
    openDelayS: num('open-delay', 3, 2),
    pollMs: Math.max(10, num('poll-ms', 250)),
    decideTimeoutS: num('decide-timeout', 300, 60),
    warmupS: num('warmup', 1, 0.5),
  };
  return {
    params,
    quick,
    runs: Math.max(1, Math.round(num('runs', 1))),
    waitMs,
    naiveClients: Math.max(1, Math.round(num('naive-clients', 50, 20))),
    json: values.json,
    url: values.url,
    jwtSecret: values['jwt-secret'],
    namespace: values.namespace,
    env,
    skipBaselines: values['skip-baselines'] ?? false,
    // --waiting-room: bench/waiting-room.ts instead of the runs (its own defaults: 200,000 buyers).
    waitingRoom: values['waiting-room']
      ? {
          users: Math.round(num('users', 200_000, 2000)),
          tickets: params.tickets,
          subscribers: Math.round(num('subscribers', 2000, 200)),
          admitPerSecond: values['admit-per-second'] === undefined ? null : Math.round(num('admit-per-second', 0)),
          openAfterS: values['open-delay'] === undefined ? null : params.openDelayS,
        }
      : undefined,
    cpuProfDir: values['cpu-prof'],
  };
}

type Flags = ReturnType<typeof parseFlags>;

interface Baselines {
  /** The faster of the bare runs (before and after the sale): the ceiling the ratios divide by. */
  bare?: BareResult;
  bareRuns: (BareResult & { when: string })[];
  naive?: NaiveResult;
  lua?: LuaResult;
  cpu: PhaseCpu[];
}

async function main(): Promise<void> {
  const flags = parseFlags();
  const { params } = flags;
  // The app's config module reads DATABASE_URL, REDIS_URL, NATS_URL, NAMESPACE and JWT_SECRET.
  const config = loadConfig();
  const progress = new Progress();

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
      env: flags.env,
      databaseUrl: config.databaseUrl,
      redisUrl: config.redisUrl,
      natsUrl: config.natsUrl,
      ...(flags.cpuProfDir ? { cpuProfDir: resolve(flags.cpuProfDir) } : {}),
      log: (m) => progress.log(m),
    });
  }

  const sampler = new ProcSampler(sut.watched);
  const db = new pg.Pool({ connectionString: sut.databaseUrl, max: 4 });
  const redis = new Redis(sut.redisUrl, { maxRetriesPerRequest: 1 });
  let stopping = false;
  const cleanup = async () => {
    if (stopping) return;
    stopping = true;
    sampler.stop();
    await db.end().catch(() => undefined);
    redis.disconnect();
    await sut.stop();
  };
  process.once('SIGINT', () => {
    progress.log('interrupted: cleaning up…');
    void cleanup().finally(() => process.exit(130));
  });

  try {
    const tokens = new AccessTokens(sut.jwtSecret, BENCH_TOKEN_TTL_SECONDS);
    const gate = new StockGate(redis, sut.namespace);
    const ctx: Ctx = { sut, params, db, gate, tokens, progress, sampler, adminAuth: '' };
    progress.start('admin user');
    const admin = await createUsers(ctx, 1, 'ADMIN');
    progress.done('token minted');
    ctx.adminAuth = admin.auth[0]!;

    if (flags.waitingRoom) {
      const result = await runWaitingRoomBench(ctx, flags.waitingRoom);
      if (flags.json) writeFileSync(flags.json, `${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    const baselines: Baselines = { cpu: [], bareRuns: [] };
    if (!flags.skipBaselines) await runBaselines(ctx, flags, baselines);

    const runs: RunResult[] = [];
    for (let run = 1; run <= flags.runs; run++) {
      runs.push(await runOnce(ctx, run));
      if (flags.runs > 1) {
        const after = runs[runs.length - 1]!.rssAfterMb;
        progress.log(
          `RSS after run ${run}: ${sut.appProcessNames.map((n) => `${n} ${Math.round(after[n] ?? 0)} MB`).join(', ')}`,
        );
      }
    }
    // The bare ceiling again after the sale: other load on a shared machine comes and goes.
    if (!flags.skipBaselines) await runBare(ctx, baselines, 'after');
    const report = buildReport(flags, sut, baselines, runs);
    console.log(renderTable(flags, sut, baselines, runs, report));
    if (flags.json) {
      writeFileSync(flags.json, `${JSON.stringify(report, null, 2)}\n`);
      progress.log(`wrote ${flags.json}`);
    }
  } finally {
    progress.log(
      flags.url
        ? 'closing connections (the running system keeps the users and events the benchmark added)'
        : 'cleaning up (processes, streams, keys, database)…',
    );
    const cleanupStart = performance.now();
    await cleanup();
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

function machine() {
  const list = cpus();
  return { cores: list.length, model: list[0]?.model.trim() ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30) };
}

function buildReport(flags: Flags, sut: SystemUnderTest, baselines: Baselines, runs: RunResult[]) {
  // flags.runs >= 1, so there is a last run.
  const last = runs[runs.length - 1]!;
  const burst = last.burst;
  const ramp = last.ramp;
  const bareRps = baselines.bare?.rps ?? NaN;
  const naiveTps = baselines.naive?.tps ?? NaN;
  const appRss = (r: Record<string, number>) => Math.max(0, ...sut.appProcessNames.map((n) => r[n] ?? 0));
  const cpuOf = (phases: PhaseCpu[]) =>
    Object.fromEntries(
      phases.map((ph) => [
        ph.phase,
        {
          ...Object.fromEntries(ph.cpu.map((c) => [c.name, round(c.cores, 2)])),
          'machine busy': round(ph.machineCores, 2),
        },
      ]),
    );
  const invariants = [burst?.invariants, ramp?.invariants].filter((x) => x !== undefined);
  return {
    params: {
      ...flags.params,
      runs: flags.runs,
      waitMs: flags.waitMs,
      env: flags.env,
      url: flags.url ?? null,
      quick: flags.quick,
    },
    machine: { ...machine(), node: process.version, note: 'load generator and system share these cores' },
    system: sut.description,
    selloutMs: round(burst?.selloutMs ?? NaN, 0),
    clientSelloutMs: round(burst?.clientSelloutMs ?? NaN, 0),
    oversold: burst ? burst.invariants.oversold : null,
    attemptsPerSec: round(burst?.attemptsPerSec ?? NaN, 0),
    decisionsPerSec: round(burst?.decisionsPerSec ?? NaN, 0),
    bookTicketP50Ms: round(burst?.bookTicket.p50 ?? NaN, 2),
    bookTicketP95Ms: round(burst?.bookTicket.p95 ?? NaN, 2),
    bookTicketP99Ms: round(burst?.bookTicket.p99 ?? NaN, 2),
    decisionP50Ms: round(burst?.decision.p50 ?? NaN, 2),
    decisionP95Ms: round(burst?.decision.p95 ?? NaN, 2),
    decisionP99Ms: round(burst?.decision.p99 ?? NaN, 2),
    decisionCommitP50Ms: round(burst?.committedDecision.p50 ?? NaN, 2),
    decisionCommitP95Ms: round(burst?.committedDecision.p95 ?? NaN, 2),
    decisionCommitP99Ms: round(burst?.committedDecision.p99 ?? NaN, 2),
    admittedToDecisionP50Ms: round(burst?.admittedDecision.p50 ?? NaN, 2),
    admittedToDecisionP99Ms: round(burst?.admittedDecision.p99 ?? NaN, 2),
    rejectedAtGatewayShare: round(burst?.rejectedAtGatewayShare ?? NaN, 4),
    rampDecisionP50Ms: round(ramp?.decision.p50 ?? NaN, 2),
    rampDecisionP99Ms: round(ramp?.decision.p99 ?? NaN, 2),
    rampDecisionCommitP99Ms: round(ramp?.committedDecision.p99 ?? NaN, 2),
    rampBookTicketP99Ms: round(ramp?.bookTicket.p99 ?? NaN, 2),
    bareRps: round(bareRps, 0),
    soldOutRps: round(last.soldOut?.rps ?? NaN, 0),
    soldOutP99Ms: round(last.soldOut?.p99Ms ?? NaN, 2),
    readRps: round(last.read?.rps ?? NaN, 0),
    readP99Ms: round(last.read?.p99Ms ?? NaN, 2),
    naiveTps: round(naiveTps, 0),
    luaRps: round(baselines.lua?.attemptsPerSec ?? NaN, 0),
    ratios: {
      soldOutVsBare: round(ratio(last.soldOut?.rps ?? NaN, bareRps), 3),
      readVsBare: round(ratio(last.read?.rps ?? NaN, bareRps), 3),
      attemptsVsBare: round(ratio(burst?.attemptsPerSec ?? NaN, bareRps), 3),
      decisionsVsNaive: round(ratio(burst?.decisionsPerSec ?? NaN, naiveTps), 2),
      soldOutVsNaive: round(ratio(last.soldOut?.rps ?? NaN, naiveTps), 2),
    },
    invariantsOk: invariants.every((i) => i.ok),
    rssMb: round(Math.max(...runs.map((r) => appRss(r.rssPeakMb))), 1),
    rssPeakMbByProcess: last.rssPeakMb,
    rssAfterRunMb: runs.map((r) =>
      Object.fromEntries(sut.appProcessNames.map((n) => [n, round(r.rssAfterMb[n] ?? NaN, 1)])),
    ),
    cpu: { ...cpuOf(baselines.cpu), ...cpuOf(runs.flatMap((r) => r.cpu)) },
    baselines: {
      bare: baselines.bare ?? null,
      bareRuns: baselines.bareRuns,
      naive: baselines.naive ?? null,
      lua: baselines.lua ?? null,
    },
    runs,
  };
}

type Report = ReturnType<typeof buildReport>;

function renderTable(
  flags: Flags,
  sut: SystemUnderTest,
  baselines: Baselines,
  runs: RunResult[],
  report: Report,
): string {
  const p = flags.params;
  // flags.runs >= 1, so there is a last run.
  const last = runs[runs.length - 1]!;
  const { burst, ramp, soldOut, read } = last;
  const m = machine();
  const lines: string[] = [];
  lines.push(
    `Flash-sale benchmark: ${group(p.tickets)} tickets, ${group(p.users)} buyers (${fmtPct(1 - p.wsShare)} HTTP over ≤${group(p.burstConnections)} connections, ${fmtPct(p.wsShare)} graphql-ws), ${p.readers} readers`,
  );
  lines.push(`System: ${sut.description}; Postgres, Redis, NATS on the same host`);
  lines.push(
    `Machine: ${m.cores} cores (${m.model}), ${m.memoryGb} GB. The load generator runs on the same cores: every figure below shares them.`,
  );
  if (flags.runs > 1) lines.push(`Runs: ${flags.runs} (figures from the last; RSS after each run below)`);
  lines.push('');

  const ms3 = (s: { p50: number; p95: number; p99: number }) => `${fmtMs(s.p50)} / ${fmtMs(s.p95)} / ${fmtMs(s.p99)}`;
  const rows: string[][] = [['measure', 'value', 'target / note']];
  if (burst) {
    const inv = burst.invariants;
    rows.push(
      ['BURST (all buyers at once)', '', ''],
      [
        '  time to sell out (1st attempt → last RESERVED in Postgres)',
        fmtMs(burst.selloutMs),
        '< 10 s (stretch < 5 s)',
      ],
      ['  … as clients learned it (last RESERVED answer)', fmtMs(burst.clientSelloutMs), ''],
      ['  … readers saw 0 tickets on stockChanged (p50)', fmtMs(burst.soldOutSeenByReadersP50Ms), ''],
      [
        '  booking attempts/s (all sent in)',
        fmtRate(burst.attemptsPerSec),
        `${group(burst.attempts)} attempts in ${fmtMs(burst.attemptWindowMs)}`,
      ],
      ['  decisions/s (1st attempt → last decision)', fmtRate(burst.decisionsPerSec), ''],
      ['  bookTicket latency p50 / p95 / p99', ms3(burst.bookTicket), 'send → answer (decision or QUEUED)'],
      [
        '  attempt → decision p50 / p95 / p99 (client)',
        ms3(burst.decision),
        `QUEUED followed by bookingUpdated (ws) / booking(id) every ${p.pollMs} ms (HTTP)`,
      ],
      [
        '  attempt → decision p50 / p95 / p99 (Postgres)',
        ms3(burst.committedDecision),
        'sent → bookings.decided_at (gateway rejections: their answer)',
      ],
      [
        '  gateway began the call → decision p50 / p95 / p99',
        ms3(burst.admittedDecision),
        'bookings.requested_at → decided_at (worker side)',
      ],
      ['  answered QUEUED', group(burst.queuedAnswers), `BOOKING_WAIT_MS=${flags.waitMs}`],
      [
        '  rejected at the gateway without I/O',
        fmtPct(burst.rejectedAtGatewayShare),
        `${group(burst.rejectedAtGateway)} gateway, ${group(burst.decidedByWorkers)} by workers`,
      ],
      [
        '  outcomes',
        `${group(inv.clientReserved)} reserved`,
        Object.entries(burst.reasons)
          .map(([k, v]) => `${k} ${group(v)}`)
          .join(', '),
      ],
      [
        '  errors (retried) / undecided',
        `${group(burst.errors)} / ${group(burst.undecided)}`,
        burst.firstError ? `first: ${burst.firstError.slice(0, 70)}` : '',
      ],
      [
        '  event page reads during the sale',
        fmtRate(burst.readsDuringSale.perSec),
        `p50 ${fmtMs(burst.readsDuringSale.p50Ms)}, p99 ${fmtMs(burst.readsDuringSale.p99Ms)}, ${burst.readsDuringSale.errors} errors`,
      ],
      ['  stockChanged messages per reader', burst.stockMessagesPerReader.toFixed(1), 'coalesced per event'],
      ['  INVARIANTS', inv.ok ? 'ok' : 'BROKEN', inv.problems.join('; ')],
      ['    reserved = T', `${group(inv.reserved)} = ${group(inv.total)}`, inv.reserved === inv.total ? 'ok' : 'NO'],
      ['    oversold', group(inv.oversold), 'must be 0'],
      [
        '    Postgres stock / Redis stock',
        `${inv.pgAvailable} / ${inv.redisStock ?? 'none'}`,
        `in flight in Redis: ${inv.redisInflight}`,
      ],
    );
  }
  if (ramp) {
    rows.push(
      [`RAMP (${group(ramp.rate)} attempts/s open loop, ${group(ramp.attempts)} attempts, never sells out)`, '', ''],
      ['  attempt → decision p50 / p95 / p99 (client)', ms3(ramp.decision), 'p99 < 250 ms'],
      ['  attempt → decision p50 / p95 / p99 (Postgres)', ms3(ramp.committedDecision), 'sent → bookings.decided_at'],
      [
        '  gateway began the call → decision p50 / p95 / p99',
        ms3(ramp.admittedDecision),
        'bookings.requested_at → decided_at',
      ],
      [
        '  bookTicket latency p50 / p95 / p99',
        ms3(ramp.bookTicket),
        `from scheduled time; max schedule lag ${fmtMs(ramp.maxLagMs)}`,
      ],
      [
        '  answered QUEUED / errors / undecided',
        `${group(ramp.queuedAnswers)} / ${group(ramp.errors)} / ${group(ramp.undecided)}`,
        ramp.firstError ? `first: ${ramp.firstError.slice(0, 70)}` : '',
      ],
      [
        '  most attempts waiting for a client connection',
        group(ramp.maxClientQueue),
        ramp.maxClientQueue > 0
          ? `all ${group(ramp.connections)} connections busy: the gateway answered slower than attempts arrived`
          : `${group(ramp.connections)} connections sufficed`,
      ],
      [
        '  INVARIANTS',
        ramp.invariants.ok ? 'ok' : 'BROKEN',
        ramp.invariants.problems.join('; ') ||
          `reserved ${group(ramp.invariants.reserved)} + available ${group(ramp.invariants.pgAvailable)} = ${group(ramp.invariants.total)}, Redis = Postgres`,
      ],
    );
  }
  const bare = baselines.bare?.rps ?? NaN;
  const naive = baselines.naive?.tps ?? NaN;
  rows.push([`THROUGHPUT (closed loop, ${p.concurrency} keep-alive connections, ${p.durationS} s)`, '', '']);
  if (soldOut) {
    rows.push(
      [
        '  bookTicket on the sold-out event',
        fmtRate(soldOut.rps),
        `p50 ${fmtMs(soldOut.p50Ms)}, p99 ${fmtMs(soldOut.p99Ms)}, ${soldOut.errors} errors`,
      ],
      ['    ÷ bare node:http', fmtRatio(ratio(soldOut.rps, bare)), '≥ 0.40×'],
    );
  }
  if (read) {
    rows.push(
      [
        '  event(id) reads',
        fmtRate(read.rps),
        `p50 ${fmtMs(read.p50Ms)}, p99 ${fmtMs(read.p99Ms)}, ${read.errors} errors`,
      ],
      ['    ÷ bare node:http', fmtRatio(ratio(read.rps, bare)), '≥ 0.40×'],
    );
  }
  if (baselines.bare || baselines.naive || baselines.lua) {
    rows.push(['BASELINES (same machine, same run)', '', '']);
    if (baselines.bare) {
      rows.push([
        '  (a) bare node:http, small JSON (best of before/after)',
        fmtRate(bare),
        `p50 ${fmtMs(baselines.bare.p50Ms)}, p99 ${fmtMs(baselines.bare.p99Ms)}; runs: ${baselines.bareRuns.map((r) => `${r.when} ${fmtRate(r.rps)}`).join(', ')}`,
      ]);
    }
    if (baselines.naive) {
      rows.push([
        `  (b) naive: 1 Postgres transaction per attempt`,
        `${fmtRate(naive)}`,
        `${baselines.naive.clients} clients, p50 ${fmtMs(baselines.naive.p50Ms)}, p99 ${fmtMs(baselines.naive.p99Ms)}`,
      ]);
    }
    if (baselines.lua) {
      rows.push([
        '  (c) the Lua gate alone (StockGate.reserve)',
        fmtRate(baselines.lua.attemptsPerSec),
        `batches of ${baselines.lua.batchSize}, ${baselines.lua.inFlight} in flight on one connection`,
      ]);
    }
    if (burst) {
      rows.push(
        ['  burst decisions/s ÷ naive', fmtRatio(ratio(burst.decisionsPerSec, naive)), ''],
        ['  burst attempts/s ÷ bare', fmtRatio(ratio(burst.attemptsPerSec, bare)), ''],
      );
    }
    if (soldOut) rows.push(['  sold-out bookTicket/s ÷ naive', fmtRatio(ratio(soldOut.rps, naive)), '']);
  }
  rows.push(['MEMORY', '', '']);
  rows.push(['  max RSS of a gateway/worker process', report.rssMb === null ? '–' : `${report.rssMb} MB`, '']);
  for (const name of sut.appProcessNames) {
    const after = runs.map((r) => `${Math.round(r.rssAfterMb[name] ?? NaN)}`).join(' → ');
    rows.push([`  ${name} RSS peak / after each run`, `${Math.round(last.rssPeakMb[name] ?? NaN)} MB`, `${after} MB`]);
  }
  lines.push(table(rows));

  // CPU per process and phase, in cores (1.00 = one core busy for the whole phase).
  // Baselines and the last run (every run's phases are in --json).
  const phases = [...baselines.cpu, ...last.cpu];
  if (phases.length) {
    const names = [...new Set(phases.flatMap((ph) => ph.cpu.map((c) => c.name)))];
    const cpuRows: string[][] = [['CPU (cores used)', ...phases.map((ph) => `${ph.phase} ${ph.seconds.toFixed(0)}s`)]];
    for (const name of names) {
      cpuRows.push([name, ...phases.map((ph) => ph.cpu.find((c) => c.name === name)?.cores.toFixed(2) ?? '')]);
    }
    const ours = (ph: PhaseCpu) => ph.cpu.reduce((s, c) => s + (Number.isFinite(c.cores) ? c.cores : 0), 0);
    cpuRows.push(['total of the above', ...phases.map((ph) => ours(ph).toFixed(2))]);
    cpuRows.push(['machine busy (/proc/stat)', ...phases.map((ph) => ph.machineCores.toFixed(2))]);
    cpuRows.push(['other load (not ours)', ...phases.map((ph) => Math.max(0, ph.machineCores - ours(ph)).toFixed(2))]);
    lines.push('', table(cpuRows));
  }
  return lines.join('\n');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
