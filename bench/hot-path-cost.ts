/**
 * What one request on a hot path costs the gateway, in CPU microseconds: a measure that, unlike
 * requests per second, hardly moves when other work shares the machine (throughput on a busy
 * 2-core VM varied by a third between runs; CPU per request varies by a few percent).
 *
 *   npm run bench:cost                                         # this checkout
 *   npm run bench:cost -- --app before=../other-checkout --app after=.   # compare builds, interleaved
 *
 * Per app (a built checkout: `<dir>/dist/src/main.js`) it starts one gateway and one worker on a
 * fresh database and namespace (bench/system.ts), sells out a four-ticket event, and then, per path,
 * sends a fixed number of requests over a few keep-alive connections and reads the gateway's own
 * CPU time (`process_cpu_*_seconds_total` on /metrics: process.cpuUsage, microsecond resolution,
 * every thread of the process) before and after. The samples of the apps are interleaved, the
 * order rotating each round, so a slow spell of the machine falls on all of them; the minimum of
 * the samples is the figure (the least disturbed run), the median is shown beside it.
 *
 * Paths: `soldOut` is bookTicket on the sold-out event (a new idempotency key per request, buyers
 * taken in turn, their tokens already verified once); `read` is an anonymous event(id).
 *
 * Flags (defaults): --app [label=]DIR (repeatable; this checkout) --requests 20000 (per sample)
 * --samples 7 --warmup 20000 (requests per path and app before sampling) --concurrency 16
 * --users 5000 --paths soldOut,read --env K=V (more env for every app process, repeatable)
 * --json FILE --cpu-prof DIR (V8 profiles of each app's processes in DIR/<label>, written at the end)
 * --callgrind DIR (the gateways run under valgrind's callgrind and the figure is instructions per
 * request; kernel work is not counted. Slow: a gateway takes minutes to start, and a sample must be
 * long, e.g. --requests 20000, for garbage collections to average out).
 */
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { AccessTokens } from '../src/services/auth/access-tokens.js';
import { HttpClient, jsonHeaders, type HttpAnswer, type RawHeaders } from './load.js';
import { Progress } from './progress.js';
import { bookPayload, eventPayload } from './operations.js';
import { createEvent, createUsers } from './seed.js';
import { group, parsePrometheus, table } from './stats.js';
import { BENCH_TOKEN_TTL_SECONDS, startSystem, type SystemUnderTest } from './system.js';

const PATHS = ['soldOut', 'read'] as const;
type PathName = (typeof PATHS)[number];

interface Flags {
  apps: { label: string; dir: string }[];
  requests: number;
  samples: number;
  warmup: number;
  concurrency: number;
  users: number;
  paths: PathName[];
  env: Record<string, string>;
  json: string | undefined;
  /** Count the gateway's instructions under callgrind instead of its CPU time; the dumps go here. */
  callgrind: string | undefined;
  /** Write V8 CPU profiles of each app's processes into <dir>/<label> (on exit), to see where the cost goes. */
  cpuProf: string | undefined;
}

function parseFlags(argv: string[]): Flags {
  const { values } = parseArgs({
    args: argv,
    options: {
      app: { type: 'string', multiple: true },
      requests: { type: 'string', default: '20000' },
      samples: { type: 'string', default: '7' },
      warmup: { type: 'string', default: '20000' },
      concurrency: { type: 'string', default: '16' },
      users: { type: 'string', default: '5000' },
      paths: { type: 'string', default: PATHS.join(',') },
      env: { type: 'string', multiple: true },
      json: { type: 'string' },
      callgrind: { type: 'string' },
      'cpu-prof': { type: 'string' },
    },
  });
  const whole = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) usageError(`--${name} must be a whole number ≥ ${min}`);
    return n;
  };
  const apps = (values.app ?? ['.']).map((spec) => {
    const at = spec.indexOf('=');
    const dir = resolve(at < 0 ? spec : spec.slice(at + 1));
    return { label: at < 0 ? basename(dir) : spec.slice(0, at), dir };
  });
  const paths = values.paths.split(',').map((p) => {
    if (!(PATHS as readonly string[]).includes(p)) usageError(`--paths: unknown path ${p} (${PATHS.join(', ')})`);
    return p as PathName;
  });
  const env: Record<string, string> = {};
  for (const kv of values.env ?? []) {
    const at = kv.indexOf('=');
    if (at < 1) usageError(`--env wants K=V, got ${kv}`);
    env[kv.slice(0, at)] = kv.slice(at + 1);
  }
  return {
    apps,
    requests: whole('requests', values.requests, 1000),
    samples: whole('samples', values.samples, 1),
    warmup: whole('warmup', values.warmup, 0),
    concurrency: whole('concurrency', values.concurrency, 1),
    users: whole('users', values.users, HOLDERS + 1),
    paths,
    env,
    json: values.json,
    callgrind: values.callgrind === undefined ? undefined : resolve(values.callgrind),
    cpuProf: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']),
  };
}

function usageError(message: string): never {
  console.error(`${message}\nusage: npm run bench:cost -- [--app [label=]DIR]... (see bench/hot-path-cost.ts)`);
  process.exit(2);
}

/** The event's tickets, one each to the first buyers (an event has at least maxPerUser = 4 tickets). */
const HOLDERS = 4;

/** One app under test, set up for every path: its request makers and how to read its CPU. */
interface Target {
  label: string;
  sut: SystemUnderTest;
  gatewayPid: number;
  client: HttpClient;
  send: Record<PathName, (i: number) => Promise<HttpAnswer>>;
  check: Record<PathName, (a: HttpAnswer) => boolean>;
  close(): Promise<void>;
}

async function setUp(app: Flags['apps'][number], flags: Flags, progress: Progress): Promise<Target> {
  const config = loadConfig();
  const sut = await startSystem({
    gateways: 1,
    workers: 1,
    waitMs: 2000,
    // Holds outlive the run, so the event stays sold out (they end after 5 minutes by default).
    env: { HOLD_SECONDS: '86400', ...flags.env },
    databaseUrl: config.databaseUrl,
    redisUrl: config.redisUrl,
    natsUrl: config.natsUrl,
    main: resolve(app.dir, 'dist/src/main.js'),
    ...(flags.cpuProf ? { cpuProfDir: resolve(flags.cpuProf, app.label) } : {}),
    ...(flags.callgrind
      ? {
          gatewayWrapper: [
            'valgrind',
            '-q',
            '--tool=callgrind',
            `--callgrind-out-file=${flags.callgrind}/${app.label}.%p`,
          ],
        }
      : {}),
    log: (m) => progress.log(`${app.label}: ${m}`),
  });
  const db = new pg.Pool({ connectionString: sut.databaseUrl, max: 4 });
  const client = new HttpClient(sut.gatewayOrigins[0]!, flags.concurrency);
  try {
    const tokens = new AccessTokens(sut.jwtSecret, BENCH_TOKEN_TTL_SECONDS);
    const admin = await createUsers({ db, tokens, progress }, 1, 'ADMIN');
    const users = await createUsers({ db, tokens, progress }, flags.users);
    await client.warm();
    const eventId = await createEvent({ adminAuth: admin.auth[0]! }, client, {
      title: 'Sold out',
      tickets: HOLDERS,
      saleStartsAt: new Date(Date.now() - 60_000),
    });
    const book = bookPayload(eventId);
    const soldOut = (a: HttpAnswer) => a.status === 200 && a.body.includes('"SOLD_OUT"');
    for (let i = 0; i < HOLDERS; i++) await client.graphql(book('take-it'), users.headers[i]!);
    // The worker's decision sets the sold-out flag every gateway answers from.
    const deadline = Date.now() + 30_000;
    while (!soldOut(await client.graphql(book(`probe-${Date.now()}`), users.headers[HOLDERS]!))) {
      if (Date.now() > deadline) throw new Error(`${app.label}: the event did not sell out within 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const buyers: RawHeaders[] = users.headers.slice(HOLDERS);
    const read = eventPayload(eventId);
    const anonymous = jsonHeaders();
    let seq = 0;
    return {
      label: app.label,
      sut,
      gatewayPid: sut.watched.find((w) => w.name === 'gateway-1')!.pids()[0]!,
      client,
      send: {
        soldOut: (i) => client.graphql(book(`late-${seq++}`), buyers[i % buyers.length]!),
        read: () => client.graphql(read, anonymous),
      },
      check: { soldOut, read: (a) => a.status === 200 && a.body.includes('"ticketsAvailable"') },
      async close() {
        await client.close();
        await db.end();
        await sut.stop();
      },
    };
  } catch (err) {
    await client.close();
    await db.end();
    await sut.stop();
    throw err;
  }
}

/** The gateway's CPU seconds so far (user + system, all threads), from its own /metrics. */
async function gatewayCpuSeconds(target: Target): Promise<number> {
  const url = target.sut.metricsTargets.find((t) => t.role === 'gateway')!.url;
  const text = await (await fetch(url)).text();
  let seconds = 0;
  for (const s of parsePrometheus(text)) {
    if (s.name === 'process_cpu_user_seconds_total' || s.name === 'process_cpu_system_seconds_total') {
      seconds += s.value;
    }
  }
  return seconds;
}

const run = promisify(execFile);

/**
 * The gateway's instructions (every thread) while `work` runs: callgrind's counters are zeroed
 * before and dumped after (callgrind_control), and the dump's `totals:` line read. Kernel work
 * (the socket writes) is not counted; it is the same for every app.
 */
async function gatewayInstructions(target: Target, dir: string, work: () => Promise<void>): Promise<number> {
  const pid = String(target.gatewayPid);
  await run('callgrind_control', ['--zero', pid]);
  await work();
  await run('callgrind_control', ['--dump', pid]);
  const prefix = `${target.label}.${pid}.`;
  const last = readdirSync(dir)
    .filter((f) => f.startsWith(prefix))
    .map((f) => Number(f.slice(prefix.length)))
    .reduce((a, b) => Math.max(a, b), 0);
  const totals = /^totals:\s*(\d+)/m.exec(readFileSync(`${dir}/${prefix}${last}`, 'utf8'));
  if (!totals) throw new Error(`${target.label}: no totals in callgrind dump ${prefix}${last}`);
  return Number(totals[1]);
}

/** Exactly `total` requests, `concurrency` at a time; every answer must pass `check`. */
async function sendCounted(target: Target, path: PathName, total: number, concurrency: number): Promise<void> {
  let next = 0;
  const send = target.send[path];
  const check = target.check[path];
  const loop = async () => {
    while (next < total) {
      const i = next++;
      const answer = await send(i);
      if (!check(answer))
        throw new Error(`${target.label} ${path}: HTTP ${answer.status} ${answer.body.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
}

interface Sample {
  /** Gateway CPU µs per request, or with --callgrind its instructions per request. */
  costPerRequest: number;
  requestsPerSecond: number;
}

async function sample(target: Target, path: PathName, flags: Flags): Promise<Sample> {
  const t0 = performance.now();
  const work = () => sendCounted(target, path, flags.requests, flags.concurrency);
  let cost: number;
  if (flags.callgrind) cost = await gatewayInstructions(target, flags.callgrind, work);
  else {
    const cpuBefore = await gatewayCpuSeconds(target);
    await work();
    cost = ((await gatewayCpuSeconds(target)) - cpuBefore) * 1e6;
  }
  const ms = performance.now() - t0;
  return { costPerRequest: cost / flags.requests, requestsPerSecond: (flags.requests * 1000) / ms };
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const progress = new Progress();
  if (flags.callgrind) mkdirSync(flags.callgrind, { recursive: true });
  const targets: Target[] = [];
  const results = new Map<string, Sample[]>();
  const keyOf = (t: Target, p: PathName) => `${t.label}\u0000${p}`;
  process.once('SIGINT', () => {
    progress.log('interrupted: stopping the apps…');
    void Promise.allSettled(targets.map((t) => t.close())).finally(() => process.exit(130));
  });
  try {
    for (const app of flags.apps) {
      progress.start(`${app.label}: start and sell out`);
      targets.push(await setUp(app, flags, progress));
      progress.done('ready');
    }
    for (const path of flags.paths) {
      for (const t of targets) {
        progress.start(`${t.label} ${path}: warm-up`);
        await sendCounted(t, path, flags.warmup, flags.concurrency);
        progress.done(`${group(flags.warmup)} requests`);
      }
      for (let round = 0; round < flags.samples; round++) {
        progress.start(`${path}: round ${round + 1}/${flags.samples}`);
        // Rotate who goes first, so no app always follows the same neighbour.
        for (let k = 0; k < targets.length; k++) {
          const t = targets[(round + k) % targets.length]!;
          const s = await sample(t, path, flags);
          const list = results.get(keyOf(t, path)) ?? [];
          list.push(s);
          results.set(keyOf(t, path), list);
          progress.update((k + 1) / targets.length, `${t.label} ${s.costPerRequest.toFixed(2)}`);
        }
        progress.done(
          targets
            .map((t) => `${t.label} ${results.get(keyOf(t, path))!.at(-1)!.costPerRequest.toFixed(2)} µs`)
            .join(', '),
        );
      }
    }
  } finally {
    for (const t of targets) await t.close().catch((err: unknown) => progress.log(`${t.label}: ${String(err)}`));
  }

  const report = flags.paths.flatMap((path) => {
    const base = Math.min(...results.get(keyOf(targets[0]!, path))!.map((s) => s.costPerRequest));
    return targets.map((t) => {
      const cpu = results.get(keyOf(t, path))!.map((s) => s.costPerRequest);
      const rps = results.get(keyOf(t, path))!.map((s) => s.requestsPerSecond);
      return {
        path,
        app: t.label,
        costMin: Math.min(...cpu),
        costMedian: median(cpu),
        vsFirst: Math.min(...cpu) / base - 1,
        requestsPerSecondMedian: median(rps),
        samples: cpu,
      };
    });
  });
  const unit = flags.callgrind ? 'gateway instructions/request' : 'gateway CPU µs/request';
  const rows = [
    ['path', 'app', `${unit} (min)`, 'median', `vs ${targets[0]!.label}`, 'requests/s (median)'],
    ...report.map((r) => [
      r.path,
      r.app,
      flags.callgrind ? group(Math.round(r.costMin)) : r.costMin.toFixed(2),
      flags.callgrind ? group(Math.round(r.costMedian)) : r.costMedian.toFixed(2),
      `${r.vsFirst >= 0 ? '+' : ''}${(r.vsFirst * 100).toFixed(1)}%`,
      group(Math.round(r.requestsPerSecondMedian)),
    ]),
  ];
  console.log(
    `${flags.samples} samples of ${group(flags.requests)} requests per path and app, ${flags.concurrency} connections\n${table(rows)}`,
  );
  if (flags.json) writeFileSync(flags.json, `${JSON.stringify({ flags, report }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
